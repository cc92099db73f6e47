// STUN message codec, sans-I/O: bytes in, a message out, and back.
//   RFC 8489 section 5 (header, magic cookie), 6.3 (classes), 14 (attributes:
//   14.1 MAPPED-ADDRESS, 14.2 XOR-MAPPED-ADDRESS, 14.3 USERNAME, 14.5
//   MESSAGE-INTEGRITY, 14.7 FINGERPRINT, 14.8 ERROR-CODE, 14.9 REALM, 14.10
//   NONCE, 14.14 SOFTWARE), 9.2.2 (long-term key: MD5(user:realm:pass)),
//   RFC 4013 (SASLprep, as RFC 5769 section 2.4 uses it),
//   RFC 5780 section 7 (CHANGE-REQUEST, PADDING, RESPONSE-PORT, RESPONSE-ORIGIN, OTHER-ADDRESS),
//   and p2pcat's own comprehension-optional attributes (0xC0A0-0xC0AF;
//   docs/nat.md, "Rendezvous protocol").
// Decoding untrusted bytes never throws anything but P2pcatError
// (P2PCAT_ERR_PROTOCOL); TypeError/RangeError are reserved for our own bugs.
import crypto from 'node:crypto';
import { P2pcatError } from '../errors.js';
import { STUN_MAX_ATTRIBUTES, STUN_MAX_MESSAGE_BYTES } from '../limits.js';
import { decodeUtf8, utf8 } from '../util.js';
import { formatIp, parseIp, type Endpoint } from './addr.js';

export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_BYTES = 20;
export const TRANSACTION_ID_BYTES = 12;
const FINGERPRINT_XOR = 0x5354554e;

export const METHOD = { BINDING: 0x001 } as const;

export type StunClass = 'request' | 'indication' | 'success' | 'error';
const CLASS_BITS: Record<StunClass, number> = { request: 0b00, indication: 0b01, success: 0b10, error: 0b11 };
const CLASS_NAMES: StunClass[] = ['request', 'indication', 'success', 'error'];

export const ATTR = {
  MAPPED_ADDRESS: 0x0001,
  CHANGE_REQUEST: 0x0003,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_MAPPED_ADDRESS: 0x0020,
  PRIORITY: 0x0024,
  PADDING: 0x0026,
  RESPONSE_PORT: 0x0027,
  SOFTWARE: 0x8022,
  FINGERPRINT: 0x8028,
  ICE_CONTROLLED: 0x8029,
  RESPONSE_ORIGIN: 0x802b,
  OTHER_ADDRESS: 0x802c,
  // p2pcat's own, comprehension-optional (a plain STUN server ignores them):
  /** 16-byte opaque room tokens, one or more concatenated (rendezvous pairing). */
  P2P_TOKEN: 0xc0a1,
  /** 8-byte random id of one punch attempt (the sender's). */
  P2P_ID: 0xc0a2,
  /** Local endpoints, MAPPED-ADDRESS encoded, concatenated (4-byte aligned each). */
  P2P_CANDIDATES: 0xc0a3,
  /** 8-byte id of the peer the rendezvous paired us with. */
  P2P_PEER_ID: 0xc0a4,
  /** The peer's public endpoint as the rendezvous saw it, XOR-MAPPED-ADDRESS encoded. */
  P2P_PEER_ADDRESS: 0xc0a5,
  /** One byte: the sender's mapping behaviour (see NAT_CODE), as it measured it. */
  P2P_NAT: 0xc0a6,
  /** Request: relay me (empty). Response: relay granted (empty). */
  P2P_RELAY: 0xc0a7,
  /** Punch probe: the initiator picks this path (like ICE's USE-CANDIDATE). */
  P2P_NOMINATE: 0xc0a8,
  /** The peer's mapping behaviour, one byte (NAT_CODE), relayed by the rendezvous. */
  P2P_PEER_NAT: 0xc0a9,
} as const;

export const ATTR_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ATTR).map(([k, v]) => [v, k.replace(/_/g, '-')]));

/** Mapping behaviour in one byte (P2P_NAT, P2P_PEER_NAT). */
export const NAT_CODE = { unknown: 0, none: 1, 'endpoint-independent': 2, 'address-dependent': 3, 'address-and-port-dependent': 4 } as const;
export type MappingBehaviour = keyof typeof NAT_CODE;
export function natFromCode(c: number | undefined): MappingBehaviour {
  return (Object.keys(NAT_CODE) as MappingBehaviour[]).find((k) => NAT_CODE[k] === c) ?? 'unknown';
}

export interface StunAttribute {
  type: number;
  value: Uint8Array;
}

export interface StunMessage {
  method: number;
  cls: StunClass;
  transactionId: Uint8Array;
  attributes: StunAttribute[];
}

/** A decoded message, with what integrity and fingerprint checks need. */
export interface DecodedStun extends StunMessage {
  raw: Uint8Array;
  /** Byte offset of MESSAGE-INTEGRITY's header, when present. */
  integrityOffset?: number;
  /** Byte offset of FINGERPRINT's header, when present. */
  fingerprintOffset?: number;
}

const bad = (msg: string) => P2pcatError.protocol(`stun: ${msg}`);

/** Cheap demultiplexing test (RFC 8489 section 7, RFC 7983): could these bytes be STUN? */
export function looksLikeStun(b: Uint8Array): boolean {
  return b.length >= HEADER_BYTES && (b[0]! & 0xc0) === 0 && b[4] === 0x21 && b[5] === 0x12 && b[6] === 0xa4 && b[7] === 0x42 && (b[3]! & 3) === 0;
}

export function newTransactionId(): Uint8Array {
  return new Uint8Array(crypto.randomBytes(TRANSACTION_ID_BYTES));
}

function typeField(method: number, cls: StunClass): number {
  if (!Number.isInteger(method) || method < 0 || method > 0xfff) throw new RangeError(`STUN method ${method} out of range`);
  const c = CLASS_BITS[cls];
  // M11..M7 C1 M6..M4 C0 M3..M0 (RFC 8489 section 5, figure 3)
  return ((method & 0xf80) << 2) | ((method & 0x070) << 1) | (method & 0x00f) | ((c & 2) << 7) | ((c & 1) << 4);
}

function splitType(t: number): { method: number; cls: StunClass } {
  const method = ((t >> 2) & 0xf80) | ((t >> 1) & 0x070) | (t & 0x00f);
  const c = ((t >> 7) & 2) | ((t >> 4) & 1);
  return { method, cls: CLASS_NAMES[c]! };
}

/** Parse one STUN message. Throws P2pcatError (P2PCAT_ERR_PROTOCOL) on anything malformed. */
export function decodeStun(input: Uint8Array): DecodedStun {
  if (!(input instanceof Uint8Array)) throw new TypeError('decodeStun takes a Uint8Array');
  if (input.length < HEADER_BYTES) throw bad(`message of ${input.length} bytes is shorter than the 20-byte header`);
  if (input.length > STUN_MAX_MESSAGE_BYTES) throw bad(`message of ${input.length} bytes is longer than ${STUN_MAX_MESSAGE_BYTES}`);
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const t = dv.getUint16(0);
  if (t & 0xc000) throw bad('the first two bits are not zero');
  const length = dv.getUint16(2);
  if (length % 4 !== 0) throw bad(`length ${length} is not a multiple of 4`);
  if (length + HEADER_BYTES !== input.length) throw bad(`length field ${length} does not match the ${input.length - HEADER_BYTES} bytes after the header`);
  if (dv.getUint32(4) !== MAGIC_COOKIE) throw bad('no magic cookie (not RFC 5389/8489 STUN)');
  const raw = input;
  const { method, cls } = splitType(t);
  const msg: DecodedStun = { method, cls, transactionId: raw.slice(8, 20), attributes: [], raw };
  let off = HEADER_BYTES;
  while (off < raw.length) {
    if (msg.attributes.length >= STUN_MAX_ATTRIBUTES) throw bad(`more than ${STUN_MAX_ATTRIBUTES} attributes`);
    if (off + 4 > raw.length) throw bad('truncated attribute header');
    if (msg.fingerprintOffset !== undefined) throw bad('an attribute follows FINGERPRINT');
    const type = dv.getUint16(off);
    const len = dv.getUint16(off + 2);
    const padded = (len + 3) & ~3;
    if (off + 4 + padded > raw.length) throw bad(`attribute 0x${type.toString(16)} of ${len} bytes runs past the end`);
    const value = raw.slice(off + 4, off + 4 + len);
    if (type === ATTR.FINGERPRINT) {
      if (len !== 4) throw bad('FINGERPRINT is not 4 bytes');
      msg.fingerprintOffset = off;
      msg.attributes.push({ type, value });
    } else if (msg.integrityOffset === undefined) {
      if (type === ATTR.MESSAGE_INTEGRITY) {
        if (len !== 20) throw bad('MESSAGE-INTEGRITY is not 20 bytes');
        msg.integrityOffset = off;
      }
      msg.attributes.push({ type, value });
    }
    // After MESSAGE-INTEGRITY, everything but FINGERPRINT is ignored (RFC 8489 section 14.5).
    off += 4 + padded;
  }
  return msg;
}

export interface EncodeOptions {
  /** Append MESSAGE-INTEGRITY (HMAC-SHA1) with this key. */
  integrityKey?: Uint8Array | undefined;
  /** Append FINGERPRINT. */
  fingerprint?: boolean | undefined;
  /** Byte used to pad attributes (0 by default; RFC 8489 lets senders pick, receivers ignore it). */
  paddingByte?: number;
}

/** Serialise a message; MESSAGE-INTEGRITY and FINGERPRINT are computed here, never taken from `attributes`. */
export function encodeStun(msg: StunMessage, opts: EncodeOptions = {}): Uint8Array {
  if (msg.transactionId.length !== TRANSACTION_ID_BYTES) throw new RangeError('a transaction id has 12 bytes');
  const parts: Buffer[] = [];
  const pad = opts.paddingByte ?? 0;
  for (const a of msg.attributes) {
    if (a.type === ATTR.MESSAGE_INTEGRITY || a.type === ATTR.FINGERPRINT) continue;
    if (a.value.length > 0xffff) throw new RangeError('an attribute value is at most 65535 bytes');
    const h = Buffer.alloc(4);
    h.writeUInt16BE(a.type, 0);
    h.writeUInt16BE(a.value.length, 2);
    parts.push(h, Buffer.from(a.value), Buffer.alloc(((a.value.length + 3) & ~3) - a.value.length, pad));
  }
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt16BE(typeField(msg.method, msg.cls), 0);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  Buffer.from(msg.transactionId).copy(header, 8);
  let body = Buffer.concat(parts);
  if (opts.integrityKey) {
    header.writeUInt16BE(body.length + 24, 2);
    const mac = crypto.createHmac('sha1', opts.integrityKey).update(header).update(body).digest();
    body = Buffer.concat([body, Buffer.from([0x00, 0x08, 0x00, 0x14]), mac]);
  }
  if (opts.fingerprint) {
    header.writeUInt16BE(body.length + 8, 2);
    const crc = (crc32(Buffer.concat([header, body])) ^ FINGERPRINT_XOR) >>> 0;
    const fp = Buffer.alloc(8);
    fp.writeUInt16BE(ATTR.FINGERPRINT, 0);
    fp.writeUInt16BE(4, 2);
    fp.writeUInt32BE(crc, 4);
    body = Buffer.concat([body, fp]);
  }
  header.writeUInt16BE(body.length, 2);
  if (body.length + HEADER_BYTES > STUN_MAX_MESSAGE_BYTES) throw new RangeError(`STUN message longer than ${STUN_MAX_MESSAGE_BYTES} bytes`);
  return new Uint8Array(Buffer.concat([header, body]));
}

/** MESSAGE-INTEGRITY check (RFC 8489 section 14.5): false when absent or wrong. */
export function checkIntegrity(m: DecodedStun, key: Uint8Array): boolean {
  if (m.integrityOffset === undefined) return false;
  const off = m.integrityOffset;
  const header = Buffer.from(m.raw.subarray(0, HEADER_BYTES));
  header.writeUInt16BE(off + 24 - HEADER_BYTES, 2);
  const mac = crypto.createHmac('sha1', key).update(header).update(m.raw.subarray(HEADER_BYTES, off)).digest();
  return crypto.timingSafeEqual(mac, m.raw.subarray(off + 4, off + 24));
}

/** FINGERPRINT check (RFC 8489 section 14.7): undefined when absent. */
export function checkFingerprint(m: DecodedStun): boolean | undefined {
  if (m.fingerprintOffset === undefined) return undefined;
  const off = m.fingerprintOffset;
  const header = Buffer.from(m.raw.subarray(0, HEADER_BYTES));
  header.writeUInt16BE(off + 8 - HEADER_BYTES, 2);
  const crc = (crc32(Buffer.concat([header, m.raw.subarray(HEADER_BYTES, off)])) ^ FINGERPRINT_XOR) >>> 0;
  return crc === new DataView(m.raw.buffer, m.raw.byteOffset + off + 4, 4).getUint32(0);
}

/** Short-term credential key (RFC 8489 section 9.1.1): the password after OpaqueString/SASLprep. */
export function shortTermKey(password: string): Uint8Array {
  return utf8.encode(saslprep(password));
}

/** Long-term credential key (RFC 8489 section 9.2.2, MD5 algorithm): MD5(username ":" realm ":" SASLprep(password)). */
export function longTermKey(username: string, realm: string, password: string): Uint8Array {
  return new Uint8Array(crypto.createHash('md5').update(`${username}:${realm}:${saslprep(password)}`, 'utf8').digest());
}

// RFC 3454 table B.1 (commonly mapped to nothing) and C.1.2 (non-ASCII spaces), as RFC 4013 section 2 uses them.
const MAP_TO_NOTHING = /[\u00ad\u034f\u1806\u180b-\u180d\u200b-\u200d\u2060\ufe00-\ufe0f\ufeff]/g;
const NON_ASCII_SPACE = /[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/g;
// eslint-disable-next-line no-control-regex
const PROHIBITED = /[\u0000-\u001f\u007f-\u009f\u06dd\u070f\u180e\u200e\u200f\u2028-\u202e\u2061-\u2063\u206a-\u206f\ufff9-\ufffd\ue000-\uf8ff]/;

/** SASLprep (RFC 4013): mapping, NFKC, prohibited output. Bidi checks are left out. */
export function saslprep(s: string): string {
  const out = s.replace(NON_ASCII_SPACE, ' ').replace(MAP_TO_NOTHING, '').normalize('NFKC');
  if (PROHIBITED.test(out)) throw P2pcatError.usage('a STUN password contains a character SASLprep prohibits');
  return out;
}

let CRC_TABLE: Uint32Array | undefined;
/** CRC-32 (ISO 3309 / ITU-T V.42, as zlib and RFC 8489 section 14.7 use it). */
export function crc32(b: Uint8Array): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---- attribute values ----

export function getAttr(m: StunMessage, type: number): Uint8Array | undefined {
  return m.attributes.find((a) => a.type === type)?.value;
}

/** MAPPED-ADDRESS layout (RFC 8489 section 14.1): 0, family, port, address. */
export function encodeAddress(e: { address: string; port: number }): Uint8Array {
  const ip = parseIp(e.address);
  if (!ip) throw new RangeError(`${e.address} is not an IP address`);
  const b = new Uint8Array(4 + ip.length);
  b[1] = ip.length === 4 ? 0x01 : 0x02;
  b[2] = e.port >> 8;
  b[3] = e.port & 0xff;
  b.set(ip, 4);
  return b;
}

export function decodeAddress(v: Uint8Array): Endpoint {
  if (v.length < 4) throw bad('address attribute shorter than 4 bytes');
  const fam = v[1];
  const want = fam === 0x01 ? 4 : fam === 0x02 ? 16 : 0;
  if (want === 0) throw bad(`unknown address family 0x${(fam ?? 0).toString(16)}`);
  if (v.length !== 4 + want) throw bad(`address attribute of ${v.length} bytes for family ${fam}`);
  return { family: want === 4 ? 4 : 6, address: formatIp(v.subarray(4)), port: (v[2]! << 8) | v[3]! };
}

/** XOR-MAPPED-ADDRESS (RFC 8489 section 14.2): port ^ cookie high half, address ^ (cookie || transaction id). */
function xorValue(v: Uint8Array, transactionId: Uint8Array): Uint8Array {
  const out = v.slice();
  const mask = new Uint8Array(16);
  new DataView(mask.buffer).setUint32(0, MAGIC_COOKIE);
  mask.set(transactionId, 4);
  if (out.length >= 4) {
    out[2]! ^= mask[0]!;
    out[3]! ^= mask[1]!;
  }
  for (let i = 4; i < out.length && i - 4 < 16; i++) out[i]! ^= mask[i - 4]!;
  return out;
}

export function encodeXorAddress(e: { address: string; port: number }, transactionId: Uint8Array): Uint8Array {
  return xorValue(encodeAddress(e), transactionId);
}

export function decodeXorAddress(v: Uint8Array, transactionId: Uint8Array): Endpoint {
  return decodeAddress(xorValue(v, transactionId));
}

/** ERROR-CODE (RFC 8489 section 14.8): class (hundreds) and number, then a UTF-8 reason. */
export function encodeErrorCode(code: number, reason: string): Uint8Array {
  if (!Number.isInteger(code) || code < 300 || code > 699) throw new RangeError('STUN error codes run from 300 to 699');
  const r = utf8.encode(reason);
  const b = new Uint8Array(4 + Math.min(r.length, 763));
  b[2] = Math.floor(code / 100);
  b[3] = code % 100;
  b.set(r.subarray(0, 763), 4);
  return b;
}

export function decodeErrorCode(v: Uint8Array): { code: number; reason: string } {
  if (v.length < 4) throw bad('ERROR-CODE shorter than 4 bytes');
  const cls = v[2]! & 0x07;
  const num = v[3]!;
  if (cls < 3 || cls > 6 || num > 99) throw bad(`ERROR-CODE ${cls}${num} out of range`);
  return { code: cls * 100 + num, reason: decodeText(v.subarray(4), 'ERROR-CODE reason') };
}

/** CHANGE-REQUEST (RFC 5780 section 7.2): flags A (change IP, 0x04) and B (change port, 0x02). */
export function encodeChangeRequest(f: { changeIp: boolean; changePort: boolean }): Uint8Array {
  return new Uint8Array([0, 0, 0, (f.changeIp ? 4 : 0) | (f.changePort ? 2 : 0)]);
}

export function decodeChangeRequest(v: Uint8Array): { changeIp: boolean; changePort: boolean } {
  if (v.length !== 4) throw bad('CHANGE-REQUEST is not 4 bytes');
  return { changeIp: (v[3]! & 4) !== 0, changePort: (v[3]! & 2) !== 0 };
}

/** UTF-8 text attributes (USERNAME, SOFTWARE, REALM, NONCE, reasons). */
export function decodeText(v: Uint8Array, what: string): string {
  const s = decodeUtf8(v);
  if (s === undefined) throw bad(`${what} is not valid UTF-8`);
  return s;
}

/** A list of endpoints, each MAPPED-ADDRESS encoded (P2P_CANDIDATES). */
export function encodeAddressList(list: { address: string; port: number }[]): Uint8Array {
  return new Uint8Array(Buffer.concat(list.map((e) => encodeAddress(e))));
}

export function decodeAddressList(v: Uint8Array, max: number): Endpoint[] {
  const out: Endpoint[] = [];
  let off = 0;
  while (off < v.length) {
    if (out.length >= max) throw bad(`more than ${max} candidate addresses`);
    if (off + 4 > v.length) throw bad('truncated candidate address');
    const n = v[off + 1] === 0x01 ? 8 : v[off + 1] === 0x02 ? 20 : 0;
    if (n === 0 || off + n > v.length) throw bad('bad candidate address');
    out.push(decodeAddress(v.subarray(off, off + n)));
    off += n;
  }
  return out;
}

/** A human summary of a message, for debugging and tests. */
export function describeStun(m: StunMessage): Record<string, unknown> {
  return {
    method: m.method,
    cls: m.cls,
    transactionId: Buffer.from(m.transactionId).toString('hex'),
    attributes: m.attributes.map((a) => ({ type: ATTR_NAMES[a.type] ?? `0x${a.type.toString(16).padStart(4, '0')}`, value: Buffer.from(a.value).toString('hex') })),
  };
}

/** Unknown comprehension-required attributes (0x0000-0x7FFF) a receiver must reject (RFC 8489 section 7.3.1). */
export function unknownRequired(m: StunMessage, known: Iterable<number>): number[] {
  const k = new Set(known);
  return [...new Set(m.attributes.map((a) => a.type).filter((t) => t < 0x8000 && !k.has(t)))];
}
