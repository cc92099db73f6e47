// The shared engine of `listen` and `connect`: identity, room, a Hub of
// sessions, stdin requests in, records out, and the EOF rules
// (docs/protocol.md, "EOF and exit status"; man p2pcat, EXIT STATUS):
//   connect: stdin EOF        -> BYE to every peer, wait for their FIN, exit 0
//            every peer gone  -> exit 0 if they said BYE, 69 if the link was cut
//            no peer reached  -> the dial error's status (69, 77, 75 ...)
//   listen:  stdin EOF        -> keep serving (like nc -l); SIGINT/SIGTERM end it
//   both:    stdout EPIPE     -> exit 0 quietly
import net from 'node:net';
import { P2pcatError, EXIT } from '../../errors.js';
import { CLOSE_TIMEOUT_MS, MAX_CONNECTIONS, MAX_PENDING_HANDSHAKES, STDIN_MAX_LINE_BYTES, STDIN_PAUSE_BYTES, CONNECT_TIMEOUT_MS } from '../../limits.js';
import { identityPath } from '../../config/paths.js';
import { loadOrCreateIdentity, checkUsername, fingerprint, uuidFromPublicKey, type Identity } from '../../crypto/identity.js';
import { deriveRoom, readSecret, checkRoomName, type Room } from '../../crypto/room.js';
import { DEFAULT_ROOM } from '../../crypto/labels.js';
import { Signer } from '../../crypto/ed25519.js';
import { createChat, type ChatRecord } from '../../chat/record.js';
import { parseRequest } from '../../chat/request.js';
import { LineSplitter } from '../../wire/lines.js';
import { Hub } from '../../mesh/hub.js';
import { Session, type PeerInfo, type SessionEnd, type SessionStream } from '../../transport/session.js';
import { toHex } from '../../util.js';
import { NdjsonUi } from '../ndjson-ui.js';
import type { Ui } from '../ui.js';
import type { CommonArgs } from '../options.js';
import { say } from '../io.js';

/** One way to reach a peer: TCP to host:port, or (later) a punched UDP path. */
export interface Dialer {
  /** How the user named it, for messages. */
  text: string;
  /** Resolve with a connected stream, or reject with a P2pcatError. */
  dial(): Promise<{ stream: SessionStream; addr?: string }>;
}

export interface ChatPlan {
  listen?: { host?: string | undefined; port: number };
  /** Peers to dial; `connect` semantics (stdin EOF says goodbye and exits) apply when present. */
  dialers?: Dialer[];
  /** Runs once the listener is up (e.g. to announce it); its result runs at shutdown. */
  onListening?: (addr: net.AddressInfo, ctx: ChatContext) => Promise<(() => Promise<void>) | void>;
}

export function tcpDialer(target: { host: string; port: number; text: string }): Dialer {
  return {
    text: target.text,
    dial: () =>
      new Promise((resolve, reject) => {
        const socket = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
        const timer = setTimeout(() => {
          socket.destroy();
          reject(P2pcatError.unavailable(`${target.text}: no answer within ${CONNECT_TIMEOUT_MS / 1000} s`));
        }, CONNECT_TIMEOUT_MS);
        socket.once('error', (e: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          reject(P2pcatError.unavailable(`${target.text}: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ENOTFOUND' ? 'host not found' : (e.code ?? e.message)}`, e));
        });
        socket.once('connect', () => {
          clearTimeout(timer);
          socket.removeAllListeners('error');
          resolve({ stream: socket });
        });
      }),
  };
}

/** What the chat view (and slash commands) may see and do. */
export interface ChatContext {
  readonly identity: Identity;
  readonly room: Room;
  username: string;
  readonly hub: Hub;
  readonly listenAddr: string | undefined;
  send(text: string): ChatRecord | P2pcatError;
  quit(): void;
}

export async function runChat(argv: CommonArgs, plan: ChatPlan): Promise<void> {
  const { identity } = loadOrCreateIdentity(identityPath());
  const username = checkUsername(argv.name ?? process.env.P2PCAT_NAME ?? identity.username);
  const roomName = checkRoomName(argv.room ?? process.env.P2PCAT_ROOM ?? DEFAULT_ROOM);
  const room = deriveRoom(roomName, readSecret({ secretFile: argv['secret-file'], secret: argv.secret }));
  const signer = new Signer(identity.seed);
  const hub = new Hub(room.name);
  const handshakeTimeoutMs = Math.max(0.1, argv['handshake-timeout'] ?? 10) * 1000;
  const interactive = !argv.json && process.stdin.isTTY === true && process.stdout.isTTY === true;

  let finished = false;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  const finish = (code: number) => {
    if (finished) return;
    finished = true;
    resolveDone(code);
  };

  let server: net.Server | undefined;
  const ctx: ChatContext = {
    identity,
    room,
    username,
    hub,
    listenAddr: undefined,
    send(text: string) {
      const req = parseRequest(text, { strict: false, room: room.name });
      if (req.kind === 'error') return req.error;
      if (req.kind !== 'chat') return P2pcatError.badInput('nothing to send');
      const rec = createChat(signer, { room: room.name, username: this.username, message: req.message, now: new Date() });
      hub.publish(rec);
      return rec;
    },
    quit: () => shutdown(EXIT.OK),
  };

  let ui: Ui;
  if (interactive) {
    const { ChatView } = await import('../chatview.js');
    ui = new ChatView(ctx);
  } else {
    ui = new NdjsonUi();
  }

  // Records out, with backpressure: a slow stdout pauses reading from peers.
  ui.onDrain(() => hub.setPaused(false));
  hub.on('chat', (rec) => {
    ui.chat(rec, false);
    if (ui.blocked) hub.setPaused(true);
  });
  hub.on('peer-up', (peer) => ui.peerUp(peer));
  hub.on('rejected', (err, peer) => ui.warn(err, { peer: peer.key, addr: peer.addr }));
  hub.on('peer-down', (peer, end) => {
    if (peer) ui.peerDown(peer, end);
    else if (end.error) ui.warn(end.error);
    else ui.warn(P2pcatError.protocol('a connection closed during the handshake'));
    if (plan.dialers && !stdinEnded && hub.sessions.size === 0 && dialsSettled) {
      // connect: the last peer went away.
      lastEnd = end;
      shutdown(end.clean ? EXIT.OK : (end.error?.exitCode ?? EXIT.UNAVAILABLE), end.clean ? undefined : end.error);
    }
  });

  const addSession = (stream: SessionStream, direction: 'in' | 'out', addr?: string): Session => {
    const s = new Session(stream, { initiator: direction === 'out', room, signer, username: ctx.username, handshakeTimeoutMs, direction, ...(addr ? { addr } : {}) });
    hub.add(s);
    return s;
  };

  let lastEnd: SessionEnd | undefined;
  let stdinEnded = false;
  let dialsSettled = false;
  let shuttingDown = false;

  const atShutdown: (() => Promise<void>)[] = [];
  function shutdown(code: number, err?: P2pcatError): void {
    if (shuttingDown) return;
    shuttingDown = true;
    if (err) process.stderr.write(err.toLine() + '\n');
    server?.close();
    let hooksDone = atShutdown.length === 0;
    void Promise.allSettled(
      atShutdown.map((f) => f().catch((e: unknown) => ui.warn(P2pcatError.io(`at shutdown: ${(e as Error).message}`, e)))),
    ).then(() => {
      hooksDone = true;
      check();
    });
    hub.closeAll('bye');
    const t = setTimeout(() => finish(code), CLOSE_TIMEOUT_MS + 500);
    t.unref();
    function check() {
      if (hub.sessions.size === 0 && hooksDone) finish(code);
    }
    check();
    hub.on('peer-down', check);
  }

  process.once('SIGINT', () => shutdown(130));
  process.once('SIGTERM', () => shutdown(EXIT.OK));

  // Listening side.
  if (plan.listen) {
    server = net.createServer({ allowHalfOpen: true });
    server.maxConnections = MAX_CONNECTIONS;
    server.on('connection', (socket) => {
      let pending = 0;
      for (const s of hub.sessions) if (!s.peer) pending++;
      if (pending >= MAX_PENDING_HANDSHAKES) {
        ui.warn(P2pcatError.limit(`${pending} handshakes already in progress; refused a connection from ${socket.remoteAddress}`));
        socket.destroy();
        return;
      }
      addSession(socket, 'in');
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', (e: NodeJS.ErrnoException) =>
        reject(new P2pcatError(e.code === 'EACCES' ? 'P2PCAT_ERR_USAGE' : 'P2PCAT_ERR_UNAVAILABLE', `cannot listen on port ${plan.listen!.port}: ${e.code ?? e.message}`, { cause: e })),
      );
      server!.listen({ port: plan.listen!.port, host: plan.listen!.host }, () => resolve());
    });
    server.on('error', (e) => ui.warn(P2pcatError.io(`listener: ${e.message}`, e)));
    const a = server.address() as net.AddressInfo;
    (ctx as { listenAddr: string | undefined }).listenAddr = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    say(`listening on ${ctx.listenAddr} (room "${room.name}"${room.private ? ', private' : ''})`);
    if (plan.onListening) {
      const undo = await plan.onListening(a, ctx);
      if (undo) atShutdown.push(undo);
    }
  }

  // Dialling side: every target in parallel; carry on with those that answer.
  if (plan.dialers) {
    const results = await Promise.all(plan.dialers.map((d) => dial(d, addSession)));
    dialsSettled = true;
    const up = results.filter((r): r is Session => r instanceof Session);
    const failures = results.filter((r): r is P2pcatError => r instanceof P2pcatError);
    if (up.length === 0) {
      for (const f of failures.slice(0, -1)) ui.warn(f);
      await ui.close();
      throw failures[failures.length - 1] ?? P2pcatError.unavailable('no peer reached');
    }
    for (const f of failures) ui.warn(f);
    if (hub.sessions.size === 0) {
      // Every session that came up has already ended again.
      shutdown(lastEnd?.clean === false ? (lastEnd.error?.exitCode ?? EXIT.UNAVAILABLE) : EXIT.OK);
    }
  }

  // Requests in.
  if (!interactive) readStdin(argv, ctx, ui, signer, hub, () => {
    stdinEnded = true;
    if (plan.dialers) shutdown(EXIT.OK);
  });

  const code = await done;
  await ui.close();
  process.exitCode = code;
  // Timers (keep-alive, close timeouts) must not hold the process.
  setTimeout(() => process.exit(code), 50).unref();
}

async function dial(d: Dialer, addSession: (s: SessionStream, dir: 'out', addr?: string) => Session): Promise<Session | P2pcatError> {
  let conn: { stream: SessionStream; addr?: string };
  try {
    conn = await d.dial();
  } catch (e) {
    if (e instanceof P2pcatError) return e;
    throw e;
  }
  const s = addSession(conn.stream, 'out', conn.addr);
  return new Promise((resolve) => {
    const onEnd = (end: SessionEnd) => resolve(end.error ?? P2pcatError.protocol(`${d.text} closed during the handshake`));
    s.once('end', onEnd);
    s.once('up', () => {
      s.off('end', onEnd);
      resolve(s);
    });
  });
}

function readStdin(argv: CommonArgs, ctx: ChatContext, ui: Ui, signer: Signer, hub: Hub, onEnd: () => void): void {
  const splitter = new LineSplitter(STDIN_MAX_LINE_BYTES);
  const strict = argv.strict === true;
  const stdin = process.stdin;
  const handle = (items: ReturnType<LineSplitter['push']>) => {
    for (const item of items) {
      if ('tooLong' in item) {
        ui.warn(P2pcatError.badInput(`line ${item.number} is longer than ${STDIN_MAX_LINE_BYTES} bytes`), { line: item.number });
        continue;
      }
      if ('badUtf8' in item) {
        ui.warn(P2pcatError.badInput(`line ${item.number} is not valid UTF-8`), { line: item.number });
        continue;
      }
      const req = parseRequest(item.line, { strict, room: ctx.room.name });
      if (req.kind === 'skip') continue;
      if (req.kind === 'error') {
        ui.warn(req.error, { line: item.number });
        continue;
      }
      if (req.kind === 'relay') {
        if (hub.seen.has(req.record.msg_id)) continue;
        hub.publish(req.record);
        continue;
      }
      hub.publish(createChat(signer, { room: ctx.room.name, username: req.username ?? ctx.username, message: req.message, now: new Date() }));
    }
    // Backpressure: stop reading stdin while a peer's socket is backed up.
    if (hub.maxWritableLength() > STDIN_PAUSE_BYTES) {
      stdin.pause();
      const slow = [...hub.sessions].find((s) => s.writableLength > STDIN_PAUSE_BYTES);
      if (slow) slow.onceDrain(() => stdin.resume());
      else stdin.resume();
    }
  };
  stdin.on('data', (chunk: Buffer) => handle(splitter.push(chunk)));
  stdin.on('end', () => {
    handle(splitter.end());
    onEnd();
  });
  stdin.on('error', (e) => {
    ui.warn(P2pcatError.io(`stdin: ${e.message}`, e));
    onEnd();
  });
}

export function describeSelf(ctx: ChatContext): Record<string, unknown> {
  return {
    username: ctx.username,
    public_key: toHex(ctx.identity.publicKey),
    uuid: uuidFromPublicKey(ctx.identity.publicKey),
    fingerprint: fingerprint(ctx.identity.publicKey),
    room: ctx.room.name,
    private: ctx.room.private,
    listen: ctx.listenAddr ?? null,
  };
}

export type { PeerInfo };
