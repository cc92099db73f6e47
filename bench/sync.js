// Benchmark of log sync (issue 5, docs/sync.md). Not a test.
//   node bench/sync.js [--quick]        (after `npm run build`)
// bench/run.js imports run({ quick }) and reports what it returns.
//
// Two real logs (the encrypted log files, real Ed25519 signatures: the
// 100,000- and 1,000,000-message logs bench/log.js builds and caches under
// $TMPDIR/p2pcat-bench-log-<n>/), copied to A and B, then made to differ by
// 0, 10 and 10,000 messages, written at random points of the history (offline
// writes, partitions, skewed clocks: half on each side) and, separately, all
// at the end on one side (a peer that was down: the naive method's best case).
// Each sync runs between two Noise sessions over loopback TCP, in this
// process: A initiates (pull and push), B answers; every record received is
// checked (signature, msg_id, room) and appended with fsync.
//
// Reported per case:
//   bytes      everything on the wire in both directions after the handshake
//              (frames, Noise tags, JSON, the records themselves)
//   round_trips reconciliation rounds + the final end exchange (gets and puts
//              are pipelined behind the rounds)
//   ms         wall time of the sync with both indexes built (a live listener
//              keeps its index; `index_ms` is the one-time cost of building it
//              from the file, which `p2pcat sync` pays once per run)
// beside the naive method: "send me everything newer than my newest message",
// both ways: its bytes (same page encoding), 1 round trip, its wall time
// (reading, encoding, decoding and checking the records, without the append)
// and how many of the differing messages it never delivers.
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { authors, bigLog, imp, ROOM, seedOf, T0 } from './lib/logs.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** A deterministic PRNG (mulberry32), so runs are comparable. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A connected pair of Noise sessions over loopback TCP, both in this process. */
async function sessionPair() {
  const { Session } = await imp('transport/session.js');
  const { deriveRoom } = await imp('crypto/room.js');
  const { Signer } = await imp('crypto/ed25519.js');
  const room = deriveRoom(ROOM, undefined);
  const mk = (label) => ({ room, signer: new Signer(seedOf(label)), username: label, handshakeTimeoutMs: 10_000 });
  const server = net.createServer({ allowHalfOpen: true });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const accepted = new Promise((resolve) => server.once('connection', (sock) => resolve(new Session(sock, { ...mk('b'), initiator: false, direction: 'in' }))));
  const sock = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  await new Promise((r, j) => (sock.once('connect', r), sock.once('error', j)));
  const a = new Session(sock, { ...mk('a'), initiator: true, direction: 'out' });
  const b = await accepted;
  await Promise.all([new Promise((r) => (a.peer ? r() : a.once('up', r))), new Promise((r) => (b.peer ? r() : b.once('up', r)))]);
  server.close();
  return { a, b };
}

async function run1(ctx, label, extraA, extraB) {
  const { ChatLog } = ctx;
  if (extraA.length) await ctx.logA.append(extraA, { checked: true });
  if (extraB.length) await ctx.logB.append(extraB, { checked: true });
  const naive = await naiveSync(ctx);
  const { a, b } = await sessionPair();
  const attA = ctx.attachSync(a, ctx.storeA);
  const attB = ctx.attachSync(b, ctx.storeB);
  a.on('message', (m) => attA.onMessage(m));
  b.on('message', (m) => attB.onMessage(m));
  // Warm indexes: take in the frames just appended (what a live peer has done by then), outside the timing.
  for (const s of [ctx.storeA, ctx.storeB]) (await s.snapshot()).release();
  const bytes0 = a.bytesIn + a.bytesOut;
  const t = performance.now();
  const stats = await attA.start();
  const ms = performance.now() - t;
  const bytes = a.bytesIn + a.bytesOut - bytes0;
  a.close();
  b.close();
  attA.stop();
  attB.stop();
  void ChatLog;
  const diff = extraA.length + extraB.length;
  if (stats.received !== extraB.length || stats.sent !== extraA.length) throw new Error(`${label}: expected ${extraB.length}/${extraA.length}, got ${stats.received}/${stats.sent}`);
  return {
    case: label,
    differing: diff,
    bytes,
    round_trips: stats.rounds + 1,
    rounds: stats.rounds,
    requests: stats.requests,
    ms: Math.round(ms),
    received: stats.received,
    sent: stats.sent,
    naive_bytes: naive.bytes,
    naive_round_trips: 1,
    naive_ms: Math.round(naive.ms),
    naive_missed: diff - naive.delivered,
  };
}

/**
 * `p2pcat sync` as a user runs it, against B answering from this process
 * (a live peer: its index is warm). The child opens A's log file (A's
 * ChatLog here is another writer of the same file: the log's lock handles it).
 */
async function runCli(ctx, label, fileA, seed, extraA, extraB) {
  const { spawn } = await import('node:child_process');
  const { Signer } = await imp('crypto/ed25519.js');
  if (extraA.length) await ctx.logA.append(extraA, { checked: true });
  if (extraB.length) await ctx.logB.append(extraB, { checked: true });
  (await ctx.storeB.snapshot()).release();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-bench-home-'));
  fs.chmodSync(home, 0o700);
  const signer = new Signer(seed);
  const hex = (b) => Buffer.from(b).toString('hex');
  fs.writeFileSync(path.join(home, 'identity.json'), JSON.stringify({ version: 1, type: 'ed25519', seed: hex(seed), public_key: hex(signer.publicKey), username: 'a', created: new Date().toISOString() }) + '\n', { mode: 0o600 });
  const { Session } = await imp('transport/session.js');
  const { deriveRoom } = await imp('crypto/room.js');
  const room = deriveRoom(ROOM, undefined);
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    const s = new Session(sock, { room, signer: new Signer(seedOf('b')), username: 'b', handshakeTimeoutMs: 10_000, initiator: false, direction: 'in' });
    const att = ctx.attachSync(s, ctx.storeB);
    s.on('message', (m) => att.onMessage(m));
    s.on('end', () => att.stop());
    sock.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const bin = path.join(HERE, '..', 'bin', 'p2pcat.js');
  const t = performance.now();
  const child = spawn(process.execPath, [bin, 'sync', `127.0.0.1:${server.address().port}`, '--room', ROOM, '--log', fileA, '--json'], { env: { ...process.env, P2PCAT_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.on('close', r));
  const ms = performance.now() - t;
  server.close();
  fs.rmSync(home, { recursive: true, force: true });
  const done = out.trim().split('\n').map((l) => JSON.parse(l)).find((r) => r.type === 'SYNC_DONE');
  if (code !== 0 || !done || done.received !== extraB.length || done.sent !== extraA.length) throw new Error(`${label}: exit ${code}: ${err}`);
  return { case: label, differing: extraA.length + extraB.length, bytes: done.bytes_in + done.bytes_out, bytes_note: 'handshake included', round_trips: done.rounds + 1, rounds: done.rounds, requests: done.requests, ms: Math.round(ms), sync_ms: done.ms, received: done.received, sent: done.sent };
}

/** "Everything newer than my newest message", both ways, over the same page encoding. Not appended. */
async function naiveSync(ctx) {
  const { wireBytes, pages, joinPage, decodePage, encodeRequest, checkChat } = ctx;
  const t = performance.now();
  const sa = await ctx.storeA.snapshot();
  const sb = await ctx.storeB.snapshot();
  let bytes = 0;
  let delivered = 0;
  const haveA = new Set();
  const haveB = new Set();
  const send = async (from, to, haveTo) => {
    const newest = to.items.count ? to.items.ts[to.items.count - 1] : -1;
    bytes += wireBytes({ v: 1, op: 'newer', since: newest }); // the request
    const idx = [];
    for (let i = from.items.lowerBoundTs(newest + 1); i < from.items.count; i++) idx.push(i);
    for (let k = 0; k < idx.length; k += 256) {
      const slices = await from.read(idx.slice(k, k + 256));
      for (const page of pages(slices)) {
        const body = encodeRequest({ op: 'put', sync: 1, q: k, recs: joinPage(page) });
        bytes += wireBytes(body);
        for (const r of decodePage(Buffer.from(body.recs, 'base64'))) {
          if (!checkChat(r, { room: ROOM }).ok) throw new Error('naive: a bad record');
          if (!haveTo.has(r.msg_id) && to.items.findMany([Buffer.from(r.msg_id, 'hex')])[0] < 0) {
            haveTo.add(r.msg_id);
            delivered++;
          }
        }
      }
    }
  };
  await send(sb, sa, haveA);
  await send(sa, sb, haveB);
  sa.release();
  sb.release();
  return { bytes, delivered, ms: performance.now() - t };
}

async function benchSize(n, diffs) {
  const { file: base, seed } = await bigLog(n);
  const { ChatLog } = await imp('store/log.js');
  const { LogStore } = await imp('sync/logstore.js');
  const { attachSync } = await imp('sync/attach.js');
  const { wireBytes } = await imp('sync/engine.js');
  const wire = await imp('sync/wire.js');
  const { createChat, checkChat } = await imp('chat/record.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-bench-sync-'));
  try {
    const fa = path.join(dir, 'a.p2plog');
    const fb = path.join(dir, 'b.p2plog');
    fs.copyFileSync(base, fa);
    fs.copyFileSync(base, fb);
    const quiet = { onWarning: () => {} };
    const logA = await ChatLog.open(fa, seed, quiet);
    const logB = await ChatLog.open(fb, seed, quiet);
    const storeA = new LogStore({ file: fa, seed, room: ROOM, log: logA });
    const storeB = new LogStore({ file: fb, seed, room: ROOM, log: logB });
    let t = performance.now();
    (await storeA.snapshot()).release();
    const indexMs = performance.now() - t;
    const rssAfterIndex = process.memoryUsage().rss;
    (await storeB.snapshot()).release();
    const ctx = { ChatLog, logA, logB, storeA, storeB, attachSync, wireBytes, checkChat, ...wire };
    const signers = await authors();
    const rand = rng(n);
    let k = 0;
    const fresh = (count, where) =>
      Array.from({ length: count }, () => {
        const a = signers[k % signers.length];
        // spread: anywhere in the history (ms differ from the history's whole seconds); tail: after it.
        const ms = where === 'tail' ? T0 + n * 1000 + 1000 + k : T0 + Math.floor(rand() * n * 1000) + 1 + (k % 997);
        return createChat(a.signer, { room: ROOM, username: a.name, message: `offline ${k++}`, now: new Date(ms) });
      });
    const results = [];
    for (const d of diffs) {
      if (d === 0) {
        results.push(await run1(ctx, `${n} vs ${n}, identical`, [], []));
        continue;
      }
      results.push(await run1(ctx, `${n} vs ${n}, ${d} differ, spread over the history, both sides`, fresh(d / 2, 'spread'), fresh(d / 2, 'spread')));
      results.push(await run1(ctx, `${n} vs ${n}, ${d} differ, all new on one side (a peer that was down)`, [], fresh(d, 'tail')));
      if (d <= 100) results.push(await runCli(ctx, `${n} vs ${n}, ${d} differ, spread: \`p2pcat sync\` end to end (a new process: start-up, index of its log, handshake, sync)`, fa, seed, fresh(d / 2, 'spread'), fresh(d / 2, 'spread')));
    }
    await logA.close();
    await logB.close();
    storeA.close();
    storeB.close();
    return { messages: n, index_ms: Math.round(indexMs), index_rss_mb: Math.round(rssAfterIndex / 1e6), cases: results };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function run({ quick = false, sizes = quick ? [100_000] : [100_000, 1_000_000], diffs = [0, 10, 10_000] } = {}) {
  const out = { node: process.version, cpus: os.cpus().length, load_avg_1m: Number(os.loadavg()[0].toFixed(2)), targets: '1M vs 1M differing by 10: under 2 s and under 100 KB on the wire', sizes: [] };
  for (const n of sizes) out.sizes.push(await benchSize(n, diffs));
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // Ad hoc: --sizes 1000000 --diffs 10,10000
  const arg = (name) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1].split(',').map(Number) : undefined;
  };
  const res = await run({ quick: process.argv.includes('--quick'), ...(arg('--sizes') ? { sizes: arg('--sizes') } : {}), ...(arg('--diffs') ? { diffs: arg('--diffs') } : {}) });
  process.stdout.write(JSON.stringify(res, null, 2) + '\n');
  process.exit(0);
}
