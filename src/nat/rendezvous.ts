// The rendezvous, sans-I/O: datagrams in (with where they came from and
// which local socket took them), datagrams out, and a clock passed in.
//   - STUN Binding server (RFC 8489 section 6.3, 14.2), with RFC 5780
//     section 6 behaviour discovery when it has a second address/port:
//     CHANGE-REQUEST answered from the alternate socket, RESPONSE-ORIGIN and
//     OTHER-ADDRESS in every answer.
//   - Pairing (docs/nat.md, "Rendezvous protocol"): a Binding request with
//     P2P-TOKEN and P2P-ID registers; two registrations sharing a token are
//     paired, and each is told the other's id, observed public endpoint,
//     reported local endpoints and NAT mapping. Registrations expire.
//   - Opt-in relay: once both peers of a pair ask (P2P-RELAY), every non-STUN
//     datagram from one is forwarded to the other, within byte and rate limits.
//     What it forwards is udx packets carrying Noise ciphertext.
// Every table is bounded; each source IP has a request budget.
import { P2pcatError } from '../errors.js';
import {
  PUNCH_MAX_CANDIDATES,
  RELAY_IDLE_TIMEOUT_MS,
  RELAY_MAX_BYTES_PER_PAIR,
  RELAY_MAX_BYTES_PER_SEC,
  RELAY_MAX_PAIRS,
  RENDEZVOUS_MAX_PER_TOKEN,
  RENDEZVOUS_MAX_REGISTRATIONS,
  RENDEZVOUS_MAX_SOURCES,
  RENDEZVOUS_MAX_TOKENS,
  RENDEZVOUS_RATE_BURST,
  RENDEZVOUS_RATE_PER_SEC,
  RENDEZVOUS_REGISTRATION_TTL_MS,
  STUN_MAX_MESSAGE_BYTES,
} from '../limits.js';
import { STUN_SOFTWARE } from '../crypto/labels.js';
import { formatEndpoint, type Endpoint } from './addr.js';
import {
  ATTR,
  HEADER_BYTES,
  METHOD,
  checkFingerprint,
  decodeAddressList,
  decodeChangeRequest,
  decodeStun,
  encodeAddress,
  encodeAddressList,
  encodeErrorCode,
  encodeStun,
  encodeXorAddress,
  getAttr,
  looksLikeStun,
  newTransactionId,
  unknownRequired,
  type DecodedStun,
  type StunAttribute,
} from './stun.js';
import { PEER_ID_BYTES, TOKEN_BYTES } from './token.js';

/** Which local socket: (primary|alternate IP) x (primary|alternate port). */
export type Via = 'pp' | 'pa' | 'ap' | 'aa';

export interface Datagram {
  via: Via;
  to: { address: string; port: number };
  data: Uint8Array;
}

export interface RendezvousConfig {
  /** The address of each local socket, as peers see it; absent sockets are not open. */
  sockets: Partial<Record<Via, { address: string; port: number }>>;
  relay: boolean;
  software?: string;
}

export interface RendezvousEvent {
  type: 'PAIR' | 'RELAY' | 'RELAY_END';
  [k: string]: unknown;
}

interface Registration {
  id: string;
  tokens: string[];
  public: Endpoint;
  candidates: Endpoint[];
  nat: number;
  expires: number;
  peer?: string;
  relayWanted: boolean;
}

interface RelayPair {
  a: string;
  b: string;
  bytes: number;
  lastActive: number;
  budget: number;
  budgetAt: number;
}

const KNOWN = [ATTR.MAPPED_ADDRESS, ATTR.CHANGE_REQUEST, ATTR.USERNAME, ATTR.MESSAGE_INTEGRITY, ATTR.ERROR_CODE, ATTR.REALM, ATTR.NONCE, ATTR.XOR_MAPPED_ADDRESS, ATTR.PRIORITY, ATTR.RESPONSE_PORT, ATTR.PADDING];
const CODE = { BAD_REQUEST: 400, FORBIDDEN: 403, UNKNOWN_ATTRIBUTE: 420, QUOTA: 486, CAPACITY: 508 } as const;

const key = (e: { address: string; port: number }) => formatEndpoint(e);

export class RendezvousCore {
  readonly events: RendezvousEvent[] = [];
  readonly counters = { requests: 0, dropped: 0, rateLimited: 0, malformed: 0, relayedBytes: 0, relayDropped: 0 };
  #cfg: RendezvousConfig;
  #regs = new Map<string, Registration>();
  #byToken = new Map<string, Set<string>>();
  #sources = new Map<string, { tokens: number; at: number }>();
  #relays = new Map<string, RelayPair>();
  #software: Uint8Array;

  constructor(cfg: RendezvousConfig) {
    if (!cfg.sockets.pp) throw new RangeError('the primary socket is required');
    this.#cfg = cfg;
    this.#software = Buffer.from(cfg.software ?? STUN_SOFTWARE);
  }

  get registrations(): number {
    return this.#regs.size;
  }

  get relayPairs(): number {
    return new Set(this.#relays.values()).size;
  }

  /** One datagram arrived on socket `via` from `from`. */
  receive(data: Uint8Array, from: Endpoint, via: Via, now: number): Datagram[] {
    if (!looksLikeStun(data)) return this.#relay(data, from, now);
    if (!this.#allow(from.address, now)) {
      this.counters.rateLimited++;
      return [];
    }
    let m: DecodedStun;
    try {
      m = decodeStun(data);
    } catch (e) {
      if (!(e instanceof P2pcatError)) throw e;
      this.counters.malformed++;
      return [];
    }
    if (m.method !== METHOD.BINDING || m.cls !== 'request' || checkFingerprint(m) === false) {
      this.counters.dropped++;
      return [];
    }
    this.counters.requests++;
    this.sweep(now);
    try {
      return this.#binding(m, from, via, now);
    } catch (e) {
      if (!(e instanceof P2pcatError)) throw e;
      this.counters.malformed++;
      return [this.#error(m, from, via, CODE.BAD_REQUEST, e.message)];
    }
  }

  #binding(m: DecodedStun, from: Endpoint, via: Via, now: number): Datagram[] {
    const unknown = unknownRequired(m, KNOWN);
    if (unknown.length > 0) {
      const v = Buffer.alloc(unknown.length * 2);
      unknown.forEach((u, i) => v.writeUInt16BE(u, i * 2));
      return [this.#error(m, from, via, CODE.UNKNOWN_ATTRIBUTE, 'Unknown Attribute', [{ type: ATTR.UNKNOWN_ATTRIBUTES, value: v }])];
    }
    // RFC 5780 section 6.1: answer from the socket the CHANGE-REQUEST names.
    let out: Via = via;
    const cr = getAttr(m, ATTR.CHANGE_REQUEST);
    if (cr) {
      const f = decodeChangeRequest(cr);
      const ip = f.changeIp ? (via[0] === 'p' ? 'a' : 'p') : via[0];
      const port = f.changePort ? (via[1] === 'p' ? 'a' : 'p') : via[1];
      out = `${ip}${port}` as Via;
      if (!this.#cfg.sockets[out]) return [this.#error(m, from, via, CODE.UNKNOWN_ATTRIBUTE, 'this server has no alternate address for CHANGE-REQUEST', [{ type: ATTR.UNKNOWN_ATTRIBUTES, value: Buffer.from([0, 3]) }])];
    }
    const attrs: StunAttribute[] = [
      { type: ATTR.XOR_MAPPED_ADDRESS, value: encodeXorAddress(from, m.transactionId) },
      { type: ATTR.MAPPED_ADDRESS, value: encodeAddress(from) },
    ];
    const origin = this.#cfg.sockets[out]!;
    if (!isWildcard(origin.address)) attrs.push({ type: ATTR.RESPONSE_ORIGIN, value: encodeAddress(origin) });
    const other = this.#cfg.sockets.aa;
    if (other && !isWildcard(other.address)) attrs.push({ type: ATTR.OTHER_ADDRESS, value: encodeAddress(other) });
    attrs.push({ type: ATTR.SOFTWARE, value: this.#software });
    const extra: Datagram[] = [];
    const tokens = getAttr(m, ATTR.P2P_TOKEN);
    if (tokens) {
      const r = this.#register(m, tokens, from, now);
      if ('error' in r) return [this.#error(m, from, via, r.error, r.reason)];
      attrs.push(...r.attrs);
      extra.push(...r.notify);
    }
    // RFC 5780 section 7.6: a padded request gets an answer of about the same size (never larger),
    // and never past STUN_MAX_MESSAGE_BYTES: a request padded to the limit once made an answer
    // longer than it, and encodeStun's RangeError escaped (found by test/fuzz/network.test.ts).
    const padding = getAttr(m, ATTR.PADDING);
    if (padding && padding.length > 0) {
      const used = HEADER_BYTES + attrs.reduce((n, a) => n + 4 + ((a.value.length + 3) & ~3), 0) + 8; // + FINGERPRINT
      const room = STUN_MAX_MESSAGE_BYTES - used - 4;
      attrs.push({ type: ATTR.PADDING, value: new Uint8Array(Math.max(0, Math.min(padding.length - 64, room) & ~3)) });
    }
    // RFC 5780 section 7.5: RESPONSE-PORT sends the answer to another port of the same address.
    const rp = getAttr(m, ATTR.RESPONSE_PORT);
    if (rp && rp.length !== 4) return [this.#error(m, from, via, CODE.BAD_REQUEST, 'RESPONSE-PORT is not 4 bytes')];
    const to = rp && ((rp[0]! << 8) | rp[1]!) !== 0 ? { ...from, port: (rp[0]! << 8) | rp[1]! } : from;
    return [{ via: out, to, data: encodeStun({ method: METHOD.BINDING, cls: 'success', transactionId: m.transactionId, attributes: attrs }, { fingerprint: true }) }, ...extra];
  }

  #register(m: DecodedStun, tokenBytes: Uint8Array, from: Endpoint, now: number): { attrs: StunAttribute[]; notify: Datagram[] } | { error: number; reason: string } {
    const idv = getAttr(m, ATTR.P2P_ID);
    if (!idv || idv.length !== PEER_ID_BYTES) return { error: CODE.BAD_REQUEST, reason: 'P2P-ID missing or not 8 bytes' };
    if (tokenBytes.length === 0 || tokenBytes.length % TOKEN_BYTES !== 0 || tokenBytes.length / TOKEN_BYTES > RENDEZVOUS_MAX_TOKENS) return { error: CODE.BAD_REQUEST, reason: 'bad P2P-TOKEN' };
    const id = Buffer.from(idv).toString('hex');
    const tokens: string[] = [];
    for (let i = 0; i < tokenBytes.length; i += TOKEN_BYTES) tokens.push(Buffer.from(tokenBytes.subarray(i, i + TOKEN_BYTES)).toString('hex'));
    const cv = getAttr(m, ATTR.P2P_CANDIDATES);
    const candidates = cv ? decodeAddressList(cv, PUNCH_MAX_CANDIDATES) : [];
    const nat = getAttr(m, ATTR.P2P_NAT)?.[0] ?? 0;
    let reg = this.#regs.get(id);
    if (!reg) {
      if (this.#regs.size >= RENDEZVOUS_MAX_REGISTRATIONS) return { error: CODE.CAPACITY, reason: 'rendezvous full' };
      for (const t of tokens) {
        let waiting = 0;
        for (const o of this.#byToken.get(t) ?? []) if (!this.#regs.get(o)?.peer) waiting++;
        if (waiting >= RENDEZVOUS_MAX_PER_TOKEN) return { error: CODE.QUOTA, reason: 'too many peers waiting under this token' };
      }
      reg = { id, tokens, public: from, candidates, nat, expires: 0, relayWanted: false };
      this.#regs.set(id, reg);
      for (const t of tokens) {
        let s = this.#byToken.get(t);
        if (!s) this.#byToken.set(t, (s = new Set()));
        s.add(id);
      }
    }
    // A refresh may come from a new public endpoint (NAT rebinding): believe the latest.
    reg.public = from;
    reg.candidates = candidates;
    reg.nat = nat;
    reg.expires = now + RENDEZVOUS_REGISTRATION_TTL_MS;
    const notify: Datagram[] = [];
    if (!reg.peer) {
      for (const t of reg.tokens) {
        for (const oid of this.#byToken.get(t) ?? []) {
          const o = this.#regs.get(oid);
          if (!o || o.id === id || o.peer) continue;
          reg.peer = o.id;
          o.peer = id;
          this.events.push({ type: 'PAIR', a: formatEndpoint(o.public), b: formatEndpoint(reg.public) });
          // Tell the waiting peer at once instead of at its next refresh.
          const tid = newTransactionId();
          notify.push({
            via: 'pp',
            to: o.public,
            data: encodeStun({ method: METHOD.BINDING, cls: 'indication', transactionId: tid, attributes: this.#peerAttrs(reg, tid) }, { fingerprint: true }),
          });
          break;
        }
        if (reg.peer) break;
      }
    }
    const attrs: StunAttribute[] = [];
    const peer = reg.peer ? this.#regs.get(reg.peer) : undefined;
    if (peer) attrs.push(...this.#peerAttrs(peer, m.transactionId));
    if (getAttr(m, ATTR.P2P_RELAY)) {
      if (!this.#cfg.relay) return { error: CODE.FORBIDDEN, reason: 'this rendezvous does not relay (start it with --relay)' };
      if (!peer) return { error: CODE.BAD_REQUEST, reason: 'relay asked before a peer was paired' };
      reg.relayWanted = true;
      if (peer.relayWanted) {
        const r = this.#openRelay(reg, peer, now);
        if (r) return { error: CODE.CAPACITY, reason: r };
        attrs.push({ type: ATTR.P2P_RELAY, value: new Uint8Array(0) });
      }
    }
    return { attrs, notify };
  }

  #peerAttrs(peer: Registration, tid: Uint8Array): StunAttribute[] {
    return [
      { type: ATTR.P2P_PEER_ID, value: Buffer.from(peer.id, 'hex') },
      { type: ATTR.P2P_PEER_ADDRESS, value: encodeXorAddress(peer.public, tid) },
      { type: ATTR.P2P_CANDIDATES, value: encodeAddressList(peer.candidates) },
      { type: ATTR.P2P_PEER_NAT, value: Uint8Array.of(peer.nat) },
    ];
  }

  #openRelay(a: Registration, b: Registration, now: number): string | undefined {
    const ka = key(a.public);
    const kb = key(b.public);
    const existing = this.#relays.get(ka);
    if (existing && ((existing.a === ka && existing.b === kb) || (existing.a === kb && existing.b === ka))) return undefined;
    if (this.relayPairs >= RELAY_MAX_PAIRS) return `relay full (${RELAY_MAX_PAIRS} pairs)`;
    for (const k of [ka, kb]) {
      const old = this.#relays.get(k);
      if (old) this.#dropRelay(old, 'replaced');
    }
    const pair: RelayPair = { a: ka, b: kb, bytes: 0, lastActive: now, budget: RELAY_MAX_BYTES_PER_SEC, budgetAt: now };
    this.#relays.set(ka, pair);
    this.#relays.set(kb, pair);
    this.events.push({ type: 'RELAY', a: ka, b: kb });
    return undefined;
  }

  #dropRelay(p: RelayPair, reason: string): void {
    if (this.#relays.get(p.a) === p) this.#relays.delete(p.a);
    if (this.#relays.get(p.b) === p) this.#relays.delete(p.b);
    this.events.push({ type: 'RELAY_END', a: p.a, b: p.b, bytes: p.bytes, reason });
  }

  #relay(data: Uint8Array, from: Endpoint, now: number): Datagram[] {
    const k = key(from);
    const p = this.#relays.get(k);
    if (!p) {
      this.counters.dropped++;
      return [];
    }
    if (now - p.lastActive > RELAY_IDLE_TIMEOUT_MS) {
      this.#dropRelay(p, 'idle');
      return [];
    }
    p.budget = Math.min(RELAY_MAX_BYTES_PER_SEC, p.budget + ((now - p.budgetAt) * RELAY_MAX_BYTES_PER_SEC) / 1000);
    p.budgetAt = now;
    if (p.budget < data.length) {
      this.counters.relayDropped++;
      return [];
    }
    p.budget -= data.length;
    p.bytes += data.length;
    p.lastActive = now;
    if (p.bytes > RELAY_MAX_BYTES_PER_PAIR) {
      this.#dropRelay(p, `over ${RELAY_MAX_BYTES_PER_PAIR} bytes`);
      return [];
    }
    this.counters.relayedBytes += data.length;
    const to = p.a === k ? p.b : p.a;
    return [{ via: 'pp', to: parseKey(to), data }];
  }

  #error(m: DecodedStun, from: Endpoint, via: Via, code: number, reason: string, extra: StunAttribute[] = []): Datagram {
    return {
      via,
      to: from,
      data: encodeStun(
        { method: METHOD.BINDING, cls: 'error', transactionId: m.transactionId, attributes: [{ type: ATTR.ERROR_CODE, value: encodeErrorCode(code, reason) }, ...extra, { type: ATTR.SOFTWARE, value: this.#software }] },
        { fingerprint: true },
      ),
    };
  }

  /** Token bucket per source IP; the table is bounded (least recently seen forgotten first). */
  #allow(ip: string, now: number): boolean {
    let b = this.#sources.get(ip);
    if (b) this.#sources.delete(ip);
    else {
      b = { tokens: RENDEZVOUS_RATE_BURST, at: now };
      if (this.#sources.size >= RENDEZVOUS_MAX_SOURCES) this.#sources.delete(this.#sources.keys().next().value!);
    }
    this.#sources.set(ip, b);
    b.tokens = Math.min(RENDEZVOUS_RATE_BURST, b.tokens + ((now - b.at) * RENDEZVOUS_RATE_PER_SEC) / 1000);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Forget expired registrations and idle relays. */
  sweep(now: number): void {
    for (const r of this.#regs.values()) {
      if (r.expires > now) continue;
      this.#regs.delete(r.id);
      for (const t of r.tokens) {
        const s = this.#byToken.get(t);
        s?.delete(r.id);
        if (s && s.size === 0) this.#byToken.delete(t);
      }
      if (r.peer) {
        const p = this.#regs.get(r.peer);
        if (p && p.peer === r.id) {
          p.peer = undefined;
          p.relayWanted = false;
        }
      }
    }
    for (const p of new Set(this.#relays.values())) if (now - p.lastActive > RELAY_IDLE_TIMEOUT_MS) this.#dropRelay(p, 'idle');
  }
}

function isWildcard(a: string): boolean {
  return a === '0.0.0.0' || a === '::';
}

function parseKey(k: string): { address: string; port: number } {
  const i = k.lastIndexOf(':');
  const host = k.slice(0, i);
  return { address: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(k.slice(i + 1)) };
}
