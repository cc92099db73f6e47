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
import { P2pcatError, ERROR_CODES, type ErrorCode } from '../errors.js';
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
  /** The peer refused the session (a BYE carrying an error code: not allowed, wrong key, full). */
  refused?: boolean;
  /** The `reason` of the peer's BYE, when it sent one (e.g. "bye", "duplicate"). */
  byeReason?: string;
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
  #closing = false;
  #peerFin = false;
  #error: P2pcatError | undefined;
  #refusedByPeer = false;
  #byeReason: string | undefined;
  #bytesIn = 0;
  #bytesOut = 0;
  #lastReceiveAt = Date.now();
  #corked = false;

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
    for (const f of this.#channel.start()) this.#write(f);
  }

  /** Bytes received and sent on the stream so far (frames, handshake included). */
  get bytesIn(): number {
    return this.#bytesIn;
  }

  get bytesOut(): number {
    return this.#bytesOut;
  }

  /** Date.now() when the last bytes arrived (for keep-alive timeouts). */
  get lastReceiveAt(): number {
    return this.#lastReceiveAt;
  }

  #write(frame: Buffer): boolean {
    this.#bytesOut += frame.length;
    // Frames written in one tick leave in one writev (shared/PERF-FACTS.md: one write per frame was
    // a large share of a busy peer's time); the stream is uncorked before the event loop moves on.
    if (!this.#corked && typeof this.#socket.cork === 'function') {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#socket.uncork();
      });
    }
    return this.#socket.write(frame);
  }

  get peer(): PeerInfo | undefined {
    return this.#peer;
  }

  get isUp(): boolean {
    return this.#peer !== undefined && !this.#ended && !this.#byeSent;
  }

  /** Send one message. False when the peer is slow and the caller should wait for 'drain'-like relief. */
  send(type: MsgName, body: Record<string, unknown> = {}): boolean {
    return this.#mayQueue() && this.#write(this.#channel.seal(type, body));
  }

  /** Up, and the peer is reading: a peer with more than the bound queued is disconnected. */
  #mayQueue(): boolean {
    if (!this.isUp) return false;
    if (this.#socket.writableLength > PEER_SEND_QUEUE_MAX_BYTES) {
      this.#fail(P2pcatError.limit(`${this.addr} is not reading; more than ${PEER_SEND_QUEUE_MAX_BYTES} bytes queued`));
      return false;
    }
    return true;
  }

  /** Send one binary message (FILE_DATA); the same queue bound as send(). */
  sendBinary(type: MsgName, parts: Uint8Array[]): boolean {
    return this.#mayQueue() && this.#write(this.#channel.sealBinary(type, parts));
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
      this.#write(this.#channel.seal('BYE', { reason }));
    }
    this.#endGracefully();
  }

  /**
   * Refuse the peer after HELLO (not allowed, wrong pinned key, too many
   * neighbours): BYE carrying the error code, so both sides report it, then close.
   */
  refuse(err: P2pcatError): void {
    if (this.#ended) return;
    if (!this.#error) this.#error = err;
    if (this.#peer && !this.#byeSent) {
      this.#byeSent = true;
      this.#write(this.#channel.seal('BYE', { reason: err.message, code: err.code }));
    }
    this.#endGracefully();
  }

  /** Close at once with an error (the peer sees a reset). */
  destroy(err: P2pcatError): void {
    this.#fail(err);
  }

  #onData(chunk: Buffer): void {
    if (this.#ended) return;
    this.#bytesIn += chunk.length;
    this.#lastReceiveAt = Date.now();
    let res;
    try {
      res = this.#channel.receive(chunk);
    } catch (e) {
      if (e instanceof P2pcatError) return this.#fail(e);
      throw e;
    }
    for (const f of res.send) this.#write(f);
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
        if (typeof m.body.reason === 'string') this.#byeReason = m.body.reason.slice(0, 200);
        // A BYE with an error code is a refusal (docs/protocol.md, "Closing"): not a clean end.
        const code = m.body.code;
        if (typeof code === 'string' && Object.hasOwn(ERROR_CODES, code) && !this.#error) {
          const reason = typeof m.body.reason === 'string' ? m.body.reason.slice(0, 200) : 'refused';
          this.#error = new P2pcatError(code as ErrorCode, `${this.addr} refused the session: ${reason}`);
          this.#refusedByPeer = true;
        }
        this.#socket.end();
        continue;
      }
      this.emit('message', m);
    }
  }

  /**
   * FIN after everything we queued; then wait for the peer's FIN, which says
   * it read all of it. The wait starts once our data is in the kernel, so a
   * peer that reads slowly is not cut off; one that never answers is, and
   * that close is not clean (a cut conversation must never look complete).
   */
  #endGracefully(): void {
    if (this.#closing) return;
    this.#closing = true;
    const arm = () => {
      const t = setTimeout(() => {
        if (this.#ended || this.#peerFin) return;
        if (!this.#error) this.#error = P2pcatError.timeout(`${this.addr} did not confirm the end of the session within ${CLOSE_TIMEOUT_MS / 1000} s; what was sent may not have arrived`);
        this.#socket.destroy();
      }, CLOSE_TIMEOUT_MS);
      // Not unref'd: a paused socket with nothing to write keeps no event loop
      // alive, and the process must not slip away before the peer confirmed.
      this.#socket.once('close', () => clearTimeout(t));
    };
    this.#socket.end();
    if (this.#socket.writableFinished) arm();
    else this.#socket.once('finish', arm);
  }

  #onEnd(): void {
    this.#peerFin = true;
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
    const clean = this.#peer !== undefined && (this.#byeSeen || (this.#byeSent && this.#peerFin)) && !this.#error;
    const end: SessionEnd = { clean };
    if (this.#refusedByPeer) end.refused = true;
    if (this.#byeReason !== undefined) end.byeReason = this.#byeReason;
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
