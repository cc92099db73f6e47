// BitTorrent mainline DHT (BEP 5) drivers (docs/discovery.md, "DHT"): an
// announcer that announce_peer's its TCP port under the room's info-hash of
// the current epoch and re-announces while it runs, and a browser that
// get_peers' the current and previous epochs' info-hashes. bittorrent-dht
// does the protocol; every datagram first passes a GuardedSocket whose shape
// check is ./krpc.ts. The info-hash derivation is ./keys.ts.
//
// The DHT authenticates nothing: anyone who learns an info-hash (e.g. a DHT
// node it was stored on) can announce any address under it. That is fine:
// what discovery finds is only a place to dial, and the Noise handshake with
// the room key is what admits a peer.
import net from 'node:net';
import DHT, { type DhtPeer } from 'bittorrent-dht';
import { P2pcatError } from '../errors.js';
import {
  ANNOUNCE_STOP_TIMEOUT_MS,
  DHT_EPOCH_SKEW_MS,
  DHT_LOOKUP_INTERVAL_MS,
  DHT_MAX_PACKET_BYTES,
  DHT_MAX_STORED_PEERS,
  DHT_REANNOUNCE_MS,
  DHT_RETRY_MS,
  DISCOVERY_MAX_PACKETS_PER_SEC,
} from '../limits.js';
import { DHT_EPOCH_MS, dhtInfoHash, epochsIn, type DiscoveryKeys } from './keys.js';
import { checkKrpc } from './krpc.js';
import { GuardedSocket } from './udp.js';
import type { WarningBudget } from './warn.js';

/** The public bootstrap nodes most mainline DHT clients use (k-rpc's defaults). Tests never use them. */
export const DEFAULT_BOOTSTRAP: DhtPeer[] = [
  { host: 'router.bittorrent.com', port: 6881 },
  { host: 'router.utorrent.com', port: 6881 },
  { host: 'dht.transmissionbt.com', port: 6881 },
];

/** Epochs to announce under now: the current one, and a neighbour within the skew margin of a boundary. */
export function announceEpochs(nowMs: number): number[] {
  return epochsIn(nowMs - DHT_EPOCH_SKEW_MS, nowMs + DHT_EPOCH_SKEW_MS, DHT_EPOCH_MS);
}

/** Epochs to look up now: the previous and current ones (and the next near a boundary). */
export function lookupEpochs(nowMs: number): number[] {
  return epochsIn(nowMs - DHT_EPOCH_MS, nowMs + DHT_EPOCH_SKEW_MS, DHT_EPOCH_MS);
}

/** True for an address a DHT peer value may sensibly name. */
export function usablePeer(p: { host?: unknown; port?: unknown }): p is DhtPeer {
  if (typeof p.host !== 'string' || net.isIPv4(p.host) === false) return false;
  if (typeof p.port !== 'number' || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) return false;
  const first = Number(p.host.split('.')[0]);
  return p.host !== '0.0.0.0' && p.host !== '255.255.255.255' && !(first >= 224 && first <= 239);
}

export interface DhtCommon {
  keys: DiscoveryKeys;
  /** Bootstrap nodes; the public ones when undefined. */
  bootstrap?: DhtPeer[] | undefined;
  warnings: WarningBudget;
  now?: () => number;
}

function createNode(o: DhtCommon): { dht: DHT; sock: GuardedSocket } {
  const w = o.warnings;
  const sock = new GuardedSocket({
    type: 'udp4',
    maxBytes: DHT_MAX_PACKET_BYTES,
    maxPerSecond: DISCOVERY_MAX_PACKETS_PER_SEC,
    check: (msg) => checkKrpc(msg),
    onBad: (reason) => w.warn(P2pcatError.discoveryPacket(reason)),
    onRateLimited: (n) => w.once(P2pcatError.limit(`DHT: more than ${DISCOVERY_MAX_PACKETS_PER_SEC} datagrams a second; dropping the excess (${n} so far)`)),
  });
  const dht = new DHT({
    bootstrap: o.bootstrap ?? DEFAULT_BOOTSTRAP,
    socket: sock,
    maxPeers: DHT_MAX_STORED_PEERS,
    maxTables: 100,
    maxValues: 100,
  });
  // k-rpc reports bad replies (unexpected transaction ids, bencode it cannot
  // read) as warnings; they are someone else's noise, so only counted ones print.
  dht.on('warning', (e) => w.warn(P2pcatError.discoveryPacket(`DHT: ${e.message}`)));
  dht.on('error', (e) => w.once(P2pcatError.unavailable(`DHT: ${e.message}`, e)));
  dht.listen(0);
  return { dht, sock };
}

function destroy(dht: DHT): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ANNOUNCE_STOP_TIMEOUT_MS);
    t.unref();
    dht.destroy(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

// ------------------------------------------------------------------ announcer

export interface DhtAnnouncerOptions extends DhtCommon {
  port: number;
  /** Told after each announce round: how many epochs' announces some node took. */
  onAnnounced?: (ok: number, of: number) => void;
}

export class DhtAnnouncer {
  #o: DhtAnnouncerOptions;
  #now: () => number;
  #dht: DHT | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #failedOnce = false;

  constructor(o: DhtAnnouncerOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  start(): void {
    this.#dht = createNode(this.#o).dht;
    this.#round();
  }

  #round(): void {
    const dht = this.#dht;
    if (!dht || this.#stopped) return;
    const epochs = announceEpochs(this.#now());
    let pending = epochs.length;
    let ok = 0;
    for (const e of epochs) {
      dht.announce(Buffer.from(dhtInfoHash(this.#o.keys, e)), this.#o.port, (err) => {
        if (!err) ok++;
        if (--pending > 0 || this.#stopped) return;
        this.#o.onAnnounced?.(ok, epochs.length);
        if (ok === 0 && !this.#failedOnce) {
          this.#failedOnce = true;
          this.#o.warnings.once(P2pcatError.unavailable(`DHT announce: no DHT node took it (${err?.message ?? 'no answer'}); retrying every ${DHT_RETRY_MS / 1000} s`));
        }
        this.#timer = setTimeout(() => this.#round(), ok === 0 ? DHT_RETRY_MS : DHT_REANNOUNCE_MS);
        this.#timer.unref();
      });
    }
  }

  /** Stop re-announcing and leave the DHT (announces expire on the nodes that hold them). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (this.#dht) await destroy(this.#dht);
  }
}

// ------------------------------------------------------------------ browser

export interface DhtFound {
  host: string;
  port: number;
  epoch: number;
}

export interface DhtBrowserOptions extends DhtCommon {
  onPeer: (p: DhtFound) => void;
  /** Told when every lookup of a round has finished (it visited the nodes closest to each info-hash). */
  onRound?: (round: number) => void;
}

export class DhtBrowser {
  #o: DhtBrowserOptions;
  #now: () => number;
  #dht: DHT | undefined;
  #interval: NodeJS.Timeout | undefined;
  #aborts: (() => void)[] = [];
  #hashes = new Map<string, number>();
  #closed = false;
  #round = 0;

  constructor(o: DhtBrowserOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  start(): void {
    const { dht } = createNode(this.#o);
    this.#dht = dht;
    dht.on('peer', (peer, infoHash) => {
      if (this.#closed || !Buffer.isBuffer(infoHash)) return;
      const epoch = this.#hashes.get(infoHash.toString('hex'));
      if (epoch === undefined) return;
      if (!usablePeer(peer)) {
        this.#o.warnings.warn(P2pcatError.discoveryPacket(`DHT: unusable peer address ${JSON.stringify(peer).slice(0, 80)}`));
        return;
      }
      this.#o.onPeer({ host: peer.host, port: peer.port, epoch });
    });
    this.#lookup();
    this.#interval = setInterval(() => this.#lookup(), DHT_LOOKUP_INTERVAL_MS);
  }

  #lookup(): void {
    const dht = this.#dht;
    if (!dht || this.#closed) return;
    for (const a of this.#aborts.splice(0)) a();
    const round = ++this.#round;
    const epochs = lookupEpochs(this.#now());
    let left = epochs.length;
    for (const e of epochs) {
      const h = Buffer.from(dhtInfoHash(this.#o.keys, e));
      this.#hashes.set(h.toString('hex'), e);
      this.#aborts.push(
        dht.lookup(h, () => {
          if (--left === 0 && !this.#closed) this.#o.onRound?.(round);
        }),
      );
    }
    // Only the epochs of the last few rounds matter.
    while (this.#hashes.size > 8) this.#hashes.delete(this.#hashes.keys().next().value!);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#interval);
    for (const a of this.#aborts.splice(0)) a();
    if (this.#dht) await destroy(this.#dht);
  }
}
