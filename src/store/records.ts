// The plaintext inside a RECORDS or BLOCK frame: a count and that many CHAT
// records in a compact binary form (docs/log-format.md, "Records"). Pure
// functions over bytes; decoding any bytes throws nothing but P2pcatError.
//
//   payload := count:u32 record{count}
//   record  := flags:u8 fixed-or-strings room:str username:str message:str
//   flags   := bit0 CHECKED (the writer ran checkChat and it passed)
//              bit1 COMPACT (the five fields below are in canonical form)
//   COMPACT:  from:32 uuid:16 msg_id:32 sig:64 timestamp:f64be (ms since epoch)
//   else:     from:str uuid:str msg_id:str sig:str timestamp:str
//   str     := len:uleb128 (at most 4 bytes) utf8[len]
//
// Strings are stored as UTF-8: a lone UTF-16 surrogate becomes U+FFFD, which
// is also what the signature and msg_id of such a record were computed over.
import type { ChatRecord } from '../chat/record.js';
import { P2pcatError } from '../errors.js';

export const RECORD_FLAG = { CHECKED: 1, COMPACT: 2 } as const;
export const COMPACT_FIXED_BYTES = 32 + 16 + 32 + 64 + 8;

/** A record as kept in the log: the CHAT record and whether its writer verified it. */
export interface StoredRecord {
  record: ChatRecord;
  checked: boolean;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_MS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Buffer's fast slicers (public on every Buffer, missing from @types/node). */
interface FastBuffer extends Buffer {
  hexSlice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

function tsMillis(ts: string): number | undefined {
  if (!ISO_MS_RE.test(ts)) return undefined;
  const ms = Date.parse(ts);
  if (Number.isNaN(ms) || new Date(ms).toISOString() !== ts) return undefined;
  return ms;
}

function isCompact(r: ChatRecord): boolean {
  return HEX64.test(r.from) && HEX128.test(r.sig) && HEX64.test(r.msg_id) && UUID_RE.test(r.uuid) && tsMillis(r.timestamp) !== undefined;
}

function uleb(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

function strField(r: ChatRecord, f: keyof ChatRecord): string {
  const v = r[f];
  if (typeof v !== 'string') throw new TypeError(`record field ${f} must be a string`);
  return v;
}

/** Encoded size of one record. */
export function recordBytes(s: StoredRecord): number {
  const r = s.record;
  let n = 1;
  const strs: (keyof ChatRecord)[] = isCompact(r) ? ['room', 'username', 'message'] : ['from', 'uuid', 'msg_id', 'sig', 'timestamp', 'room', 'username', 'message'];
  if (strs.length === 3) n += COMPACT_FIXED_BYTES;
  for (const f of strs) {
    const len = Buffer.byteLength(strField(r, f), 'utf8');
    n += uleb(len) + len;
  }
  return n;
}

function putUleb(b: Buffer, off: number, n: number): number {
  while (n >= 0x80) {
    b[off++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  b[off++] = n;
  return off;
}

function putStr(b: Buffer, off: number, s: string): number {
  const len = Buffer.byteLength(s, 'utf8');
  off = putUleb(b, off, len);
  return off + b.write(s, off, len, 'utf8');
}

function encodeOne(b: Buffer, off: number, s: StoredRecord): number {
  const r = s.record;
  const compact = isCompact(r);
  b[off++] = (s.checked ? RECORD_FLAG.CHECKED : 0) | (compact ? RECORD_FLAG.COMPACT : 0);
  if (compact) {
    off += b.write(r.from, off, 32, 'hex');
    off += b.write(r.uuid.replace(/-/g, ''), off, 16, 'hex');
    off += b.write(r.msg_id, off, 32, 'hex');
    off += b.write(r.sig, off, 64, 'hex');
    off = b.writeDoubleBE(tsMillis(r.timestamp)!, off);
  } else {
    for (const f of ['from', 'uuid', 'msg_id', 'sig', 'timestamp'] as const) off = putStr(b, off, strField(r, f));
  }
  off = putStr(b, off, strField(r, 'room'));
  off = putStr(b, off, strField(r, 'username'));
  off = putStr(b, off, strField(r, 'message'));
  return off;
}

/** The payload of one frame: count + records. Sizes are the caller's to bound. */
export function encodeRecords(records: readonly StoredRecord[], sizes?: readonly number[]): Buffer {
  let total = 4;
  const sz = sizes ?? records.map(recordBytes);
  for (const n of sz) total += n;
  const b = Buffer.alloc(total);
  b.writeUInt32BE(records.length, 0);
  let off = 4;
  for (let i = 0; i < records.length; i++) {
    const end = encodeOne(b, off, records[i]!);
    if (end !== off + sz[i]!) throw new Error('internal: record size mismatch');
    off = end;
  }
  return b;
}

function corrupt(i: number, what: string): P2pcatError {
  return P2pcatError.logCorrupt(`record ${i}: ${what}`);
}

/** Decoder over one payload. Throws P2PCAT_ERR_LOG_CORRUPT on malformed bytes. */
class Cursor {
  b: FastBuffer;
  off = 0;
  i = 0;
  constructor(b: Buffer) {
    this.b = b as FastBuffer;
  }
  need(n: number): void {
    if (this.off + n > this.b.length) throw corrupt(this.i, 'truncated');
  }
  uleb(): number {
    let n = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      this.need(1);
      const c = this.b[this.off++]!;
      n |= (c & 0x7f) << shift;
      if (c < 0x80) return n >>> 0;
    }
    throw corrupt(this.i, 'length prefix too long');
  }
  str(): string {
    const len = this.uleb();
    this.need(len);
    const s = this.b.utf8Slice(this.off, this.off + len);
    this.off += len;
    return s;
  }
  skipStr(): void {
    const len = this.uleb();
    this.need(len);
    this.off += len;
  }
}

function readCount(c: Cursor): number {
  c.need(4);
  const count = c.b.readUInt32BE(0);
  c.off = 4;
  // Every record is at least 4 bytes: a count larger than that is damage, not a reason to loop.
  if (count > (c.b.length - 4) / 4) throw P2pcatError.logCorrupt(`record count ${count} larger than the frame can hold`);
  return count;
}

function sameBytes(b: Buffer, x: number, y: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (b[x + k] !== b[y + k]) return false;
  return true;
}

const pad2 = (n: number) => (n < 10 ? '0' : '') + n;
const pad3 = (n: number) => (n < 10 ? '00' : n < 100 ? '0' : '') + n;

/** ms -> toISOString(), reusing the "YYYY-MM-DDTHH:MM:" prefix of the previous call in the same minute. */
class IsoCache {
  #minute = NaN;
  #prefix = '';
  iso(ms: number): string | undefined {
    const minute = Math.floor(ms / 60_000);
    if (minute !== this.#minute) {
      const d = new Date(ms);
      if (Number.isNaN(d.getTime())) return undefined;
      const full = d.toISOString();
      if (full.length !== 24) return full; // years outside 0000-9999: no caching
      this.#minute = minute;
      this.#prefix = full.slice(0, 17);
      return full;
    }
    const inMinute = ms - minute * 60_000;
    const sec = Math.floor(inMinute / 1000);
    return `${this.#prefix}${pad2(sec)}.${pad3(inMinute - sec * 1000)}Z`;
  }
}

/**
 * Decode the records of a payload. Consecutive records by the same author
 * share their decoded strings (most blocks are runs of one author).
 * `keep(payload, idOffset)`, when given, is asked about every CHECKED COMPACT
 * record before it is built (with the offset of its binary msg_id); a record
 * it refuses is skipped (a dedupe filter).
 */
export function decodeRecords(payload: Buffer, keep?: (b: Buffer, idOff: number) => boolean): StoredRecord[] {
  const c = new Cursor(payload);
  const b = c.b;
  const count = readCount(c);
  const out: StoredRecord[] = [];
  const iso = new IsoCache();
  const both = RECORD_FLAG.CHECKED | RECORD_FLAG.COMPACT;
  let prevAuthorOff = -1;
  let from = '';
  let uuid = '';
  let room = '';
  let username = '';
  let prevRoom = -1;
  let prevRoomLen = 0;
  let prevUser = -1;
  let prevUserLen = 0;
  for (let i = 0; i < count; i++) {
    c.i = i;
    c.need(1);
    const flags = b[c.off++]!;
    if (flags & ~(RECORD_FLAG.CHECKED | RECORD_FLAG.COMPACT)) throw corrupt(i, `unknown flags 0x${flags.toString(16)}`);
    let msg_id: string;
    let sig: string;
    let timestamp: string;
    if (flags & RECORD_FLAG.COMPACT) {
      c.need(COMPACT_FIXED_BYTES);
      const o = c.off;
      if (keep && (flags & both) === both && !keep(b, o + 48)) {
        c.off = o + COMPACT_FIXED_BYTES;
        c.skipStr();
        c.skipStr();
        c.skipStr();
        continue;
      }
      if (prevAuthorOff < 0 || !sameBytes(b, prevAuthorOff, o, 48)) {
        from = b.hexSlice(o, o + 32);
        const u = b.hexSlice(o + 32, o + 48);
        uuid = `${u.slice(0, 8)}-${u.slice(8, 12)}-${u.slice(12, 16)}-${u.slice(16, 20)}-${u.slice(20)}`;
        prevAuthorOff = o;
      }
      msg_id = b.hexSlice(o + 48, o + 80);
      sig = b.hexSlice(o + 80, o + 144);
      const ts = iso.iso(b.readDoubleBE(o + 144));
      if (ts === undefined) throw corrupt(i, 'bad timestamp');
      timestamp = ts;
      c.off = o + COMPACT_FIXED_BYTES;
    } else {
      prevAuthorOff = -1;
      from = c.str();
      uuid = c.str();
      msg_id = c.str();
      sig = c.str();
      timestamp = c.str();
    }
    // room and username: reuse the previous string when the bytes are the same.
    let len = c.uleb();
    c.need(len);
    if (prevRoom < 0 || prevRoomLen !== len || !sameBytes(b, prevRoom, c.off, len)) {
      room = b.utf8Slice(c.off, c.off + len);
      prevRoom = c.off;
      prevRoomLen = len;
    }
    c.off += len;
    len = c.uleb();
    c.need(len);
    if (prevUser < 0 || prevUserLen !== len || !sameBytes(b, prevUser, c.off, len)) {
      username = b.utf8Slice(c.off, c.off + len);
      prevUser = c.off;
      prevUserLen = len;
    }
    c.off += len;
    const message = c.str();
    out.push({
      record: { type: 'CHAT', room, uuid, username, timestamp, message, msg_id, from, sig },
      checked: (flags & RECORD_FLAG.CHECKED) !== 0,
    });
  }
  if (c.off !== b.length) throw P2pcatError.logCorrupt(`${b.length - c.off} stray bytes after ${count} records`);
  return out;
}

/**
 * Walk a payload without building records: calls `onRecord(start, end, flags)`
 * with the byte range of every record. Validates the structure like
 * decodeRecords. The binary msg_id of a COMPACT record is at start + 1 + 48.
 */
export function walkRecords(payload: Buffer, onRecord: (start: number, end: number, flags: number) => void): number {
  const c = new Cursor(payload);
  const b = c.b;
  const count = readCount(c);
  for (let i = 0; i < count; i++) {
    c.i = i;
    const start = c.off;
    c.need(1);
    const flags = b[c.off++]!;
    if (flags & ~(RECORD_FLAG.CHECKED | RECORD_FLAG.COMPACT)) throw corrupt(i, `unknown flags 0x${flags.toString(16)}`);
    if (flags & RECORD_FLAG.COMPACT) {
      c.need(COMPACT_FIXED_BYTES);
      c.off += COMPACT_FIXED_BYTES;
    } else {
      for (let k = 0; k < 5; k++) c.skipStr();
    }
    c.skipStr();
    c.skipStr();
    c.skipStr();
    onRecord(start, c.off, flags);
  }
  if (c.off !== b.length) throw P2pcatError.logCorrupt(`${b.length - c.off} stray bytes after ${count} records`);
  return count;
}

/** Offset of the binary msg_id inside a COMPACT record that starts at `start`. */
export const COMPACT_ID_OFFSET = 1 + 48;

/** Calls `onId(payload, offset)` for the 32-byte msg_id of every CHECKED COMPACT record (what a dedupe index holds). */
export function scanRecordIds(payload: Buffer, onId: (b: Buffer, off: number) => void): number {
  const both = RECORD_FLAG.CHECKED | RECORD_FLAG.COMPACT;
  return walkRecords(payload, (start, _end, flags) => {
    if ((flags & both) === both) onId(payload, start + COMPACT_ID_OFFSET);
  });
}

/** A payload made of already-encoded records (byte ranges of other payloads). */
export function joinRecords(slices: readonly Uint8Array[]): Buffer {
  let total = 4;
  for (const s of slices) total += s.length;
  const b = Buffer.allocUnsafe(total);
  b.writeUInt32BE(slices.length, 0);
  let off = 4;
  for (const s of slices) {
    b.set(s, off);
    off += s.length;
  }
  return b;
}
