// The peer book (docs/mesh.md, "Membership"): every room member this peer
// knows of, whether it is present, and where it may be dialled. Sans-I/O:
// callers pass the time and the randomness; changes come back as events.
//
// A member is present while we have a session with it, or while its signed
// presence statements keep arriving (every presenceIntervalMs(members), through
// the mesh); it is gone when it says goodbye (BYE on our session with it, or a
// presence statement with state "bye"), or when it is not a neighbour and has
// not been heard from for PRESENCE_TIMEOUT_INTERVALS of those intervals.
import {
  MEMBERS_MAX,
  MEMBER_MAX_ADDRS,
  PRESENCE_INTERVAL_MS,
  PRESENCE_INTERVAL_PER_MEMBER_MS,
  PRESENCE_TIMEOUT_INTERVALS,
  RECONNECT_BASE_MS,
  RECONNECT_MAX_MS,
} from '../limits.js';
import { dialRefusal, formatHostPort, type DialPolicy, type HostPort } from './addr.js';
import type { Presence } from './signed.js';

export interface MemberEvent {
  type: 'up' | 'down';
  key: string;
  name: string;
  /** For 'down': bye (it said goodbye) or timeout (not heard from). */
  reason?: 'bye' | 'timeout';
}

export interface AddrState extends HostPort {
  /** IP of the neighbour that told us (for the dial policy); undefined: we saw it ourselves. */
  teller: string | undefined;
  failures: number;
  nextTryAt: number;
}

export interface Member {
  key: string;
  name: string;
  port: number | undefined;
  /** Newest presence statement (its ts orders them). */
  statement: Presence | undefined;
  /** Local time we last heard from or of it (a fresh statement, a session). */
  heardAt: number;
  /** Our sessions with it that are up. */
  direct: number;
  present: boolean;
  /** The address we reach it at ourselves, when it is a neighbour that listens. */
  seenAt: string | undefined;
  addrs: Map<string, AddrState>;
}

export interface BookOptions {
  maxMembers?: number;
  maxAddrs?: number;
  presenceTimeoutMs?: number;
  random?: () => number;
}

/** How often a member announces itself in a room of `members`: more rarely in big rooms, so each peer forwards about as much presence per second in any room. */
export function presenceIntervalMs(members: number): number {
  return Math.max(PRESENCE_INTERVAL_MS, members * PRESENCE_INTERVAL_PER_MEMBER_MS);
}

export function backoffMs(failures: number, random: () => number): number {
  const base = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.max(0, Math.min(failures - 1, 20)));
  return Math.round(base * (0.5 + random()));
}

export class PeerBook {
  readonly selfKey: string;
  #members = new Map<string, Member>();
  #max: number;
  #maxAddrs: number;
  #timeout: number | undefined;
  #random: () => number;

  constructor(selfKey: string, opts: BookOptions = {}) {
    this.selfKey = selfKey;
    this.#max = opts.maxMembers ?? MEMBERS_MAX;
    this.#maxAddrs = opts.maxAddrs ?? MEMBER_MAX_ADDRS;
    this.#timeout = opts.presenceTimeoutMs;
    this.#random = opts.random ?? Math.random;
  }

  get(key: string): Member | undefined {
    return this.#members.get(key);
  }

  /** Members present now, neighbours first, then by name. */
  present(): Member[] {
    return [...this.#members.values()].filter((m) => m.present).sort((a, b) => b.direct - a.direct || a.name.localeCompare(b.name) || a.key.localeCompare(b.key));
  }

  get size(): number {
    return this.#members.size;
  }

  /** Present members whose name is `name` (names are not unique: the caller decides). */
  byName(name: string): Member[] {
    return this.present().filter((m) => m.name === name);
  }

  #member(key: string, name: string, now: number): Member {
    let m = this.#members.get(key);
    if (!m) {
      m = { key, name, port: undefined, statement: undefined, heardAt: now, direct: 0, present: false, seenAt: undefined, addrs: new Map() };
      this.#members.set(key, m);
      this.#evict();
    }
    return m;
  }

  #evict(): void {
    if (this.#members.size <= this.#max) return;
    let victim: Member | undefined;
    for (const m of this.#members.values()) if (m.direct === 0 && (!victim || m.heardAt < victim.heardAt)) victim = m;
    if (victim) this.#members.delete(victim.key);
  }

  #up(m: Member, out: MemberEvent[]): void {
    if (m.present) return;
    m.present = true;
    out.push({ type: 'up', key: m.key, name: m.name });
  }

  #down(m: Member, reason: 'bye' | 'timeout', out: MemberEvent[]): void {
    if (!m.present) return;
    m.present = false;
    out.push({ type: 'down', key: m.key, name: m.name, reason });
  }

  /** A session with `key` came up. `at`: where we can dial it (outgoing: where we did; incoming: its IP and HELLO port). */
  sessionUp(key: string, name: string, at: HostPort | undefined, now: number): MemberEvent[] {
    if (key === this.selfKey) return [];
    const out: MemberEvent[] = [];
    const m = this.#member(key, name, now);
    m.name = name;
    m.direct++;
    m.heardAt = now;
    if (at) {
      m.seenAt = formatHostPort(at.host, at.port);
      this.#addAddr(m, at, undefined);
      const a = m.addrs.get(m.seenAt)!;
      a.failures = 0;
      a.nextTryAt = 0;
    }
    this.#up(m, out);
    return out;
  }

  /** A session with `key` ended. clean: it said BYE (it left the room). */
  sessionDown(key: string, clean: boolean, now: number): MemberEvent[] {
    const m = this.#members.get(key);
    if (!m) return [];
    const out: MemberEvent[] = [];
    m.direct = Math.max(0, m.direct - 1);
    m.heardAt = now;
    if (m.direct === 0) {
      m.seenAt = undefined;
      if (clean) this.#down(m, 'bye', out);
    }
    return out;
  }

  /**
   * A checked presence statement, relayed by a neighbour at `teller` with an
   * optional address hint. fresh: it is newer than what we had (pass it on).
   */
  presence(p: Presence, hint: HostPort | undefined, teller: string | undefined, now: number): { fresh: boolean; events: MemberEvent[] } {
    if (p.key === this.selfKey) return { fresh: false, events: [] };
    const known = this.#members.get(p.key);
    if (known?.statement && known.statement.ts >= p.ts) {
      if (hint) this.#addAddr(known, hint, teller);
      return { fresh: false, events: [] };
    }
    const out: MemberEvent[] = [];
    const m = known ?? this.#member(p.key, p.name, now);
    m.statement = p;
    m.name = p.name;
    m.port = p.port;
    m.heardAt = now;
    if (hint) this.#addAddr(m, hint, teller);
    if (p.state === 'bye') {
      if (m.direct === 0) this.#down(m, 'bye', out);
    } else this.#up(m, out);
    return { fresh: true, events: out };
  }

  /** The presence timeout now: PRESENCE_TIMEOUT_INTERVALS intervals of a room this size (or the fixed one given). */
  get timeoutMs(): number {
    return this.#timeout ?? presenceIntervalMs(this.#members.size) * PRESENCE_TIMEOUT_INTERVALS;
  }

  /** Members that are not neighbours and have not been heard from in time: gone. */
  expire(now: number): MemberEvent[] {
    const out: MemberEvent[] = [];
    const timeout = this.timeoutMs;
    for (const m of [...this.#members.values()]) {
      if (m.direct > 0 || now - m.heardAt <= timeout) continue;
      this.#down(m, 'timeout', out);
      this.#members.delete(m.key);
    }
    return out;
  }

  /** Fresh statements of present members, newest first, at most `limit`. */
  statements(limit: number): Presence[] {
    return [...this.#members.values()]
      .filter((m) => m.present && m.statement && m.statement.state === 'up')
      .sort((a, b) => b.statement!.ts - a.statement!.ts)
      .slice(0, limit)
      .map((m) => m.statement!);
  }

  /** The address to tell others for `key`: where we reach it, else the first one we were told. */
  hintFor(key: string): string | undefined {
    const m = this.#members.get(key);
    if (!m) return undefined;
    if (m.seenAt) return m.seenAt;
    const first = m.addrs.values().next().value as AddrState | undefined;
    return first ? formatHostPort(first.host, first.port) : undefined;
  }

  #addAddr(m: Member, at: HostPort, teller: string | undefined): void {
    const id = formatHostPort(at.host, at.port);
    if (m.addrs.has(id)) return;
    if (m.addrs.size >= this.#maxAddrs) {
      // Keep the ones we saw ourselves; replace the oldest learned one.
      for (const [k, a] of m.addrs) {
        if (a.teller !== undefined) {
          m.addrs.delete(k);
          break;
        }
      }
      if (m.addrs.size >= this.#maxAddrs) return;
    }
    m.addrs.set(id, { host: at.host, port: at.port, teller, failures: 0, nextTryAt: 0 });
  }

  /**
   * Addresses worth dialling now: present members we have no session with
   * (and are not dialling), whose backoff has passed, that the policy allows.
   * Shuffled; one address per member.
   */
  candidates(now: number, busy: Set<string>, policy: DialPolicy, limit: number): { key: string; name: string; host: string; port: number }[] {
    const out: { key: string; name: string; host: string; port: number }[] = [];
    const ms = [...this.#members.values()].filter((m) => m.present && m.direct === 0 && !busy.has(m.key));
    for (let i = ms.length - 1; i > 0; i--) {
      const j = Math.floor(this.#random() * (i + 1));
      [ms[i], ms[j]] = [ms[j]!, ms[i]!];
    }
    for (const m of ms) {
      for (const a of m.addrs.values()) {
        if (a.nextTryAt > now) continue;
        if (a.teller !== undefined && dialRefusal(policy, a, a.teller) !== undefined) continue;
        out.push({ key: m.key, name: m.name, host: a.host, port: a.port });
        break;
      }
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Why a learned address would not be dialled, for reports (undefined: it would). */
  refusal(policy: DialPolicy, at: HostPort, teller: string | undefined): string | undefined {
    return teller === undefined ? undefined : dialRefusal(policy, at, teller);
  }

  /** The outcome of dialling `key` at host:port. */
  dialed(key: string, at: HostPort, ok: boolean, now: number): void {
    const m = this.#members.get(key);
    const a = m?.addrs.get(formatHostPort(at.host, at.port));
    if (!a) return;
    if (ok) {
      a.failures = 0;
      a.nextTryAt = 0;
      return;
    }
    a.failures++;
    a.nextTryAt = now + backoffMs(a.failures, this.#random);
  }

  /** Forget an address (it led to ourselves, or to another key). */
  dropAddr(key: string, at: HostPort): void {
    this.#members.get(key)?.addrs.delete(formatHostPort(at.host, at.port));
  }
}
