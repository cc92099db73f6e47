// `listen --raw` / `connect --raw`: netcat's other half. After the same
// handshake as chat mode, bytes flow both ways, encrypted and authenticated;
// nothing is parsed or logged. EOF rules (man p2pcat, RAW MODE):
//   - stdin EOF sends an authenticated end-of-stream and half-closes;
//   - the peer's end-of-stream closes our stdout (so `| tar x` finishes);
//     if stdin is a terminal, that also ends our side, as nc does;
//   - exit 0 only when both directions ended with an end-of-stream mark;
//     a cut stream exits 69, so a truncated transfer never looks complete.
// Bulk path (shared/PERF-FACTS.md): stdin is read with fs.read into one
// reused 1 MiB buffer, each read is sealed into one buffer of full frames and
// written with one socket write; stdout is written with fs.write.
import fs from 'node:fs';
import tty from 'node:tty';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { P2pcatError, EXIT } from '../../errors.js';
import { FRAME_MAX_PLAINTEXT_BYTES, RAW_READ_BYTES, RAW_STDOUT_QUEUE_MAX_BYTES, MAX_PENDING_HANDSHAKES, MAX_CONNECTIONS, CLOSE_TIMEOUT_MS } from '../../limits.js';
import { RawSession, type RawEnd } from '../../transport/raw.js';
import type { SessionStream } from '../../transport/session.js';
import { setupPeer, type PeerSetup } from './setup.js';
import type { Dialer } from './chat.js';
import { connectTcp } from './tcp.js';
import type { CommonArgs } from '../options.js';
import { say } from '../io.js';

export interface RawArgs extends CommonArgs {
  'keep-open'?: boolean | undefined;
  exec?: string | undefined;
  'max-conns'?: number | undefined;
  'send-only'?: boolean | undefined;
  'recv-only'?: boolean | undefined;
  'idle-timeout'?: number | undefined;
  verbose?: boolean | undefined;
}

export interface RawPlan {
  listen?: { host?: string | undefined; port: number };
  /**
   * One peer to reach: a TCP dial (connect --raw), or a hole-punched udx
   * stream (punch --raw), whose `direction` says which side starts the
   * Noise handshake ('out', the default: we do).
   */
  dialer?: Dialer;
  /** connect --raw: a TCP peer, read with `onread` into one reused buffer (dialFed). */
  tcp?: { host: string; port: number; text: string };
}

/** A TCP socket whose reads land in one reused buffer and go to the session bound to it. */
interface FedSocket {
  socket: net.Socket;
  bind(s: RawSession): void;
}

/**
 * Dial for connect --raw. Like chat's tcpDialer, but the socket reads with
 * `onread` into one reused RAW_READ_BYTES buffer: up to 1 MiB per read
 * instead of a fresh 64 KiB buffer each time, so most frames are decrypted
 * where they landed and the receiver allocates (and collects) a third as
 * much (shared/PERF-FACTS.md). Node offers `onread` to dialled sockets only.
 */
async function dialFed(target: { host: string; port: number; text: string }): Promise<FedSocket> {
  let sink: RawSession | undefined;
  const buffer = Buffer.allocUnsafe(RAW_READ_BYTES);
  const socket = await connectTcp(target, {
    onread: {
      buffer,
      callback: (n: number, buf: Uint8Array) => {
        sink?.feed(Buffer.from(buf.buffer, buf.byteOffset, n));
        return true;
      },
    },
  });
  return { socket, bind: (s) => (sink = s) };
}

/** Buffers per fs.writev to stdout (Linux's IOV_MAX is 1024). */
const STDOUT_BATCH = 256;

/** Input handed over: true, or a promise that resolves once the socket has room again. */
type OnData = (b: Buffer | Buffer[]) => true | Promise<void>;

/** A frame's worth of DATA (its plaintext minus the type byte). */
const FRAME_DATA_BYTES = FRAME_MAX_PLAINTEXT_BYTES - 1;
/** How long a piece shorter than a frame waits for more input before it is sent alone. */
const CARRY_FLUSH_MS = 1;

/**
 * Read a pipe or socket on fd 0 with `onread` into one reused buffer, and
 * send only whole frames: a pipe delivers at most 64 KiB per read, which
 * would otherwise be one full frame and an 18-byte one each time
 * (shared/PERF-FACTS.md). The tail waits in `carry` for the next read, or
 * CARRY_FLUSH_MS when no more input comes (interactive use), or EOF.
 */
function pumpStream(onData: OnData, onEof: () => void): void {
  const buffer = Buffer.allocUnsafe(RAW_READ_BYTES);
  const carry = Buffer.allocUnsafe(FRAME_DATA_BYTES);
  let carried = 0;
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    sock.destroy();
    onEof();
  };
  const handed = (r: true | Promise<void>) => {
    if (r === true) return;
    sock.pause();
    r.then(() => sock.resume(), finish);
  };
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (carried === 0 || done) return;
    const r = onData(carry.subarray(0, carried));
    carried = 0;
    handed(r);
  };
  // Node's Socket constructor takes onread (net.connect passes it through), but its typings do not say so.
  const opts: net.SocketConstructorOpts & Pick<net.TcpSocketConnectOpts, 'onread'> = {
    fd: 0,
    readable: true,
    writable: false,
    onread: {
      buffer,
      callback: (n: number, buf: Uint8Array) => {
        if (done) return false;
        clearTimeout(timer);
        timer = undefined;
        let data = Buffer.from(buf.buffer, buf.byteOffset, n);
        const total = carried + n;
        const full = total - (total % FRAME_DATA_BYTES);
        let r: true | Promise<void> = true;
        if (full > 0) {
          const take = full - carried;
          r = onData(carried ? [carry.subarray(0, carried), data.subarray(0, take)] : data.subarray(0, take));
          data = data.subarray(take);
          carried = 0;
        }
        // The read buffer is reused: what is left waits in carry.
        data.copy(carry, carried);
        carried += data.length;
        if (carried) timer = setTimeout(flush, CARRY_FLUSH_MS);
        handed(r);
        return true;
      },
    },
  };
  const sock = new net.Socket(opts);
  sock.on('end', () => {
    flush();
    finish();
  });
  sock.on('error', (e: NodeJS.ErrnoException) => {
    say(`P2PCAT_ERR_IO: stdin: ${e.code ?? e.message}`);
    finish();
  });
}

/** Where received bytes go. */
interface Output {
  write(b: Buffer, done: () => void): void;
  /** Bytes written but not yet taken. */
  readonly pending: number;
  /** No more bytes: close once everything is written. */
  end(): void;
  flushed(): Promise<void>;
}

/** Where the bytes come from and go to: our stdio, or a program run per session. */
interface Endpoint {
  /**
   * Start feeding input; call back with each chunk (and wait for the promise)
   * and once at EOF. onData has taken (sealed) the chunk by the time it
   * returns: true when more may follow at once, else a promise for when.
   */
  pump(onData: OnData, onEof: () => void): void;
  write(b: Buffer, done: () => void): void;
  /** Bytes written but not yet taken. */
  readonly pending: number;
  /** The peer's stream ended: close our output once everything is written. */
  endOutput(): void;
  /** Input that may never end (a terminal). */
  readonly interactive: boolean;
  /** Resolves once everything received has been written out. */
  flushed(): Promise<void>;
  close(): void;
}

/** Regular files, terminals and anything else: fs.writev from the thread pool. */
function fdOutput(): Output {
  let pending = 0;
  let outputEnded = false;
  const queue: { b: Buffer; done: () => void }[] = [];
  let writing = false;
  const idle: (() => void)[] = [];
  // Everything queued goes out in one fs.writev (up to STDOUT_BATCH buffers):
  // a received read holds many frames, and one thread-pool round trip per
  // frame was what held the receiver back (shared/PERF-FACTS.md).
  const drain = () => {
    if (writing) return;
    if (!queue.length) {
      if (outputEnded) {
        try {
          fs.closeSync(1);
        } catch {
          /* already closed */
        }
      }
      for (const f of idle.splice(0)) f();
      return;
    }
    writing = true;
    const batch = queue.slice(0, STDOUT_BATCH);
    fs.writev(1, batch.map((q) => q.b), null, (err, n) => {
      writing = false;
      if (err) {
        if (err.code === 'EAGAIN') {
          setTimeout(drain, 1);
          return;
        }
        if (err.code === 'EPIPE') process.exit(EXIT.OK);
        process.stderr.write(`p2pcat: P2PCAT_ERR_IO: stdout: ${err.message}\n`);
        process.exit(EXIT.IOERR);
      }
      // A short write leaves the rest of a buffer at the head of the queue.
      const finished: (() => void)[] = [];
      while (n > 0) {
        const head = queue[0]!;
        if (n >= head.b.length) {
          n -= head.b.length;
          pending -= head.b.length;
          queue.shift();
          finished.push(head.done);
        } else {
          head.b = head.b.subarray(n);
          pending -= n;
          n = 0;
        }
      }
      for (const f of finished) f();
      drain();
    });
  };
  return {
    write(b, done) {
      pending += b.length;
      queue.push({ b, done });
      drain();
    },
    get pending() {
      return pending;
    },
    end() {
      outputEnded = true;
      drain();
    },
    flushed: () => (writing || queue.length ? new Promise<void>((r) => idle.push(r)) : Promise.resolve()),
  };
}

/**
 * A pipe or socket (`| tar x`, a test harness): a non-blocking libuv stream
 * on fd 1, as process.stdout would be, but without its synchronous writes
 * on Linux. Each write goes to the kernel at once and its buffer is freed
 * (no thread-pool round trip, buffers die young); when the reader is slow,
 * writes queue and `pending` grows, which pauses the session.
 */
function socketOutput(): Output {
  const sock = new net.Socket({ fd: 1, readable: false, writable: true });
  let pending = 0;
  const idle: (() => void)[] = [];
  sock.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.OK);
    process.stderr.write(`p2pcat: P2PCAT_ERR_IO: stdout: ${err.message}\n`);
    process.exit(EXIT.IOERR);
  });
  // end(): everything written, then the fd is closed, so the reader sees EOF.
  sock.once('finish', () => sock.destroy());
  return {
    write(b, done) {
      pending += b.length;
      sock.write(b, () => {
        pending -= b.length;
        done();
        if (pending === 0) for (const f of idle.splice(0)) f();
      });
    },
    get pending() {
      return pending;
    },
    end() {
      if (!sock.writableEnded) sock.end();
    },
    flushed: () => (pending === 0 ? Promise.resolve() : new Promise<void>((r) => idle.push(r))),
  };
}

function stdoutOutput(): Output {
  let st: fs.Stats | undefined;
  try {
    st = fs.fstatSync(1);
  } catch {
    /* no stdout: fdOutput reports the error on the first write */
  }
  return st && (st.isFIFO() || st.isSocket()) ? socketOutput() : fdOutput();
}

function stdioEndpoint(): Endpoint {
  const out = stdoutOutput();
  return {
    interactive: tty.isatty(0),
    flushed: () => out.flushed(),
    pump(onData, onEof) {
      // A regular file is read with fs.read into one reused 1 MiB buffer, a
      // pipe or socket with onread (pumpStream); anything else (a terminal)
      // goes through process.stdin. (A blocking read of a pipe parked in
      // libuv's thread pool would keep the process from exiting.)
      let st: fs.Stats | undefined;
      try {
        st = fs.fstatSync(0);
      } catch {
        /* no stdin */
      }
      if (st && (st.isFIFO() || st.isSocket())) return pumpStream(onData, onEof);
      if (!st?.isFile()) {
        const stdin = process.stdin;
        stdin.on('data', (b: Buffer) => {
          const r = onData(b);
          if (r === true) return;
          stdin.pause();
          r.then(
            () => stdin.resume(),
            () => onEof(),
          );
        });
        stdin.once('end', onEof);
        stdin.once('error', () => onEof());
        return;
      }
      // onData seals (copies) the bytes before it returns, so the buffer is
      // free at once: the next read runs while the socket drains.
      const buf = Buffer.allocUnsafe(RAW_READ_BYTES);
      const readInto = () => new Promise<number>((res, rej) => fs.read(0, buf, 0, buf.length, null, (err, n) => (err ? rej(err) : res(n))));
      const loop = async () => {
        let reading = readInto();
        for (;;) {
          let n: number;
          try {
            n = await reading;
          } catch (e) {
            say(`P2PCAT_ERR_IO: stdin: ${(e as Error).message}`);
            return onEof();
          }
          if (n === 0) return onEof();
          const sent = onData(buf.subarray(0, n));
          reading = readInto();
          try {
            await sent;
          } catch {
            reading.catch(() => {});
            return onEof();
          }
        }
      };
      void loop();
    },
    write: (b, done) => out.write(b, done),
    get pending() {
      return out.pending;
    },
    endOutput: () => out.end(),
    close() {
      /* process exit closes stdio */
    },
  };
}

function execEndpoint(cmd: string): Endpoint {
  const child: ChildProcess = spawn('/bin/sh', ['-c', cmd], { stdio: ['pipe', 'pipe', 'inherit'] });
  let pending = 0;
  child.stdin!.on('error', () => {
    /* the program stopped reading: its exit tells the rest */
  });
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  return {
    interactive: false,
    flushed: () => exited,
    pump(onData, onEof) {
      child.stdout!.on('data', (b: Buffer) => {
        const r = onData(b);
        if (r === true) return;
        child.stdout!.pause();
        r.then(() => child.stdout!.resume(), () => onEof());
      });
      child.stdout!.on('end', onEof);
    },
    write(b, done) {
      pending += b.length;
      child.stdin!.write(b, () => {
        pending -= b.length;
        done();
      });
    },
    get pending() {
      return pending;
    },
    endOutput() {
      child.stdin!.end();
    },
    close() {
      if (child.exitCode === null) child.kill('SIGTERM');
    },
  };
}

/** Run one raw session to its end over a connected stream. */
function runSession(stream: SessionStream, direction: 'in' | 'out', setup: PeerSetup, argv: RawArgs, addr?: string, fed?: FedSocket): Promise<{ end: RawEnd; up: boolean }> {
  return new Promise((resolve) => {
    const s = new RawSession(stream, {
      initiator: direction === 'out',
      room: setup.room,
      signer: setup.signer,
      username: setup.username,
      handshakeTimeoutMs: setup.handshakeTimeoutMs,
      direction,
      ...(addr ? { addr } : {}),
      ...(fed ? { fed: true } : {}),
    });
    fed?.bind(s);
    let endpoint: Endpoint | undefined;
    let up = false;
    // --idle-timeout: no byte either way for that long ends the session.
    let idleTimer: NodeJS.Timeout | undefined;
    const idleMs = argv['idle-timeout'] !== undefined ? Math.max(0.1, argv['idle-timeout']) * 1000 : undefined;
    const touch = () => {
      if (idleMs === undefined) return;
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => s.destroy(P2pcatError.timeout(`no data for ${idleMs / 1000} s (--idle-timeout)`)), idleMs);
    };
    s.on('up', (peer) => {
      up = true;
      touch();
      if (argv.verbose) say(`connected to ${peer.username} at ${peer.addr} (${peer.fingerprint})`);
      endpoint = argv.exec ? execEndpoint(argv.exec) : stdioEndpoint();
      const ep = endpoint;
      if (argv['recv-only']) return s.endWrite();
      ep.pump(
        (b) => {
          touch();
          if (s.write(b)) return true;
          return new Promise<void>((res, rej) => {
            if (s.eofReceived && !s.writableLength) return rej(new Error('closed'));
            s.once('drain', () => res());
            s.once('end', () => rej(new Error('closed')));
          });
        },
        () => s.endWrite(),
      );
    });
    s.on('data', (b) => {
      touch();
      if (argv['send-only']) return;
      endpoint!.write(b, () => {
        if (endpoint!.pending < RAW_STDOUT_QUEUE_MAX_BYTES / 2) s.resume();
      });
      if (endpoint!.pending > RAW_STDOUT_QUEUE_MAX_BYTES) s.pause();
    });
    s.on('eof', () => {
      endpoint!.endOutput();
      if (endpoint!.interactive) s.endWrite();
    });
    s.on('end', (end) => {
      clearTimeout(idleTimer);
      const ep = endpoint;
      if (!ep) return resolve({ end, up });
      // Everything received is written out before we say how it ended.
      const timer = setTimeout(() => ep.close(), CLOSE_TIMEOUT_MS);
      if (!s.eofReceived) ep.endOutput();
      void ep.flushed().then(() => {
        clearTimeout(timer);
        ep.close();
        resolve({ end, up });
      });
    });
  });
}

export async function runRaw(argv: RawArgs, plan: RawPlan): Promise<void> {
  const setup = setupPeer(argv);
  if (plan.tcp) {
    const conn = await dialFed(plan.tcp);
    const { end } = await runSession(conn.socket, 'out', setup, argv, plan.tcp.text, conn);
    return exitWith(end);
  }
  if (plan.dialer) {
    const conn = await plan.dialer.dial();
    const { end } = await runSession(conn.stream, conn.direction ?? 'out', setup, argv, conn.addr);
    return exitWith(end);
  }
  // Listening. With stdio, one session at a time (its bytes are our stdin and
  // stdout); -k queues further peers and serves them in turn. With --exec,
  // every session gets its own program, up to --max-conns at once.
  const server = net.createServer({ allowHalfOpen: true });
  const keepOpen = argv['keep-open'] === true;
  const maxActive = argv.exec !== undefined ? Math.max(1, argv['max-conns'] ?? MAX_CONNECTIONS) : 1;
  const waiting: net.Socket[] = [];
  let active = 0;
  let last: RawEnd | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const start = (socket: net.Socket) => {
    active++;
    socket.resume();
    runSession(socket, 'in', setup, argv).then(({ end, up }) => {
      active--;
      if (!up) {
        // A failed handshake is not a session: report it and keep waiting.
        if (end.error) process.stderr.write(JSON.stringify(end.error.toRecord()) + '\n');
      } else {
        last = end;
        if (!keepOpen) {
          server.close();
          for (const w of waiting.splice(0)) w.destroy();
          return resolveDone();
        }
        if (end.error) process.stderr.write(end.error.toLine() + '\n');
      }
      const next = waiting.shift();
      if (next) start(next);
    });
  };
  server.on('connection', (socket) => {
    if (active < maxActive) return start(socket);
    if (keepOpen && waiting.length < MAX_PENDING_HANDSHAKES) {
      socket.pause();
      waiting.push(socket);
      socket.once('close', () => {
        const i = waiting.indexOf(socket);
        if (i !== -1) waiting.splice(i, 1);
      });
      return;
    }
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(P2pcatError.unavailable(`cannot listen on port ${plan.listen!.port}: ${e.code ?? e.message}`, e)));
    server.listen({ port: plan.listen!.port, host: plan.listen!.host }, () => resolve());
  });
  const a = server.address() as net.AddressInfo;
  say(`listening on ${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port} (room "${setup.room.name}"${setup.room.private ? ', private' : ''}, raw)`);
  process.once('SIGTERM', () => process.exit(last?.clean === false ? EXIT.UNAVAILABLE : EXIT.OK));
  await done;
  exitWith(last!);
}

function exitWith(end: RawEnd): void {
  if (end.error) {
    process.stderr.write(end.error.toLine() + '\n');
    process.exitCode = end.error.exitCode;
  } else process.exitCode = EXIT.OK;
  setTimeout(() => process.exit(), 20).unref();
}
