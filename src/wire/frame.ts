// Length-prefixed frames on a byte stream, as Noise suggests (rev 34, section
// 13): a 2-byte big-endian length, then that many bytes. Sans-I/O: push bytes
// in, whole frames come out, however the stream was chunked.
import { P2pcatError } from '../errors.js';
import { FRAME_LENGTH_PREFIX_BYTES, NOISE_MAX_MESSAGE_BYTES } from '../limits.js';

export function encodeFrame(payload: Uint8Array): Buffer {
  if (payload.length > NOISE_MAX_MESSAGE_BYTES) throw new RangeError(`frame of ${payload.length} bytes exceeds ${NOISE_MAX_MESSAGE_BYTES}`);
  const out = Buffer.allocUnsafe(FRAME_LENGTH_PREFIX_BYTES + payload.length);
  out.writeUInt16BE(payload.length, 0);
  out.set(payload, FRAME_LENGTH_PREFIX_BYTES);
  return out;
}

export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #maxFrameBytes: number;
  #minFrameBytes: number;
  #scratch: Buffer | undefined;

  constructor(opts: { maxFrameBytes?: number; minFrameBytes?: number } = {}) {
    this.#maxFrameBytes = opts.maxFrameBytes ?? NOISE_MAX_MESSAGE_BYTES;
    this.#minFrameBytes = opts.minFrameBytes ?? 1;
  }

  /** Tighten or relax the limits, e.g. once the handshake is over. */
  setLimits(opts: { maxFrameBytes?: number; minFrameBytes?: number }): void {
    if (opts.maxFrameBytes !== undefined) this.#maxFrameBytes = opts.maxFrameBytes;
    if (opts.minFrameBytes !== undefined) this.#minFrameBytes = opts.minFrameBytes;
  }

  /**
   * From now on, a frame that spans several pushed chunks is joined in one
   * reused buffer instead of a fresh one: valid only until frames() resumes.
   * For a consumer that is done with each frame before taking the next
   * (SecureChannel decrypts it at once); push() callers must not use this.
   * On a bulk stream nearly every frame spans two socket reads, and a fresh
   * 64 KiB buffer per frame cost as much CPU as decrypting it.
   */
  reuseJoinedFrames(): void {
    this.#scratch ??= Buffer.allocUnsafe(this.#maxFrameBytes);
  }

  /**
   * Copy the bytes held (a partial frame) into a buffer of the decoder's
   * own, so the caller may reuse the buffers it pushed (a socket reading
   * into one reused buffer). One copy of at most a frame per call.
   */
  ownHeld(): void {
    if (this.#chunks.length > 0) this.#chunks = [Buffer.concat(this.#chunks, this.#buffered)];
  }

  /** Bytes held that do not yet make a whole frame. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Add bytes; returns every whole frame now available. Throws P2pcatError
   * (FRAME_TOO_LARGE or PROTOCOL) when the next length is out of bounds;
   * the stream cannot be resynchronised after that, so close the connection.
   */
  push(chunk: Uint8Array): Buffer[] {
    return [...this.frames(chunk)];
  }

  /**
   * Like push(), but yields frames one at a time, so a caller handles every
   * whole frame that came before a bad length before the error is thrown.
   */
  *frames(chunk: Uint8Array): Generator<Buffer, void, undefined> {
    if (chunk.length > 0) {
      this.#chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.#buffered += chunk.length;
    }
    while (this.#buffered >= FRAME_LENGTH_PREFIX_BYTES) {
      const head = this.#peek(FRAME_LENGTH_PREFIX_BYTES);
      const len = head.readUInt16BE(0);
      if (len > this.#maxFrameBytes) throw P2pcatError.frameTooLarge(`peer announced a ${len}-byte frame; the limit here is ${this.#maxFrameBytes}`);
      if (len < this.#minFrameBytes) throw P2pcatError.protocol(`peer sent a ${len}-byte frame; the minimum here is ${this.#minFrameBytes}`);
      if (this.#buffered < FRAME_LENGTH_PREFIX_BYTES + len) break;
      this.#take(FRAME_LENGTH_PREFIX_BYTES);
      yield this.#take(len);
    }
  }

  #peek(n: number): Buffer {
    if (this.#chunks[0]!.length >= n) return this.#chunks[0]!;
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined;
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length === n) {
      this.#chunks.shift();
      this.#buffered -= n;
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      this.#buffered -= n;
      return first.subarray(0, n);
    }
    const out = this.#scratch && n <= this.#scratch.length ? this.#scratch.subarray(0, n) : Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.#chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#buffered -= n;
    return out;
  }
}
