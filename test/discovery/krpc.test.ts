// The KRPC gate in front of bittorrent-dht (src/discovery/krpc.ts, udp.ts):
// the bencode decoder against the `bencode` package bittorrent-dht itself
// uses, the shape check against real and hostile messages, and a real
// bittorrent-dht node that one crafted datagram kills without the gate and
// that shrugs it off with it.
import t from 'tap';
import fc from 'fast-check';
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import DHT from 'bittorrent-dht';
import { BencodeError, checkKrpc, decodeBencode } from '../../src/discovery/krpc.js';
import { GuardedSocket } from '../../src/discovery/udp.js';
import { DHT_MAX_PACKET_BYTES } from '../../src/limits.js';

// bittorrent-dht's own bencode (a transitive dependency, loaded untyped).
const bencode: { encode(v: unknown): Buffer; decode(b: Buffer): unknown } = await import(String('bencode')).then((m) => m.default);
const enc = (v: unknown): Uint8Array => new Uint8Array(bencode.encode(v));
const ID = Buffer.alloc(20, 1);

/** A decoded value (ours: Map/Uint8Array; bencode's: object/Uint8Array) in one comparable shape. */
function norm(v: unknown): unknown {
  if (v instanceof Map) return norm(Object.fromEntries(v));
  if (v instanceof Uint8Array) return 'bytes:' + Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(norm);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, norm(x)]));
  return v;
}

t.test('decodeBencode agrees with the bencode package on what it encodes', async (t) => {
  const leaf = fc.oneof(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)));
  const { tree } = fc.letrec((tie) => ({
    tree: fc.oneof({ depthSize: 'small', maxDepth: 4 }, leaf, fc.array(tie('tree'), { maxLength: 5 }), fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => /^[\x20-\x7e]*$/.test(k)), tie('tree'), { maxKeys: 5 })),
  }));
  fc.assert(
    fc.property(tree, (v) => {
      const b = enc(v);
      return JSON.stringify(norm(decodeBencode(b, 8))) === JSON.stringify(norm(bencode.decode(Buffer.from(b))));
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 random values');
});

t.test('decodeBencode refuses what is not strict bencode', async (t) => {
  for (const [s, re] of [
    ['i03e', /leading zero/],
    ['i-0e', /negative zero/],
    ['03:abc', /leading zero/],
    ['4:abc', /past the end/],
    ['i1ei2e', /trailing/],
    ['d1:ai1e1:ai2ee', /duplicate/],
    ['l'.repeat(50) + 'e'.repeat(50), /too deep/],
    ['d1:a', /end/],
    ['x', /unexpected byte/],
    ['i9999999999999999e', /too long/],
    ['', /end/],
  ] as const) {
    t.throws(() => decodeBencode(Buffer.from(s)), re, JSON.stringify(s).slice(0, 30));
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      try {
        decodeBencode(b);
      } catch (e) {
        if (!(e instanceof BencodeError)) throw e;
      }
      return true;
    }),
    { numRuns: 3000 },
  );
});

t.test('checkKrpc: real messages pass, hostile ones are named', async (t) => {
  const ok = [
    { t: 'aa', y: 'q', q: 'ping', a: { id: ID } },
    { t: 'aa', y: 'q', q: 'find_node', a: { id: ID, target: ID } },
    { t: 'aa', y: 'q', q: 'get_peers', a: { id: ID, info_hash: ID } },
    { t: 'aa', y: 'q', q: 'announce_peer', a: { id: ID, info_hash: ID, port: 6881, token: Buffer.alloc(20), implied_port: 0 } },
    { t: 'aa', y: 'r', r: { id: ID, nodes: Buffer.alloc(26 * 8), token: Buffer.alloc(20) } },
    { t: 'aa', y: 'r', r: { id: ID, values: [Buffer.alloc(6), Buffer.alloc(6)], token: Buffer.alloc(8) } },
    { t: 'aa', y: 'e', e: [201, 'A Generic Error Ocurred'] },
  ];
  for (const m of ok) t.equal(checkKrpc(enc(m)), undefined, `${m.y} ${'q' in m ? m.q : ''} passes`);
  const bad: [unknown, RegExp][] = [
    [{ t: 'aa', y: 'q', q: 'get_peers', a: { id: ID, info_hash: 5 } }, /info_hash/],
    [{ t: 'aa', y: 'q', q: 'announce_peer', a: { id: ID, info_hash: ID, port: 1, token: 7 } }, /token/],
    [{ t: 'aa', y: 'q', q: 'announce_peer', a: { id: ID, info_hash: ID, port: 70000, token: 'x' } }, /port/],
    [{ t: 'aa', y: 'q', q: 'find_node', a: { id: ID, target: [1] } }, /target/],
    [{ t: 'aa', y: 'q', q: 'ping', a: { id: 'short' } }, /node id/],
    [{ t: 'aa', y: 'q', q: 'ping' }, /arguments/],
    [{ t: 'aa', y: 'q', q: 'put', a: { id: ID, v: 'x', token: 'x' } }, /put/],
    [{ t: 'aa', y: 'r', r: { id: ID, values: 'nope' } }, /values/],
    [{ t: 'aa', y: 'r', r: { id: ID, values: [Buffer.alloc(18)] } }, /peer value/],
    [{ t: 'aa', y: 'r', r: { id: ID, values: Array.from({ length: 101 }, () => Buffer.alloc(6)) } }, /101 peers/],
    [{ t: 'aa', y: 'r', r: { id: ID, nodes: Buffer.alloc(27) } }, /nodes/],
    [{ t: 'a', y: 'r', r: { id: ID } }, /short transaction/],
    [{ t: 'aa', y: 'z' }, /unknown type/],
    [[1, 2, 3], /dictionary/],
  ];
  for (const [m, re] of bad) t.match(checkKrpc(enc(m)), re);
  t.match(checkKrpc(new Uint8Array(DHT_MAX_PACKET_BYTES + 1)), /bytes/);
  t.match(checkKrpc(Buffer.from('d1:t')), /not bencode/);
});

const HOSTILE = [
  { t: 'aa', y: 'q', q: 'get_peers', a: { id: ID, info_hash: 5 } },
  { t: 'aa', y: 'q', q: 'announce_peer', a: { id: ID, info_hash: ID, port: 1, token: 7 } },
  { t: 'aa', y: 'q', q: 'find_node', a: { id: ID, target: 9 } },
  { t: 'aa', y: 'q', q: 'get', a: { id: ID, target: 3 } },
];

t.test('without the gate, one crafted datagram kills a bittorrent-dht node (why the gate exists)', async (t) => {
  const script = `
    import DHT from 'bittorrent-dht';
    const d = new DHT({ bootstrap: false });
    d.listen(0, '127.0.0.1', () => console.log(d.address().port));
    setTimeout(() => process.exit(0), 5000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const s = dgram.createSocket('udp4');
  s.send(enc(HOSTILE[0]), port, '127.0.0.1');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  s.close();
  t.not(code, 0, 'the unguarded node died');
  t.match(err, /RangeError|TypeError/);
});

t.test('with the gate, a real node drops hostile datagrams with warnings and keeps answering', async (t) => {
  const bad: string[] = [];
  const sock = new GuardedSocket({ type: 'udp4', maxBytes: DHT_MAX_PACKET_BYTES, maxPerSecond: 10_000, check: (m) => checkKrpc(m), onBad: (r) => bad.push(r) });
  const node = new DHT({ bootstrap: false, socket: sock });
  await new Promise<void>((r) => node.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => node.destroy());
  const port = node.address().port;
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => s.close());
  const replies: unknown[] = [];
  s.on('message', (m) => replies.push(bencode.decode(m)));
  const send = (b: Uint8Array) => new Promise<void>((r) => s.send(b, port, '127.0.0.1', () => r()));
  for (const h of HOSTILE) await send(enc(h));
  await send(Buffer.alloc(DHT_MAX_PACKET_BYTES + 10, 0x64));
  await send(Buffer.from('l'.repeat(1000)));
  await send(crypto.getRandomValues(new Uint8Array(300)));
  await send(enc({ t: 'pp', y: 'q', q: 'ping', a: { id: ID } }));
  const deadline = Date.now() + 5000;
  while (replies.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(replies.length, 1, 'the node still answers a ping after the hostile datagrams');
  t.equal(bad.length, 7, 'each hostile datagram was one warning');
  t.match(bad.join('\n'), /info_hash[\s\S]*token[\s\S]*target[\s\S]*bytes[\s\S]*bencode/);
});
