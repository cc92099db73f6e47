// Benchmark of the mesh (issue 4, docs/mesh.md): propagation latency (p50,
// p99) and bytes sent per peer per message in rooms of 10, 50 and 200
// peers, gossip (eager push to 5 + IHAVE/IWANT) against flooding. Not a test.
//
//   node bench/mesh.js [--quick]            (after `npm run build`)
//   export async function run({ quick })    (bench/run.js)
//
// Two kinds of figures, always labelled:
//   real        p2pcat processes of the built binary on 127.0.0.1 (10 and 50
//               peers; each bootstraps from one earlier peer, the mesh forms
//               by PEERS exchange). Latency: from the line written to the
//               sender's stdin to the CHAT record on each receiver's stdout,
//               messages one at a time. Bytes: from each peer's STATS record
//               (--stats): CHAT + IHAVE + IWANT + ACK frames on the wire,
//               divided by peers and messages; keep-alives and presence
//               (PING, PONG, PEERS) are reported apart, per peer per second.
//   simulated   the same gossip core (dist/src/mesh/gossip.js), driven
//               in-process over a modelled network for 10, 50 and 200 peers
//               (200 real processes at ~50 MB each, on 2 cores, would measure
//               the scheduler). Topology as the real mesh forms it; every hop
//               costs one per-hop delay calibrated from the real 10-peer run;
//               bytes use the frame sizes measured in the real runs.
// Modes:
//   gossip      the default: --push-degree 5 over --neighbours 4
//   flood       --push-degree 0: every new message to every neighbour (same graph)
//   full        every member connected to every other, flooding (--neighbours N-1):
//               the naive "send it to everyone" design
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { start, stop, sleep, killAll } from './lib/proc.js';
import { percentile, median } from './lib/stats.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..');
const BIN = path.join(ROOT, 'bin', 'p2pcat.js');
const DIST = path.join(ROOT, 'dist', 'src');
const log = (m) => process.stderr.write(`bench/mesh: ${m}\n`);

function baseEnv(home) {
  const env = { ...process.env, P2PCAT_HOME: home };
  for (const k of Object.keys(env)) if (k.startsWith('P2PCAT_') && k !== 'P2PCAT_HOME') delete env[k];
  delete env.NODE_OPTIONS;
  return env;
}

function modeArgs(mode, n) {
  if (mode === 'flood') return ['--push-degree', '0'];
  if (mode === 'full') return ['--push-degree', '0', '--neighbours', String(Math.min(64, n - 1))];
  return [];
}

/** One real room: start n peers, let the mesh form, send `messages` one at a time, collect STATS. */
async function realRoom(n, mode, messages, tmp) {
  const peers = [];
  const t0 = performance.now();
  const startPeer = async (i, via) => {
    const home = path.join(tmp, `${mode}-${n}-${i}`);
    fs.mkdirSync(home, { mode: 0o700, recursive: true });
    const args = [BIN, 'listen', '0', '--bind', '127.0.0.1', '--json', '--stats', '--no-log', '--name', `b${i}`, ...modeArgs(mode, n)];
    if (via) args.push('--peer', `127.0.0.1:${via.port}`);
    const p = start(process.execPath, args, { env: baseEnv(home) });
    const state = { i, p, port: 0, members: new Set(), neighbours: new Set(), got: new Map(), stats: null };
    p.out.onLine((line, t) => {
      let r;
      try {
        r = JSON.parse(line);
      } catch {
        return;
      }
      if (r.type === 'MEMBER_UP') state.members.add(r.peer);
      else if (r.type === 'MEMBER_DOWN') state.members.delete(r.peer);
      else if (r.type === 'PEER_UP') state.neighbours.add(r.peer);
      else if (r.type === 'PEER_DOWN') state.neighbours.delete(r.peer);
      else if (r.type === 'CHAT') state.got.set(r.message, (state.got.get(r.message) ?? []).concat(t));
    });
    p.err.onLine((line) => {
      if (line.startsWith('{"type":"STATS"')) state.stats = JSON.parse(line);
    });
    const { match } = await p.err.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 60_000, `peer ${i} to listen`);
    state.port = Number(match[1]);
    return state;
  };
  try {
    peers.push(await startPeer(0));
    for (let i = 1; i < n; i += 5) {
      const batch = await Promise.all(Array.from({ length: Math.min(5, n - i) }, (_, k) => startPeer(i + k, peers[Math.floor((i + k - 1) / 2)] ?? peers[0])));
      peers.push(...batch);
    }
    const formed = async (pred, what, ms) => {
      const deadline = performance.now() + ms;
      while (!peers.every(pred)) {
        if (performance.now() > deadline) throw new Error(`${mode} ${n}: ${what} not reached in ${ms / 1000} s`);
        await sleep(100);
      }
    };
    await formed((s) => s.members.size >= n - 1, 'full membership', 120_000);
    if (mode === 'full') await formed((s) => s.neighbours.size >= Math.min(64, n - 1), 'a full mesh of connections', 120_000);
    await sleep(1500); // let the eager sets settle and the first keep-alives pass
    const tForm = (performance.now() - t0) / 1000;
    const latencies = [];
    let lost = 0;
    const tMsg0 = performance.now();
    for (let k = 0; k < messages; k++) {
      const sender = peers[(k * 7) % n];
      const tag = `m${k}-${Math.random().toString(36).slice(2, 8)} ${'x'.repeat(80)}`;
      const tw = performance.now();
      sender.p.child.stdin.write(JSON.stringify({ message: tag }) + '\n');
      const deadline = tw + 10_000;
      while (peers.some((s) => s !== sender && !s.got.has(tag)) && performance.now() < deadline) await sleep(2);
      for (const s of peers) {
        if (s === sender) continue;
        const at = s.got.get(tag);
        if (!at) lost++;
        else latencies.push(at[0] - tw);
      }
      await sleep(20);
    }
    const seconds = (performance.now() - tMsg0) / 1000;
    await sleep(600); // lazy repair and ACKs in flight
    const dups = peers.reduce((a, s) => a + [...s.got.values()].filter((v) => v.length > 1).length, 0);
    const avgNeighbours = peers.reduce((a, s) => a + s.neighbours.size, 0) / n;
    await Promise.all(peers.map((s) => stop(s.p, { graceMs: 0, termMs: 8000 })));
    const byType = (t) => peers.reduce((a, s) => a + (s.stats?.sent?.byType?.[t]?.bytes ?? 0), 0);
    const msgsOf = (t) => peers.reduce((a, s) => a + (s.stats?.sent?.byType?.[t]?.messages ?? 0), 0);
    const per = (x) => x / n / messages;
    const chatCopies = msgsOf('CHAT');
    return {
      kind: 'real',
      n,
      mode,
      messages,
      formSeconds: tForm,
      avgNeighbours,
      latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), samples: latencies.length },
      lost,
      duplicatesShown: dups,
      bytesPerPeerPerMessage: per(byType('CHAT') + byType('IHAVE') + byType('IWANT') + byType('ACK')),
      split: { chat: per(byType('CHAT')), ihaveIwant: per(byType('IHAVE') + byType('IWANT')), ack: per(byType('ACK')) },
      copiesPerPeerPerMessage: per(chatCopies),
      chatFrameBytes: chatCopies ? byType('CHAT') / chatCopies : null,
      ackFrameBytes: msgsOf('ACK') ? byType('ACK') / msgsOf('ACK') : null,
      backgroundBytesPerPeerPerSecond: (byType('PING') + byType('PONG') + byType('PEERS')) / n / Math.max(1, seconds + tForm),
    };
  } finally {
    await Promise.all(peers.map((s) => stop(s.p, { termMs: 2000 })));
  }
}

/** A deterministic PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** The graph the real mesh forms: a bootstrap tree, then each peer dials random members up to 4 outgoing. */
function topology(n, mode, r) {
  const adj = Array.from({ length: n }, () => new Set());
  const link = (a, b) => {
    if (a !== b) {
      adj[a].add(b);
      adj[b].add(a);
    }
  };
  if (mode === 'full') {
    for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) link(a, b);
    return adj;
  }
  const out = Array.from({ length: n }, () => 0);
  for (let i = 1; i < n; i++) {
    link(i, Math.floor((i - 1) / 2));
    out[i]++;
  }
  for (let i = 0; i < n; i++) {
    for (let guard = 0; out[i] < 4 && guard < 100; guard++) {
      const j = Math.floor(r() * n);
      if (j === i || adj[i].has(j)) continue;
      link(i, j);
      out[i]++;
    }
  }
  return adj;
}

/** The gossip core over a modelled network: every delivery costs one hop; lazy repair runs on its timer. */
export async function simulate(n, mode, messages, sizes, hopMs, seed = 1) {
  const { Gossip, gossipConfig } = await import(pathToFileURL(path.join(DIST, 'mesh', 'gossip.js')).href);
  const r = rng(seed + n);
  const adj = topology(n, mode, r);
  const nodes = adj.map(() => new Gossip(gossipConfig(mode === 'gossip' ? 5 : 0), r));
  adj.forEach((ns, i) => ns.forEach((j) => nodes[i].addPeer(j)));
  const lazyEvery = Math.max(1, 200 / hopMs); // the IHAVE interval (200 ms), in hops
  let copies = 0;
  let ids = 0;
  let ackHops = 0;
  const arrival = [];
  let lost = 0;
  for (let k = 0; k < messages; k++) {
    const id = `m${k}`;
    const author = (k * 7) % n;
    const at = new Map([[author, 0]]);
    const hopsTo = new Map([[author, 0]]);
    const events = new Map(); // time -> [from, out][]
    const push = (t, from, outs) => {
      for (const o of outs) {
        if (o.type === 'CHAT') copies++;
        else ids += o.body.ids.length;
        const list = events.get(t) ?? [];
        list.push([from, o]);
        events.set(t, list);
      }
    };
    push(1, author, nodes[author].publish({ id, kind: 'CHAT', body: {} }, 16, 0));
    let nextLazy = lazyEvery;
    let last = 0;
    for (let guard = 0; guard < 1_000_000; guard++) {
      const tq = events.size ? Math.min(...events.keys()) : Infinity;
      if (tq === Infinity && nextLazy > last + 2 * lazyEvery) break;
      if (nextLazy <= tq) {
        nodes.forEach((g, i) => push(nextLazy + 1, i, g.lazy()));
        nextLazy += lazyEvery;
        continue;
      }
      const batch = events.get(tq);
      events.delete(tq);
      last = tq;
      for (const [from, o] of batch) {
        const g = nodes[o.to];
        if (o.type === 'IHAVE') push(tq + 1, o.to, g.onIHave(from, o.body.ids, tq));
        else if (o.type === 'IWANT') push(tq + 1, o.to, g.onIWant(from, o.body.ids));
        else if (g.known(id)) g.duplicate(from, id);
        else {
          at.set(o.to, tq);
          hopsTo.set(o.to, hopsTo.get(from) + 1);
          ackHops += hopsTo.get(o.to); // its ACK goes back along the same path
          push(tq + 1, o.to, g.accept(from, { id, kind: 'CHAT', body: {} }, o.body.ttl, tq));
        }
      }
    }
    for (let i = 0; i < n; i++) if (i !== author) at.has(i) ? arrival.push(at.get(i)) : lost++;
  }
  const per = (x) => x / n / messages;
  return {
    kind: 'simulated',
    n,
    mode,
    messages,
    avgNeighbours: adj.reduce((a, s) => a + s.size, 0) / n,
    latencyMs: { p50: percentile(arrival, 50) * hopMs, p99: percentile(arrival, 99) * hopMs, samples: arrival.length },
    hops: { p50: percentile(arrival, 50), p99: percentile(arrival, 99) },
    lost,
    copiesPerPeerPerMessage: per(copies),
    bytesPerPeerPerMessage: per(copies * sizes.chat + ids * 67 + ackHops * sizes.ack),
    split: { chat: per(copies * sizes.chat), ihaveIwant: per(ids * 67), ack: per(ackHops * sizes.ack) },
  };
}

function table(rows) {
  const head = ['peers', 'mode', 'kind', 'latency p50', 'latency p99', 'bytes/peer/msg', '(CHAT / IHAVE+IWANT / ACK)', 'full copies/peer/msg', 'avg neighbours', 'lost'];
  const f = (x, d = 1) => (x === null || x === undefined ? 'n/a' : typeof x === 'number' ? (Math.abs(x) >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(d)) : String(x));
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    lines.push(
      `| ${r.n} | ${r.mode} | ${r.kind} | ${f(r.latencyMs.p50, 2)} ms | ${f(r.latencyMs.p99, 2)} ms | ${f(r.bytesPerPeerPerMessage, 0)} | ${f(r.split.chat, 0)} / ${f(r.split.ihaveIwant, 0)} / ${f(r.split.ack, 0)} | ${f(r.copiesPerPeerPerMessage, 2)} | ${f(r.avgNeighbours, 1)} | ${r.lost} |`,
    );
  }
  return lines.join('\n');
}

export async function run({ quick = false } = {}) {
  if (!fs.existsSync(path.join(DIST, 'mesh', 'gossip.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-bench-mesh-'));
  const messages = quick ? 20 : 60;
  const realPlan = quick
    ? [[10, 'gossip'], [10, 'flood'], [10, 'full'], [50, 'gossip']]
    : [[10, 'gossip'], [10, 'flood'], [10, 'full'], [50, 'gossip'], [50, 'flood'], [50, 'full']];
  const rows = [];
  try {
    for (const [n, mode] of realPlan) {
      log(`real: ${n} peers, ${mode}`);
      try {
        rows.push(await realRoom(n, mode, messages, tmp));
      } catch (e) {
        log(`real ${n} ${mode} failed: ${e.message}`);
        rows.push({ kind: 'real', n, mode, error: e.message, latencyMs: {}, split: {}, lost: 'n/a' });
      }
    }
  } finally {
    killAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const ok = rows.filter((r) => !r.error);
  const g10 = ok.find((r) => r.n === 10 && r.mode === 'gossip');
  const sizes = {
    chat: median(ok.map((r) => r.chatFrameBytes)) ?? 420,
    ack: median(ok.map((r) => r.ackFrameBytes)) ?? 330,
  };
  // Calibrate one hop: the real 10-peer gossip p50 over the simulated 10-peer median hop count.
  const sim10 = await simulate(10, 'gossip', messages, sizes, 1);
  const hopMs = g10?.latencyMs.p50 && sim10.hops.p50 ? g10.latencyMs.p50 / sim10.hops.p50 : 1;
  for (const n of [10, 50, 200]) {
    for (const mode of ['gossip', 'flood', 'full']) {
      log(`simulated: ${n} peers, ${mode}`);
      rows.push(await simulate(n, mode, quick ? 20 : 50, sizes, hopMs));
    }
  }
  const find = (n, mode, kind) => rows.find((r) => r.n === n && r.mode === mode && r.kind === kind && !r.error);
  const ratios = [];
  for (const n of [10, 50, 200]) {
    const kind = find(n, 'gossip', 'real') && find(n, 'full', 'real') ? 'real' : 'simulated';
    const g = find(n, 'gossip', kind);
    const full = find(n, 'full', kind);
    if (g && full) {
      const x = g.bytesPerPeerPerMessage / full.bytesPerPeerPerMessage;
      ratios.push({ what: `mesh, ${n} peers (${kind}): bytes sent per peer per message`, vs: 'full flooding (everyone connected to everyone)', ratio: x, reads: x < 1 ? `p2pcat ${(1 / x).toFixed(1)}× less` : `p2pcat ${x.toFixed(1)}× more`, p2pcat: `${Math.round(g.bytesPerPeerPerMessage)} B`, peer: `${Math.round(full.bytesPerPeerPerMessage)} B` });
    }
    const flood = find(n, 'flood', kind);
    if (g && flood) {
      const x = g.bytesPerPeerPerMessage / flood.bytesPerPeerPerMessage;
      ratios.push({ what: `mesh, ${n} peers (${kind}): bytes sent per peer per message`, vs: 'flooding over the same bounded-degree graph', ratio: x, reads: x < 1 ? `p2pcat ${(1 / x).toFixed(2)}× less` : `p2pcat ${x.toFixed(2)}× more`, p2pcat: `${Math.round(g.bytesPerPeerPerMessage)} B`, peer: `${Math.round(flood.bytesPerPeerPerMessage)} B` });
    }
  }
  const markdown = [
    `Rooms on 127.0.0.1; ${messages} messages of ~100 characters, one at a time. "real": p2pcat processes; "simulated": the same gossip core in-process over a modelled network (one hop = ${hopMs.toFixed(2)} ms, calibrated from the real 10-peer run; frame sizes measured: CHAT ${Math.round(sizes.chat)} B, ACK ${Math.round(sizes.ack)} B, 67 B per IHAVE/IWANT id). Bytes count CHAT, IHAVE, IWANT and ACK frames; keep-alives and presence are apart (real rows: ${ok
      .filter((r) => r.kind === 'real')
      .map((r) => `${r.n}/${r.mode} ${Math.round(r.backgroundBytesPerPeerPerSecond)} B/s`)
      .join(', ')} per peer).`,
    '',
    table(rows.filter((r) => !r.error)),
    ...rows.filter((r) => r.error).map((r) => `\n_real ${r.n} ${r.mode} failed: ${r.error}_`),
  ].join('\n');
  return { markdown, rows, ratios, hopMs, sizes };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const watchdog = setTimeout(() => {
    log('watchdog: over 20 minutes; giving up');
    killAll();
    process.exit(70);
  }, 20 * 60_000);
  watchdog.unref();
  process.on('SIGINT', () => {
    killAll();
    process.exit(130);
  });
  run({ quick }).then(
    (r) => {
      process.stdout.write(r.markdown + '\n');
      fs.mkdirSync(path.join(HERE, 'results'), { recursive: true });
      fs.writeFileSync(path.join(HERE, 'results', 'mesh.json'), JSON.stringify(r, null, 2));
    },
    (e) => {
      log(e.stack);
      killAll();
      process.exit(70);
    },
  );
}
