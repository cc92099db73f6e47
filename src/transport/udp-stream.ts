// A udx-native stream (reliable, ordered, congestion-controlled, over UDP)
// seen as a Node Duplex, so Session runs over it exactly as over TCP:
// backpressure both ways (udx write() false => wait for 'drain'; our push()
// false => pause udx), half-close (end() is udx's FIN), and 'close' only once
// udx has closed, bounded by CLOSE_TIMEOUT_MS.
import { Duplex } from 'node:stream';
import type { UDXStream } from 'udx-native';
import { CLOSE_TIMEOUT_MS } from '../limits.js';

export class UdxDuplex extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  #inner: UDXStream;
  #innerClosed = false;
  #onInnerClose: (() => void) | undefined;

  constructor(inner: UDXStream, remote: { address: string; port: number }) {
    super({ allowHalfOpen: true });
    this.#inner = inner;
    this.remoteAddress = remote.address;
    this.remotePort = remote.port;
    inner.on('data', (c: Buffer) => {
      if (!this.push(c)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (e: Error) => this.destroy(e));
    inner.on('close', () => {
      this.#innerClosed = true;
      this.#onInnerClose?.();
      if (!this.destroyed) this.destroy();
    });
  }

  override _read(): void {
    this.#inner.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.#inner.write(chunk)) cb();
    else this.#inner.once('drain', () => cb());
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.#inner.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (this.#innerClosed) return cb(err);
    if (err) this.#inner.destroy();
    const t = setTimeout(() => {
      this.#inner.destroy();
      cb(err);
    }, CLOSE_TIMEOUT_MS);
    t.unref();
    this.#onInnerClose = () => {
      clearTimeout(t);
      cb(err);
    };
  }
}
