// SYNC_REQUEST (0x07) and SYNC_RESPONSE (0x08) bodies (docs/protocol.md,
// "Sync"; docs/sync.md): JSON objects, validated at the boundary. Binary
// parts travel as base64: Negentropy messages (`neg`), lists of 32-byte
// msg_ids (`ids`), and pages of records (`recs`, the log's record encoding,
// docs/log-format.md "Record payloads"). Sans-I/O; parsing never throws
// anything but P2pcatError.
//
//   SYNC_REQUEST  {v:1, sync, q, op:"open", neg, since?, more?}   first round, and the window
//                 {v:1, sync, q, op:"neg", neg, more?}      a later round
//                 {v:1, sync, q, op:"get", ids}             send me these records
//                 {v:1, sync, q, op:"put", recs}            records you lack
//                 {v:1, sync, q, op:"end"}                  done; free the state
//   SYNC_RESPONSE {v:1, sync, q, op:"neg", neg, more?}
//                 {v:1, sync, q, op:"recs", recs, more}     pages of a get (more: another page follows)
//                 {v:1, sync, q, op:"put", stored, dup, rejected}
//                 {v:1, sync, q, op:"end"}
//                 {v:1, sync, q, op:"error", code, message}
//
// A Negentropy message (up to SYNC_NEG_MAX_BYTES) travels in chunks of at
// most SYNC_NEG_CHUNK_BYTES, one per frame, all with the same sync, q and op;
// every chunk but the last says more:true (NegAssembler puts them together).
import { ERROR_CODES, P2pcatError, type ErrorCode } from '../errors.js';
import { FRAME_MAX_PLAINTEXT_BYTES, SYNC_GET_MAX_IDS, SYNC_NEG_CHUNK_BYTES, SYNC_NEG_MAX_BYTES, SYNC_PAGE_ACCEPT_MAX_BYTES, SYNC_PAGE_MAX_BYTES } from '../limits.js';
import type { ChatRecord } from '../chat/record.js';
import { decodeRecords, encodeRecords, joinRecords } from '../store/records.js';
import { ID_BYTES } from './items.js';

export const SYNC_WIRE_VERSION = 1;

export type RequestOp = 'open' | 'neg' | 'get' | 'put' | 'end';
export type ResponseOp = 'neg' | 'recs' | 'put' | 'end' | 'error';

export type SyncRequest =
  | { op: 'open'; sync: number; q: number; neg: Uint8Array; since: number; more?: boolean }
  | { op: 'neg'; sync: number; q: number; neg: Uint8Array; more?: boolean }
  | { op: 'get'; sync: number; q: number; ids: Uint8Array[] }
  | { op: 'put'; sync: number; q: number; recs: Uint8Array }
  | { op: 'end'; sync: number; q: number };

export type SyncResponse =
  | { op: 'neg'; sync: number; q: number; neg: Uint8Array; more?: boolean }
  | { op: 'recs'; sync: number; q: number; recs: Uint8Array; more: boolean }
  | { op: 'put'; sync: number; q: number; stored: number; dup: number; rejected: number }
  | { op: 'end'; sync: number; q: number }
  | { op: 'error'; sync: number; q: number; code: ErrorCode; message: string };

const B64_MAX_CHARS = Math.ceil((Math.max(SYNC_PAGE_ACCEPT_MAX_BYTES, SYNC_NEG_CHUNK_BYTES, SYNC_GET_MAX_IDS * ID_BYTES) * 4) / 3) + 4;
const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

function bad(msg: string): P2pcatError {
  return P2pcatError.protocol(`sync: ${msg}`);
}

function b64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

function unb64(v: unknown, what: string, maxBytes: number): Uint8Array {
  if (typeof v !== 'string' || v.length > B64_MAX_CHARS || v.length % 4 !== 0 || !B64_RE.test(v)) throw bad(`${what} is not base64`);
  const b = Buffer.from(v, 'base64');
  if (b.length > maxBytes) throw bad(`${what} is ${b.length} bytes, more than ${maxBytes}`);
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

function counter(v: unknown, what: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > 0xffffffff) throw bad(`${what} must be an integer from 0 to 2^32-1`);
  return v as number;
}

function moreOf(v: unknown): boolean {
  if (v !== undefined && typeof v !== 'boolean') throw bad('more must be true or false');
  return v === true;
}

function head(body: Record<string, unknown>): { sync: number; q: number; op: string } {
  if (body.v !== SYNC_WIRE_VERSION) throw P2pcatError.version(`sync: the peer speaks sync version ${String(body.v).slice(0, 20)}, this p2pcat speaks ${SYNC_WIRE_VERSION}`);
  if (typeof body.op !== 'string') throw bad('op missing');
  return { sync: counter(body.sync, 'sync'), q: counter(body.q, 'q'), op: body.op };
}

export function encodeRequest(r: SyncRequest): Record<string, unknown> {
  const h = { v: SYNC_WIRE_VERSION, sync: r.sync, q: r.q, op: r.op };
  switch (r.op) {
    case 'open':
      return { ...h, neg: b64(r.neg), ...(r.since > 0 ? { since: r.since } : {}), ...(r.more ? { more: true } : {}) };
    case 'neg':
      return { ...h, neg: b64(r.neg), ...(r.more ? { more: true } : {}) };
    case 'get': {
      const all = new Uint8Array(r.ids.length * ID_BYTES);
      r.ids.forEach((id, i) => all.set(id, i * ID_BYTES));
      return { ...h, ids: b64(all) };
    }
    case 'put':
      return { ...h, recs: b64(r.recs) };
    case 'end':
      return h;
  }
}

export function decodeRequest(body: Record<string, unknown>): SyncRequest {
  const { sync, q, op } = head(body);
  switch (op) {
    case 'open': {
      const since = body.since === undefined ? 0 : body.since;
      if (!Number.isSafeInteger(since) || (since as number) < 0) throw bad('since must be a non-negative integer (ms)');
      return { op, sync, q, neg: unb64(body.neg, 'neg', SYNC_NEG_CHUNK_BYTES), since: since as number, more: moreOf(body.more) };
    }
    case 'neg':
      return { op, sync, q, neg: unb64(body.neg, 'neg', SYNC_NEG_CHUNK_BYTES), more: moreOf(body.more) };
    case 'get': {
      const all = unb64(body.ids, 'ids', SYNC_GET_MAX_IDS * ID_BYTES);
      if (all.length % ID_BYTES !== 0) throw bad('ids is not a whole number of 32-byte ids');
      const ids: Uint8Array[] = [];
      for (let o = 0; o < all.length; o += ID_BYTES) ids.push(all.subarray(o, o + ID_BYTES));
      return { op, sync, q, ids };
    }
    case 'put':
      return { op, sync, q, recs: unb64(body.recs, 'recs', SYNC_PAGE_ACCEPT_MAX_BYTES) };
    case 'end':
      return { op, sync, q };
    default:
      throw bad(`unknown request op ${JSON.stringify(op).slice(0, 20)}`);
  }
}

export function encodeResponse(r: SyncResponse): Record<string, unknown> {
  const h = { v: SYNC_WIRE_VERSION, sync: r.sync, q: r.q, op: r.op };
  switch (r.op) {
    case 'neg':
      return { ...h, neg: b64(r.neg), ...(r.more ? { more: true } : {}) };
    case 'recs':
      return { ...h, recs: b64(r.recs), more: r.more };
    case 'put':
      return { ...h, stored: r.stored, dup: r.dup, rejected: r.rejected };
    case 'end':
      return h;
    case 'error':
      return { ...h, code: r.code, message: r.message };
  }
}

export function decodeResponse(body: Record<string, unknown>): SyncResponse {
  const { sync, q, op } = head(body);
  switch (op) {
    case 'neg':
      return { op, sync, q, neg: unb64(body.neg, 'neg', SYNC_NEG_CHUNK_BYTES), more: moreOf(body.more) };
    case 'recs':
      if (typeof body.more !== 'boolean') throw bad('recs page without "more"');
      return { op, sync, q, recs: unb64(body.recs, 'recs', SYNC_PAGE_ACCEPT_MAX_BYTES), more: body.more };
    case 'put':
      return { op, sync, q, stored: counter(body.stored, 'stored'), dup: counter(body.dup, 'dup'), rejected: counter(body.rejected, 'rejected') };
    case 'end':
      return { op, sync, q };
    case 'error': {
      const code = typeof body.code === 'string' && Object.hasOwn(ERROR_CODES, body.code) ? (body.code as ErrorCode) : 'P2PCAT_ERR_PROTOCOL';
      const message = typeof body.message === 'string' ? body.message.slice(0, 300) : 'refused';
      return { op, sync, q, code, message };
    }
    default:
      throw bad(`unknown response op ${JSON.stringify(op).slice(0, 20)}`);
  }
}

// ------------------------------------------------------------------ record pages

/** Encoded records (one record each, records.ts format) grouped into pages of at most SYNC_PAGE_MAX_BYTES (a bigger record travels alone). */
export function* pages(slices: Iterable<Uint8Array>, maxBytes = SYNC_PAGE_MAX_BYTES): Generator<Uint8Array[]> {
  let page: Uint8Array[] = [];
  let bytes = 4;
  for (const s of slices) {
    if (page.length > 0 && bytes + s.length > maxBytes) {
      yield page;
      page = [];
      bytes = 4;
    }
    page.push(s);
    bytes += s.length;
  }
  if (page.length > 0) yield page;
}

/** One page's bytes. */
export function joinPage(slices: readonly Uint8Array[]): Uint8Array {
  return joinRecords(slices);
}

/** Encode CHAT records one per slice (memory stores; the log keeps its own encoding). */
export function encodeRecord(r: ChatRecord): Uint8Array {
  return encodeRecords([{ record: r, checked: true }]).subarray(4);
}

/** The records of a page. The sender's "checked" flag means nothing here: every record is checked by the receiver. */
export function decodePage(bytes: Uint8Array): ChatRecord[] {
  let recs;
  try {
    recs = decodeRecords(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    if (e instanceof P2pcatError) throw bad(`a page of records does not decode (${e.message})`);
    throw e;
  }
  return recs.map((s) => s.record);
}

/** Does a page of this many bytes fit one frame as base64 in its JSON body? */
export function pageFitsFrame(bytes: number): boolean {
  return bytes <= SYNC_PAGE_ACCEPT_MAX_BYTES && Math.ceil(bytes / 3) * 4 + 200 <= FRAME_MAX_PLAINTEXT_BYTES - 1;
}

// ------------------------------------------------------------------ Negentropy messages in chunks

/** A Negentropy message cut into frame-sized chunks (at least one, possibly empty). */
export function negChunks(msg: Uint8Array, size = SYNC_NEG_CHUNK_BYTES): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < msg.length || out.length === 0; o += size) out.push(msg.subarray(o, Math.min(msg.length, o + size)));
  return out;
}

/** Puts the chunks of one Negentropy message back together, refusing more than SYNC_NEG_MAX_BYTES. */
export class NegAssembler {
  #parts: Uint8Array[] = [];
  #bytes = 0;
  get bytes(): number {
    return this.#bytes;
  }
  /** Add a chunk; the whole message once the last chunk (more: false) arrives. */
  push(chunk: Uint8Array, more: boolean): Uint8Array | undefined {
    this.#bytes += chunk.length;
    if (this.#bytes > SYNC_NEG_MAX_BYTES) throw bad(`a reconciliation message longer than ${SYNC_NEG_MAX_BYTES} bytes`);
    this.#parts.push(chunk);
    if (more) return undefined;
    const all = this.#parts.length === 1 ? this.#parts[0]! : new Uint8Array(Buffer.concat(this.#parts));
    this.#parts = [];
    this.#bytes = 0;
    return all;
  }
}
