// Test DHTs on 127.0.0.1 only: a small network of real bittorrent-dht nodes
// (the first starts alone, the others bootstrap from it), and a hostile node
// that answers every get_peers with garbage, malformed and flooding replies.
// Nothing here ever talks to the public DHT.
import dgram from 'node:dgram';
import crypto from 'node:crypto';
import DHT from 'bittorrent-dht';

const bencode: { encode(v: unknown): Buffer; decode(b: Buffer): any } = await import(String('bencode')).then((m) => m.default);

export interface TestDht {
  nodes: DHT[];
  /** `--bootstrap` arguments for every node. */
  args: string[];
  /** `{host, port}` of every node. */
  peers: { host: string; port: number }[];
  /** Every (info-hash hex, announced port) the network's nodes were told. */
  announces: { infoHash: string; host: string; port: number }[];
  close(): Promise<void>;
}

export async function testDht(n = 4): Promise<TestDht> {
  const nodes: DHT[] = [];
  const announces: TestDht['announces'] = [];
  for (let i = 0; i < n; i++) {
    const d = new DHT({ bootstrap: i === 0 ? false : [`127.0.0.1:${nodes[0]!.address().port}`] });
    await new Promise<void>((r) => d.listen(0, '127.0.0.1', () => r()));
    d.on('announce', (peer, infoHash) => announces.push({ infoHash: infoHash.toString('hex'), host: peer.host, port: peer.port }));
    nodes.push(d);
  }
  // Let every node know the others (bootstrap runs in the background).
  await Promise.all(nodes.slice(1).map((d) => new Promise<void>((r) => (d.listening && (d as unknown as { ready?: boolean }).ready ? r() : d.once('ready', () => r())))));
  const peers = nodes.map((d) => ({ host: '127.0.0.1', port: d.address().port }));
  return {
    nodes,
    peers,
    args: peers.flatMap((p) => ['--bootstrap', `127.0.0.1:${p.port}`]),
    announces,
    close: () => Promise.all(nodes.map((d) => new Promise<void>((r) => d.destroy(() => r())))).then(() => undefined),
  };
}

export interface HostileDht {
  port: number;
  /** Queries it received, by method. */
  queries: Map<string, number>;
  close(): void;
}

/**
 * A DHT "node" that answers pings and find_node plainly, and every get_peers
 * with: random bytes, an oversize datagram, a reply whose values are not
 * 6-byte peers, a reply with unusable addresses (0.0.0.0, multicast), a
 * duplicate reply (unexpected transaction id), and last a reply with `flood`
 * fresh random peers (with the unusable ones at most 100 per reply, as real nodes send).
 */
export async function hostileDht(opts: { flood: number }): Promise<HostileDht> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const id = crypto.randomBytes(20);
  const queries = new Map<string, number>();
  const send = (b: Uint8Array, r: dgram.RemoteInfo) => s.send(b, r.port, r.address);
  s.on('message', (msg, rinfo) => {
    let m: any;
    try {
      m = bencode.decode(msg);
    } catch {
      return;
    }
    const q = Buffer.from(m?.q ?? '').toString();
    queries.set(q, (queries.get(q) ?? 0) + 1);
    const t = m.t;
    if (q !== 'get_peers') return send(bencode.encode({ t, y: 'r', r: { id, nodes: Buffer.alloc(0), token: Buffer.from('tok') } }), rinfo);
    send(crypto.randomBytes(200), rinfo);
    send(Buffer.alloc(3000, 0x64), rinfo);
    send(bencode.encode({ t, y: 'r', r: { id, token: Buffer.from('tok'), values: [Buffer.alloc(18, 1), 5] } }), rinfo);
    const unusable = [Buffer.from([0, 0, 0, 0, 0x13, 0x88]), Buffer.from([224, 0, 0, 251, 0x13, 0x88]), Buffer.from([255, 255, 255, 255, 0x13, 0x88])];
    const flood = Array.from({ length: Math.min(100 - unusable.length, opts.flood) }, () => Buffer.concat([Buffer.from([10, ...crypto.randomBytes(3)]), crypto.randomBytes(2)]).fill(1, 4, 5));
    send(bencode.encode({ t, y: 'r', r: { id, token: Buffer.from('tok'), values: [...unusable, ...flood] } }), rinfo);
    send(bencode.encode({ t, y: 'r', r: { id, token: Buffer.from('tok'), values: [] } }), rinfo);
  });
  return { port: s.address().port, queries, close: () => s.close() };
}
