// LAN beacons (docs/discovery.md, "LAN beacons"): what a p2pcat peer says
// about itself on the LAN, as DNS-SD TXT strings. The same strings are the
// TXT record of its `_p2pcat._tcp` mDNS service and, after a 4-byte magic,
// the payload of its UDP broadcast beacon, so one parser serves both.
// Sans-I/O: strings and bytes in, results out; the clock is a parameter.
//
//   v=1                       format version
//   t=<32 hex>                tag = HMAC-BLAKE2b-512(K_tag, u64be(e) || n)[0..16]
//   n=<24 hex>                random nonce (also the AEAD nonce)
//   e=<decimal>               epoch = floor(ts / 600 s)
//   ts=<decimal>              sender's clock, ms since the Unix epoch
//   p=<decimal>               TCP port of the announced listener
//   a=<ip>,<ip>...            its addresses (IPv4 dotted quad or IPv6 text)
//   g=1                       (only in a goodbye: the peer is leaving)
//   x=<base64url>             ChaCha20-Poly1305(K_beacon, n, identity public key,
//                             AAD = label, then every field above as "k=v" lines)
//
// Members recognise a beacon by recomputing its tag; a tag that matches but
// whose AEAD fails is a forgery (or a replay with altered fields) and is
// refused loudly; a timestamp outside our clock +-5 min, or an epoch that
// does not match the timestamp, is refused as stale; anything else from a
// non-member is silently foreign.
import crypto from 'node:crypto';
import net from 'node:net';
import { LAN_BEACON_AAD_CONTEXT, LAN_BEACON_MAGIC, LAN_PROBE_MAGIC } from '../crypto/labels.js';
import { LAN_BEACON_MAX_BYTES, LAN_BEACON_MAX_SKEW_MS, LAN_MAX_ADDRS } from '../limits.js';
import { LAN_EPOCH_MS, TAG_BYTES, epochOf, lanTag, type DiscoveryKeys } from './keys.js';

export const BEACON_VERSION = 1;
export const NONCE_BYTES = 12;
/** A TXT string is at most 255 bytes (RFC 6763 section 6.1). */
const TXT_STRING_MAX_BYTES = 255;
/** TXT strings one beacon may have (ours has 9). */
const MAX_TXT_STRINGS = 16;

export interface BeaconInput {
  nowMs: number;
  port: number;
  addrs: string[];
  /** The announcer's Ed25519 identity key, encrypted so that only members read it. */
  publicKey?: Uint8Array | undefined;
  goodbye?: boolean | undefined;
  /** For tests and vectors; random otherwise. */
  nonce?: Uint8Array | undefined;
}

/** A beacon's fields after parsing, before any check. */
export interface ParsedBeacon {
  version: number;
  tag: Uint8Array;
  nonce: Uint8Array;
  epoch: number;
  ts: number;
  port: number;
  addrs: string[];
  goodbye: boolean;
  sealed: Uint8Array;
}

/** A beacon a member made, checked. */
export interface Beacon {
  epoch: number;
  ts: number;
  port: number;
  addrs: string[];
  goodbye: boolean;
  nonce: Uint8Array;
  publicKey?: Uint8Array | undefined;
}

export type OpenResult =
  | { kind: 'peer'; beacon: Beacon }
  /** Not for our room (or a later version): ignore quietly. */
  | { kind: 'foreign' }
  /** Malformed, stale or forged: worth one warning. */
  | { kind: 'bad'; reason: string };

function aad(p: Omit<ParsedBeacon, 'sealed' | 'version'>): Buffer {
  return Buffer.from(
    [
      LAN_BEACON_AAD_CONTEXT,
      `v=${BEACON_VERSION}`,
      `t=${Buffer.from(p.tag).toString('hex')}`,
      `n=${Buffer.from(p.nonce).toString('hex')}`,
      `e=${p.epoch}`,
      `ts=${p.ts}`,
      `p=${p.port}`,
      `a=${p.addrs.join(',')}`,
      `g=${p.goodbye ? 1 : 0}`,
    ].join('\n'),
    'utf8',
  );
}

function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  const c = crypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  return new Uint8Array(Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]));
}

function aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | undefined {
  if (sealed.length < 16) return undefined;
  const body = sealed.subarray(0, sealed.length - 16);
  try {
    const d = crypto.createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    d.setAAD(ad, { plaintextLength: body.length });
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    return new Uint8Array(Buffer.concat([d.update(body), d.final()]));
  } catch {
    return undefined;
  }
}

/** True for an IP literal a beacon may carry: IPv4 dotted quad, or IPv6 without a zone. */
export function isBeaconAddr(a: string): boolean {
  return a.length <= 45 && !a.includes('%') && net.isIP(a) !== 0;
}

/** The addresses that fit one beacon: valid, unique, at most LAN_MAX_ADDRS, `a=` under 255 bytes. */
export function fitAddrs(addrs: string[]): string[] {
  const out: string[] = [];
  let len = 2;
  for (const a of addrs) {
    if (!isBeaconAddr(a) || out.includes(a)) continue;
    if (out.length >= LAN_MAX_ADDRS || len + a.length + (out.length ? 1 : 0) > TXT_STRING_MAX_BYTES) break;
    len += a.length + (out.length ? 1 : 0);
    out.push(a);
  }
  return out;
}

/** Make a beacon's TXT strings. Throws RangeError on a bad port or no usable address. */
export function sealBeacon(keys: DiscoveryKeys, input: BeaconInput): string[] {
  if (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535) throw new RangeError('beacon port must be 1-65535');
  const addrs = fitAddrs(input.addrs);
  if (addrs.length === 0) throw new RangeError('a beacon needs at least one address');
  const nonce = input.nonce ?? new Uint8Array(crypto.randomBytes(NONCE_BYTES));
  if (nonce.length !== NONCE_BYTES) throw new RangeError(`beacon nonce must be ${NONCE_BYTES} bytes`);
  const ts = Math.floor(input.nowMs);
  const epoch = epochOf(ts, LAN_EPOCH_MS);
  const tag = lanTag(keys, epoch, nonce);
  const goodbye = input.goodbye === true;
  const fields = { tag, nonce, epoch, ts, port: input.port, addrs, goodbye };
  if (input.publicKey !== undefined && input.publicKey.length !== 32) throw new RangeError('identity key must be 32 bytes');
  const sealed = aeadSeal(keys.beaconKey, nonce, input.publicKey ?? new Uint8Array(0), aad(fields));
  const out = [
    `v=${BEACON_VERSION}`,
    `t=${Buffer.from(tag).toString('hex')}`,
    `n=${Buffer.from(nonce).toString('hex')}`,
    `e=${epoch}`,
    `ts=${ts}`,
    `p=${input.port}`,
    `a=${addrs.join(',')}`,
  ];
  if (goodbye) out.push('g=1');
  out.push(`x=${Buffer.from(sealed).toString('base64url')}`);
  return out;
}

const DEC = /^(?:0|[1-9][0-9]{0,14})$/;
const HEX = /^[0-9a-f]*$/;
const B64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Parse TXT strings (from an mDNS TXT record or a UDP beacon) into fields.
 * Returns `foreign` when this is not a p2pcat v1 beacon at all (no `t=`, or
 * another version), `bad` when it claims to be one but is malformed.
 */
export function parseBeaconTxt(strings: readonly Uint8Array[]): { kind: 'ok'; beacon: ParsedBeacon } | { kind: 'foreign' } | { kind: 'bad'; reason: string } {
  if (!Array.isArray(strings)) return { kind: 'bad', reason: 'TXT data is not a list of strings' };
  if (strings.length > MAX_TXT_STRINGS) return { kind: 'bad', reason: `TXT record has ${strings.length} strings (at most ${MAX_TXT_STRINGS})` };
  const kv = new Map<string, string>();
  for (const s of strings) {
    if (!(s instanceof Uint8Array)) return { kind: 'bad', reason: 'TXT string is not bytes' };
    if (s.length > TXT_STRING_MAX_BYTES) return { kind: 'bad', reason: 'TXT string longer than 255 bytes' };
    const text = Buffer.from(s.buffer, s.byteOffset, s.byteLength).toString('latin1');
    // eslint-disable-next-line no-control-regex
    if (/[^\x20-\x7e]/.test(text)) return { kind: 'bad', reason: 'TXT string is not printable ASCII' };
    const i = text.indexOf('=');
    const k = (i === -1 ? text : text.slice(0, i)).toLowerCase();
    if (k === '') continue;
    // RFC 6763 section 6.4: a key given twice keeps its first value.
    if (!kv.has(k)) kv.set(k, i === -1 ? '' : text.slice(i + 1));
  }
  const v = kv.get('v');
  if (!kv.has('t') || v === undefined) return { kind: 'foreign' };
  if (v !== String(BEACON_VERSION)) return { kind: 'foreign' };
  const need = ['t', 'n', 'e', 'ts', 'p', 'a', 'x'];
  for (const k of need) if (!kv.has(k)) return { kind: 'bad', reason: `beacon lacks "${k}="` };
  const t = kv.get('t')!, n = kv.get('n')!, e = kv.get('e')!, ts = kv.get('ts')!, p = kv.get('p')!, a = kv.get('a')!, x = kv.get('x')!;
  const g = kv.get('g');
  if (t.length !== TAG_BYTES * 2 || !HEX.test(t)) return { kind: 'bad', reason: 'beacon tag is not 32 lower-case hex digits' };
  if (n.length !== NONCE_BYTES * 2 || !HEX.test(n)) return { kind: 'bad', reason: 'beacon nonce is not 24 lower-case hex digits' };
  if (!DEC.test(e) || !DEC.test(ts) || !DEC.test(p)) return { kind: 'bad', reason: 'beacon epoch, timestamp or port is not a plain decimal number' };
  const port = Number(p);
  if (port < 1 || port > 65535) return { kind: 'bad', reason: `beacon port ${port} is out of range` };
  const addrs = a.split(',');
  if (addrs.length > LAN_MAX_ADDRS) return { kind: 'bad', reason: `beacon carries ${addrs.length} addresses (at most ${LAN_MAX_ADDRS})` };
  for (const ad of addrs) if (!isBeaconAddr(ad)) return { kind: 'bad', reason: `beacon address ${JSON.stringify(ad.slice(0, 50))} is not an IP address` };
  if (new Set(addrs).size !== addrs.length) return { kind: 'bad', reason: 'beacon lists an address twice' };
  if (g !== undefined && g !== '1') return { kind: 'bad', reason: 'beacon "g=" is not 1' };
  if (!B64URL.test(x) || x.length > 128) return { kind: 'bad', reason: 'beacon "x=" is not base64url' };
  const sealed = new Uint8Array(Buffer.from(x, 'base64url'));
  if (sealed.length !== 16 && sealed.length !== 48) return { kind: 'bad', reason: `beacon "x=" has ${sealed.length} bytes (16 or 48)` };
  return {
    kind: 'ok',
    beacon: {
      version: BEACON_VERSION,
      tag: new Uint8Array(Buffer.from(t, 'hex')),
      nonce: new Uint8Array(Buffer.from(n, 'hex')),
      epoch: Number(e),
      ts: Number(ts),
      port,
      addrs,
      goodbye: g === '1',
      sealed,
    },
  };
}

/** Check a parsed beacon against our room's keys and clock. */
export function openBeacon(keys: DiscoveryKeys, p: ParsedBeacon, nowMs: number): OpenResult {
  const expect = lanTag(keys, p.epoch, p.nonce);
  if (!crypto.timingSafeEqual(expect, p.tag)) return { kind: 'foreign' };
  // A member's tag from here on: anything wrong is stale or forged.
  if (epochOf(p.ts, LAN_EPOCH_MS) !== p.epoch) return { kind: 'bad', reason: `beacon epoch ${p.epoch} does not match its timestamp` };
  if (Math.abs(p.ts - nowMs) > LAN_BEACON_MAX_SKEW_MS) {
    return { kind: 'bad', reason: `stale or replayed beacon: stamped ${Math.round((nowMs - p.ts) / 1000)} s from our clock (window +-${LAN_BEACON_MAX_SKEW_MS / 1000} s)` };
  }
  const pt = aeadOpen(keys.beaconKey, p.nonce, p.sealed, aad(p));
  if (!pt) return { kind: 'bad', reason: 'forged or altered beacon: its MAC does not verify under the room key' };
  if (pt.length !== 0 && pt.length !== 32) return { kind: 'bad', reason: 'beacon identity key has a bad length' };
  return {
    kind: 'peer',
    beacon: { epoch: p.epoch, ts: p.ts, port: p.port, addrs: p.addrs, goodbye: p.goodbye, nonce: p.nonce, ...(pt.length === 32 ? { publicKey: pt } : {}) },
  };
}

/** Parse and open in one step. */
export function readBeacon(keys: DiscoveryKeys, strings: readonly Uint8Array[], nowMs: number): OpenResult {
  const parsed = parseBeaconTxt(strings);
  if (parsed.kind !== 'ok') return parsed;
  return openBeacon(keys, parsed.beacon, nowMs);
}

/**
 * Nonces of beacons already accepted, to drop exact replays inside the
 * freshness window. Bounded: the oldest entry goes first.
 */
export class ReplayCache {
  #seen = new Map<string, 1>();
  constructor(readonly max: number) {}
  /** True when this nonce was seen before (a replay); remembers it otherwise. */
  check(nonce: Uint8Array): boolean {
    const id = Buffer.from(nonce).toString('hex');
    if (this.#seen.has(id)) return true;
    // Insertion order is age order: forget the oldest first.
    while (this.#seen.size >= this.max) this.#seen.delete(this.#seen.keys().next().value!);
    this.#seen.set(id, 1);
    return false;
  }
  get size(): number {
    return this.#seen.size;
  }
}

// ---- the UDP broadcast form: 4-byte magic, then TXT-style strings (length byte, bytes) ----

export function encodeBeaconDatagram(strings: readonly string[]): Uint8Array {
  const parts: Buffer[] = [Buffer.from(LAN_BEACON_MAGIC, 'latin1')];
  for (const s of strings) {
    const b = Buffer.from(s, 'utf8');
    if (b.length > TXT_STRING_MAX_BYTES) throw new RangeError('TXT string longer than 255 bytes');
    parts.push(Buffer.from([b.length]), b);
  }
  const out = Buffer.concat(parts);
  if (out.length > LAN_BEACON_MAX_BYTES) throw new RangeError('beacon longer than LAN_BEACON_MAX_BYTES');
  return new Uint8Array(out);
}

export function encodeProbeDatagram(): Uint8Array {
  return new Uint8Array(Buffer.from(LAN_PROBE_MAGIC, 'latin1'));
}

export type Datagram = { kind: 'probe' } | { kind: 'beacon'; strings: Uint8Array[] } | { kind: 'bad'; reason: string };

export function decodeDatagram(buf: Uint8Array): Datagram {
  if (buf.length > LAN_BEACON_MAX_BYTES) return { kind: 'bad', reason: `datagram of ${buf.length} bytes (at most ${LAN_BEACON_MAX_BYTES})` };
  if (buf.length < 4) return { kind: 'bad', reason: 'datagram too short for a p2pcat beacon' };
  const magic = Buffer.from(buf.buffer, buf.byteOffset, 4).toString('latin1');
  if (magic === LAN_PROBE_MAGIC) return { kind: 'probe' };
  if (magic !== LAN_BEACON_MAGIC) return { kind: 'bad', reason: 'datagram is not a p2pcat beacon (bad magic)' };
  const strings: Uint8Array[] = [];
  let i = 4;
  while (i < buf.length) {
    if (strings.length >= MAX_TXT_STRINGS) return { kind: 'bad', reason: 'beacon has too many strings' };
    const len = buf[i]!;
    if (i + 1 + len > buf.length) return { kind: 'bad', reason: 'beacon string runs past the end of the datagram' };
    strings.push(buf.subarray(i + 1, i + 1 + len));
    i += 1 + len;
  }
  return { kind: 'beacon', strings };
}
