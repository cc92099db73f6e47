// Negentropy, range-based set reconciliation, protocol version 1
// (hoytech/negentropy docs/negentropy-protocol-v1.md, protocol byte 0x61).
// Sans-I/O: messages are bytes in, bytes out; no sockets, files or timers.
//
// Ranges are split as the reference implementation does (16 buckets; an
// IdList when a range holds fewer than 32 items; the same frame-size rule),
// so for the same item sets and frame-size limit this engine writes the same
// bytes as the reference: ../../../shared/vectors/negentropy/ holds traces
// generated with it, and test/sync/negentropy.test.ts replays them.
//
// Untrusted input: a malformed message throws P2pcatError (PROTOCOL) and
// nothing else; every loop is bounded by the bytes of the message or of the
// frame-size limit.
import { P2pcatError } from '../errors.js';
import { FINGERPRINT_BYTES, ID_BYTES, type Bound, type Storage, varintBytes } from './items.js';

export const PROTOCOL_VERSION = 0x61;
export const MODE = { SKIP: 0, FINGERPRINT: 1, IDLIST: 2 } as const;
/** The reference refuses frame-size limits below this. */
export const MIN_FRAME_SIZE_LIMIT = 4096;
const BUCKETS = 16;
const INFINITY_BOUND: Bound = { ts: Infinity, id: new Uint8Array(0) };
const EMPTY = new Uint8Array(0);

/** An id the server has and the client lacks, with the range the server claimed it in. */
export interface Need {
  id: Uint8Array;
  lower: Bound;
  upper: Bound;
}

export interface ReconcileResult {
  /** The next message to send; null (client only) when reconciliation is complete. */
  output: Uint8Array | null;
  /** Client only: storage indices of items the client has and the server lacks. */
  have: number[];
  /** Client only: ids the server has and the client lacks. */
  need: Need[];
}

/** Growable output bytes. */
class Out {
  buf = new Uint8Array(256);
  length = 0;
  #reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.length));
    this.buf = b;
  }
  byte(b: number): void {
    this.#reserve(1);
    this.buf[this.length++] = b;
  }
  bytes(b: Uint8Array): void {
    this.#reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  varint(n: number): void {
    for (const d of varintBytes(n)) this.byte(d);
  }
  take(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
  /** The bytes so far, without a copy (valid until the next write). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
  reset(): void {
    this.length = 0;
  }
}

function bad(msg: string): P2pcatError {
  return P2pcatError.protocol(`sync: ${msg}`);
}

/** Reads a message; every read is bounds-checked. */
class Reader {
  #b: Uint8Array;
  #off = 0;
  constructor(b: Uint8Array) {
    this.#b = b;
  }
  get done(): boolean {
    return this.#off >= this.#b.length;
  }
  get left(): number {
    return this.#b.length - this.#off;
  }
  byte(): number {
    if (this.#off >= this.#b.length) throw bad('reconciliation message ends early');
    return this.#b[this.#off++]!;
  }
  bytes(n: number): Uint8Array {
    if (n > this.left) throw bad('reconciliation message ends early');
    const s = this.#b.subarray(this.#off, this.#off + n);
    this.#off += n;
    return s;
  }
  varint(): number {
    let n = 0;
    for (let i = 0; i < 8; i++) {
      const c = this.byte();
      n = n * 128 + (c & 0x7f);
      if (n > Number.MAX_SAFE_INTEGER) break;
      if ((c & 0x80) === 0) return n;
    }
    throw bad('varint too large');
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export interface NegentropyOptions {
  /** Largest message this side writes, in bytes (0: no limit; else at least 4096). */
  frameSizeLimit?: number;
}

/**
 * One side of a reconciliation over a sorted, deduplicated Storage. The
 * client calls initiate(), then reconcile() on each server message until the
 * output is null; the server calls reconcile() on each client message.
 */
export class Negentropy {
  readonly storage: Storage;
  readonly frameSizeLimit: number;
  #initiator = false;
  #lastTsIn = 0;
  #lastTsOut = 0;

  constructor(storage: Storage, opts: NegentropyOptions = {}) {
    const limit = opts.frameSizeLimit ?? 0;
    if (limit !== 0 && (!Number.isInteger(limit) || limit < MIN_FRAME_SIZE_LIMIT)) throw new RangeError(`frameSizeLimit must be 0 or at least ${MIN_FRAME_SIZE_LIMIT}`);
    this.storage = storage;
    this.frameSizeLimit = limit;
  }

  get isInitiator(): boolean {
    return this.#initiator;
  }

  /** The client's first message: the whole range, split. */
  initiate(): Uint8Array {
    if (this.#initiator) throw new Error('already initiated');
    this.#initiator = true;
    this.#lastTsOut = 0;
    const out = new Out();
    out.byte(PROTOCOL_VERSION);
    this.#splitRange(0, this.storage.size, INFINITY_BOUND, out);
    return out.take();
  }

  /** Process the peer's message; see ReconcileResult. Throws P2pcatError on a malformed message. */
  reconcile(query: Uint8Array): ReconcileResult {
    const have: number[] = [];
    const need: Need[] = [];
    const r = new Reader(query);
    this.#lastTsIn = 0;
    this.#lastTsOut = 0;
    const full = new Out();
    full.byte(PROTOCOL_VERSION);
    const version = r.byte();
    if (version < 0x60 || version > 0x6f) throw bad(`not a Negentropy message (version byte 0x${version.toString(16)})`);
    if (version !== PROTOCOL_VERSION) {
      if (this.#initiator) throw P2pcatError.version(`sync: the peer speaks Negentropy protocol version ${version - 0x60}, this p2pcat speaks 1`);
      return { output: full.take(), have, need };
    }
    const st = this.storage;
    const size = st.size;
    let prevBound: Bound = { ts: 0, id: EMPTY };
    let prevIndex = 0;
    let skip = false;
    // One scratch buffer for the output of each range, reused (a message may hold thousands of ranges).
    const o = new Out();
    while (!r.done) {
      o.reset();
      const doSkip = () => {
        if (skip) {
          skip = false;
          this.#encodeBound(o, prevBound);
          o.varint(MODE.SKIP);
        }
      };
      const currBound = this.#decodeBound(r);
      const mode = r.varint();
      const lower = prevIndex;
      let upper = st.findLowerBound(prevIndex, size, currBound);
      if (mode === MODE.SKIP) {
        skip = true;
      } else if (mode === MODE.FINGERPRINT) {
        const theirs = r.bytes(FINGERPRINT_BYTES);
        const ours = st.fingerprint(lower, upper);
        if (compareBytes(theirs, ours) !== 0) {
          doSkip();
          this.#splitRange(lower, upper, currBound, o);
        } else {
          skip = true;
        }
      } else if (mode === MODE.IDLIST) {
        const numIds = r.varint();
        if (numIds * ID_BYTES > r.left) throw bad(`IdList of ${numIds} ids is longer than the message`);
        if (this.#initiator) {
          const theirs = new Map<string, Uint8Array>();
          for (let i = 0; i < numIds; i++) {
            const e = r.bytes(ID_BYTES);
            theirs.set(Buffer.from(e.buffer, e.byteOffset, ID_BYTES).toString('latin1'), e);
          }
          skip = true;
          for (let i = lower; i < upper; i++) {
            const id = st.id(i);
            const k = Buffer.from(id.buffer, id.byteOffset, ID_BYTES).toString('latin1');
            if (!theirs.delete(k)) have.push(i);
          }
          const lo = { ts: prevBound.ts, id: prevBound.id.slice() };
          const hi = { ts: currBound.ts, id: currBound.id.slice() };
          for (const e of theirs.values()) need.push({ id: e.slice(), lower: lo, upper: hi });
        } else {
          r.bytes(numIds * ID_BYTES);
          doSkip();
          const responseIds = new Out();
          let numResponseIds = 0;
          let endBound = currBound;
          for (let i = lower; i < upper; i++) {
            if (this.#exceeded(full.length + responseIds.length)) {
              endBound = { ts: st.timestamp(i), id: st.id(i).slice() };
              upper = i; // the rest of the range gets the fingerprint below
              break;
            }
            responseIds.bytes(st.id(i));
            numResponseIds++;
          }
          this.#encodeBound(o, endBound);
          o.varint(MODE.IDLIST);
          o.varint(numResponseIds);
          o.bytes(responseIds.view());
          full.bytes(o.view());
          o.reset();
        }
      } else {
        throw bad(`unknown range mode ${mode}`);
      }
      if (this.#exceeded(full.length + o.length)) {
        // Frame full: stop here and send one fingerprint for everything after.
        const remaining = st.fingerprint(upper, size);
        this.#encodeBound(full, INFINITY_BOUND);
        full.varint(MODE.FINGERPRINT);
        full.bytes(remaining);
        break;
      }
      full.bytes(o.view());
      prevIndex = upper;
      prevBound = currBound;
    }
    const output = full.length === 1 && this.#initiator ? null : full.take();
    return { output, have, need };
  }

  #exceeded(n: number): boolean {
    return this.frameSizeLimit !== 0 && n > this.frameSizeLimit - 200;
  }

  #splitRange(lower: number, upper: number, upperBound: Bound, o: Out): void {
    const st = this.storage;
    const numElems = upper - lower;
    if (numElems < BUCKETS * 2) {
      this.#encodeBound(o, upperBound);
      o.varint(MODE.IDLIST);
      o.varint(numElems);
      for (let i = lower; i < upper; i++) o.bytes(st.id(i));
      return;
    }
    const perBucket = Math.floor(numElems / BUCKETS);
    const withExtra = numElems % BUCKETS;
    let curr = lower;
    for (let i = 0; i < BUCKETS; i++) {
      const bucketSize = perBucket + (i < withExtra ? 1 : 0);
      const fp = st.fingerprint(curr, curr + bucketSize);
      curr += bucketSize;
      const nextBound = curr === upper ? upperBound : this.#minimalBound(curr - 1, curr);
      this.#encodeBound(o, nextBound);
      o.varint(MODE.FINGERPRINT);
      o.bytes(fp);
    }
  }

  /** The shortest bound above item prev and not above item curr. */
  #minimalBound(prev: number, curr: number): Bound {
    const st = this.storage;
    const ts = st.timestamp(curr);
    if (ts !== st.timestamp(prev)) return { ts, id: EMPTY };
    const a = st.id(prev);
    const b = st.id(curr);
    let shared = 0;
    while (shared < ID_BYTES && a[shared] === b[shared]) shared++;
    return { ts, id: b.slice(0, shared + 1) };
  }

  #encodeBound(o: Out, b: Bound): void {
    if (b.ts === Infinity) {
      this.#lastTsOut = Infinity;
      o.varint(0);
    } else {
      const delta = b.ts - this.#lastTsOut;
      if (!(delta >= 0)) throw bad('range bounds out of order');
      this.#lastTsOut = b.ts;
      o.varint(delta + 1);
    }
    o.varint(b.id.length);
    o.bytes(b.id);
  }

  #decodeBound(r: Reader): Bound {
    const v = r.varint();
    let ts: number;
    if (v === 0 || this.#lastTsIn === Infinity) {
      ts = Infinity;
    } else {
      ts = this.#lastTsIn + (v - 1);
      if (ts > Number.MAX_SAFE_INTEGER) throw bad('bound timestamp too large');
    }
    this.#lastTsIn = ts;
    const len = r.varint();
    if (len > ID_BYTES) throw bad('bound id prefix longer than 32 bytes');
    return { ts, id: r.bytes(len).slice() };
  }
}

/** Is (ts, id) inside [lower, upper)? (the range a server claimed an id in) */
export function inRange(ts: number, id: Uint8Array, lower: Bound, upper: Bound): boolean {
  return !itemBelow(ts, id, lower) && itemBelow(ts, id, upper);
}

/** Is the item (ts, id) below the bound? */
export function itemBelow(ts: number, id: Uint8Array, b: Bound): boolean {
  if (ts !== b.ts) return ts < b.ts;
  for (let k = 0; k < b.id.length; k++) {
    const d = id[k]! - b.id[k]!;
    if (d !== 0) return d < 0;
  }
  return false;
}
