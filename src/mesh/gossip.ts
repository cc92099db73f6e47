// The gossip core (docs/mesh.md, "Gossip"), sans-I/O: decisions only, no
// sockets, no timers, no clock (callers pass `now`), randomness injected.
// Modelled on gossipsub v1.1 (libp2p), cut down to one topic (the room):
//
//   eager push   a new message goes in full to the eager set: at most
//                pushDegree neighbours (refilled below pushLow, trimmed above
//                pushHigh at each heartbeat); 0 means every neighbour (flooding).
//                Our own messages go to every neighbour (gossipsub's flood publish).
//   lazy repair  every GOSSIP_IHAVE_INTERVAL_MS (lazy()), the ids of new
//                messages go in one IHAVE to every neighbour outside the eager
//                set that is not known to have them (Plumtree's lazy push); a
//                neighbour missing one answers IWANT and gets it from the cache.
//                An IWANT not answered in iwantTimeoutMs is asked of the next
//                neighbour that advertised the id (heartbeat()). Over any
//                connected graph every peer gets every message, once.
//   hop limit    every copy carries `ttl`, the hops it may still travel; a
//                message received with ttl 1 is delivered but neither pushed
//                nor advertised. The ttl is outside the signed record: a relay
//                can only lower it (it is capped at ttlMax) or drop the message.
//   dedupe       by id (a CHAT's msg_id, a DM's envelope id): a seen id is
//                never delivered or forwarded twice.
//
// Per message, a peer sends about pushDegree full copies (at most pushHigh;
// its own messages: one per neighbour) plus one id to each other neighbour,
// whatever the room's size: the cost is bounded by the degree, not the
// membership.
import {
  GOSSIP_CACHE_MAX_MESSAGES,
  GOSSIP_CACHE_MS,
  GOSSIP_IHAVE_MAX_IDS,
  GOSSIP_IHAVE_ROUNDS,
  GOSSIP_IWANT_MAX_IDS,
  GOSSIP_IWANT_PENDING_MAX,
  GOSSIP_IWANT_TIMEOUT_MS,
  GOSSIP_PUSH_DEGREE,
  GOSSIP_PUSH_DEGREE_HIGH,
  GOSSIP_PUSH_DEGREE_LOW,
  GOSSIP_TTL_MAX,
  SEEN_IDS_MAX,
} from '../limits.js';
import { SeenSet } from './seen.js';

export type GossipKind = 'CHAT' | 'DM';

export interface GossipItem {
  id: string;
  kind: GossipKind;
  /** The message body without `ttl`. */
  body: Record<string, unknown>;
}

export interface Out<P> {
  to: P;
  type: GossipKind | 'IHAVE' | 'IWANT';
  body: Record<string, unknown>;
}

export interface GossipConfig {
  pushDegree: number;
  pushLow: number;
  pushHigh: number;
  ihaveRounds: number;
  ttlMax: number;
  cacheMax: number;
  cacheMs: number;
  seenMax: number;
  ihaveMaxIds: number;
  iwantMaxIds: number;
  iwantPendingMax: number;
  iwantTimeoutMs: number;
}

export const GOSSIP_DEFAULTS: GossipConfig = {
  pushDegree: GOSSIP_PUSH_DEGREE,
  pushLow: GOSSIP_PUSH_DEGREE_LOW,
  pushHigh: GOSSIP_PUSH_DEGREE_HIGH,
  ihaveRounds: GOSSIP_IHAVE_ROUNDS,
  ttlMax: GOSSIP_TTL_MAX,
  cacheMax: GOSSIP_CACHE_MAX_MESSAGES,
  cacheMs: GOSSIP_CACHE_MS,
  seenMax: SEEN_IDS_MAX,
  ihaveMaxIds: GOSSIP_IHAVE_MAX_IDS,
  iwantMaxIds: GOSSIP_IWANT_MAX_IDS,
  iwantPendingMax: GOSSIP_IWANT_PENDING_MAX,
  iwantTimeoutMs: GOSSIP_IWANT_TIMEOUT_MS,
};

/** The eager-set bounds for a push degree D (0: flood): low = min(D, 4) - ish, high = 2D at least. */
export function gossipConfig(pushDegree: number, over: Partial<GossipConfig> = {}): GossipConfig {
  const d = Math.max(0, Math.floor(pushDegree));
  return {
    ...GOSSIP_DEFAULTS,
    pushDegree: d,
    pushLow: Math.min(d, GOSSIP_PUSH_DEGREE_LOW),
    pushHigh: Math.max(d, d === GOSSIP_PUSH_DEGREE ? GOSSIP_PUSH_DEGREE_HIGH : Math.ceil(d * 1.6)),
    ...over,
  };
}

interface Entry<P> {
  item: GossipItem;
  /** The ttl this peer sends the message with; 0: neither pushed nor advertised. */
  ttl: number;
  /** The neighbour it first came from (undefined: we wrote it). */
  from: P | undefined;
  at: number;
  /** Heartbeats left during which it is advertised in IHAVE. */
  rounds: number;
  /** Neighbours known to have it (sent it to us, got it from us, or advertised it). */
  has: Set<P>;
}

export interface GossipStats {
  /** Full copies sent by eager push (publish and relay). */
  pushed: number;
  /** Full copies sent in answer to IWANT. */
  served: number;
  ihaveIds: number;
  iwantIds: number;
  /** Ids we already had when a neighbour sent the message again. */
  duplicates: number;
}

export class Gossip<P> {
  readonly cfg: GossipConfig;
  #random: () => number;
  #peers = new Set<P>();
  #eager = new Set<P>();
  #seen: SeenSet;
  #cache = new Map<string, Entry<P>>();
  /** Ids asked for: when, and who else advertised them (asked next on timeout). */
  #pending = new Map<string, { at: number; sources: P[] }>();
  readonly stats: GossipStats = { pushed: 0, served: 0, ihaveIds: 0, iwantIds: 0, duplicates: 0 };

  constructor(cfg: GossipConfig = GOSSIP_DEFAULTS, random: () => number = Math.random) {
    this.cfg = cfg;
    this.#random = random;
    this.#seen = new SeenSet(cfg.seenMax);
  }

  get #flood(): boolean {
    return this.cfg.pushDegree === 0;
  }

  addPeer(p: P): void {
    if (this.#peers.has(p)) return;
    this.#peers.add(p);
    if (this.#flood || this.#eager.size < this.cfg.pushDegree) this.#eager.add(p);
  }

  removePeer(p: P): void {
    this.#peers.delete(p);
    this.#eager.delete(p);
  }

  isEager(p: P): boolean {
    return this.#eager.has(p);
  }

  get peerCount(): number {
    return this.#peers.size;
  }

  get eagerCount(): number {
    return this.#eager.size;
  }

  /** Has this id been seen (delivered, published, or marked)? */
  known(id: string): boolean {
    return this.#seen.has(id);
  }

  /** Remember an id as seen without a message (e.g. it is in the log). */
  markSeen(id: string): void {
    this.#seen.add(id);
    this.#pending.delete(id);
  }

  /** A neighbour sent us a message we already had: count it, and do not offer it back. */
  duplicate(from: P, id: string): void {
    this.stats.duplicates++;
    this.#cache.get(id)?.has.add(from);
  }

  /** Where a message first came from (for routing its ACKs back), if still cached. */
  origin(id: string): { from: P | undefined } | undefined {
    const e = this.#cache.get(id);
    return e ? { from: e.from } : undefined;
  }

  /** Our own message: to every neighbour (or only to `only`), with the full ttl. */
  publish(item: GossipItem, ttl: number, now: number, only?: P[]): Out<P>[] {
    this.#seen.add(item.id);
    const e = this.#store(item, Math.min(ttl, this.cfg.ttlMax), undefined, now);
    return this.#push(e, only ?? [...this.#peers]);
  }

  /**
   * A message from a neighbour that the caller has checked and that is new
   * (known(id) was false). Returns the eager pushes; `only` narrows them (a
   * DM whose recipient is a neighbour goes to that neighbour alone).
   */
  accept(from: P, item: GossipItem, ttlIn: number, now: number, only?: P[]): Out<P>[] {
    this.#seen.add(item.id);
    this.#pending.delete(item.id);
    const ttl = Math.max(0, Math.min(ttlIn, this.cfg.ttlMax) - 1);
    const e = this.#store(item, ttl, from, now);
    e.has.add(from);
    if (ttl <= 0) return [];
    return this.#push(e, only ?? [...this.#eager]);
  }

  /** IHAVE from a neighbour: ask (IWANT) for the ids we lack and have not just asked for. */
  onIHave(from: P, ids: string[], now: number): Out<P>[] {
    const want: string[] = [];
    for (const id of ids) {
      if (this.#seen.has(id)) {
        this.#cache.get(id)?.has.add(from);
        continue;
      }
      const asked = this.#pending.get(id);
      if (asked !== undefined && now - asked.at < this.cfg.iwantTimeoutMs) {
        if (asked.sources.length < 8 && !asked.sources.includes(from)) asked.sources.push(from);
        continue;
      }
      if (asked === undefined && this.#pending.size >= this.cfg.iwantPendingMax) break;
      this.#pending.set(id, { at: now, sources: asked?.sources.filter((p) => p !== from) ?? [] });
      want.push(id);
    }
    if (want.length === 0) return [];
    this.stats.iwantIds += want.length;
    // Every id lacked is asked for: an IHAVE carries up to 512, an IWANT at most 128, so several
    // IWANTs (an id asked for only once per IHAVE round would be lost under load; the soak bench saw it).
    const out: Out<P>[] = [];
    for (let i = 0; i < want.length; i += this.cfg.iwantMaxIds) out.push({ to: from, type: 'IWANT', body: { ids: want.slice(i, i + this.cfg.iwantMaxIds) } });
    return out;
  }

  /**
   * IWANT from a neighbour: the cached messages it asks for (those we would
   * forward). Asking also grafts it (Plumtree's GRAFT): it evidently gets too
   * few eager pushes, so it joins our eager set while that has room.
   */
  onIWant(from: P, ids: string[]): Out<P>[] {
    if (!this.#flood && this.#peers.has(from) && this.#eager.size < this.cfg.pushHigh) this.#eager.add(from);
    const out: Out<P>[] = [];
    for (const id of ids.slice(0, this.cfg.iwantMaxIds)) {
      const e = this.#cache.get(id);
      if (!e || e.ttl <= 0 || e.from === from) continue;
      e.has.add(from);
      out.push({ to: from, type: e.item.kind, body: { ...e.item.body, ttl: e.ttl } });
    }
    this.stats.served += out.length;
    return out;
  }

  /**
   * Once per heartbeat: expire the cache, keep the eager set within bounds,
   * and ask the next advertiser for ids whose IWANT went unanswered.
   */
  heartbeat(now: number): Out<P>[] {
    for (const [id, e] of this.#cache) {
      if (now - e.at <= this.cfg.cacheMs && this.#cache.size <= this.cfg.cacheMax) break;
      this.#cache.delete(id);
    }
    const retry = new Map<P, string[]>();
    for (const [id, p] of this.#pending) {
      if (now - p.at < this.cfg.iwantTimeoutMs) continue;
      let next: P | undefined;
      while (p.sources.length > 0 && next === undefined) {
        const s = p.sources.shift()!;
        if (this.#peers.has(s)) next = s;
      }
      if (next === undefined) {
        if (now - p.at > this.cfg.iwantTimeoutMs * 4) this.#pending.delete(id);
        continue;
      }
      p.at = now;
      const list = retry.get(next) ?? [];
      if (list.length < this.cfg.iwantMaxIds) list.push(id);
      retry.set(next, list);
    }
    this.#upkeep();
    const out: Out<P>[] = [];
    for (const [p, ids] of retry) {
      this.stats.iwantIds += ids.length;
      out.push({ to: p, type: 'IWANT', body: { ids } });
    }
    return out;
  }

  /** Lazy push: the ids of new messages, in one IHAVE per neighbour outside the eager set that may lack them. */
  lazy(): Out<P>[] {
    if (this.#flood) return [];
    const ids: Entry<P>[] = [];
    for (const e of this.#cache.values()) {
      if (e.rounds <= 0 || e.ttl <= 0) continue;
      e.rounds--;
      ids.push(e);
    }
    if (ids.length === 0) return [];
    const out: Out<P>[] = [];
    for (const p of this.#peers) {
      if (this.#eager.has(p)) continue;
      const list: string[] = [];
      for (const e of ids) if (!e.has.has(p)) list.push(e.item.id);
      this.stats.ihaveIds += list.length;
      for (let i = 0; i < list.length; i += this.cfg.ihaveMaxIds) out.push({ to: p, type: 'IHAVE', body: { ids: list.slice(i, i + this.cfg.ihaveMaxIds) } });
    }
    return out;
  }

  #store(item: GossipItem, ttl: number, from: P | undefined, now: number): Entry<P> {
    const e: Entry<P> = { item, ttl, from, at: now, rounds: this.cfg.ihaveRounds, has: new Set() };
    this.#cache.delete(item.id);
    this.#cache.set(item.id, e);
    if (this.#cache.size > this.cfg.cacheMax) this.#cache.delete(this.#cache.keys().next().value as string);
    return e;
  }

  #push(e: Entry<P>, targets: P[]): Out<P>[] {
    const out: Out<P>[] = [];
    for (const p of targets) {
      if (e.has.has(p) || !this.#peers.has(p)) continue;
      e.has.add(p);
      out.push({ to: p, type: e.item.kind, body: { ...e.item.body, ttl: e.ttl } });
    }
    this.stats.pushed += out.length;
    return out;
  }

  #upkeep(): void {
    if (this.#flood) {
      for (const p of this.#peers) this.#eager.add(p);
      return;
    }
    if (this.#eager.size < this.cfg.pushLow) {
      const extra = this.#shuffle([...this.#peers].filter((p) => !this.#eager.has(p)));
      for (const p of extra) {
        if (this.#eager.size >= this.cfg.pushDegree) break;
        this.#eager.add(p);
      }
    } else if (this.#eager.size > this.cfg.pushHigh) {
      const drop = this.#shuffle([...this.#eager]).slice(0, this.#eager.size - this.cfg.pushDegree);
      for (const p of drop) this.#eager.delete(p);
    }
  }

  #shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.#random() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
}
