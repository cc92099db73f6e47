// A p2pcat session over any ordered, reliable byte stream (a TCP socket, or
// a reliable stream over a punched UDP path): the I/O driver for
// SecureChannel. It owns the stream, the handshake timeout, the send-queue bound and the
// close rules (docs/protocol.md, "Closing"):
//   - BYE, then FIN: a clean close; the peer answers with its own FIN.
//   - FIN or RST with no BYE after the session was up: closed, not clean.
//   - EOF before the handshake finished: AUTH when we had sent our last
//     handshake message (the peer refused our PSK), PROTOCOL otherwise.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { P2pcatError } from '../errors.js';
import { PEER_SEND_QUEUE_MAX_BYTES, CLOSE_TIMEOUT_MS } from '../limits.js';
import type { Message, MsgName } from '../wire/messages.js';
import { SecureChannel, type ChannelOptions, type PeerIdentity } from './secure-channel.js';

export interface SessionOptions extends ChannelOptions {
  handshakeTimeoutMs: number;
  direction: 'in' | 'out';
  /** The peer's address for display; taken from the socket when it has one. */
  addr?: string;
}

/** What a session needs of its stream: a Duplex; TCP sockets also give their address. */
export type SessionStream = Duplex & { remoteAddress?: string | undefined; remotePort?: number | undefined; setNoDelay?: (on: boolean) => unknown };

export interface SessionEnd {
  /** The peer said BYE (or we did and it answered): nothing was cut. */
  clean: boolean;
  error?: P2pcatError;
}

export interface PeerInfo extends PeerIdentity {
  addr: string;
  direction: 'in' | 'out';
}

export declare interface Session {
  on(event: 'up', fn: (peer: PeerInfo) => void): this;
  on(event: 'message', fn: (msg: Message) => void): this;
  on(event: 'end', fn: (end: SessionEnd) => void): this;
}

export class Session extends EventEmitter {
  readonly addr: string;
  readonly direction: 'in' | 'out';
  #socket: SessionStream;
  #channel: SecureChannel;
  #timer: NodeJS.Timeout | undefined;
  #peer: PeerInfo | undefined;
  #ended = false;
  #byeSeen = false;
  #byeSent = false;
  #error: P2pcatError | undefined;

  constructor(socket: SessionStream, opts: SessionOptions) {
    super();
    this.#socket = socket;
    this.direction = opts.direction;
    this.addr = opts.addr ?? formatAddr(socket.remoteAddress, socket.remotePort);
    this.#channel = new SecureChannel(opts);
    socket.setNoDelay?.(true);
    this.#timer = setTimeout(() => this.#fail(P2pcatError.timeout(`handshake with ${this.addr} did not finish within ${opts.handshakeTimeoutMs / 1000} s`)), opts.handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (!this.#error && !this.#byeSeen) this.#error = this.#peer ? P2pcatError.unavailable(`connection to ${this.addr} lost: ${e.code ?? e.message}`, e) : this.#handshakeEofError(e);
    });
    socket.on('close', () => this.#finish());
    for (const f of this.#channel.start()) socket.write(f);
  }

  get peer(): PeerInfo | undefined {
    return this.#peer;
  }

  get isUp(): boolean {
    return this.#peer !== undefined && !this.#ended && !this.#byeSent;
  }

  /** Send one message. False when the peer is slow and the caller should wait for 'drain'-like relief. */
  send(type: MsgName, body: Record<string, unknown> = {}): boolean {
    if (!this.isUp) return false;
    if (this.#socket.writableLength > PEER_SEND_QUEUE_MAX_BYTES) {
      this.#fail(P2pcatError.limit(`${this.addr} is not reading; more than ${PEER_SEND_QUEUE_MAX_BYTES} bytes queued`));
      return false;
    }
    return this.#socket.write(this.#channel.seal(type, body));
  }

  get writableLength(): number {
    return this.#socket.writableLength;
  }

  onceDrain(fn: () => void): void {
    this.#socket.once('drain', fn);
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  /** Graceful close: BYE, FIN, wait for the peer's FIN (bounded), then done. */
  close(reason = 'bye'): void {
    if (this.#ended) return;
    if (this.#peer && !this.#byeSent) {
      this.#byeSent = true;
      this.#socket.write(this.#channel.seal('BYE', { reason }));
    }
    this.#socket.end();
    const t = setTimeout(() => this.#socket.destroy(), CLOSE_TIMEOUT_MS);
    t.unref();
  }

  /** Close at once with an error (the peer sees a reset). */
  destroy(err: P2pcatError): void {
    this.#fail(err);
  }

  #onData(chunk: Buffer): void {
    if (this.#ended) return;
    let res;
    try {
      res = this.#channel.receive(chunk);
    } catch (e) {
      if (e instanceof P2pcatError) return this.#fail(e);
      throw e;
    }
    for (const f of res.send) this.#socket.write(f);
    if (res.up) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#peer = { ...res.up, addr: this.addr, direction: this.direction };
      this.emit('up', this.#peer);
    }
    for (const m of res.messages) {
      if (this.#ended) return;
      if (m.type === 'BYE') {
        this.#byeSeen = true;
        this.#socket.end();
        continue;
      }
      this.emit('message', m);
    }
  }

  #onEnd(): void {
    if (!this.#error && this.#channel.bufferedBytes > 0) {
      this.#error = P2pcatError.protocol(`${this.addr} closed the connection in the middle of a frame (${this.#channel.bufferedBytes} bytes of a truncated frame)`);
    }
    if (!this.#peer && !this.#error) this.#error = this.#handshakeEofError();
    // Half-close from the peer: finish our side too.
    this.#socket.end();
  }

  #handshakeEofError(cause?: unknown): P2pcatError {
    if (this.#channel.handshakeSent && this.#channel.initiator) {
      return P2pcatError.auth(`${this.addr} closed the connection during the handshake: wrong room or secret, or not allowed`, cause);
    }
    return P2pcatError.protocol(`${this.addr} closed the connection during the handshake`, cause);
  }

  #fail(err: P2pcatError): void {
    if (this.#ended) return;
    if (!this.#error) this.#error = err;
    this.#socket.destroy();
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    const clean = this.#peer !== undefined && (this.#byeSeen || this.#byeSent) && !this.#error;
    const end: SessionEnd = { clean };
    if (this.#error) end.error = this.#error;
    else if (!this.#peer) end.error = this.#handshakeEofError();
    else if (!clean) end.error = P2pcatError.unavailable(`${this.addr} closed the connection without saying goodbye`);
    this.emit('end', end);
  }
}

export function formatAddr(host: string | undefined, port: number | undefined): string {
  if (!host) return '?';
  const h = host.startsWith('::ffff:') ? host.slice(7) : host;
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}
