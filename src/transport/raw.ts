// Raw mode: an encrypted byte stream both ways after the usual handshake,
// with half-close as in `nc -N` (docs/protocol.md, "Raw mode"):
//   - our input ends    -> an authenticated EOF message, then TCP FIN (write side)
//   - the peer's EOF    -> 'eof': no more bytes will come; the other way keeps flowing
//   - FIN or reset with no EOF message first -> the stream was cut: 'end' with an
//     error, so a truncated transfer can never look complete.
import { EventEmitter } from 'node:events';
import { P2pcatError } from '../errors.js';
import { CLOSE_TIMEOUT_MS } from '../limits.js';
import { SecureChannel, type ChannelOptions } from './secure-channel.js';
import { formatAddr, type PeerInfo, type SessionStream } from './session.js';

export interface RawSessionOptions extends ChannelOptions {
  handshakeTimeoutMs: number;
  direction: 'in' | 'out';
  addr?: string;
  /**
   * The stream's bytes come through feed() (a socket with `onread` into one
   * reused buffer), not through 'data' events.
   */
  fed?: boolean;
}

export interface RawEnd {
  /** Both directions ended with an authenticated EOF. */
  clean: boolean;
  error?: P2pcatError;
}

export declare interface RawSession {
  on(event: 'up', fn: (peer: PeerInfo) => void): this;
  on(event: 'data', fn: (data: Buffer) => void): this;
  on(event: 'eof', fn: () => void): this;
  on(event: 'drain', fn: () => void): this;
  on(event: 'end', fn: (end: RawEnd) => void): this;
}

export class RawSession extends EventEmitter {
  readonly addr: string;
  readonly direction: 'in' | 'out';
  #s: SessionStream;
  #ch: SecureChannel;
  #timer: NodeJS.Timeout | undefined;
  #peer: PeerInfo | undefined;
  #eofIn = false;
  #eofOut = false;
  #ended = false;
  #error: P2pcatError | undefined;

  constructor(stream: SessionStream, opts: RawSessionOptions) {
    super();
    this.#s = stream;
    this.direction = opts.direction;
    this.addr = opts.addr ?? formatAddr(stream.remoteAddress, stream.remotePort);
    this.#ch = new SecureChannel(opts);
    this.#timer = setTimeout(() => this.destroy(P2pcatError.timeout(`handshake with ${this.addr} did not finish within ${opts.handshakeTimeoutMs / 1000} s`)), opts.handshakeTimeoutMs);
    if (!opts.fed) stream.on('data', (chunk: Buffer) => this.#onData(chunk, false));
    stream.on('end', () => this.#onEnd());
    stream.on('drain', () => this.emit('drain'));
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (!this.#error) this.#error = P2pcatError.unavailable(`connection to ${this.addr} failed: ${e.code ?? e.message}`, e);
    });
    stream.on('close', () => this.#finish());
    for (const f of this.#ch.start()) stream.write(f);
  }

  get peer(): PeerInfo | undefined {
    return this.#peer;
  }

  get eofReceived(): boolean {
    return this.#eofIn;
  }

  /**
   * Bytes read from the stream into a buffer the caller reuses once this
   * returns (with `fed`): every whole frame is decrypted now, a partial one copied.
   */
  feed(chunk: Buffer): void {
    this.#onData(chunk, true);
  }

  /** Send bytes; false when the socket is full: wait for 'drain'. */
  write(data: Uint8Array | readonly Uint8Array[]): boolean {
    if (!this.#peer || this.#eofOut || this.#ended) return false;
    return this.#s.write(this.#ch.sealData(data));
  }

  /** Our input ended: authenticated EOF, then half-close the TCP write side. */
  endWrite(): void {
    if (this.#eofOut || this.#ended || !this.#peer) return;
    this.#eofOut = true;
    this.#s.write(this.#ch.sealEof());
    this.#s.end();
    this.#maybeDone();
  }

  pause(): void {
    this.#s.pause();
  }

  resume(): void {
    this.#s.resume();
  }

  get writableLength(): number {
    return this.#s.writableLength;
  }

  destroy(err: P2pcatError): void {
    if (this.#ended) return;
    if (!this.#error) this.#error = err;
    this.#s.destroy();
  }

  #onData(chunk: Buffer, transient: boolean): void {
    if (this.#ended) return;
    let res;
    try {
      res = transient ? this.#ch.receiveTransient(chunk) : this.#ch.receive(chunk);
    } catch (e) {
      if (e instanceof P2pcatError) return this.destroy(e);
      throw e;
    }
    for (const f of res.send) this.#s.write(f);
    if (res.up) {
      clearTimeout(this.#timer);
      this.#peer = { ...res.up, addr: this.addr, direction: this.direction };
      this.emit('up', this.#peer);
    }
    for (const m of res.messages) {
      if (this.#ended) return;
      if (this.#eofIn) return this.destroy(P2pcatError.protocol(`${this.addr} sent ${m.type} after its end of stream`));
      if (m.type === 'DATA') this.emit('data', m.data!);
      else if (m.type === 'EOF') {
        this.#eofIn = true;
        this.emit('eof');
        this.#maybeDone();
      } else if (m.type === 'BYE') {
        return this.destroy(P2pcatError.unavailable(`${this.addr} left before the end of the stream`));
      } else {
        return this.destroy(P2pcatError.protocol(`${this.addr} sent ${m.type} in raw mode (is it in chat mode?)`));
      }
    }
  }

  #onEnd(): void {
    if (this.#error) return;
    if (!this.#peer) {
      this.#error = this.#ch.handshakeSent && this.#ch.initiator
        ? P2pcatError.auth(`${this.addr} closed the connection during the handshake: wrong room or secret, or not allowed`)
        : P2pcatError.protocol(`${this.addr} closed the connection during the handshake`);
    } else if (!this.#eofIn) {
      this.#error = P2pcatError.unavailable(`${this.addr} closed the stream without an end-of-stream mark: the data may be truncated`);
    }
    if (this.#error) this.#s.destroy();
  }

  #maybeDone(): void {
    if (this.#eofIn && this.#eofOut) {
      const t = setTimeout(() => this.#s.destroy(), CLOSE_TIMEOUT_MS);
      t.unref();
    }
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    const end: RawEnd = { clean: !this.#error && this.#eofIn && this.#eofOut };
    if (this.#error) end.error = this.#error;
    else if (!end.clean) end.error = P2pcatError.unavailable(`the stream with ${this.addr} ended early`);
    this.emit('end', end);
  }
}
