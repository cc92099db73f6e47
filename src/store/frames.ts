// Frames of a log file and how a reader turns them into a view
// (docs/log-format.md, "Frames", "Sealed blocks", "Reading"). Sans-I/O: the
// code reads through a ByteSource, which is a Buffer in tests and a file
// descriptor in the driver (./file.ts).
//
//   scanFrames()  pass 1: walks frame heads only (magic, checksum, length),
//                 resynchronising on FRAME_MAGIC after damage.
//   tailCut()     where a writer cuts a torn tail: after the last frame that
//                 authenticates (a trailing incomplete block group counts as torn).
//   viewFrames()  pass 2, newest frame first: decrypts what is not superseded
//                 by a later, fully authenticated block group, and yields the
//                 payloads; everything else is reported as a problem.
import crypto from 'node:crypto';
import type { FrameKey } from './aead.js';
import {
  FRAME_AAD_BYTES,
  FRAME_FIXED_BYTES,
  FRAME_HEAD_BYTES,
  FRAME_KIND,
  FRAME_MAGIC,
  LOG_MAX_FRAMES,
  LOG_SCAN_WINDOW_BYTES,
  NONCE_BYTES,
  TAG_BYTES,
  decodeFrameFixed,
  encodeFrameFixed,
  type FrameKind,
} from './format.js';

/** Random-access bytes: a file, or a Buffer. `read` may return fewer bytes at the end. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Buffer;
}

export class MemorySource implements ByteSource {
  constructor(readonly bytes: Buffer) {}
  get size(): number {
    return this.bytes.length;
  }
  read(offset: number, length: number): Buffer {
    return this.bytes.subarray(offset, Math.min(this.bytes.length, offset + length));
  }
}

// ------------------------------------------------------------------ encoding

export interface FrameOptions {
  part?: number;
  parts?: number;
  covers?: number;
  /** Tests only: a fixed nonce. */
  nonce?: Uint8Array;
}

/** One whole frame: head, nonce, ciphertext, tag. */
export function encodeFrame(key: FrameKey, kind: FrameKind, payload: Uint8Array, o: FrameOptions = {}): Buffer {
  const bodyLen = payload.length + TAG_BYTES;
  const fixed = encodeFrameFixed({ kind, part: o.part ?? 0, parts: o.parts ?? 0, bodyLen, covers: o.covers ?? 0 });
  const out = Buffer.allocUnsafe(FRAME_HEAD_BYTES + bodyLen);
  fixed.copy(out, 0);
  const nonce = o.nonce ?? crypto.randomBytes(NONCE_BYTES);
  out.set(nonce, FRAME_FIXED_BYTES);
  key.sealInto(nonce, out.subarray(0, FRAME_AAD_BYTES), payload, out, FRAME_HEAD_BYTES);
  return out;
}

/** Decrypt one whole frame held in `b` at `off` (its head already parsed). */
export function openFrame(key: FrameKey, b: Buffer, off: number, bodyLen: number): Buffer | undefined {
  if (off + FRAME_HEAD_BYTES + bodyLen > b.length) return undefined;
  const nonce = b.subarray(off + FRAME_FIXED_BYTES, off + FRAME_HEAD_BYTES);
  return key.open(nonce, b.subarray(off, off + FRAME_AAD_BYTES), b.subarray(off + FRAME_HEAD_BYTES, off + FRAME_HEAD_BYTES + bodyLen));
}

// ------------------------------------------------------------------ pass 1

/** Frame heads found by a scan, in file order, as parallel typed arrays. */
export class FrameList {
  count = 0;
  off = new Float64Array(64);
  bodyLen = new Uint32Array(64);
  kind = new Uint8Array(64);
  part = new Uint16Array(64);
  parts = new Uint16Array(64);
  covers = new Float64Array(64);

  push(off: number, kind: number, part: number, parts: number, bodyLen: number, covers: number): void {
    if (this.count === this.off.length) {
      const n = this.count * 2;
      const grow = <T extends Float64Array | Uint32Array | Uint16Array | Uint8Array>(a: T, ctor: new (n: number) => T): T => {
        const b = new ctor(n);
        b.set(a as never);
        return b;
      };
      this.off = grow(this.off, Float64Array);
      this.bodyLen = grow(this.bodyLen, Uint32Array);
      this.kind = grow(this.kind, Uint8Array);
      this.part = grow(this.part, Uint16Array);
      this.parts = grow(this.parts, Uint16Array);
      this.covers = grow(this.covers, Float64Array);
    }
    const i = this.count++;
    this.off[i] = off;
    this.kind[i] = kind;
    this.part[i] = part;
    this.parts[i] = parts;
    this.bodyLen[i] = bodyLen;
    this.covers[i] = covers;
  }

  end(i: number): number {
    return this.off[i]! + FRAME_HEAD_BYTES + this.bodyLen[i]!;
  }
}

export interface DamagedRange {
  offset: number;
  length: number;
  /** Runs to the end of the scanned range (a torn or garbage tail). */
  atEnd: boolean;
  reason: string;
}

export interface ScanResult {
  frames: FrameList;
  damage: DamagedRange[];
  start: number;
  end: number;
}

const MAX_DAMAGE_RANGES = 10_000;

/**
 * Walk frame heads in [start, end) of `src`. Never throws on any bytes:
 * anything that is not a well-formed frame head becomes a damaged range, and
 * the walk goes on at the next place FRAME_MAGIC starts a well-formed head.
 */
export function scanFrames(src: ByteSource, start: number, end: number): ScanResult {
  const frames = new FrameList();
  const damage: DamagedRange[] = [];
  let win: Buffer = Buffer.alloc(0);
  let winOff = start;
  const ensure = (p: number, n: number): boolean => {
    if (p >= winOff && p + n <= winOff + win.length) return true;
    win = src.read(p, Math.min(Math.max(LOG_SCAN_WINDOW_BYTES, n), end - p));
    winOff = p;
    return win.length >= n;
  };
  const addDamage = (offset: number, length: number, atEnd: boolean, reason: string) => {
    const last = damage[damage.length - 1];
    if (damage.length >= MAX_DAMAGE_RANGES && last) {
      last.length = offset + length - last.offset;
      last.atEnd = atEnd;
      return;
    }
    damage.push({ offset, length, atEnd, reason });
  };
  const headAt = (p: number) => (p + FRAME_FIXED_BYTES <= end && ensure(p, FRAME_FIXED_BYTES) ? decodeFrameFixed(win, p - winOff) : undefined);
  /** The next offset after `p` where a well-formed frame head starts, or -1. */
  const resync = (p: number): number => {
    let q = p + 1;
    while (q + FRAME_FIXED_BYTES <= end) {
      ensure(q, Math.min(LOG_SCAN_WINDOW_BYTES, end - q));
      const idx = win.indexOf(FRAME_MAGIC, q - winOff);
      if (idx < 0 || winOff + idx + FRAME_FIXED_BYTES > end) {
        const next = winOff + win.length - (FRAME_MAGIC.length - 1);
        if (winOff + win.length >= end) return -1;
        q = Math.max(q + 1, next);
        continue;
      }
      const cand = winOff + idx;
      if (headAt(cand)) return cand;
      q = cand + 1;
    }
    return -1;
  };

  let pos = start;
  while (pos < end) {
    const h = headAt(pos);
    if (h) {
      const total = FRAME_HEAD_BYTES + h.bodyLen;
      if (pos + total > end) {
        addDamage(pos, end - pos, true, `incomplete frame (${end - pos} of ${total} bytes)`);
        break;
      }
      if (frames.count >= LOG_MAX_FRAMES) {
        addDamage(pos, end - pos, true, `more than ${LOG_MAX_FRAMES} frames`);
        break;
      }
      frames.push(pos, h.kind, h.part, h.parts, h.bodyLen, h.covers);
      pos += total;
      continue;
    }
    const next = resync(pos);
    if (next < 0) {
      addDamage(pos, end - pos, true, end - pos < FRAME_FIXED_BYTES ? 'incomplete frame head' : 'bytes that are not a frame');
      break;
    }
    addDamage(pos, next - pos, false, 'bytes that are not a frame');
    pos = next;
  }
  return { frames, damage, start, end };
}

// ------------------------------------------------------------------ reading frames

/** Read and decrypt frame i of a scan. undefined when it does not authenticate. */
export function readFrame(src: ByteSource, key: FrameKey, f: FrameList, i: number): Buffer | undefined {
  const total = FRAME_HEAD_BYTES + f.bodyLen[i]!;
  const b = src.read(f.off[i]!, total);
  if (b.length < total) return undefined;
  return openFrame(key, b, 0, f.bodyLen[i]!);
}

/** If frame i is the last part of a complete, contiguous block group, the index of its part 0; else -1. */
export function groupStart(f: FrameList, i: number): number {
  if (f.kind[i] !== FRAME_KIND.BLOCK) return -1;
  const parts = f.parts[i]!;
  if (f.part[i] !== parts - 1) return -1;
  const j = i - (parts - 1);
  if (j < 0) return -1;
  for (let k = j; k <= i; k++) {
    if (f.kind[k] !== FRAME_KIND.BLOCK || f.parts[k] !== parts || f.part[k] !== k - j || f.covers[k] !== f.covers[i]) return -1;
    if (k > j && f.off[k] !== f.end(k - 1)) return -1;
  }
  return j;
}

/**
 * How many of the scanned frames a writer keeps: trailing frames that do not
 * authenticate, and a trailing block group that is incomplete or does not
 * authenticate, are a torn tail. Returns the number of frames to keep.
 */
export function tailCut(src: ByteSource, key: FrameKey, f: FrameList): number {
  let n = f.count;
  while (n > 0) {
    const i = n - 1;
    if (f.kind[i] === FRAME_KIND.BLOCK) {
      const j = groupStart(f, i);
      let ok = j >= 0;
      for (let k = j; ok && k <= i; k++) ok = readFrame(src, key, f, k) !== undefined;
      if (ok) break;
      n--;
      continue;
    }
    if (readFrame(src, key, f, i) !== undefined) break;
    n--;
  }
  return n;
}

// ------------------------------------------------------------------ pass 2

export type ViewEvent =
  /** A frame's payload, authenticated and part of the view. live: newer than every accepted block group. */
  | { type: 'payload'; offset: number; kind: FrameKind; payload: Buffer; live: boolean }
  /** A frame whose tag did not verify. superseded: a later block holds its records. */
  | { type: 'bad-frame'; offset: number; length: number; kind: FrameKind; superseded: boolean }
  /** Bytes between frames that are not a frame. */
  | { type: 'damage'; offset: number; length: number; atEnd: boolean; reason: string; superseded: boolean }
  /** A superseded frame that authenticates (only with checkSuperseded). */
  | { type: 'superseded'; offset: number; length: number };

export interface ViewSummary {
  /** End of the newest accepted block group (where the next seal starts), or the scan start. */
  liveStart: number;
  /** Frames after liveStart. */
  unsealedFrames: number;
  /** Bytes superseded by accepted block groups. */
  supersededBytes: number;
  /** Frames that did not authenticate and are not superseded, plus damaged ranges not superseded. */
  problems: number;
  /** A whole block group was accepted (liveStart is its end). */
  sealed: boolean;
}

/**
 * Pass 2 over the first `keep` frames of a scan, newest first. A complete
 * block group whose every part authenticates supersedes the `covers` bytes
 * before its part 0: those frames are skipped (and, with checkSuperseded,
 * still authenticated so that damage in them is reported). A group that does
 * not fully authenticate supersedes nothing, so the frames it was sealed from
 * are read instead: a flipped byte in a block loses nothing while those frames
 * exist.
 */
export function* viewFrames(
  src: ByteSource,
  key: FrameKey,
  scan: ScanResult,
  keep: number,
  opts: { checkSuperseded?: boolean } = {},
): Generator<ViewEvent, ViewSummary> {
  const f = scan.frames;
  const accepted: [number, number][] = [];
  let skipFrom = Infinity;
  let skipTo = -Infinity;
  let liveStart = -1;
  let unsealed = 0;
  let problems = 0;
  let supersededBytes = 0;
  const superseded = (o: number) => o >= skipFrom && o < skipTo;
  let i = keep - 1;
  while (i >= 0) {
    const o = f.off[i]!;
    const len = FRAME_HEAD_BYTES + f.bodyLen[i]!;
    if (superseded(o)) {
      if (opts.checkSuperseded) {
        if (readFrame(src, key, f, i)) yield { type: 'superseded', offset: o, length: len };
        else yield { type: 'bad-frame', offset: o, length: len, kind: f.kind[i] as FrameKind, superseded: true };
      }
      i--;
      continue;
    }
    const j = groupStart(f, i);
    if (j >= 0) {
      const payloads: (Buffer | undefined)[] = [];
      for (let k = j; k <= i; k++) payloads.push(readFrame(src, key, f, k));
      const whole = payloads.every((p) => p !== undefined);
      if (whole && liveStart < 0) liveStart = f.end(i);
      if (liveStart < 0) unsealed += i - j + 1;
      for (let k = j; k <= i; k++) {
        const p = payloads[k - j];
        if (p) yield { type: 'payload', offset: f.off[k]!, kind: FRAME_KIND.BLOCK, payload: p, live: liveStart < 0 };
        else {
          problems++;
          yield { type: 'bad-frame', offset: f.off[k]!, length: f.end(k) - f.off[k]!, kind: FRAME_KIND.BLOCK, superseded: false };
        }
      }
      if (whole) {
        const covers = f.covers[j]!;
        skipTo = f.off[j]!;
        skipFrom = skipTo - covers;
        supersededBytes += covers;
        if (covers > 0) accepted.push([skipFrom, skipTo]);
      }
      i = j - 1;
      continue;
    }
    if (liveStart < 0) unsealed++;
    const p = readFrame(src, key, f, i);
    if (p) yield { type: 'payload', offset: o, kind: f.kind[i] as FrameKind, payload: p, live: liveStart < 0 };
    else {
      problems++;
      yield { type: 'bad-frame', offset: o, length: len, kind: f.kind[i] as FrameKind, superseded: false };
    }
    i--;
  }
  const keptEnd = keep > 0 ? f.end(keep - 1) : scan.start;
  for (const d of scan.damage) {
    if (d.offset >= keptEnd) continue; // the torn tail: reported by the caller
    const sup = accepted.some(([a, b]) => d.offset >= a && d.offset + d.length <= b);
    if (!sup) problems++;
    yield { type: 'damage', offset: d.offset, length: d.length, atEnd: false, reason: d.reason, superseded: sup };
  }
  return { liveStart: liveStart < 0 ? scan.start : liveStart, unsealedFrames: unsealed, supersededBytes, problems, sealed: liveStart >= 0 };
}

/** The bytes after the kept frames: the torn tail a writer cuts, or 0. */
export function tailBytes(scan: ScanResult, keep: number): { offset: number; length: number } {
  const offset = keep > 0 ? scan.frames.end(keep - 1) : scan.start;
  // Damage before the kept end is mid-file damage, not tail.
  return { offset, length: scan.end - offset };
}
