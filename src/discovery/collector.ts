// The peers one `discover` run has found: deduplicated by identity key and by
// address, bounded by DISCOVER_MAX_PEERS, turned into PEER records
// (docs/discovery.md, "PEER records"). Sans-I/O.
import { DISCOVER_MAX_PEERS } from '../limits.js';

export type Via = 'lan' | 'static' | 'dht';

export interface FoundPeer {
  via: Via;
  /** `host:port` / `[v6]:port`, in the order to try them. */
  addrs: string[];
  /** Hex identity key, when the source authenticated one (LAN beacons do). */
  key?: string | undefined;
  /** The room it was found for (lan, dht). */
  room?: string | undefined;
  /** lan: `mdns` or `broadcast`. */
  proto?: string | undefined;
  /** static: the join link it was listed as. */
  link?: string | undefined;
}

export interface PeerRecord {
  type: 'PEER';
  addrs: string[];
  via: Via;
  key?: string;
  room?: string;
  proto?: string;
  link?: string;
  timestamp: string;
}

export type AddResult = { kind: 'new'; record: PeerRecord } | { kind: 'dup' } | { kind: 'full'; first: boolean };

export class PeerCollector {
  #seen = new Set<string>();
  #count = 0;
  #fullReported = false;

  constructor(readonly max = DISCOVER_MAX_PEERS) {}

  get count(): number {
    return this.#count;
  }

  add(p: FoundPeer, now: Date = new Date()): AddResult {
    if (p.addrs.length === 0) return { kind: 'dup' };
    const ids = p.addrs.map((a) => 'a:' + a.toLowerCase());
    if (p.key) ids.push('k:' + p.key);
    if (ids.some((id) => this.#seen.has(id))) {
      // Known under one name: remember the others too, so later sightings dedupe.
      if (this.#seen.size < this.max * 16) for (const id of ids) this.#seen.add(id);
      return { kind: 'dup' };
    }
    if (this.#count >= this.max) {
      const first = !this.#fullReported;
      this.#fullReported = true;
      return { kind: 'full', first };
    }
    this.#count++;
    for (const id of ids) this.#seen.add(id);
    const record: PeerRecord = { type: 'PEER', addrs: [...p.addrs], via: p.via, timestamp: now.toISOString() };
    if (p.key) record.key = p.key;
    if (p.room !== undefined) record.room = p.room;
    if (p.proto) record.proto = p.proto;
    if (p.link) record.link = p.link;
    return { kind: 'new', record };
  }
}
