// The shared engine of `listen` and `connect`: identity, room, the encrypted
// log, a Mesh of sessions (src/mesh/mesh.ts), stdin requests in, records out,
// and the EOF rules (docs/protocol.md, "EOF and exit status"; docs/mesh.md;
// man p2pcat, EXIT STATUS):
//   connect: stdin EOF        -> BYE to every peer, wait for their FIN, exit 0
//                                (--wait-ack: first wait for the ACKs; 75 when --timeout passes)
//            every peer gone  -> exit 0 if they said BYE, 69 if the link was cut
//                                (not while a dial is still in flight)
//            no peer reached  -> the dial error's status (69, 77, 75 ...)
//   listen:  stdin EOF        -> keep serving (like nc -l); SIGINT/SIGTERM end it
//   both:    stdout EPIPE     -> exit 0 quietly
import net from 'node:net';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { P2pcatError, EXIT } from '../../errors.js';
import {
  CLOSE_TIMEOUT_MS,
  MAX_CONNECTIONS,
  MAX_PENDING_HANDSHAKES,
  STDIN_MAX_LINE_BYTES,
  STDIN_PAUSE_BYTES,
  PEER_SEND_STALL_MS,
  HISTORY_MAX,
  LOG_BATCH_MS,
  MESH_NEIGHBOURS_DEFAULT,
  GOSSIP_PUSH_DEGREE,
  PEER_TIMEOUT_MS,
  PEER_MSGS_PER_S,
  WAIT_ACK_TIMEOUT_MS,
  SEEN_IDS_MAX,
  FILE_MAX_BYTES_DEFAULT,
} from '../../limits.js';
import { FileTransfers, type AcceptPolicy } from '../../files/transfers.js';
import { parseSize } from '../../files/protocol.js';
import { configDir } from '../../config/paths.js';
import { fingerprint, uuidFromPublicKey, type Identity } from '../../crypto/identity.js';
import type { Room } from '../../crypto/room.js';
import { createChat, type ChatRecord } from '../../chat/record.js';
import { parseRequest } from '../../chat/request.js';
import { LineSplitter } from '../../wire/lines.js';
import { Mesh, type AckEvent, type MeshExtension, type MeshStats } from '../../mesh/mesh.js';
import { parseDialPolicy } from '../../mesh/addr.js';
import { SeenSet } from '../../mesh/seen.js';
import type { DmRecord } from '../../mesh/dm.js';
import { appendKnownPeer, knownPeersPath, loadAllowList, loadKnownPeers, type KnownPeers } from '../../mesh/trust.js';
import type { ChatLog } from '../../store/log.js';
import { Session, type PeerInfo, type SessionEnd, type SessionStream } from '../../transport/session.js';
import { toHex } from '../../util.js';
import { NdjsonUi } from '../ndjson-ui.js';
import type { Ui } from '../ui.js';
import type { CommonArgs, FileArgs, MeshArgs } from '../options.js';
import { say } from '../io.js';
import { setupPeer } from './setup.js';
import { connectTcp } from './tcp.js';

/** One way to reach a peer: TCP to host:port, or (later) a punched UDP path. */
export interface Dialer {
  /** How the user named it, for messages. */
  text: string;
  /** A pinned identity key (hex, from a join link): a peer presenting another one is refused with P2PCAT_ERR_AUTH. */
  key?: string;
  /** Resolve with a connected stream, or reject with a P2pcatError. `direction` 'in': we answer the Noise handshake (default 'out': we start it). */
  dial(): Promise<{ stream: SessionStream; addr?: string; direction?: 'in' | 'out' }>;
}

export interface ChatPlan {
  listen?: { host?: string | undefined; port: number };
  /** Peers to dial (redialled with backoff when cut); `connect` semantics apply unless `mode` says otherwise. */
  dialers?: Dialer[];
  /** 'connect' (stdin EOF says goodbye and exits) or 'listen' (serve until a signal). Default: connect when there are dialers. */
  mode?: 'connect' | 'listen';
  /** Runs once the listener is up (e.g. to announce it); its result runs at shutdown. */
  onListening?: (addr: net.AddressInfo, ctx: ChatContext) => Promise<(() => Promise<void>) | void>;
}

export function tcpDialer(target: { host: string; port: number; text: string }): Dialer {
  return { text: target.text, dial: async () => ({ stream: await connectTcp(target) }) };
}

/** What the chat view (and slash commands) may see and do. */
export interface ChatContext {
  readonly identity: Identity;
  readonly room: Room;
  username: string;
  readonly mesh: Mesh;
  readonly listenAddr: string | undefined;
  /** The log file, unless --no-log. */
  readonly logPath: string | undefined;
  send(text: string): ChatRecord | P2pcatError;
  /** A direct message to a member (key, key prefix or username). */
  dm(to: string, text: string): DmRecord | P2pcatError;
  /** Offer a file (to a member by key, key prefix or username; default every neighbour). An error now, or later as a warning. */
  sendFile(file: string, to?: string): P2pcatError | undefined;
  /** File offers waiting for /accept, and the answer to them. */
  readonly files: FileTransfers;
  /** The last n messages of the log, oldest first. */
  history(n: number): Promise<ChatRecord[] | P2pcatError>;
  quit(): void;
}

/** Log appends, batched: one append() (one write + fdatasync) per LOG_BATCH_MS, never one per message. */
class LogSink {
  #log: ChatLog;
  #queue: ChatRecord[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> = Promise.resolve();
  #warn: (e: P2pcatError) => void;
  #failing = false;
  appended = 0;
  failed = 0;

  constructor(log: ChatLog, warn: (e: P2pcatError) => void) {
    this.#log = log;
    this.#warn = warn;
  }

  get file(): string {
    return this.#log.file;
  }

  get log(): ChatLog {
    return this.#log;
  }

  has(id: string): boolean {
    return this.#log.has(id);
  }

  add(rec: ChatRecord): void {
    this.#queue.push(rec);
    if (!this.#timer) this.#timer = setTimeout(() => void this.flush(), LOG_BATCH_MS);
  }

  /** Write what is queued; resolves once it is durable (or has failed and been reported). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#queue.splice(0);
    if (batch.length === 0) return this.#inFlight;
    const p = this.#log
      .append(batch, { checked: true })
      .then((r) => {
        this.appended += r.appended;
        this.#failing = false;
      })
      .catch((e: unknown) => {
        this.failed += batch.length;
        // A full disk or a lost lock: reported once per failing stretch; the chat goes on.
        if (!this.#failing) this.#warn(P2pcatError.io(`cannot append to the log ${this.#log.file}: ${(e as Error).message} (messages go on, unlogged)`, e));
        this.#failing = true;
      });
    this.#inFlight = this.#inFlight.then(() => p);
    return this.#inFlight;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.#log.close().catch(() => undefined);
  }
}

/** The last n records of a log, by (timestamp, msg_id), each msg_id once. */
export async function readHistory(file: string, seed: Uint8Array, room: string, n: number): Promise<ChatRecord[]> {
  const [{ readLog }, { IdSet }] = await Promise.all([import('../../store/log.js'), import('../../store/idset.js')]);
  const cmp = (a: ChatRecord, b: ChatRecord) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.msg_id < b.msg_id ? -1 : a.msg_id > b.msg_id ? 1 : 0);
  let keep: ChatRecord[] = [];
  const gen = readLog(file, seed, { seen: new IdSet() });
  for await (const batch of gen) {
    for (const s of batch) if (s.checked && s.record.room === room) keep.push(s.record);
    if (keep.length > 4 * n + 1024) keep = keep.sort(cmp).slice(-n);
  }
  return keep.sort(cmp).slice(-n);
}

function seconds(v: number | undefined, dflt: number, what: string): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < 0) throw P2pcatError.usage(`${what} must be a number of seconds >= 0`);
  return v * 1000;
}

function count(v: number | undefined, dflt: number, what: string, max = 1_000_000): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 0 || v > max) throw P2pcatError.usage(`${what} must be a whole number from 0 to ${max}`);
  return v;
}

/** --accept-files, --download-dir, --max-file-size, checked before anything starts. */
export function fileSettings(argv: FileArgs, interactive: boolean): { policy: AcceptPolicy; downloadDir: string; maxBytes: number } {
  const a = argv['accept-files'];
  const policy: AcceptPolicy = a === undefined ? (interactive ? 'ask' : 'no') : a === '' || a === 'yes' || a === 'true' ? 'yes' : a === 'no' || a === 'false' ? 'no' : a === 'ask' ? 'ask' : (() => {
    throw P2pcatError.usage(`--accept-files=${JSON.stringify(a)}: give yes, no or ask`);
  })();
  if (policy === 'ask' && !interactive) throw P2pcatError.usage('--accept-files ask needs the chat view (a terminal, no --json, no --exec): use yes or no');
  const downloadDir = path.resolve(argv['download-dir'] ?? '.');
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(downloadDir);
  } catch {
    /* reported below */
  }
  if (!st?.isDirectory()) throw P2pcatError.usage(`--download-dir ${downloadDir}: no such directory`);
  const maxBytes = argv['max-file-size'] === undefined ? FILE_MAX_BYTES_DEFAULT : parseSize(argv['max-file-size']);
  if (maxBytes === undefined) throw P2pcatError.usage(`--max-file-size=${JSON.stringify(argv['max-file-size'])}: give a size in bytes, or with K, M, G (25M)`);
  return { policy, downloadDir, maxBytes };
}

/** --exec CMD in chat mode: the program is our stdin and stdout. */
function startExec(cmd: string): { input: Readable; output: Writable; exited: Promise<number> } {
  const child = spawn('/bin/sh', ['-c', cmd], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.on('error', () => {
    /* the program stopped reading: its exit tells the rest */
  });
  const exited = new Promise<number>((resolve) => {
    child.once('error', (e) => {
      process.stderr.write(P2pcatError.io(`--exec ${cmd}: ${e.message}`, e).toLine() + '\n');
      resolve(EXIT.SOFTWARE);
    });
    child.once('close', (code, signal) => resolve(code ?? 128 + ((signal && os.constants.signals[signal]) || 0)));
  });
  process.once('exit', () => {
    if (child.exitCode === null) child.kill('SIGTERM');
  });
  return { input: child.stdout, output: child.stdin, exited };
}

export async function runChat(argv: CommonArgs & MeshArgs & FileArgs, plan: ChatPlan): Promise<void> {
  const { identity, username, room, signer, handshakeTimeoutMs } = setupPeer(argv);
  const exec = argv.exec !== undefined ? startExec(argv.exec) : undefined;
  const interactive = !exec && !argv.json && process.stdin.isTTY === true && process.stdout.isTTY === true;
  const fileCfg = fileSettings(argv, interactive);
  const connectMode = (plan.mode ?? (plan.dialers ? 'connect' : 'listen')) === 'connect';
  const policy = parseDialPolicy(argv['dial-policy']);
  const allow = argv.allow !== undefined ? loadAllowList(argv.allow) : undefined;
  const peerTimeoutMs = Math.max(300, seconds(argv['peer-timeout'], PEER_TIMEOUT_MS, '--peer-timeout'));
  const waitAck = parseWaitAck(argv['wait-ack']);
  const waitAckTimeoutMs = seconds(argv.timeout, WAIT_ACK_TIMEOUT_MS, '--timeout');
  if (waitAck !== undefined && !connectMode) throw P2pcatError.usage('--wait-ack is for connect');

  let ui!: Ui;
  let uiReady = false;
  const warnLater: P2pcatError[] = [];
  // The log: opened before anything is said, so what is already in it counts as seen.
  let sink: LogSink | undefined;
  if (argv.log !== false) {
    const { ChatLog, defaultLogPath } = await import('../../store/log.js');
    if (argv.log === '') throw P2pcatError.usage('--log needs a PATH (or use --no-log)');
    const file = typeof argv.log === 'string' ? path.resolve(argv.log) : defaultLogPath(room.name);
    const log = await ChatLog.open(file, identity.seed, { onWarning: (m) => say(m) });
    sink = new LogSink(log, (e) => (uiReady ? ui.warn(e) : warnLater.push(e)));
  }

  // Trust on first use (known_peers) and its loud warning.
  const knownFile = knownPeersPath(configDir());
  let known: KnownPeers | undefined;
  try {
    known = loadKnownPeers(knownFile);
  } catch (e) {
    if (!(e instanceof P2pcatError)) throw e;
    warnLater.push(e);
  }
  // File transfers ride on every neighbour session, like sync.
  const files = new FileTransfers(fileCfg, {
    offered: (o) => ui.fileOffered(o),
    received: (rec) => ui.file(rec),
    sent: (rec) => ui.file(rec),
    progress: (p) => ui.fileProgress(p),
    warn: (e, extra) => ui.warn(e, extra),
  });
  const selfKey = toHex(identity.publicKey);
  // Every msg_id shown on stdout, whichever way it came (gossip or sync): each is shown once.
  const shown = new SeenSet(SEEN_IDS_MAX);
  // Log sync on every neighbour session (issue 5, docs/sync.md): the side that dialled starts one.
  // Without a log (--no-log) it only answers, saying it has nothing.
  let extend: ((s: Session) => MeshExtension | undefined) | undefined;
  {
    const [{ attachSync }, { LogStore }] = await Promise.all([import('../../sync/attach.js'), import('../../sync/logstore.js')]);
    const store = sink ? new LogStore({ file: sink.file, seed: identity.seed, room: room.name, log: sink.log, onWarning: (m) => say(m) }) : undefined;
    extend = (s) => {
      const att = attachSync(s, store, {
        onRecords: (recs) => {
          // History we missed: shown once, and never again when gossip brings the same messages
          // (gossip already counts what is in the log as seen; `shown` covers the moments in between).
          for (const r of recs) {
            mesh.markSeen(r.msg_id);
            // Our own messages that a peer hands back (sent, then killed before the log had them) are
            // stored again but not shown: what you send is never echoed back to you.
            if (shown.add(r.msg_id) && r.from !== selfKey) ui.chat(r, false);
          }
        },
        onWarning: (e) => ui.warn(e),
      });
      const file = files.attach(s);
      return {
        onMessage: (m) => att.onMessage(m) || file.onMessage(m),
        up: (peer) => {
          if (store && s.direction === 'out') void att.start().catch(() => undefined);
          file.up?.(peer);
        },
        end: () => {
          att.stop();
          file.end?.();
        },
      };
    };
  }
  const reportedChanges = new Set<string>();
  let knownWriteFailed = false;

  const mesh = new Mesh({
    room,
    signer,
    seed: identity.seed,
    username: () => ctx.username,
    handshakeTimeoutMs,
    peerTimeoutMs,
    neighbours: count(argv.neighbours, MESH_NEIGHBOURS_DEFAULT, '--neighbours', 64),
    pushDegree: count(argv['push-degree'], GOSSIP_PUSH_DEGREE, '--push-degree', 64),
    peerRate: count(argv['peer-rate'], PEER_MSGS_PER_S, '--peer-rate'),
    policy,
    allow,
    isLogged: sink ? (id) => sink!.has(id) : undefined,
    known: known
      ? (kind, id, key) => {
          const v = known!.check(kind, id, key);
          if (v.kind === 'new') {
            try {
              appendKnownPeer(knownFile, kind, id, key);
            } catch (e) {
              if (!knownWriteFailed) ui.warn(P2pcatError.io(`cannot write ${knownFile}: ${(e as Error).message}`, e));
              knownWriteFailed = true;
            }
          } else if (v.kind === 'changed' && !reportedChanges.has(`${kind} ${id} ${key}`)) {
            reportedChanges.add(`${kind} ${id} ${key}`);
            ui.keyChanged({ kind, id, key, was: v.was, file: knownFile });
          }
        }
      : undefined,
    extend,
    tcpDialer: (host, port) => tcpDialer({ host, port, text: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}` }),
  });

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
    mesh,
    listenAddr: undefined,
    logPath: sink?.file,
    send(text: string) {
      const req = parseRequest(text, { strict: false, room: room.name });
      if (req.kind === 'error') return req.error;
      if (req.kind !== 'chat') return P2pcatError.badInput('nothing to send');
      return sendChat(req.message, this.username);
    },
    dm(to: string, text: string) {
      const rec = mesh.sendDm(to, text, this.username);
      if (!(rec instanceof P2pcatError)) expectAcks(rec.msg_id, true);
      return rec;
    },
    files,
    sendFile(file: string, to?: string) {
      let keys: string[];
      if (to !== undefined) {
        const who = mesh.resolve(to);
        if (who instanceof P2pcatError) return who;
        if (!files.neighbours().some((p) => p.key === who.key)) return P2pcatError.badInput(`${who.name} is not connected to us directly; files go to neighbours only (see /peers)`);
        keys = [who.key];
      } else keys = files.neighbours().map((p) => p.key);
      if (keys.length === 0) return P2pcatError.unavailable(`cannot send ${file}: no peer is connected`);
      void files.send(file, keys).then((e) => {
        // Errors after the offer went out were reported as they happened.
        if (e && !files.failures.includes(e)) {
          files.failures.push(e);
          ui.warn(e, { file });
        }
      });
      return undefined;
    },
    async history(n: number) {
      if (!sink) return P2pcatError.usage('there is no log (--no-log)');
      await sink.flush();
      try {
        return await readHistory(sink.file, identity.seed, room.name, Math.max(1, Math.min(HISTORY_MAX, n)));
      } catch (e) {
        if (e instanceof P2pcatError) return e;
        throw e;
      }
    },
    quit: () => shutdown(EXIT.OK),
  };

  function sendChat(message: string, name: string): ChatRecord {
    const rec = createChat(signer, { room: room.name, username: name, message, now: new Date() });
    mesh.publish(rec);
    sink?.add(rec);
    expectAcks(rec.msg_id);
    return rec;
  }

  // --wait-ack: every message we send needs N confirmations (default: every member present when it was sent).
  const awaiting = new Map<string, { need: number; by: Set<string> }>();
  function expectAcks(msgId: string, dm = false): void {
    if (waitAck === undefined) return;
    // A direct message has one reader to confirm it.
    const need = dm ? 1 : waitAck === 'all' ? mesh.members().length : waitAck;
    awaiting.set(msgId, { need, by: new Set() });
  }
  const unconfirmed = () => [...awaiting.values()].filter((a) => a.by.size < a.need).length;
  let onConfirmed: (() => void) | undefined;

  if (interactive) {
    const { ChatView } = await import('../chatview.js');
    ui = new ChatView(ctx);
  } else {
    ui = new NdjsonUi(exec?.output);
  }
  uiReady = true;
  for (const e of warnLater.splice(0)) ui.warn(e);

  // Records out, with backpressure: a slow stdout pauses reading from peers.
  ui.onDrain(() => mesh.setPaused(false));
  const blockedCheck = () => {
    if (ui.blocked) mesh.setPaused(true);
  };
  mesh.on('chat', (rec) => {
    sink?.add(rec);
    if (!shown.add(rec.msg_id)) return;
    ui.chat(rec, false);
    blockedCheck();
  });
  mesh.on('dm', (rec) => {
    ui.dm(rec, false);
    blockedCheck();
  });
  mesh.on('ack', (a: AckEvent) => {
    ui.ack(a);
    const w = awaiting.get(a.msg_id);
    if (w) {
      w.by.add(a.by);
      if (onConfirmed && unconfirmed() === 0) onConfirmed();
    }
  });
  mesh.on('peer-up', (peer) => ui.peerUp(peer));
  mesh.on('member-up', (m) => ui.memberUp(m));
  mesh.on('member-down', (m) => ui.memberDown(m));
  mesh.on('rejected', (err, peer) => ui.warn(err, peer ? { peer: peer.key, addr: peer.addr } : {}));
  mesh.on('warn', (err, extra) => ui.warn(err, extra));
  let lastEnd: SessionEnd | undefined;
  const checkAlone = () => {
    // connect: the last neighbour went away and nothing is being dialled.
    if (!connectMode || !dialsSettled || shuttingDown || (stdinEnded && !waitingAcks)) return;
    if (mesh.sessions.size > 0 || mesh.dialsInFlight > 0) return;
    const end = lastEnd;
    if (!end) return;
    if (waitAck !== undefined && unconfirmed() > 0) {
      shutdown(EXIT.UNAVAILABLE, P2pcatError.unavailable(`every peer left before confirming: ${unconfirmed()} of ${awaiting.size} messages unconfirmed`));
      return;
    }
    shutdown(end.clean ? EXIT.OK : (end.error?.exitCode ?? EXIT.UNAVAILABLE), end.clean ? undefined : end.error);
  };
  let refusal: P2pcatError | undefined;
  mesh.on('peer-down', (peer, end) => {
    // connect: a peer that refused us (not allowed, wrong key) makes the exit status non-zero, even at stdin EOF.
    if (end.refused && end.error && connectMode && !refusal) refusal = end.error;
    if (peer) {
      ui.peerDown(peer, end);
      // A cut of our own making (a limit) says why; the PEER_DOWN record only has the code.
      if (end.error?.code === 'P2PCAT_ERR_LIMIT' && !end.refused) ui.warn(end.error, { peer: peer.key, addr: peer.addr });
    } else if (end.error) ui.warn(end.error);
    else ui.warn(P2pcatError.protocol('a connection closed during the handshake'));
    lastEnd = end;
    checkAlone();
  });
  mesh.on('dial-settled', () => checkAlone());

  let stdinEnded = false;
  let waitingAcks = false;
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
    mesh.close('bye');
    // A goodbye that a peer did not confirm is not a clean exit: what we sent may be lost.
    const t = setTimeout(() => {
      if (code === EXIT.OK && mesh.sessions.size > 0) {
        process.stderr.write(P2pcatError.timeout(`${mesh.sessions.size} peer(s) did not confirm the goodbye; what was sent may not have arrived`).toLine() + '\n');
        code = EXIT.TEMPFAIL;
      }
      finish(code);
    }, CLOSE_TIMEOUT_MS + 2000);
    void done.then(() => clearTimeout(t));
    function check() {
      if (mesh.sessions.size === 0 && hooksDone) finish(code);
    }
    check();
    mesh.on('peer-down', (_peer: unknown, end: SessionEnd) => {
      if (code === EXIT.OK && !end.clean && end.error) {
        process.stderr.write(end.error.toLine() + '\n');
        code = end.error.exitCode;
      }
      check();
    });
  }
  if (sink) atShutdown.push(() => sink!.close());
  atShutdown.push(async () => files.close());

  process.once('SIGINT', () => shutdown(130));
  // A file size limit (ulimit -f) makes a log write fail with EFBIG, reported like a full disk, instead of killing us.
  process.on('SIGXFSZ', () => undefined);
  process.once('SIGTERM', () => shutdown(EXIT.OK));

  // Listening side.
  if (plan.listen) {
    server = net.createServer({ allowHalfOpen: true });
    server.maxConnections = MAX_CONNECTIONS;
    server.on('connection', (socket) => {
      const pending = mesh.handshaking;
      if (pending >= MAX_PENDING_HANDSHAKES) {
        ui.warn(P2pcatError.limit(`${pending} handshakes already in progress; refused a connection from ${socket.remoteAddress}`));
        socket.destroy();
        return;
      }
      if (shuttingDown) {
        socket.destroy();
        return;
      }
      mesh.addStream(socket, 'in');
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', (e: NodeJS.ErrnoException) =>
        reject(new P2pcatError(e.code === 'EACCES' ? 'P2PCAT_ERR_USAGE' : 'P2PCAT_ERR_UNAVAILABLE', `cannot listen on port ${plan.listen!.port}: ${e.code ?? e.message}`, { cause: e })),
      );
      server!.listen({ port: plan.listen!.port, host: plan.listen!.host }, () => resolve());
    });
    server.on('error', (e) => ui.warn(P2pcatError.io(`listener: ${e.message}`, e)));
    const a = server.address() as net.AddressInfo;
    mesh.setListenPort(a.port);
    (ctx as { listenAddr: string | undefined }).listenAddr = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    say(`listening on ${ctx.listenAddr} (room "${room.name}"${room.private ? ', private' : ''})`);
    if (plan.onListening) {
      const undo = await plan.onListening(a, ctx);
      if (undo) atShutdown.push(undo);
    }
  }
  mesh.start();

  // Dialling side: every target in parallel; connect carries on with those that answer.
  if (plan.dialers && plan.dialers.length > 0) {
    const results = await Promise.all(plan.dialers.map((d) => mesh.dialTarget(d, { expectedKey: d.key, redial: true })));
    dialsSettled = true;
    const up = results.filter((r): r is Session => r instanceof Session);
    const failures = results.filter((r): r is P2pcatError => r instanceof P2pcatError);
    if (connectMode && up.length === 0 && mesh.peers.length === 0 && mesh.dialsInFlight === 0) {
      for (const f of failures.slice(0, -1)) ui.warn(f);
      mesh.close('bye');
      await sink?.close();
      await ui.close();
      throw failures[failures.length - 1] ?? P2pcatError.unavailable('no peer reached');
    }
    for (const f of failures) ui.warn(f);
    // --wait-ack counts the members present; learn them from the first PEERS of each neighbour.
    if (waitAck === 'all') await mesh.whenInformed(2000);
    if (connectMode && mesh.sessions.size === 0 && mesh.dialsInFlight === 0) {
      // Every session that came up has already ended again.
      shutdown(lastEnd?.clean === false ? (lastEnd.error?.exitCode ?? EXIT.UNAVAILABLE) : EXIT.OK);
    }
  }
  dialsSettled = true;

  // --exec: the program's end is our end, with its exit status (as ssh does with a remote command).
  let execStatus: number | undefined;
  if (exec) {
    void exec.exited.then((status) => {
      execStatus = status;
      if (!connectMode) shutdown(status);
    });
  }

  // Requests in.
  if (!interactive) {
    readStdin(exec?.input ?? process.stdin, argv, ctx, ui, mesh, sink, sendChat, async () => {
      // Files being sent or received finish first (connect).
      if (connectMode && files.active > 0) await files.whenIdle();
      stdinEnded = true;
      if (!connectMode) return;
      if (waitAck === undefined || unconfirmed() === 0) return shutdown(EXIT.OK);
      // --wait-ack: stay until every message is confirmed, or the timeout.
      const timer = setTimeout(() => {
        const n = unconfirmed();
        shutdown(EXIT.TEMPFAIL, P2pcatError.timeout(`${n} of ${awaiting.size} messages not confirmed by ${waitAck === 'all' ? 'every member present' : `${waitAck} peers`} within ${waitAckTimeoutMs / 1000} s`));
      }, waitAckTimeoutMs);
      timer.unref();
      onConfirmed = () => {
        clearTimeout(timer);
        shutdown(EXIT.OK);
      };
      waitingAcks = true;
      checkAlone(); // the last peer may already be gone
    });
  }

  let code = await done;
  if (refusal && code === EXIT.OK) {
    process.stderr.write(refusal.toLine() + '\n');
    code = refusal.exitCode;
  }
  // A file that did not arrive whole makes the exit status say so (the ERROR record said why).
  if (code === EXIT.OK && files.failures.length > 0) code = files.failures[0]!.exitCode;
  if (code === EXIT.OK && execStatus !== undefined && execStatus !== 0) code = execStatus;
  if (argv.stats) process.stderr.write(JSON.stringify({ type: 'STATS', ...statsRecord(mesh.stats(), sink) }) + '\n');
  await ui.close();
  process.exitCode = code;
  // Timers (keep-alive, close timeouts) must not hold the process.
  setTimeout(() => process.exit(code), 50).unref();
}

function statsRecord(s: MeshStats, sink: LogSink | undefined): Record<string, unknown> {
  return { ...s, log: sink ? { appended: sink.appended, failed: sink.failed } : null };
}

/** --wait-ack (no value: every member present), --wait-ack=N. */
export function parseWaitAck(v: string | undefined): number | 'all' | undefined {
  if (v === undefined) return undefined;
  if (v === '' || v === 'all') return 'all';
  if (!/^\d{1,6}$/.test(v) || Number(v) < 1) throw P2pcatError.usage(`--wait-ack=${JSON.stringify(v)}: give a number of peers from 1, or nothing for every member present`);
  return Number(v);
}

/**
 * Call `go` once a backed-up session has taken its queue down (or ended). A
 * neighbour that takes nothing for PEER_SEND_STALL_MS is cut with
 * P2PCAT_ERR_LIMIT: one member that never reads must not stall our stdin, and
 * so every other member, for ever.
 */
function waitForReader(s: Session, go: () => void): void {
  let done = false;
  let last = s.writableLength;
  let lastMove = Date.now();
  const finish = () => {
    if (done) return;
    done = true;
    clearInterval(timer);
    go();
  };
  const timer = setInterval(() => {
    const w = s.writableLength;
    if (w < last) {
      last = w;
      lastMove = Date.now();
    }
    if (w <= STDIN_PAUSE_BYTES / 2) return finish();
    if (Date.now() - lastMove > PEER_SEND_STALL_MS) {
      s.destroy(P2pcatError.limit(`${s.peer?.username ?? 'a peer'} (${s.addr}) took nothing from its ${w}-byte send queue for ${PEER_SEND_STALL_MS / 1000} s: cut`));
      finish();
    }
  }, 250);
  s.onceDrain(finish);
  s.once('end', finish);
}

function readStdin(stdin: Readable, argv: CommonArgs, ctx: ChatContext, ui: Ui, mesh: Mesh, sink: LogSink | undefined, sendChat: (m: string, name: string) => ChatRecord, onEnd: () => void): void {
  const splitter = new LineSplitter(STDIN_MAX_LINE_BYTES);
  const strict = argv.strict === true;
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
        if (mesh.seen(req.record.msg_id)) continue;
        mesh.relay(req.record);
        sink?.add(req.record);
        continue;
      }
      if (req.kind === 'dm') {
        const r = ctx.dm(req.to, req.message);
        if (r instanceof P2pcatError) ui.warn(r, { line: item.number });
        continue;
      }
      if (req.kind === 'file') {
        const e = ctx.sendFile(req.path, req.to);
        if (e) {
          ctx.files.failures.push(e);
          ui.warn(e, { line: item.number, file: req.path });
        }
        continue;
      }
      sendChat(req.message, req.username ?? ctx.username);
    }
    // Backpressure: stop reading stdin while a peer's socket is backed up.
    if (mesh.maxWritableLength() > STDIN_PAUSE_BYTES) {
      stdin.pause();
      const slow = [...mesh.sessions].find((s) => s.writableLength > STDIN_PAUSE_BYTES);
      if (slow) waitForReader(slow, () => stdin.resume());
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
    log: ctx.logPath ?? null,
  };
}

export type { PeerInfo };
