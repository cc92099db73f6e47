// A UDP socket with a guard in front of it, for the third-party protocol
// libraries discovery uses (multicast-dns, bittorrent-dht). They take a
// socket through their options; this one hands them only datagrams that
// pass a size limit, a rate limit and an optional shape check, and turns
// an exception thrown by a library's message handler into a warning.
//
// Why catch there: those handlers run straight from the socket's 'message'
// event, so a hostile datagram that makes a library throw would otherwise
// kill the process. What is caught is reported (P2PCAT_ERR_DISCOVERY_PACKET)
// and the packet dropped; our own code does not run inside that catch.
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';

export interface GuardOptions {
  type: 'udp4' | 'udp6';
  reuseAddr?: boolean;
  maxBytes: number;
  maxPerSecond: number;
  /** Shape check before the library sees the datagram: a reason to drop it, or undefined. */
  check?: (msg: Buffer, rinfo: dgram.RemoteInfo) => string | undefined;
  /** A datagram was dropped (oversize, shape, or a library exception). */
  onBad: (reason: string, rinfo: dgram.RemoteInfo) => void;
  /** Datagrams dropped by the rate limit since the last report (at most once a second). */
  onRateLimited?: (dropped: number) => void;
  /** Clock, for tests. */
  now?: () => number;
}

/** Token bucket: `rate` per second, burst `rate`. Sans-I/O (the clock is an argument). */
export class RateLimiter {
  #tokens: number;
  #last: number;
  constructor(readonly rate: number, now: number) {
    this.#tokens = rate;
    this.#last = now;
  }
  take(now: number): boolean {
    const dt = Math.max(0, now - this.#last) / 1000;
    this.#last = now;
    this.#tokens = Math.min(this.rate, this.#tokens + dt * this.rate);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** The dgram.Socket methods multicast-dns and k-rpc-socket call, forwarded to a real socket. */
export class GuardedSocket extends EventEmitter {
  readonly inner: dgram.Socket;
  #limiter: RateLimiter;
  #dropped = 0;
  #lastReport = 0;
  #closed = false;

  constructor(opts: GuardOptions) {
    super();
    const now = opts.now ?? Date.now;
    this.#limiter = new RateLimiter(opts.maxPerSecond, now());
    this.inner = dgram.createSocket({ type: opts.type, reuseAddr: opts.reuseAddr ?? false });
    this.inner.on('listening', () => this.emit('listening'));
    this.inner.on('close', () => this.emit('close'));
    this.inner.on('error', (e) => this.emit('error', e));
    this.inner.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
      const t = now();
      if (!this.#limiter.take(t)) {
        this.#dropped++;
        if (t - this.#lastReport >= 1000) {
          this.#lastReport = t;
          opts.onRateLimited?.(this.#dropped);
          this.#dropped = 0;
        }
        return;
      }
      if (msg.length > opts.maxBytes) return opts.onBad(`datagram of ${msg.length} bytes from ${rinfo.address}:${rinfo.port} (at most ${opts.maxBytes})`, rinfo);
      const why = opts.check?.(msg, rinfo);
      if (why !== undefined) return opts.onBad(`${why} (from ${rinfo.address}:${rinfo.port})`, rinfo);
      try {
        this.emit('message', msg, rinfo);
      } catch (e) {
        opts.onBad(`the protocol library failed on a datagram from ${rinfo.address}:${rinfo.port}: ${(e as Error)?.message ?? String(e)}`, rinfo);
      }
    });
  }

  bind(...args: unknown[]): this {
    (this.inner.bind as (...a: unknown[]) => void)(...args);
    return this;
  }
  send(...args: unknown[]): void {
    if (this.#closed) {
      const cb = args[args.length - 1];
      if (typeof cb === 'function') process.nextTick(cb as () => void);
      return;
    }
    (this.inner.send as (...a: unknown[]) => void)(...args);
  }
  address(): ReturnType<dgram.Socket['address']> {
    return this.inner.address();
  }
  close(cb?: () => void): this {
    if (this.#closed) {
      if (cb) process.nextTick(cb);
      return this;
    }
    this.#closed = true;
    this.inner.close(cb);
    return this;
  }
  get closed(): boolean {
    return this.#closed;
  }
  setBroadcast(flag: boolean): void {
    this.inner.setBroadcast(flag);
  }
  setMulticastTTL(ttl: number): number {
    return this.inner.setMulticastTTL(ttl);
  }
  setMulticastLoopback(flag: boolean): boolean {
    return this.inner.setMulticastLoopback(flag);
  }
  setMulticastInterface(iface: string): void {
    this.inner.setMulticastInterface(iface);
  }
  addMembership(group: string, iface?: string): void {
    this.inner.addMembership(group, iface);
  }
  dropMembership(group: string, iface?: string): void {
    this.inner.dropMembership(group, iface);
  }
  ref(): this {
    this.inner.ref();
    return this;
  }
  unref(): this {
    this.inner.unref();
    return this;
  }
}
