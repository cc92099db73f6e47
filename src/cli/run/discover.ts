// `p2pcat discover`: find peers on the LAN (mDNS, broadcast beacons), in a
// static list, and on the BitTorrent DHT; print one PEER record per peer on
// stdout (docs/discovery.md). Also the glue other commands use: the
// `--announce` hook for listen, and the dialers for `connect --peers`.
//
// Exit status: 0 when at least one peer was printed; 69 (P2PCAT_ERR_UNAVAILABLE)
// when none was found, so `discover ... && ...` and `set -o pipefail` scripts
// can tell "nobody there" from success; 64 for bad options.
import fs from 'node:fs';
import type net from 'node:net';
import type { Readable } from 'node:stream';
import { P2pcatError } from '../../errors.js';
import { CONNECT_MAX_PEERS, DISCOVER_TIMEOUT_DEFAULT_S, DISCOVER_TIMEOUT_MAX_S, PEERLIST_READ_TIMEOUT_MS } from '../../limits.js';
import { DEFAULT_ROOM } from '../../crypto/labels.js';
import { checkRoomName, deriveRoom, readSecret } from '../../crypto/room.js';
import { toHex } from '../../util.js';
import { RecordWriter, say, warnRecord } from '../io.js';
import { parseTarget } from '../target.js';
import type { ChatContext, ChatPlan, Dialer } from './chat.js';
import type { SessionStream } from '../../transport/session.js';
import { PeerCollector, type FoundPeer } from '../../discovery/collector.js';
import { WarningBudget } from '../../discovery/warn.js';
import { readPeerList, type PeerEntry } from '../../discovery/peerlist.js';
import { parseAnnounceList, parseBootstrap, startAnnouncing } from '../../discovery/announce.js';
import { joinHostPort } from '../../discovery/addrs.js';

export interface DiscoverArgs {
  lan?: boolean | undefined;
  'lan-via'?: string | undefined;
  static?: string | undefined;
  dht?: boolean | undefined;
  bootstrap?: string | string[] | undefined;
  room?: string | undefined;
  secret?: string | undefined;
  'secret-file'?: string | undefined;
  timeout?: number | undefined;
  once?: boolean | undefined;
}

export interface AnnounceArgs {
  announce?: string | string[] | undefined;
  bootstrap?: string | string[] | undefined;
}

function openList(file: string, what: string): Readable {
  if (file === '-') return process.stdin;
  try {
    // Open now, so a missing file is a clear error before anything else starts.
    const fd = fs.openSync(file, 'r');
    return fs.createReadStream('', { fd });
  } catch (e) {
    throw P2pcatError.io(`${what}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, e);
  }
}

export async function run(argv: DiscoverArgs): Promise<void> {
  const timeoutS = argv.timeout ?? DISCOVER_TIMEOUT_DEFAULT_S;
  if (!Number.isFinite(timeoutS) || timeoutS <= 0 || timeoutS > DISCOVER_TIMEOUT_MAX_S) {
    throw P2pcatError.usage(`--timeout must be more than 0 and at most ${DISCOVER_TIMEOUT_MAX_S} seconds`);
  }
  const useLan = argv.lan === true || (argv.lan === undefined && !argv.static && !argv.dht);
  const useDht = argv.dht === true;
  const via = argv['lan-via'] ?? 'both';
  const protos = via === 'both' ? (['mdns', 'broadcast'] as const) : via === 'mdns' ? (['mdns'] as const) : via === 'broadcast' ? (['broadcast'] as const) : undefined;
  if (!protos) throw P2pcatError.usage('--lan-via must be mdns, broadcast or both');
  const bootstrap = parseBootstrap(argv.bootstrap);
  if (bootstrap && !useDht) throw P2pcatError.usage('--bootstrap is for --dht');
  const staticList = argv.static !== undefined ? openList(argv.static, '--static') : undefined;

  const room = useLan || useDht
    ? deriveRoom(checkRoomName(argv.room ?? process.env.P2PCAT_ROOM ?? DEFAULT_ROOM), readSecret({ secretFile: argv['secret-file'], secret: argv.secret }))
    : undefined;

  const out = new RecordWriter();
  const warnings = new WarningBudget((err, extra) => warnRecord(err, extra));
  const collector = new PeerCollector();
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  let finished = false;
  const end = () => {
    if (finished) return;
    finished = true;
    finish();
  };

  const emit = (p: FoundPeer) => {
    if (finished) return;
    const r = collector.add(p);
    if (r.kind === 'new') {
      out.write(r.record);
      if (argv.once) end();
    } else if (r.kind === 'full' && r.first) {
      warnRecord(P2pcatError.limit(`${collector.max} peers found; further ones are not reported`));
    }
  };

  const closers: (() => Promise<void>)[] = [];
  const timer = setTimeout(end, timeoutS * 1000);
  process.once('SIGINT', end);
  process.once('SIGTERM', end);

  let staticDone: Promise<unknown> = Promise.resolve();
  if (staticList) {
    staticDone = readPeerList(staticList, {
      what: `--static ${argv.static}`,
      timeoutMs: Math.min(PEERLIST_READ_TIMEOUT_MS, timeoutS * 1000),
      onWarning: (err, line) => warnRecord(err, line ? { line } : {}),
      onEntry: (e) => emit({ via: 'static', addrs: e.addrs, key: e.key, link: e.link }),
    }).catch((e: unknown) => {
      if (e instanceof P2pcatError) return warnRecord(e);
      throw e;
    });
  }

  if (room && (useLan || useDht)) {
    const { deriveDiscoveryKeys } = await import('../../discovery/keys.js');
    const keys = deriveDiscoveryKeys(room.key);
    if (useLan) {
      const { LanBrowser } = await import('../../discovery/lan.js');
      const b = new LanBrowser({
        keys,
        protos: [...protos],
        warnings,
        onPeer: (p) => emit({ via: 'lan', addrs: p.addrs, key: p.beacon.publicKey ? toHex(p.beacon.publicKey) : undefined, room: room.name, proto: p.proto }),
      });
      closers.push(() => b.close());
      await b.start();
    }
    if (useDht) {
      const { DhtBrowser } = await import('../../discovery/dht.js');
      const d = new DhtBrowser({ keys, bootstrap, warnings, onPeer: (p) => emit({ via: 'dht', addrs: [joinHostPort(p.host, p.port)], room: room.name }) });
      closers.push(() => d.close());
      d.start();
    }
  } else {
    // A static list alone: done when it is read.
    void staticDone.then(end);
  }

  await done;
  clearTimeout(timer);
  await Promise.allSettled(closers.map((c) => c()));
  warnings.summary();
  await out.end();
  if (staticList && staticList !== process.stdin) staticList.destroy();
  if (collector.count === 0) {
    throw P2pcatError.unavailable(useLan || useDht ? `no peers found within ${timeoutS} s` : 'the static list names no peers');
  }
  process.exitCode = 0;
  // Sockets are closed; nothing else may hold the process.
  setTimeout(() => process.exit(process.exitCode ?? 0), 50).unref();
}

// ------------------------------------------------------------------ listen --announce

/**
 * The `plan.onListening` hook for `--announce`: validates the options now
 * (before anything listens), announces once the listener is up, and returns
 * the stop function runChat calls at shutdown.
 */
export function announceHook(argv: AnnounceArgs): NonNullable<ChatPlan['onListening']> | undefined {
  if (argv.announce === undefined) {
    if (argv.bootstrap !== undefined) throw P2pcatError.usage('--bootstrap is for --announce dht');
    return undefined;
  }
  const methods = parseAnnounceList(argv.announce);
  if (methods.length === 0) throw P2pcatError.usage('--announce needs lan, mdns, broadcast or dht');
  const bootstrap = parseBootstrap(argv.bootstrap);
  if (bootstrap && !methods.includes('dht')) throw P2pcatError.usage('--bootstrap is for --announce dht');
  return async (addr: net.AddressInfo, ctx: ChatContext) => {
    const a = await startAnnouncing({
      methods,
      room: ctx.room,
      publicKey: ctx.identity.publicKey,
      port: addr.port,
      bindAddress: addr.address,
      bootstrap,
      warn: (err, extra) => warnRecord(err, extra),
      say,
    });
    return () => a.stop();
  };
}

// ------------------------------------------------------------------ connect --peers

/** One dialer for a peer with several addresses: all are tried at once, the first to connect wins. */
export function multiDialer(entry: Pick<PeerEntry, 'addrs'>, make: (t: { host: string; port: number; text: string }) => Dialer): Dialer {
  const targets = entry.addrs.map((a) => parseTarget(a));
  if (targets.length === 1) return make(targets[0]!);
  const text = `${entry.addrs[0]} (or ${entry.addrs.length - 1} more address${entry.addrs.length > 2 ? 'es' : ''})`;
  return {
    text,
    dial: () =>
      new Promise((resolve, reject) => {
        let left = targets.length;
        let won = false;
        let lastErr: unknown;
        for (const t of targets) {
          make(t)
            .dial()
            .then(
              (c: { stream: SessionStream; addr?: string }) => {
                if (won) {
                  (c.stream as SessionStream & { destroy?: () => void }).destroy?.();
                  return;
                }
                won = true;
                resolve({ ...c, addr: c.addr ?? t.text });
              },
              (e: unknown) => {
                lastErr = e;
                if (--left === 0 && !won) reject(lastErr instanceof P2pcatError ? P2pcatError.unavailable(`${text}: ${lastErr.message}`, lastErr) : lastErr);
              },
            );
        }
      }),
  };
}

export interface PeersArgs {
  target?: string[] | undefined;
  peers?: string | undefined;
  json?: boolean | undefined;
}

/**
 * The dialers of `connect`: its positional targets, then every entry of
 * `--peers FILE|-`, without duplicates, at most CONNECT_MAX_PEERS; an
 * entry's key, when the list has one, is pinned. With
 * `--peers -` stdin is the peer list, so it cannot also carry chat input:
 * connect then only receives (and never shows the chat view).
 */
export async function connectDialers(argv: PeersArgs): Promise<Dialer[]> {
  const { tcpDialer } = await import('./chat.js');
  const targets = (argv.target ?? []).map((t) => parseTarget(t));
  if (argv.peers === undefined) {
    if (targets.length === 0) throw P2pcatError.usage('name a target HOST:PORT, or a peer list with --peers FILE');
    return targets.map((t) => tcpDialer(t));
  }
  const stream = openList(argv.peers, '--peers');
  if (argv.peers === '-') argv.json = true;
  const entries = await readPeerList(stream, {
    what: `--peers ${argv.peers}`,
    timeoutMs: PEERLIST_READ_TIMEOUT_MS,
    onWarning: (err, line) => warnRecord(err, line ? { line } : {}),
  });
  if (stream !== process.stdin) stream.destroy();
  const seen = new Set<string>();
  const dialers: Dialer[] = [];
  for (const t of targets) {
    const key = joinHostPort(t.host, t.port).toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    dialers.push(tcpDialer(t));
  }
  let dropped = 0;
  for (const e of entries) {
    const addrs = e.addrs.filter((a) => !seen.has(a.toLowerCase()));
    if (addrs.length === 0) continue;
    if (dialers.length >= CONNECT_MAX_PEERS) {
      dropped++;
      continue;
    }
    for (const a of addrs) seen.add(a.toLowerCase());
    // A key the list vouches for (LAN beacons authenticate it) is pinned: another key is refused.
    const d = multiDialer({ addrs }, tcpDialer);
    dialers.push(e.key ? { ...d, key: e.key } : d);
  }
  if (dropped > 0) warnRecord(P2pcatError.limit(`connect dials at most ${CONNECT_MAX_PEERS} peers; ${dropped} more from --peers ${argv.peers} were left out`));
  if (dialers.length === 0) throw P2pcatError.unavailable(`--peers ${argv.peers}: the peer list names no peers`);
  return dialers;
}
