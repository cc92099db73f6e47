// Read-only helpers for sync (docs/sync.md) over the log format
// (docs/log-format.md, "Frames", "Record payloads"): one pass over a log's
// view that reports, for every verified record of a room, its timestamp, its
// binary msg_id and the offset of the frame holding it; and reading the
// encoded records of given msg_ids back from one frame. Nothing here writes.
//
// Only CHECKED records are reported (the writer verified them); a COMPACT
// record is read in place (msg_id at byte 49, timestamp as an f64 of
// milliseconds at byte 145, room right after the fixed fields), so a scan
// costs one AEAD open per frame and a walk of its bytes, nothing per field.
import { P2pcatError, isP2pcatError } from '../errors.js';
import { COMPACT_FIXED_BYTES, COMPACT_ID_OFFSET, RECORD_FLAG, decodeRecords, joinRecords, walkRecords } from './records.js';
import { FRAME_FIXED_BYTES, FRAME_HEAD_BYTES, HEADER_BYTES, decodeFrameFixed } from './format.js';
import { openFrame } from './frames.js';
import { FileSource, readView, type Container, type LogProblem, type ViewResult } from './log.js';

const COMPACT_TS_OFFSET = 1 + 144;
const COMPACT_ROOM_OFFSET = 1 + COMPACT_FIXED_BYTES;
const BOTH = RECORD_FLAG.CHECKED | RECORD_FLAG.COMPACT;
const HEX64 = /^[0-9a-f]{64}$/;

/** Called per verified record of the room: ts in ms (clamped to >= 0), msg_id at id[idOff..idOff+32], frame offset. */
export type ItemSink = (ts: number, id: Buffer, idOff: number, frame: number) => void;

function readUleb(b: Buffer, off: number): [number, number] | undefined {
  let n = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (off >= b.length) return undefined;
    const c = b[off++]!;
    n |= (c & 0x7f) << shift;
    if (c < 0x80) return [n >>> 0, off];
  }
  return undefined;
}

function roomIs(b: Buffer, off: number, room: Buffer): boolean {
  const n = room.length;
  let p = off;
  // Most rooms are shorter than 128 bytes: a one-byte length.
  if (n < 0x80) {
    if (b[p++] !== n) return false;
  } else {
    const l = readUleb(b, off);
    if (!l || l[0] !== n) return false;
    p = l[1];
  }
  if (p + n > b.length) return false;
  for (let k = 0; k < n; k++) if (b[p + k] !== room[k]) return false;
  return true;
}

/** A non-COMPACT record (rare: a timestamp with more than millisecond digits): decode it the slow way. */
function slowRecord(payload: Buffer, start: number, end: number): { ts: number; id: Buffer; room: string } | undefined {
  try {
    const r = decodeRecords(joinRecords([payload.subarray(start, end)]))[0]!.record;
    const ms = Date.parse(r.timestamp);
    if (Number.isNaN(ms) || !HEX64.test(r.msg_id)) return undefined;
    return { ts: Math.max(0, Math.floor(ms)), id: Buffer.from(r.msg_id, 'hex'), room: r.room };
  } catch (e) {
    if (isP2pcatError(e)) return undefined;
    throw e;
  }
}

/** The timestamp of a COMPACT record, clamped to the item range (ms >= 0). */
function compactTs(payload: Buffer, start: number): number {
  const ms = payload.readDoubleBE(start + COMPACT_TS_OFFSET);
  return Number.isFinite(ms) && ms > 0 ? Math.floor(ms) : 0;
}

/**
 * Walk every payload of the view of `c` in [from, end of the last whole frame)
 * and report the verified records of `room`. Frames come newest first (the
 * view's order). Returns the view summary; `end` is where the next scan of
 * new frames starts. Damage is reported through onProblem and skipped.
 */
export function scanItems(c: Container, room: string, onItem: ItemSink, opts: { from?: number; onProblem?: (p: LogProblem) => void } = {}): ViewResult {
  const roomBytes = Buffer.from(room, 'utf8');
  const view = readView(c, { from: opts.from ?? HEADER_BYTES, ...(opts.onProblem ? { onProblem: opts.onProblem } : {}) });
  let step = view.next();
  while (!step.done) {
    const { offset, payload } = step.value;
    try {
      walkRecords(payload, (start, end, flags) => {
        if ((flags & BOTH) === BOTH) {
          if (roomIs(payload, start + COMPACT_ROOM_OFFSET, roomBytes)) onItem(compactTs(payload, start), payload, start + COMPACT_ID_OFFSET, offset);
        } else if (flags & RECORD_FLAG.CHECKED) {
          const r = slowRecord(payload, start, end);
          if (r && r.room === room) onItem(r.ts, r.id, 0, offset);
        }
      });
    } catch (e) {
      if (!isP2pcatError(e)) throw e;
      opts.onProblem?.({ kind: 'bad-payload', offset, length: payload.length, superseded: false, message: `a frame that authenticates but does not decode (${e.message})` });
    }
    step = view.next();
  }
  return step.value;
}

/** Read and open the frame at `offset` of `c`; undefined when it is not a whole frame that authenticates. */
export function readPayloadAt(c: Container, offset: number): Buffer | undefined {
  const src = new FileSource(c.fd, Number.MAX_SAFE_INTEGER);
  const head = src.read(offset, FRAME_FIXED_BYTES);
  const h = decodeFrameFixed(head, 0);
  if (!h) return undefined;
  const whole = src.read(offset, FRAME_HEAD_BYTES + h.bodyLen);
  if (whole.length < FRAME_HEAD_BYTES + h.bodyLen) return undefined;
  return openFrame(c.key, whole, 0, h.bodyLen);
}

/**
 * The encoded records (records.ts format, one record per slice) of a
 * payload whose verified msg_id `want` accepts. `want` sees the binary id.
 */
export function pickRecords(payload: Buffer, want: (id: Buffer, off: number) => boolean): Buffer[] {
  const out: Buffer[] = [];
  try {
    walkRecords(payload, (start, end, flags) => {
      if ((flags & BOTH) === BOTH) {
        if (want(payload, start + COMPACT_ID_OFFSET)) out.push(payload.subarray(start, end));
      } else if (flags & RECORD_FLAG.CHECKED) {
        const r = slowRecord(payload, start, end);
        if (r && want(r.id, 0)) out.push(payload.subarray(start, end));
      }
    });
  } catch (e) {
    if (!isP2pcatError(e)) throw e;
    throw P2pcatError.logCorrupt(`a frame that authenticated before no longer decodes: ${e.message}`);
  }
  return out;
}
