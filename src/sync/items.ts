// The item sets that range-based set reconciliation runs over
// (hoytech/negentropy docs/negentropy-protocol-v1.md, "Preparation"): items
// are (timestamp, 32-byte id), sorted by timestamp, then by id byte by byte,
// without duplicates. p2pcat's items are its CHAT records: timestamp = the
// record's time in milliseconds since the epoch (docs/sync.md), id = the
// binary msg_id. Sans-I/O.
//
//   ItemBuilder   collects items in any order (a log scan), with an opaque
//                 location per item (where the record can be read back).
//   ItemSet       immutable, sorted, deduplicated; typed arrays only (about
//                 48 bytes per item); merge() makes a new set with more items;
//                 find(id) through a lazily built hash table.
//   ItemRange     a window [begin, end) of a set: the Storage the Negentropy
//                 engine (./negentropy.ts) reconciles, with its fingerprint.
import crypto from 'node:crypto';

export const ID_BYTES = 32;
export const FINGERPRINT_BYTES = 16;

/** Largest timestamp an item may carry (the protocol's u64 "infinity" is never an item's). */
export const MAX_ITEM_TIMESTAMP = Number.MAX_SAFE_INTEGER - 1;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Lookups by id one set answers by scanning before it builds its hash table. */
const FIND_SCAN_MAX = 64;
const TWO32 = 4294967296;

/** A range bound (protocol: Bound): timestamp (Infinity for the u64 maximum) and an id prefix of 0..32 bytes. */
export interface Bound {
  ts: number;
  id: Uint8Array;
}

/** What the reconciliation engine needs of a sorted item sequence. */
export interface Storage {
  readonly size: number;
  timestamp(i: number): number;
  /** The 32-byte id of item i (a view into shared memory: copy it to keep it). */
  id(i: number): Uint8Array;
  /** First index in [begin, end) whose item is not below `bound`; `end` when there is none. */
  findLowerBound(begin: number, end: number, bound: Bound): number;
  /** The protocol fingerprint of items [begin, end). */
  fingerprint(begin: number, end: number): Uint8Array;
}

function growF64(a: Float64Array, n: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}

/**
 * Collects items in any order; build() sorts and deduplicates them. Items
 * pushed with the same location in a row form a run: a log scan yields its
 * frames newest first, each in append order, so the runs taken in reverse
 * are usually already sorted, and build() tries that order before sorting.
 */
export class ItemBuilder {
  count = 0;
  #runs: number[] = [];
  #lastLoc = NaN;
  #ts = new Float64Array(1024);
  #loc = new Float64Array(1024);
  #ids = new Uint8Array(1024 * ID_BYTES);

  /** Add the item (ts, id at ids[off..off+32]) stored at `loc`. */
  push(ts: number, ids: Uint8Array, off: number, loc: number): void {
    if (!Number.isInteger(ts) || ts < 0 || ts > MAX_ITEM_TIMESTAMP) throw new RangeError(`item timestamp ${ts} is not an integer from 0 to 2^53-2`);
    if (off < 0 || off + ID_BYTES > ids.length) throw new RangeError('item id out of bounds');
    if (this.count === this.#ts.length) {
      const n = this.count * 2;
      this.#ts = growF64(this.#ts, n);
      this.#loc = growF64(this.#loc, n);
      const b = new Uint8Array(n * ID_BYTES);
      b.set(this.#ids);
      this.#ids = b;
    }
    const i = this.count++;
    if (loc !== this.#lastLoc) {
      this.#runs.push(i);
      this.#lastLoc = loc;
    }
    this.#ts[i] = ts;
    this.#loc[i] = loc;
    const dst = this.#ids;
    const o = i * ID_BYTES;
    for (let k = 0; k < ID_BYTES; k++) dst[o + k] = ids[off + k]!;
  }

  /** The items so far as a sorted, deduplicated set (the first location of a duplicate is kept). */
  build(): ItemSet {
    const n = this.count;
    let reversed: Uint32Array | undefined;
    if (this.#runs.length > 1) {
      reversed = new Uint32Array(n);
      let k = 0;
      for (let r = this.#runs.length - 1; r >= 0; r--) {
        const end = r + 1 < this.#runs.length ? this.#runs[r + 1]! : n;
        for (let i = this.#runs[r]!; i < end; i++) reversed[k++] = i;
      }
    }
    return sortItems(this.#ts.subarray(0, n), this.#ids.subarray(0, n * ID_BYTES), this.#loc.subarray(0, n), reversed);
  }
}

function compareIds(a: Uint8Array, ai: number, b: Uint8Array, bi: number): number {
  const x = ai * ID_BYTES;
  const y = bi * ID_BYTES;
  for (let k = 0; k < ID_BYTES; k++) {
    const d = a[x + k]! - b[y + k]!;
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Sort (ts, id) items: nothing to do when they are already in order (a log
 * appended in time order), else an LSD radix sort of the timestamps in 16-bit
 * digits (stable, O(n), no comparator calls), then runs of equal timestamps
 * sorted by id. Duplicates (same timestamp and id) are dropped.
 */
function sortedUnder(ts: Float64Array, ids: Uint8Array, perm: Uint32Array | undefined): boolean {
  const n = ts.length;
  for (let k = 1; k < n; k++) {
    const i = perm ? perm[k]! : k;
    const j = perm ? perm[k - 1]! : k - 1;
    const d = ts[i]! - ts[j]!;
    if (d < 0 || (d === 0 && compareIds(ids, i, ids, j) < 0)) return false;
  }
  return true;
}

function sortItems(ts: Float64Array, ids: Uint8Array, loc: Float64Array, candidate?: Uint32Array): ItemSet {
  const n = ts.length;
  let perm: Uint32Array;
  if (candidate && sortedUnder(ts, ids, candidate)) perm = candidate;
  else if (sortedUnder(ts, ids, undefined)) {
    perm = new Uint32Array(n);
    for (let i = 0; i < n; i++) perm[i] = i;
  } else {
    perm = radixByTimestamp(ts);
    // Equal timestamps keep insertion order (the radix sort is stable): order those runs by id.
    for (let i = 0; i < n; ) {
      let j = i + 1;
      while (j < n && ts[perm[j]!] === ts[perm[i]!]) j++;
      if (j - i > 1) {
        const run = Array.from(perm.subarray(i, j)).sort((a, b) => compareIds(ids, a, ids, b));
        perm.set(run, i);
      }
      i = j;
    }
  }
  // Gather in order, dropping duplicates.
  let m = 0;
  for (let k = 0; k < n; k++) {
    if (k > 0 && ts[perm[k]!] === ts[perm[k - 1]!] && compareIds(ids, perm[k]!, ids, perm[k - 1]!) === 0) continue;
    perm[m++] = perm[k]!;
  }
  const out = ItemSet.alloc(m);
  // Stretches of consecutive items (whole frames, in the usual case) are copied at once; the rest item by item.
  const aligned = ids.byteOffset % 4 === 0;
  const srcW = aligned ? new Uint32Array(ids.buffer, ids.byteOffset, ids.length / 4) : undefined;
  const dstW = new Uint32Array(out.ids.buffer, 0, m * 8);
  for (let k = 0; k < m; ) {
    let j = k + 1;
    while (j < m && perm[j] === perm[j - 1]! + 1) j++;
    const a = perm[k]!;
    if (j - k >= 8) {
      out.ts.set(ts.subarray(a, a + j - k), k);
      out.loc.set(loc.subarray(a, a + j - k), k);
      out.ids.set(ids.subarray(a * ID_BYTES, (a + j - k) * ID_BYTES), k * ID_BYTES);
      k = j;
      continue;
    }
    for (; k < j; k++) {
      const i = perm[k]!;
      out.ts[k] = ts[i]!;
      out.loc[k] = loc[i]!;
      if (srcW) {
        const x = i * 8;
        const y = k * 8;
        for (let w = 0; w < 8; w++) dstW[y + w] = srcW[x + w]!;
      } else {
        for (let x = 0; x < ID_BYTES; x++) out.ids[k * ID_BYTES + x] = ids[i * ID_BYTES + x]!;
      }
    }
  }
  return out;
}

/** A stable permutation sorting non-negative integer timestamps (< 2^53), 16 bits per pass. */
function radixByTimestamp(ts: Float64Array): Uint32Array {
  const n = ts.length;
  const lo = new Uint32Array(n);
  const hi = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const t = ts[i]!;
    lo[i] = t % TWO32;
    hi[i] = Math.floor(t / TWO32);
  }
  let perm = new Uint32Array(n);
  let next = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const counts = new Uint32Array(65537);
  for (let pass = 0; pass < 4; pass++) {
    const words = pass < 2 ? lo : hi;
    const shift = pass % 2 === 0 ? 0 : 16;
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[((words[i]! >>> shift) & 0xffff) + 1]!++;
    // A digit that is the same for every item changes nothing: skip the pass.
    let distinct = 0;
    for (let d = 1; d <= 65536 && distinct < 2; d++) if (counts[d]! > 0) distinct++;
    if (distinct < 2) continue;
    for (let d = 1; d <= 65536; d++) counts[d]! += counts[d - 1]!;
    for (let k = 0; k < n; k++) {
      const i = perm[k]!;
      next[counts[(words[i]! >>> shift) & 0xffff]!++] = i;
    }
    const t = perm;
    perm = next;
    next = t;
  }
  return perm;
}

/** An immutable sorted set of items. `loc` is the caller's (where to read each record back). */
export class ItemSet {
  readonly count: number;
  readonly ts: Float64Array;
  readonly loc: Float64Array;
  /** count * 32 bytes, in a buffer of its own (4-aligned, for word access). */
  readonly ids: Uint8Array;
  readonly #words: Uint32Array;
  #table: Int32Array | undefined;
  #lookups = 0;
  #k0 = 0;
  #k1 = 0;

  private constructor(count: number) {
    this.count = count;
    this.ts = new Float64Array(count);
    this.loc = new Float64Array(count);
    this.ids = new Uint8Array(count * ID_BYTES);
    this.#words = new Uint32Array(this.ids.buffer, 0, count * 8);
  }

  /** An uninitialised set of `count` items (the builders fill it in order). */
  static alloc(count: number): ItemSet {
    return new ItemSet(count);
  }

  static empty(): ItemSet {
    return new ItemSet(0);
  }

  /** A set from items given in any order (tests, small stores). */
  static from(items: Iterable<{ ts: number; id: Uint8Array; loc?: number }>): ItemSet {
    const b = new ItemBuilder();
    let i = 0;
    for (const it of items) b.push(it.ts, it.id, 0, it.loc ?? i++);
    return b.build();
  }

  id(i: number): Uint8Array {
    return this.ids.subarray(i * ID_BYTES, (i + 1) * ID_BYTES);
  }

  /** First index with a timestamp >= ts. */
  lowerBoundTs(ts: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ts[mid]! < ts) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** This set plus `more` (sorted, deduplicated; on a duplicate this set's location is kept). */
  merge(more: ItemSet): ItemSet {
    if (more.count === 0) return this;
    if (this.count === 0) return more;
    const a = this;
    const b = more;
    // Count first, so the result is allocated once.
    let n = 0;
    for (let i = 0, j = 0; i < a.count || j < b.count; n++) {
      const c = i >= a.count ? 1 : j >= b.count ? -1 : cmpItems(a, i, b, j);
      if (c <= 0) i++;
      if (c >= 0) j++;
    }
    const out = new ItemSet(n);
    for (let i = 0, j = 0, k = 0; k < n; k++) {
      const c = i >= a.count ? 1 : j >= b.count ? -1 : cmpItems(a, i, b, j);
      const [src, s] = c <= 0 ? [a, i] : [b, j];
      out.ts[k] = src.ts[s]!;
      out.loc[k] = src.loc[s]!;
      out.ids.set(src.ids.subarray(s * ID_BYTES, (s + 1) * ID_BYTES), k * ID_BYTES);
      if (c <= 0) i++;
      if (c >= 0) j++;
    }
    return out;
  }

  /** The window of items with timestamp >= since (all of them for since <= 0). */
  range(since = 0): ItemRange {
    return new ItemRange(this, since > 0 ? this.lowerBoundTs(since) : 0, this.count);
  }

  // ---------------------------------------------------------------- lookup by id

  #hash(w0: number, w1: number): number {
    let h = Math.imul(w0 ^ this.#k0, 0x9e3779b1);
    h ^= h >>> 15;
    h = Math.imul(h ^ w1, this.#k1);
    return h ^ (h >>> 13);
  }

  #word(b: Uint8Array, off: number): number {
    return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
  }

  /**
   * Indices of these ids (-1 where absent). A few lookups scan the ids once
   * (a hash of their first words against every item's); past
   * FIND_SCAN_MAX lookups on one set, the hash table is built instead (the
   * scan costs ~1/10 of building it, so small syncs of big logs never pay for it).
   */
  findMany(ids: readonly Uint8Array[]): Int32Array {
    const out = new Int32Array(ids.length).fill(-1);
    if (this.count === 0 || ids.length === 0) return out;
    this.#lookups += ids.length;
    if (this.#table || this.#lookups > FIND_SCAN_MAX) {
      ids.forEach((id, k) => (out[k] = this.find(id)));
      return out;
    }
    const want = new Map<number, number[]>();
    ids.forEach((id, k) => {
      const w = this.#word(id, 0);
      const l = want.get(w);
      if (l) l.push(k);
      else want.set(w, [k]);
    });
    const words = this.#words;
    const ownWord = LITTLE_ENDIAN ? (i: number) => words[i * 8]! : (i: number) => this.#word(this.ids, i * ID_BYTES);
    for (let i = 0; i < this.count; i++) {
      const ks = want.get(ownWord(i));
      if (!ks) continue;
      for (const k of ks) if (out[k] === -1 && compareIdTo(this.ids, i * ID_BYTES, ids[k]!, 0) === 0) out[k] = i;
    }
    return out;
  }

  /** Index of the item with this 32-byte id, or -1. The hash table is built on first use (keyed per process, so chosen ids cannot aim at one chain). */
  find(id: Uint8Array, off = 0): number {
    if (this.count === 0) return -1;
    if (!this.#table) this.#buildTable();
    const table = this.#table!;
    const mask = table.length - 1;
    const w0 = this.#word(id, off);
    const w1 = this.#word(id, off + 4);
    for (let s = this.#hash(w0, w1) & mask, guard = 0; guard <= mask; s = (s + 1) & mask, guard++) {
      const i = table[s]!;
      if (i < 0) return -1;
      if (this.#word(this.ids, i * ID_BYTES) === w0 && compareIdTo(this.ids, i * ID_BYTES, id, off) === 0) return i;
    }
    return -1;
  }

  #buildTable(): void {
    const k = crypto.randomBytes(8);
    this.#k0 = k.readInt32LE(0);
    this.#k1 = k.readInt32LE(4) | 1;
    let size = 16;
    while (size < this.count * 2) size *= 2;
    const table = new Int32Array(size).fill(-1);
    const mask = size - 1;
    for (let i = 0; i < this.count; i++) {
      const o = i * ID_BYTES;
      let s = this.#hash(this.#word(this.ids, o), this.#word(this.ids, o + 4)) & mask;
      while (table[s]! >= 0) s = (s + 1) & mask;
      table[s] = i;
    }
    this.#table = table;
  }

  // ---------------------------------------------------------------- fingerprints

  /** Sum of ids [begin, end) as 256-bit little-endian integers, mod 2^256, as 32 bytes. */
  sumIds(begin: number, end: number): Uint8Array {
    const acc = new Float64Array(8);
    // Limb sums stay exact in a double for 2^20 items of 32 bits; carry after each chunk.
    for (let c = begin; c < end; c += 1 << 20) {
      const stop = Math.min(end, c + (1 << 20));
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
      if (LITTLE_ENDIAN) {
        const w = this.#words;
        for (let i = c * 8, e = stop * 8; i < e; i += 8) {
          a0 += w[i]!;
          a1 += w[i + 1]!;
          a2 += w[i + 2]!;
          a3 += w[i + 3]!;
          a4 += w[i + 4]!;
          a5 += w[i + 5]!;
          a6 += w[i + 6]!;
          a7 += w[i + 7]!;
        }
      } else {
        const dv = new DataView(this.ids.buffer, this.ids.byteOffset, this.ids.byteLength);
        for (let i = c * ID_BYTES, e = stop * ID_BYTES; i < e; i += ID_BYTES) {
          a0 += dv.getUint32(i, true);
          a1 += dv.getUint32(i + 4, true);
          a2 += dv.getUint32(i + 8, true);
          a3 += dv.getUint32(i + 12, true);
          a4 += dv.getUint32(i + 16, true);
          a5 += dv.getUint32(i + 20, true);
          a6 += dv.getUint32(i + 24, true);
          a7 += dv.getUint32(i + 28, true);
        }
      }
      const add = [a0, a1, a2, a3, a4, a5, a6, a7];
      let carry = 0;
      for (let k = 0; k < 8; k++) {
        const v = acc[k]! + add[k]! + carry;
        acc[k] = v % TWO32;
        carry = Math.floor(v / TWO32);
      }
    }
    const out = new Uint8Array(ID_BYTES);
    const dv = new DataView(out.buffer);
    for (let k = 0; k < 8; k++) dv.setUint32(k * 4, acc[k]!, true);
    return out;
  }
}

function cmpItems(a: ItemSet, i: number, b: ItemSet, j: number): number {
  const d = a.ts[i]! - b.ts[j]!;
  if (d !== 0) return d < 0 ? -1 : 1;
  return compareIds(a.ids, i, b.ids, j);
}

function compareIdTo(a: Uint8Array, ao: number, b: Uint8Array, bo: number): number {
  for (let k = 0; k < ID_BYTES; k++) {
    const d = a[ao + k]! - b[bo + k]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** Varint as the protocol writes it: base 128, most significant digit first. */
export function varintBytes(n: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`varint ${n} out of range`);
  const digits: number[] = [n % 128];
  n = Math.floor(n / 128);
  while (n > 0) {
    digits.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  return digits.reverse();
}

/** fingerprint = SHA-256(sum of ids mod 2^256, 32 bytes LE || varint(count))[0..16]. */
export function fingerprintOf(sum: Uint8Array, count: number): Uint8Array {
  const h = crypto.createHash('sha256');
  h.update(sum);
  h.update(Uint8Array.from(varintBytes(count)));
  return new Uint8Array(h.digest().subarray(0, FINGERPRINT_BYTES));
}

/** A window [begin, end) of an ItemSet, indexed from 0: the Storage of one reconciliation. */
export class ItemRange implements Storage {
  readonly size: number;
  constructor(
    readonly set: ItemSet,
    readonly begin: number,
    readonly end: number,
  ) {
    if (begin < 0 || end > set.count || begin > end) throw new RangeError('bad item range');
    this.size = end - begin;
  }

  timestamp(i: number): number {
    return this.set.ts[this.begin + i]!;
  }

  id(i: number): Uint8Array {
    return this.set.id(this.begin + i);
  }

  /** Position in the whole set of item i of the window. */
  index(i: number): number {
    return this.begin + i;
  }

  findLowerBound(begin: number, end: number, bound: Bound): number {
    if (begin > end || end > this.size) throw new RangeError('bad range');
    const ts = this.set.ts;
    const ids = this.set.ids;
    const base = this.begin;
    const p = bound.id;
    let lo = begin;
    let hi = end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const t = ts[base + mid]!;
      let below: boolean;
      if (t !== bound.ts) below = t < bound.ts;
      else {
        // Compare the id with the bound's prefix (missing bytes are zeros, so equal-so-far means not below).
        below = false;
        const o = (base + mid) * ID_BYTES;
        for (let k = 0; k < p.length; k++) {
          const d = ids[o + k]! - p[k]!;
          if (d !== 0) {
            below = d < 0;
            break;
          }
        }
      }
      if (below) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  fingerprint(begin: number, end: number): Uint8Array {
    if (begin > end || end > this.size) throw new RangeError('bad range');
    return fingerprintOf(this.set.sumIds(this.begin + begin, this.begin + end), end - begin);
  }
}
