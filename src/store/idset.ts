// A set of 32-byte message ids (binary SHA-256 msg_ids), for dedupe over a
// whole log: 32 bytes per id in one growing pool plus a 4-byte open-addressing
// slot, instead of a 64-character string and a Set entry (~110 B) per id.
// The slot hash is keyed with a per-process random key, so ids chosen by a
// peer cannot be aimed at one probe chain. No I/O.
import crypto from 'node:crypto';

const ID_BYTES = 32;
const HEX64 = /^[0-9a-f]{64}$/;

export class IdSet {
  #pool: Buffer;
  #count = 0;
  #slots: Int32Array;
  #mask: number;
  readonly #k0: number;
  readonly #k1: number;
  readonly #probe = Buffer.alloc(ID_BYTES);

  constructor(capacity = 1024) {
    let n = 1024;
    while (n < capacity * 2) n *= 2;
    this.#slots = new Int32Array(n).fill(-1);
    this.#mask = n - 1;
    this.#pool = Buffer.alloc(Math.max(capacity, 512) * ID_BYTES);
    const k = crypto.randomBytes(8);
    this.#k0 = k.readInt32LE(0);
    this.#k1 = k.readInt32LE(4) | 1;
  }

  get size(): number {
    return this.#count;
  }

  #hash(b: Uint8Array, off: number): number {
    const w0 = b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24);
    const w1 = b[off + 4]! | (b[off + 5]! << 8) | (b[off + 6]! << 16) | (b[off + 7]! << 24);
    let h = Math.imul(w0 ^ this.#k0, 0x9e3779b1);
    h ^= h >>> 15;
    h = Math.imul(h ^ w1, this.#k1);
    h ^= h >>> 13;
    return h;
  }

  #find(b: Uint8Array, off: number): number {
    let i = this.#hash(b, off) & this.#mask;
    const pool = this.#pool;
    for (;;) {
      const s = this.#slots[i]!;
      if (s < 0) return -1 - i;
      const p = s * ID_BYTES;
      // Cheap first look at 4 bytes before the full comparison.
      if (pool[p] === b[off] && pool[p + 1] === b[off + 1] && pool[p + 2] === b[off + 2] && pool[p + 3] === b[off + 3]) {
        if (pool.compare(b, off, off + ID_BYTES, p, p + ID_BYTES) === 0) return s;
      }
      i = (i + 1) & this.#mask;
    }
  }

  #grow(): void {
    const n = this.#slots.length * 2;
    this.#slots = new Int32Array(n).fill(-1);
    this.#mask = n - 1;
    for (let s = 0; s < this.#count; s++) {
      let i = this.#hash(this.#pool, s * ID_BYTES) & this.#mask;
      while (this.#slots[i]! >= 0) i = (i + 1) & this.#mask;
      this.#slots[i] = s;
    }
  }

  /** Add the 32 bytes at `off`; true when they were not there yet. */
  addBytes(b: Uint8Array, off = 0): boolean {
    const f = this.#find(b, off);
    if (f >= 0) return false;
    if ((this.#count + 1) * 2 > this.#slots.length) {
      this.#grow();
      return this.addBytes(b, off);
    }
    if ((this.#count + 1) * ID_BYTES > this.#pool.length) {
      const bigger = Buffer.alloc(this.#pool.length * 2);
      this.#pool.copy(bigger, 0, 0, this.#count * ID_BYTES);
      this.#pool = bigger;
    }
    this.#pool.set(b.subarray(off, off + ID_BYTES), this.#count * ID_BYTES);
    this.#slots[-1 - f] = this.#count++;
    return true;
  }

  hasBytes(b: Uint8Array, off = 0): boolean {
    return this.#find(b, off) >= 0;
  }

  /** A msg_id as 64 lower-case hex characters; anything else is never in the set. */
  has(hex: string): boolean {
    if (!HEX64.test(hex)) return false;
    this.#probe.write(hex, 0, ID_BYTES, 'hex');
    return this.hasBytes(this.#probe, 0);
  }

  add(hex: string): boolean {
    if (!HEX64.test(hex)) throw new RangeError('msg_id must be 64 lower-case hex characters');
    this.#probe.write(hex, 0, ID_BYTES, 'hex');
    return this.addBytes(this.#probe, 0);
  }
}
