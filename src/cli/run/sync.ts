// `p2pcat sync`: dial each target, run one sync as the initiator
// (src/sync/engine.ts over src/sync/attach.ts), append what is new to the
// local log, print each new message as a CHAT record on stdout, one summary
// line per peer on stderr (and a SYNC_DONE record on stdout with --json),
// then exit (docs/sync.md, "p2pcat sync"; man p2pcat, EXIT STATUS):
//
//   0   every target synced completely
//   69  no target could be synced (with one target: that target's own status:
//       69 unreachable, 77 refused (room, secret, pinned key), 75 timeout,
//       76 protocol error or invalid/missing records)
//   75  some targets synced, some did not (run again later)
//   64  bad command line
//
// Targets come from the command line and from `--peers FILE|-`, are synced
// SYNC_CONCURRENCY at a time, as they arrive (so `discover | sync --peers -`
// starts before discover ends). Everything received is checked before it is
// stored; the log's own lock and msg_id dedupe make two syncs on one log safe.
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { EXIT, P2pcatError, isP2pcatError } from '../../errors.js';
import { CONNECT_TIMEOUT_MS, PEERLIST_READ_TIMEOUT_MS, SYNC_CONCURRENCY, SYNC_MAX_TARGETS, SYNC_ROUND_TIMEOUT_MS } from '../../limits.js';
import { StatusLine } from '../progress.js';
import type { ChatRecord } from '../../chat/record.js';
import { Session, type PeerInfo, type SessionStream } from '../../transport/session.js';
import type { SyncStats } from '../../sync/engine.js';
import { attachSync } from '../../sync/attach.js';
import { LogStore } from '../../sync/logstore.js';
import { readPeerList, type PeerEntry } from '../../discovery/peerlist.js';
import { RecordWriter, say, warnRecord } from '../io.js';
import { parseTarget } from '../target.js';
import { setupPeer, type PeerSetup } from './setup.js';
import type { CommonArgs } from '../options.js';

export interface SyncArgs extends CommonArgs {
  target?: string[] | undefined;
  peers?: string | undefined;
  pull?: boolean | undefined;
  push?: boolean | undefined;
  since?: string | undefined;
  timeout?: number | undefined;
  concurrency?: number | undefined;
  /** --no-log gives false: refused. */
  log?: string | false | undefined;
}

/** One peer to sync with: its addresses (raced), and the key it must present, if pinned. */
interface Target {
  text: string;
  addrs: { host: string; port: number; text: string }[];
  key?: string | undefined;
}

interface Outcome {
  target: Target;
  peer?: PeerInfo;
  stats?: SyncStats;
  error?: P2pcatError;
  bytesIn: number;
  bytesOut: number;
  ms: number;
}

// ------------------------------------------------------------------ dialling

function dialOne(t: { host: string; port: number; text: string }): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: t.host, port: t.port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(P2pcatError.unavailable(`${t.text}: no answer within ${CONNECT_TIMEOUT_MS / 1000} s`));
    }, CONNECT_TIMEOUT_MS);
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(P2pcatError.unavailable(`${t.text}: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ENOTFOUND' ? 'host not found' : (e.code ?? e.message)}`, e));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

/** Every address of a target at once; the first to connect wins, the others are closed. */
async function dial(t: Target): Promise<{ stream: SessionStream; addr: string }> {
  if (t.addrs.length === 1) return { stream: await dialOne(t.addrs[0]!), addr: t.addrs[0]!.text };
  return new Promise((resolve, reject) => {
    let left = t.addrs.length;
    let won = false;
    for (const a of t.addrs) {
      dialOne(a).then(
        (s) => {
          if (won) return void s.destroy();
          won = true;
          resolve({ stream: s, addr: a.text });
        },
        (e: unknown) => {
          if (--left === 0 && !won) reject(e);
        },
      );
    }
  });
}

// ------------------------------------------------------------------ output

function kb(n: number): string {
  return n < 1000 ? `${n} B` : n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`;
}

function summaryLine(o: Outcome): string {
  const who = o.peer ? `${o.target.text} (${o.peer.username})` : o.target.text;
  const s = o.stats;
  const counts = s ? `received ${s.received}, sent ${s.sent}, rejected ${s.rejected}${s.missing ? `, missing ${s.missing}` : ''}${s.duplicates ? `, already here ${s.duplicates}` : ''}; ${s.rounds} round${s.rounds === 1 ? '' : 's'}, ${kb(o.bytesIn + o.bytesOut)}, ${o.ms} ms` : '';
  if (!o.error) return `synced with ${who}: ${counts}`;
  return `sync with ${who} failed: ${o.error.code}: ${o.error.message}${counts ? ` (kept what was valid: ${counts})` : ''}`;
}

function doneRecord(o: Outcome): Record<string, unknown> {
  const s = o.stats;
  return {
    type: 'SYNC_DONE',
    peer: o.target.text,
    key: o.peer?.key ?? null,
    username: o.peer?.username ?? null,
    ok: !o.error,
    received: s?.received ?? 0,
    sent: s?.sent ?? 0,
    rejected: s?.rejected ?? 0,
    missing: s?.missing ?? 0,
    duplicates: s?.duplicates ?? 0,
    rounds: s?.rounds ?? 0,
    requests: s?.requests ?? 0,
    bytes_in: o.bytesIn,
    bytes_out: o.bytesOut,
    ms: o.ms,
    ...(o.error ? { error: { code: o.error.code, message: o.error.message } } : {}),
  };
}

// ------------------------------------------------------------------ one target

interface Ctx {
  setup: PeerSetup;
  store: LogStore;
  pull: boolean;
  push: boolean;
  since: number;
  timeoutMs: number;
  onRecords: (r: ChatRecord[]) => void | Promise<void>;
  onStats: (t: Target, s: Readonly<SyncStats>) => void;
}

async function syncOne(t: Target, ctx: Ctx): Promise<Outcome> {
  const started = Date.now();
  const out = (o: Partial<Outcome>): Outcome => ({ target: t, bytesIn: 0, bytesOut: 0, ms: Date.now() - started, ...o });
  let conn: { stream: SessionStream; addr: string };
  try {
    conn = await dial(t);
  } catch (e) {
    if (isP2pcatError(e)) return out({ error: e });
    throw e;
  }
  const { room, signer, username, handshakeTimeoutMs } = ctx.setup;
  const session = new Session(conn.stream, { initiator: true, room, signer, username, handshakeTimeoutMs, direction: 'out', addr: conn.addr });
  let warned = 0;
  const att = attachSync(session, ctx.store, {
    onWarning: (e) => {
      // Bounded: a peer sending a thousand bad records costs a few lines, and the counts.
      if (++warned <= 5) warnRecord(e, { peer: t.text });
    },
  });
  return new Promise<Outcome>((resolve) => {
    let peer: PeerInfo | undefined;
    let result: Partial<Outcome> | undefined;
    let running: Promise<void> = Promise.resolve();
    session.on('message', (m) => {
      if (att.onMessage(m)) return;
      // A listener's mesh keeps its neighbours alive with PING; answer, ignore the rest (CHAT, PEERS ...).
      if (m.type === 'PING') session.send('PONG', { n: Number.isSafeInteger(m.body.n) ? m.body.n : 0 });
    });
    session.once('up', (p: PeerInfo) => {
      peer = p;
      if (t.key && p.key !== t.key) {
        const err = P2pcatError.auth(`${conn.addr} presented key ${p.fingerprint} (${p.username}), not the pinned one: refused`);
        result = { error: err };
        session.refuse(err);
        return;
      }
      running = att
        .start({
          pull: ctx.pull,
          push: ctx.push,
          since: ctx.since,
          roundTimeoutMs: ctx.timeoutMs,
          onRecords: ctx.onRecords,
          onProgress: (s) => ctx.onStats(t, s),
        })
        .then(
          (stats) => {
            result = stats.rejected + stats.missing > 0 ? { stats, error: P2pcatError.badMessage(`${stats.rejected} message(s) refused and ${stats.missing} claimed but not sent by the peer`) } : { stats };
            session.close('sync done');
          },
          (e: unknown) => {
            if (!isP2pcatError(e)) throw e;
            result = { stats: att.stats, error: e };
            // A failed sync (often a peer that stopped answering) drops the connection at once: a polite
            // close would wait up to CLOSE_TIMEOUT_MS for a peer that may be gone, far past --timeout.
            session.destroy(e);
          },
        );
    });
    session.once('end', (end) => {
      att.stop(end.error);
      void running.then(() => {
        const o = out({ ...(result ?? {}), bytesIn: session.bytesIn, bytesOut: session.bytesOut });
        if (peer) o.peer = peer;
        // Ended before the sync did: the session's own reason (refused, wrong room, cut).
        if (!result) o.error = end.error ?? P2pcatError.unavailable(`${conn.addr} closed the connection before the sync finished`);
        resolve(o);
      });
    });
  });
}

// ------------------------------------------------------------------ targets

function openList(file: string): Readable {
  if (file === '-') return process.stdin;
  try {
    return fs.createReadStream('', { fd: fs.openSync(file, 'r') });
  } catch (e) {
    throw P2pcatError.io(`--peers: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, e);
  }
}

function entryTarget(e: PeerEntry): Target {
  return { text: e.link ?? e.addrs[0]!, addrs: e.addrs.map((a) => parseTarget(a)), ...(e.key ? { key: e.key } : {}) };
}

function numberOption(v: number | undefined, dflt: number, what: string, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < min || v > max) throw P2pcatError.usage(`${what} must be a number from ${min} to ${max}`);
  return v;
}

export async function runSync(argv: SyncArgs): Promise<void> {
  // Options first: a bad command line costs nothing else.
  if (argv.pull && argv.push) argv.pull = argv.push = false; // both named: the default, both ways
  const pull = argv.push ? false : true;
  const push = argv.pull ? false : true;
  const timeoutMs = numberOption(argv.timeout, SYNC_ROUND_TIMEOUT_MS / 1000, '--timeout', 0.05, 86_400) * 1000;
  const concurrency = Math.floor(numberOption(argv.concurrency, SYNC_CONCURRENCY, '--concurrency', 1, 64));
  let since = 0;
  if (argv.since !== undefined) since = Math.max(0, Math.floor((await import('./log.js')).parseTimeBound(argv.since, '--since')));
  if (argv.log === '' || argv.log === false) throw P2pcatError.usage('sync needs a log: --log PATH, or none for the room\'s (--no-log is for listen and connect)');
  const texts = argv.target ?? [];
  if (texts.length === 0 && argv.peers === undefined) throw P2pcatError.usage('name a target HOST:PORT, or a peer list with --peers FILE (- for stdin)');

  // Join links carry the room and secret: take them before the room key is derived.
  const { takeJoinLinks } = await import('./invite.js');
  const links = takeJoinLinks(argv, [...texts]);
  const fixed: Target[] = links.texts.map((text) => ({ text, addrs: [parseTarget(text)], ...(links.pins.has(text) ? { key: links.pins.get(text)! } : {}) }));
  const setup = setupPeer(argv);
  const { ChatLog, defaultLogPath } = await import('../../store/log.js');
  const file = typeof argv.log === 'string' ? path.resolve(argv.log) : defaultLogPath(setup.room.name);
  const store = new LogStore({
    file,
    seed: setup.identity.seed,
    room: setup.room.name,
    log: () => ChatLog.open(file, setup.identity.seed, { onWarning: (m) => say(m) }),
    onWarning: (m) => say(m),
  });

  const writer = new RecordWriter();
  const progress = new StatusLine(process.stderr.isTTY === true);
  const live = new Map<Target, Readonly<SyncStats>>();
  const totals = { received: 0, done: 0, started: 0 };
  const showProgress = (force = false) =>
    progress.update(() => {
      let recv = 0;
      let sent = 0;
      let bytes = 0;
      for (const s of live.values()) {
        recv += s.received;
        sent += s.sent;
        bytes += s.bytesIn + s.bytesOut;
      }
      return `syncing: ${totals.done}/${totals.started} peers done · received ${totals.received + recv} · sent ${sent} · ${kb(bytes)}`;
    }, force);
  const ctx: Ctx = {
    setup,
    store,
    pull,
    push,
    since,
    timeoutMs,
    onRecords: (recs) => {
      for (const r of recs) writer.write(r);
      showProgress();
      // A slow stdout slows the sync down, instead of buffering without bound.
      if (writer.blocked) return new Promise<void>((resolve) => writer.once('drain', () => resolve()));
    },
    onStats: (t, s) => {
      live.set(t, s);
      showProgress();
    },
  };

  const outcomes: Outcome[] = [];
  const queue: Target[] = [];
  let active = 0;
  let listDone = argv.peers === undefined;
  let allDone!: () => void;
  const finished = new Promise<void>((r) => (allDone = r));
  const seen = new Set<string>();
  let dropped = 0;
  const pump = () => {
    while (active < concurrency && queue.length > 0) {
      const t = queue.shift()!;
      active++;
      totals.started++;
      void syncOne(t, ctx).then((o) => {
        active--;
        totals.done++;
        live.delete(t);
        totals.received += o.stats?.received ?? 0;
        outcomes.push(o);
        progress.clear();
        say(summaryLine(o));
        if (argv.json) writer.write(doneRecord(o));
        showProgress(true);
        pump();
      });
    }
    if (active === 0 && queue.length === 0 && listDone) allDone();
  };
  const add = (t: Target) => {
    const key = t.addrs.map((a) => `${a.host}:${a.port}`.toLowerCase()).join(' ');
    if (seen.has(key)) return;
    if (seen.size >= SYNC_MAX_TARGETS) return void dropped++;
    seen.add(key);
    queue.push(t);
    pump();
  };
  for (const t of fixed) add(t);
  if (argv.peers !== undefined) {
    const stream = openList(argv.peers);
    try {
      await readPeerList(stream, {
        what: `--peers ${argv.peers}`,
        timeoutMs: PEERLIST_READ_TIMEOUT_MS,
        onWarning: (err, line) => warnRecord(err, line ? { line } : {}),
        onEntry: (e) => add(entryTarget(e)),
      });
    } finally {
      if (stream === process.stdin) process.stdin.pause();
      else stream.destroy();
    }
    listDone = true;
    if (dropped > 0) warnRecord(P2pcatError.limit(`sync takes at most ${SYNC_MAX_TARGETS} peers; ${dropped} more were left out`));
    if (seen.size === 0) {
      store.close();
      throw P2pcatError.unavailable(`--peers ${argv.peers}: the peer list names no peers`);
    }
    pump();
  }
  await finished;
  progress.clear();
  await writer.end();
  await store.openedLog?.close();
  store.close();

  const ok = outcomes.filter((o) => !o.error);
  if (outcomes.length > 1) {
    const sum = (f: (s: SyncStats) => number) => outcomes.reduce((n, o) => n + (o.stats ? f(o.stats) : 0), 0);
    say(`synced with ${ok.length} of ${outcomes.length} peers: received ${sum((s) => s.received)}, sent ${sum((s) => s.sent)}, rejected ${sum((s) => s.rejected)}`);
  }
  if (ok.length === outcomes.length) process.exitCode = EXIT.OK;
  else if (outcomes.length === 1) process.exitCode = outcomes[0]!.error!.exitCode;
  else process.exitCode = ok.length === 0 ? EXIT.UNAVAILABLE : EXIT.TEMPFAIL;
}
