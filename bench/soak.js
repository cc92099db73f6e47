// Load and soak (issue 10): one `p2pcat listen` hub serving many concurrent
// neighbour sessions under a paced offered load for minutes; does its memory
// stay flat, and does it lose anything? docs/bench.md, "Load and soak".
//
// Shape, all on loopback:
//   hub     a real `p2pcat listen --json` child (the process measured), with
//           --no-log (and, as a second variant, with its log).
//   leaves  N client sessions held by THIS process (spawning N `p2pcat
//           connect` processes would need ~40 MiB and a core share each). Each
//           leaf is the project's own transport (dist/src/transport/session.js:
//           Noise XXpsk3 + HELLO with its own Ed25519 identity) and speaks the
//           mesh protocol as a leaf member would: it sends signed CHAT records
//           (dist/src/chat/record.js createChat, a real signature the hub
//           verifies), answers PING, and, when `iwant` is on, answers IHAVE
//           with IWANT for ids it lacks, exactly as `connect` does; it does not
//           verify what it receives (the hub is measured, not the leaves).
//           The hub accepts at most MESH_MAX_INBOUND (64) incoming neighbours
//           (docs/mesh.md): the first min(N, 64) leaves dial the hub, the rest
//           listen and are given to the hub as `--peer` targets, so the hub holds
//           N neighbour sessions. One extra leaf dials in once all are up to
//           show the inbound cap (it is refused with P2PCAT_ERR_LIMIT).
//   load    a token bucket at `rate` messages/s in total, spread round-robin
//           over the leaves, in a closed loop: a leaf with `window` messages
//           not yet printed by the hub (IN_FLIGHT_MAX shared out), or with more
//           than LEAF_BACKLOG_BYTES unsent in its socket, skips its token (counted
//           as not sent). Offered, sent and delivered are reported apart: a
//           hub that cannot keep up shows as "sent" below "offered", never as
//           an unbounded queue in the driver or the kernel.
//
// Accounting: every message text starts with a unique tag `sLEAF.SEQ`. The
// hub's stdout (one CHAT record per message it accepted; to a file, tailed
// every TAIL_MS, so a late driver cannot pause the hub) is read here and
// every tag ticked off in a per-leaf bitmap: lost = sent and never printed by
// the hub (after a drain of up to DRAIN_MS), duplicates = printed twice.
// Fan-out: every CHAT a leaf receives (eager push, or answer to its IWANT) is
// counted, with duplicates per leaf, by the driver-side index of message ids.
//
// Every 5 s: the hub's VmRSS and CPU seconds (/proc), what was sent, printed
// and fanned out, the driver's own CPU and RSS. The result: a time series and
// a summary (rates, loss, RSS first/last/max and the slope over the second
// half, MiB per minute by least squares).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { cmdline, cpuSeconds, start, stop } from './lib/proc.js';
import { percentile } from './lib/stats.js';

const SAMPLE_MS = 5000;
const TICK_MS = 10;
const LEAF_BACKLOG_BYTES = 256 * 1024;
/**
 * Messages in flight (sent, not yet printed by the hub) over all leaves at most; each leaf
 * gets its share, at least 2. Enough to keep the hub busy, small enough that an IWANT
 * queued behind a leaf's CHATs reaches the hub while the message is still in its
 * 4096-message gossip cache (with 4096 in flight it often was not: half the IWANTs
 * went unanswered).
 */
const IN_FLIGHT_MAX = 512;
/** A leaf asks again for an id it asked for this long ago (the hub's GOSSIP_IWANT_TIMEOUT_MS). */
const IWANT_RETRY_MS = 3000;
/** How often the hub's output file is read. */
const TAIL_MS = 20;
const DRAIN_MS = 30_000;
const SETUP_TIMEOUT_MS = 60_000;
const MAX_INBOUND = 64; // src/limits.ts MESH_MAX_INBOUND: imported from the build below when present
/** Message ids the driver remembers (IWANT decisions and fan-out dedupe); far beyond the hub's 4096-message cache. */
const ID_WINDOW = 1 << 14;
const PAD = 'x'.repeat(100);

function vmRssKiB(pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Least-squares slope of ys over xs (same units per unit of x), or null. */
export function slope(xs, ys) {
  const n = xs.length;
  if (n < 2) return null;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? null : num / den;
}

/** A growable bitmap of sequence numbers: set() says whether the bit was new. */
class Bits {
  #b = new Uint8Array(1024);
  set(i) {
    if (i >> 3 >= this.#b.length) {
      const nb = new Uint8Array(Math.max(this.#b.length * 2, (i >> 3) + 1));
      nb.set(this.#b);
      this.#b = nb;
    }
    const had = (this.#b[i >> 3] >> (i & 7)) & 1;
    this.#b[i >> 3] |= 1 << (i & 7);
    return !had;
  }
  count(n) {
    let c = 0;
    for (let i = 0; i < n; i++) if ((this.#b[i >> 3] >> (i & 7)) & 1) c++;
    return c;
  }
}

function listenOn(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([promise, new Promise((_, rej) => (t = setTimeout(() => rej(new Error(`${what}: no result within ${ms / 1000} s`)), ms)))]).finally(() => clearTimeout(t));
}

async function loadBuild(build) {
  const dist = (p) => import(path.join(build, 'dist/src', p));
  const [{ Session }, { deriveRoom }, { Signer, generateSigningKey }, { createChat }, limits] = await Promise.all([
    dist('transport/session.js'),
    dist('crypto/room.js'),
    dist('crypto/ed25519.js'),
    dist('chat/record.js'),
    dist('limits.js'),
  ]);
  return { Session, deriveRoom, Signer, generateSigningKey, createChat, limits };
}

/**
 * One soak run against one hub. p: { connections, rate, seconds, iwant, ack, log }.
 * Returns the summary and the time series.
 */
async function soakOnce(ctx, B, p, label) {
  const { log } = ctx;
  const roomName = 'soak';
  const room = B.deriveRoom(roomName);
  const maxInbound = B.limits.MESH_MAX_INBOUND ?? MAX_INBOUND;
  const n = p.connections;
  const nIn = Math.min(n, maxInbound);
  const errors = [];

  // ---- message ids known to the driver: msg_id -> global index, for the last ID_WINDOW messages
  const idIndex = new Map();
  const idRing = new Array(ID_WINDOW);
  let gNext = 0;
  const remember = (msgId) => {
    const g = gNext++;
    const old = idRing[g % ID_WINDOW];
    if (old !== undefined) idIndex.delete(old);
    idRing[g % ID_WINDOW] = msgId;
    idIndex.set(msgId, g);
    return g;
  };

  // ---- leaves
  const totals = { sent: 0, notSentWindow: 0, notSentBackpressure: 0, offered: 0, fanout: 0, fanoutDup: 0, fanoutUnknown: 0, fanoutOwn: 0, iwantIds: 0, ihaveIds: 0, pings: 0, leafEnds: [] };
  const leaves = [];
  for (let i = 0; i < n; i++) {
    const key = B.generateSigningKey();
    leaves.push({
      i,
      signer: new B.Signer(key.seed),
      username: `soak${i}`,
      session: undefined,
      up: false,
      seq: 0,
      hubSeen: new Bits(),
      hubCount: 0,
      hubDup: 0,
      sentAt: new Float64Array(256), // send time of seq, at seq % 256 (at most `window` in flight)
      seen: new Uint32Array(ID_WINDOW), // slot g % ID_WINDOW holds g + 1 once this leaf has message g
      askedG: new Uint32Array(ID_WINDOW), // ... g + 1 once this leaf asked for g (IWANT)
      askedAt: new Float64Array(ID_WINDOW),
      server: undefined,
      port: undefined,
    });
  }
  const has = (leaf, g) => leaf.seen[g % ID_WINDOW] === g + 1;
  const mark = (leaf, g) => {
    const was = has(leaf, g);
    leaf.seen[g % ID_WINDOW] = g + 1;
    return !was;
  };

  let upResolve;
  let upCount = 0;
  const allUp = new Promise((r) => (upResolve = r));
  const attach = (leaf, socket, direction) => {
    const s = new B.Session(socket, { initiator: direction === 'out', room, signer: leaf.signer, username: leaf.username, handshakeTimeoutMs: 10_000, direction });
    s.on('up', () => {
      if (leaf.session && leaf.session !== s && leaf.up) {
        s.close('duplicate');
        return;
      }
      leaf.session = s;
      leaf.up = true;
      if (++upCount === n) upResolve();
    });
    s.on('message', (m) => {
      const b = m.body;
      switch (m.type) {
        case 'PING':
          totals.pings++;
          s.send('PONG', { n: Number.isSafeInteger(b.n) ? b.n : 0 });
          return;
        case 'CHAT': {
          const g = idIndex.get(b.msg_id);
          if (g === undefined) totals.fanoutUnknown++;
          else if (!mark(leaf, g)) totals.fanoutDup++;
          else totals.fanout++;
          if (typeof b.username === 'string' && b.username === leaf.username) totals.fanoutOwn++;
          return;
        }
        case 'IHAVE': {
          if (!Array.isArray(b.ids)) return;
          totals.ihaveIds += b.ids.length;
          if (!p.iwant) return;
          // As src/mesh/gossip.ts onIHave: ask for every id we lack and did not ask for lately, 128 ids per IWANT.
          const want = [];
          const now = performance.now();
          for (const id of b.ids) {
            const g = idIndex.get(id);
            if (g === undefined || has(leaf, g)) continue;
            const slot = g % ID_WINDOW;
            if (leaf.askedG[slot] === g + 1 && now - leaf.askedAt[slot] < IWANT_RETRY_MS) continue;
            leaf.askedG[slot] = g + 1;
            leaf.askedAt[slot] = now;
            want.push(id);
          }
          totals.iwantIds += want.length;
          for (let i = 0; i < want.length; i += 128) s.send('IWANT', { ids: want.slice(i, i + 128) });
          return;
        }
        default:
          return; // PEERS, ACK, SYNC_*: not a leaf's business here
      }
    });
    s.on('end', (end) => {
      if (!s.peer) setupEnds.push(`${leaf.username} (${direction === 'out' ? 'dialled the hub' : 'dialled by the hub'}): ${end.error?.code ?? 'closed'} ${end.error?.message ?? ''}`.trim());
      if (leaf.session === s) {
        leaf.up = false;
        if (!stopping) totals.leafEnds.push(`${leaf.username}: ${end.error?.code ?? (end.clean ? 'clean' : 'cut')} ${end.error?.message ?? ''}`.trim());
      }
    });
    return s;
  };
  let stopping = false;
  const setupEnds = [];

  // Leaves the hub dials: one listener each.
  for (const leaf of leaves.slice(nIn)) {
    leaf.server = net.createServer((sock) => attach(leaf, sock, 'in'));
    leaf.port = await listenOn(leaf.server);
  }

  // ---- the hub
  const home = ctx.freshHome('hub');
  const hubArgs = ['listen', '0', '--bind', '127.0.0.1', '--json', '--room', roomName, '--neighbours', '0', ...(p.log ? [] : ['--no-log'])];
  for (const leaf of leaves.slice(nIn)) hubArgs.push('--peer', `127.0.0.1:${leaf.port}`);
  const nodeArgs = p.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', p.cpuProfDir] : [];
  // The hub's stdout goes to a file this process reads every TAIL_MS: a pipe to this busy
  // process would pause the hub whenever this event loop is late (64 KiB of pipe is
  // about 130 records), and the figure would be the driver's, not the hub's.
  const outFile = path.join(ctx.tmp, `soak-${label}-${process.pid}-${Date.now()}.ndjson`);
  const outFd = fs.openSync(outFile, 'w+', 0o600);
  const hub = start(process.execPath, [...nodeArgs, ctx.p2pcatBin, ...hubArgs], { env: { ...ctx.baseEnv, P2PCAT_HOME: home }, stdout: outFd });
  fs.closeSync(outFd);
  const shownPeers = n > nIn ? [`--peer`, `127.0.0.1:LEAF${nIn}`, '…', '--peer', `127.0.0.1:LEAF${n - 1}`] : [];
  const command = cmdline('node', ['bin/p2pcat.js', ...hubArgs.filter((a, k) => !(a === '--peer' || hubArgs[k - 1] === '--peer')), ...shownPeers], { P2PCAT_HOME: 'DIR' }) + ' > hub.ndjson';
  const hubWarnings = [];
  hub.err.onLine((line) => {
    if (/warning|ERR/i.test(line) && hubWarnings.length < 50) hubWarnings.push(line.slice(0, 300));
  });

  // Hub stdout: tick off each CHAT by its tag.
  let hubChats = 0;
  let hubDup = 0;
  let hubForeign = 0;
  const latencyMs = [];
  const TAG_RE = /"message":"s(\d+)\.(\d+) /;
  const onLine = (line, t) => {
    if (!line.startsWith('{"type":"CHAT"')) return;
    const m = TAG_RE.exec(line);
    const leaf = m ? leaves[Number(m[1])] : undefined;
    if (!leaf) {
      hubForeign++;
      return;
    }
    const seq = Number(m[2]);
    if (leaf.hubSeen.set(seq)) {
      hubChats++;
      leaf.hubCount++;
      if (seq % 64 === 0 && latencyMs.length < 100_000) latencyMs.push(t - leaf.sentAt[seq % 256]);
    } else {
      hubDup++;
      leaf.hubDup++;
    }
  };
  const tail = { fd: fs.openSync(outFile, 'r'), pos: 0, partial: '', buf: Buffer.alloc(1 << 20), bytes: 0 };
  const readOut = () => {
    for (let reads = 0; reads < 64; reads++) {
      const k = fs.readSync(tail.fd, tail.buf, 0, tail.buf.length, tail.pos);
      if (k <= 0) return;
      tail.pos += k;
      tail.bytes += k;
      const t = performance.now();
      const text = tail.partial + tail.buf.toString('latin1', 0, k);
      let start = 0;
      let nl = text.indexOf('\n');
      while (nl !== -1) {
        onLine(text.slice(start, nl), t);
        start = nl + 1;
        nl = text.indexOf('\n', start);
      }
      tail.partial = text.slice(start);
    }
  };
  const tailTimer = setInterval(readOut, TAIL_MS);

  const stopHub = async () => {
    stopping = true;
    clearInterval(tailTimer);
    for (const leaf of leaves) if (leaf.session) leaf.session.close('bye');
    await stop(hub, { termMs: 15_000 });
    for (const leaf of leaves) leaf.server?.close();
    for (const leaf of leaves) leaf.session?.destroy?.(new Error('soak over'));
    readOut();
    fs.closeSync(tail.fd);
    fs.rmSync(outFile, { force: true });
  };

  let probe;
  try {
    const { match } = await hub.err.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 15_000, 'the hub to print its port');
    const hubPort = Number(match[1]);
    // First the sessions the hub dials (they count against its 64 pending handshakes too),
    // then the leaves that dial the hub, 16 at a time; one refused during set-up
    // (P2PCAT_ERR_LIMIT: too many handshakes at once) tries again, up to 10 times.
    const t = performance.now();
    while (upCount < n - nIn && performance.now() - t < SETUP_TIMEOUT_MS) await new Promise((r) => setTimeout(r, 100));
    const dialOnce = (leaf) =>
      new Promise((resolve) => {
        const sock = net.connect({ host: '127.0.0.1', port: hubPort, allowHalfOpen: true });
        sock.once('error', () => resolve(false));
        sock.once('connect', () => {
          const s = attach(leaf, sock, 'out');
          s.once('up', () => resolve(true));
          s.once('end', () => resolve(leaf.up));
        });
      });
    const dial = async (leaf) => {
      for (let tries = 1; tries <= 10; tries++) {
        if (await dialOnce(leaf)) return;
        if (tries === 10) errors.push(`${leaf.username}: could not join the hub in 10 tries`);
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    for (let k = 0; k < nIn; k += 16) await Promise.all(leaves.slice(k, k + 16).map(dial));
    await withTimeout(allUp, SETUP_TIMEOUT_MS, `all ${n} leaf sessions up`).catch((e) => {
      throw new Error(`${e.message}: ${upCount} were; ${setupEnds.length} handshakes failed, e.g. ${setupEnds.slice(0, 3).join('; ')}`);
    });
    // The cap: one more incoming leaf, once the hub holds nIn incoming neighbours.
    if (nIn === maxInbound) {
      const extra = { ...leaves[0], i: -1, username: 'soak-probe', signer: new B.Signer(B.generateSigningKey().seed), seen: new Uint32Array(1), session: undefined, up: false };
      probe = await new Promise((resolve) => {
        const sock = net.connect({ host: '127.0.0.1', port: hubPort, allowHalfOpen: true });
        sock.once('error', (e) => resolve(`dial failed: ${e.code}`));
        sock.once('connect', () => {
          const s = new B.Session(sock, { initiator: true, room, signer: extra.signer, username: extra.username, handshakeTimeoutMs: 10_000, direction: 'out' });
          s.on('message', () => {});
          s.on('end', (end) => resolve(end.error?.code ?? (end.clean ? 'accepted, then closed cleanly' : 'closed')));
          setTimeout(() => {
            if (s.isUp) {
              s.close('bye');
              resolve('accepted (no cap seen)');
            }
          }, 5000).unref();
        });
      });
    }
    log(`soak ${label}: hub up with ${upCount} neighbour sessions (${nIn} dialled in, ${n - nIn} dialled by the hub); ${n + 1}st incoming: ${probe ?? 'not tried'}`);
  } catch (e) {
    await stopHub();
    throw new Error(`${e.message}; hub stderr:\n${hub.err.tail}`);
  }

  // ---- load
  const t0 = performance.now();
  const cpu0 = cpuSeconds(hub.pid);
  const dcpu0 = process.cpuUsage();
  const series = [];
  let tokens = 0;
  let rr = 0;
  let last = t0;
  // Closed loop: a leaf sends while fewer than `window` of its messages are unseen at the hub.
  const window = Math.max(2, Math.min(256, Math.floor(IN_FLIGHT_MAX / n)));
  const sendOne = () => {
    for (let tries = 0; tries < n; tries++) {
      const leaf = leaves[rr];
      rr = (rr + 1) % n;
      if (!leaf.up) continue;
      if (leaf.seq - leaf.hubCount >= window) {
        totals.notSentWindow++;
        return;
      }
      if (leaf.session.writableLength > LEAF_BACKLOG_BYTES) {
        totals.notSentBackpressure++;
        return;
      }
      const seq = leaf.seq++;
      leaf.sentAt[seq % 256] = performance.now();
      const rec = B.createChat(leaf.signer, { room: roomName, username: leaf.username, message: `s${leaf.i}.${seq} ${PAD}`.slice(0, 100), now: new Date() });
      const g = remember(rec.msg_id);
      mark(leaf, g);
      const { type: _t, ...body } = rec;
      if (p.ack) body.ack = true;
      body.ttl = 16;
      leaf.session.send('CHAT', body);
      totals.sent++;
      return;
    }
    totals.notSentBackpressure++; // no leaf up
  };
  const sample = (phase) => {
    const t = (performance.now() - t0) / 1000;
    const dc = process.cpuUsage(dcpu0);
    series.push({
      t: Math.round(t * 10) / 10,
      phase,
      hubRssMiB: (vmRssKiB(hub.pid) ?? NaN) / 1024,
      hubCpuS: (cpuSeconds(hub.pid) ?? NaN) - cpu0,
      sent: totals.sent,
      notSent: totals.notSentWindow + totals.notSentBackpressure,
      atHub: hubChats,
      fanout: totals.fanout,
      leavesUp: leaves.filter((l) => l.up).length,
      driverCpuS: (dc.user + dc.system) / 1e6,
      driverRssMiB: process.memoryUsage.rss() / 1048576,
      load1: os.loadavg()[0],
    });
  };
  sample('start');
  const durMs = p.seconds * 1000;
  await new Promise((resolve) => {
    const tick = setInterval(() => {
      const now = performance.now();
      const dt = (now - last) / 1000;
      last = now;
      tokens = Math.min(tokens + p.rate * dt, p.rate * 0.1); // no catch-up burst beyond 100 ms of load
      const k = Math.floor(tokens);
      tokens -= k;
      totals.offered += k;
      for (let j = 0; j < k; j++) sendOne();
      if (now - t0 >= durMs) {
        clearInterval(tick);
        clearInterval(sampler);
        resolve();
      }
    }, TICK_MS);
    const sampler = setInterval(() => sample('load'), SAMPLE_MS);
  });
  const tLoad = (performance.now() - t0) / 1000;
  sample('load-end');
  const cpuLoad = (cpuSeconds(hub.pid) ?? NaN) - cpu0;
  const dcLoad = process.cpuUsage(dcpu0);
  const atHubAtLoadEnd = hubChats;
  const fanoutAtLoadEnd = totals.fanout;

  // ---- drain: wait until the hub printed everything sent, or made no progress for 5 s
  const d0 = performance.now();
  let lastCount = -1;
  let lastChange = d0;
  while (hubChats < totals.sent && performance.now() - d0 < DRAIN_MS) {
    if (hubChats !== lastCount) {
      lastCount = hubChats;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > 5000) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // Then the fan-out: until the leaves have received nothing more for 3 s (IWANT answers
  // queued behind others), at most DRAIN_MS in all.
  let lastFan = -1;
  let fanChange = performance.now();
  while (performance.now() - d0 < DRAIN_MS) {
    if (totals.fanout + totals.fanoutDup !== lastFan) {
      lastFan = totals.fanout + totals.fanoutDup;
      fanChange = performance.now();
    } else if (performance.now() - fanChange > 3000) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const drainSeconds = (performance.now() - d0) / 1000;
  sample('drained');
  const rssEnd = vmRssKiB(hub.pid);
  const hwm = (() => {
    try {
      return Number(fs.readFileSync(`/proc/${hub.pid}/status`, 'utf8').match(/^VmHWM:\s+(\d+)/m)[1]);
    } catch {
      return null;
    }
  })();

  // ---- stop
  const leafEndsDuringRun = totals.leafEnds.slice(0, 20);
  const upAtEnd = leaves.filter((l) => l.up).length;
  await stopHub();
  if (hub.code !== 0 && !(hub.signal === 'SIGTERM')) errors.push(`hub exited ${hub.code ?? hub.signal}`);

  // ---- loss, by tag
  let lost = 0;
  const lostByLeaf = [];
  for (const leaf of leaves) {
    const got = leaf.hubSeen.count(leaf.seq);
    if (got < leaf.seq) {
      lost += leaf.seq - got;
      if (lostByLeaf.length < 10) lostByLeaf.push(`${leaf.username} ${leaf.seq - got}/${leaf.seq}`);
    }
  }

  const load = series.filter((s) => s.phase !== 'drained');
  const secondHalf = load.filter((s) => s.t >= tLoad / 2);
  const rss = series.map((s) => s.hubRssMiB).filter(Number.isFinite);
  const slopeMiBPerMin = slope(
    secondHalf.map((s) => s.t / 60),
    secondHalf.map((s) => s.hubRssMiB),
  );
  // Steady-state rate: the second half of the load phase (start-up transients excluded).
  const sh0 = secondHalf[0];
  const sh1 = secondHalf[secondHalf.length - 1];
  const shDt = sh1 && sh0 ? sh1.t - sh0.t : 0;
  return {
    label,
    log: p.log,
    connections: n,
    dialledIn: nIn,
    dialledByHub: n - nIn,
    inboundCapProbe: probe ?? null,
    seconds: tLoad,
    targetRate: p.rate,
    offeredRate: totals.offered / tLoad,
    sentRate: totals.sent / tLoad,
    window,
    notSentWindowFull: totals.notSentWindow,
    notSentBackpressure: totals.notSentBackpressure,
    latencyToHubMs: latencyMs.length ? { samples: latencyMs.length, p50: percentile(latencyMs, 50), p99: percentile(latencyMs, 99), resolutionMs: TAIL_MS } : null,
    deliveredAtHubRate: atHubAtLoadEnd / tLoad,
    deliveredAtHubRateSecondHalf: shDt > 0 ? (sh1.atHub - sh0.atHub) / shDt : null,
    sent: totals.sent,
    atHub: hubChats,
    lost,
    lostByLeaf,
    hubDuplicates: hubDup,
    hubForeign,
    fanout: totals.fanout,
    fanoutRate: fanoutAtLoadEnd / tLoad,
    fanoutPerMessage: hubChats > 0 ? totals.fanout / hubChats : null,
    // Share of (message, other leaf) pairs that reached that leaf while the run lasted.
    fanoutCompleteness: hubChats > 0 && n > 1 ? totals.fanout / (hubChats * (n - 1)) : null,
    fanoutDuplicates: totals.fanoutDup,
    fanoutOwnEcho: totals.fanoutOwn,
    fanoutUnknown: totals.fanoutUnknown,
    ihaveIdsReceived: totals.ihaveIds,
    iwantIdsSent: totals.iwantIds,
    // Ids a leaf lacked in an IHAVE but could not ask for (one IWANT per IHAVE, 128 ids at most).
    iwant: p.iwant,
    ack: p.ack,
    pingsAnswered: totals.pings,
    drainSeconds,
    hubCpuPercent: (100 * cpuLoad) / tLoad,
    // What the hub would deliver with a core of its own, at the CPU it spent per message here.
    hubMsgsPerCpuSecond: cpuLoad > 0 ? atHubAtLoadEnd / cpuLoad : null,
    loadavg1: { start: series[0]?.load1 ?? null, end: os.loadavg()[0] },
    hubCpuUsPerMsg: atHubAtLoadEnd > 0 ? (1e6 * cpuLoad) / atHubAtLoadEnd : null,
    driverCpuPercent: (100 * (dcLoad.user + dcLoad.system)) / 1e6 / tLoad,
    rssFirstMiB: rss[0] ?? null,
    rssLastMiB: rssEnd !== null ? rssEnd / 1024 : rss[rss.length - 1] ?? null,
    rssMaxMiB: rss.length ? Math.max(...rss) : null,
    rssPeakHwmMiB: hwm !== null ? hwm / 1024 : null,
    rssSlopeMiBPerMinSecondHalf: slopeMiBPerMin,
    leavesUpAtEnd: upAtEnd,
    leafSessionsLost: totals.leafEnds.length,
    leafEndsDuringRun,
    hubWarnings: hubWarnings.slice(0, 10),
    hubWarningCount: hubWarnings.length,
    command,
    errors,
    series,
  };
}

/**
 * The soak suite. params: { connections, rate, seconds, variants: ['nolog','log'], iwant, ack }.
 * `--soak-seconds N` (bench/run.js) or BENCH_SOAK_SECONDS overrides `seconds`;
 * BENCH_SOAK_VARIANTS=nolog,log picks the hubs to run; BENCH_SOAK_CONNECTIONS and
 * BENCH_SOAK_RATE override the number of sessions and the offered msg/s.
 */
export async function runSoak(ctx, params) {
  const B = await loadBuild(ctx.build ?? ctx.root);
  const seconds = Number(process.env.BENCH_SOAK_SECONDS) > 0 ? Number(process.env.BENCH_SOAK_SECONDS) : params.seconds;
  const variants = process.env.BENCH_SOAK_VARIANTS ? process.env.BENCH_SOAK_VARIANTS.split(',').filter((v) => v === 'nolog' || v === 'log') : params.variants;
  const envNum = (k) => (Number(process.env[k]) > 0 ? Number(process.env[k]) : undefined);
  params = { ...params, connections: envNum('BENCH_SOAK_CONNECTIONS') ?? params.connections, rate: envNum('BENCH_SOAK_RATE') ?? params.rate };
  const runs = [];
  for (const v of variants) {
    const p = { ...params, seconds, log: v === 'log', cpuProfDir: process.env.BENCH_SOAK_CPU_PROF || undefined };
    ctx.log(`soak ${v}: ${params.connections} sessions, ${params.rate} msg/s offered, ${seconds} s`);
    try {
      runs.push(await soakOnce(ctx, B, p, v));
    } catch (e) {
      runs.push({ label: v, error: e.message, errors: [e.message] });
      ctx.log(`soak ${v}: FAILED: ${e.message}`);
    }
    const r = runs[runs.length - 1];
    if (!r.error) ctx.log(`soak ${v}: sent ${r.sent}, at hub ${r.atHub}, lost ${r.lost}, dup ${r.hubDuplicates}; ${r.deliveredAtHubRate.toFixed(0)} msg/s; RSS ${r.rssFirstMiB?.toFixed(1)} → ${r.rssLastMiB?.toFixed(1)} MiB (max ${r.rssMaxMiB?.toFixed(1)}), slope ${r.rssSlopeMiBPerMinSecondHalf?.toFixed(3)} MiB/min`);
  }
  return { params: { ...params, seconds, variants }, runs };
}
