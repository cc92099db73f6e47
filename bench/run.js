#!/usr/bin/env node
// `npm run bench`: every p2pcat benchmark, side by side with the tools people
// would otherwise use (nc, ncat, socat, openssl, node:tls), in one run.
// Writes bench/results/latest.json and latest.md and prints the markdown.
// docs/bench.md says what each figure means. Never part of `npm test`.
//
//   node bench/run.js [--quick] [--only startup,handshake,connect,pipe,chat,log,sync,mesh,soak] [--soak-seconds N]
//
// bench/log.js, bench/sync.js and bench/mesh.js belong to the issues that
// added them: each exports run({ quick }); this file imports it when the file
// exists and reports what it returns.
//
// Loopback only. Every child runs in its own process group and is killed when
// the run ends, normally or not; every wait is bounded, and a watchdog ends a
// run that overstays.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { killAll, liveCount } from './lib/proc.js';
import { ensurePeers, makeCert } from './lib/peers.js';
import { renderMarkdown } from './lib/report.js';
import { runChat } from './chat.js';
import { runInprocHandshakes, runConnectTimes } from './handshake.js';
import { runStartup } from './startup.js';
import { runPipe, runRawPipe } from './pipe.js';
import { runSoak } from './soak.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Benchmarks owned by other issues: bench/<name>.js exporting run({ quick }). */
const EXTERNAL = ['log', 'sync', 'mesh'];
const SUITES = ['startup', 'handshake', 'connect', 'pipe', 'chat', ...EXTERNAL, 'soak'];

const PARAMS = {
  quick: {
    watchdogSeconds: 480,
    startup: { rounds: 2, runs: 3, warmup: 1 },
    handshake: { rounds: 2, handshakes: 200, sTimeSeconds: 1 },
    connect: { rounds: 1, samples: 6 },
    pipe: { rounds: 1, lines: 10000 },
    raw: { rounds: 1, megabytes: 256 },
    chat: { rounds: 2, latencySamples: 40, messages: 2000, peerMessages: 30000 },
    externalTimeoutSeconds: 90,
    // Load and soak (bench/soak.js): fewer sessions, a short run, the hub without its log.
    soak: { connections: 40, rate: 10000, seconds: 12, variants: ['nolog'], iwant: true, ack: false },
  },
  full: {
    watchdogSeconds: 3600,
    startup: { rounds: 5, runs: 6, warmup: 2 },
    handshake: { rounds: 5, handshakes: 1000, sTimeSeconds: 3 },
    connect: { rounds: 5, samples: 10 },
    pipe: { rounds: 3, lines: 20000 },
    raw: { rounds: 5, megabytes: 1024 },
    chat: { rounds: 5, latencySamples: 200, messages: 20000, peerMessages: 200000 },
    externalTimeoutSeconds: 1200,
    // 200 neighbour sessions, 10,000 msg/s offered in total, 10 minutes per variant.
    soak: { connections: 200, rate: 10000, seconds: 600, variants: ['nolog', 'log'], iwant: true, ack: false },
  },
};

function parseArgs(argv) {
  const opts = { quick: false, only: SUITES };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--full') opts.quick = false;
    else if (a === '--only' || a.startsWith('--only=')) {
      const v = a.includes('=') ? a.slice(7) : argv[++i];
      opts.only = String(v ?? '').split(',').filter(Boolean);
      const bad = opts.only.filter((s) => !SUITES.includes(s));
      if (bad.length) usage(`unknown suite ${bad.join(', ')}`);
    } else if (a === '--soak-seconds' || a.startsWith('--soak-seconds=')) {
      const v = Number(a.includes('=') ? a.slice(15) : argv[++i]);
      if (!(v > 0 && v <= 86_400)) usage('--soak-seconds needs a number of seconds from 1 to 86400');
      process.env.BENCH_SOAK_SECONDS = String(v);
    } else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  return opts;
}

function usage(err) {
  const text = `usage: node bench/run.js [--quick] [--only ${SUITES.join(',')}] [--soak-seconds N]\n  --quick  small samples, under 2 minutes on 2 cores\n  (default) full mode: the figures to quote\n  --soak-seconds N  length of each soak run (also BENCH_SOAK_SECONDS; quick 12, full 600)\n`;
  if (err) {
    process.stderr.write(`bench: ${err}\n${text}`);
    process.exit(64);
  }
  process.stdout.write(text);
  process.exit(0);
}

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

function git() {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return { commit, dirty };
  } catch {
    return null;
  }
}

function baseEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('P2PCAT_')) delete env[k];
  return env;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function runExternal(name, quick, timeoutSeconds, buildDir) {
  const file = path.join(root, `bench/${name}.js`);
  if (!fs.existsSync(file)) return { status: 'not present' };
  // The copy of the build this run measures, for the module to use if it wants
  // (bench/handshake-inproc.js does): immune to a rebuild of dist/ mid-run.
  process.env.BENCH_BUILD_DIR = buildDir;
  try {
    const mod = await import(pathToFileURL(file).href);
    if (typeof mod.run !== 'function') return { status: 'failed', error: `bench/${name}.js does not export run()` };
    const t0 = performance.now();
    const result = await withTimeout(Promise.resolve(mod.run({ quick })), timeoutSeconds * 1000, `bench/${name}.js run()`);
    const out = { status: 'ok', seconds: (performance.now() - t0) / 1000, result };
    if (Array.isArray(result?.ratios)) out.ratios = result.ratios;
    return out;
  } catch (e) {
    return { status: 'failed', error: e?.stack?.split('\n').slice(0, 3).join(' ') ?? String(e) };
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const mode = opts.quick ? 'quick' : 'full';
  const P = PARAMS[mode];
  const t0 = performance.now();
  const startedAt = new Date().toISOString();

  // The soak runs as long as it is told (--soak-seconds): the watchdog allows for that, plus set-up and drain.
  const soakSeconds = Number(process.env.BENCH_SOAK_SECONDS) > 0 ? Number(process.env.BENCH_SOAK_SECONDS) : P.soak.seconds;
  const soakVariants = process.env.BENCH_SOAK_VARIANTS ? process.env.BENCH_SOAK_VARIANTS.split(',').length : P.soak.variants.length;
  const watchdogSeconds = P.watchdogSeconds + (opts.only.includes('soak') ? (soakSeconds + 150) * soakVariants : 0);
  const watchdog = setTimeout(() => {
    log(`watchdog: the ${mode} run took longer than ${watchdogSeconds} s; killing ${liveCount()} children and giving up`);
    killAll();
    process.exit(70);
  }, watchdogSeconds * 1000);
  watchdog.unref();

  if (!fs.existsSync(path.join(root, 'dist/src/cli/main.js'))) {
    log('dist/ is missing: run `npm run build` first (npm run bench does)');
    process.exit(69);
  }

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-bench-'));
  process.on('exit', () => {
    killAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  // Run p2pcat from a copy of the build, so that a rebuild of dist/ during the
  // run (other work in the same tree) can neither change nor break what is measured.
  const build = path.join(tmp, 'build');
  fs.mkdirSync(build);
  for (const f of ['dist', 'bin', 'package.json']) fs.cpSync(path.join(root, f), path.join(build, f), { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(build, 'node_modules'), 'dir');
  const p2pcatBin = path.join(build, 'bin/p2pcat.js');

  const peers = ensurePeers(log);
  const env = baseEnv();
  // One identity per role, each in its own P2PCAT_HOME, created before any
  // timing. Every p2pcat process then runs in a fresh copy of its role's home,
  // so no run inherits the logs (or any other state) of an earlier one.
  const homes = {};
  for (const role of ['hub', 'recv', 'send']) {
    homes[role] = path.join(tmp, `home-${role}`);
    fs.mkdirSync(homes[role], { mode: 0o700 });
    const r = spawnSync(process.execPath, [p2pcatBin, 'id', '--name', `bench-${role}`], { env: { ...env, P2PCAT_HOME: homes[role] }, encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) {
      log(`p2pcat id failed (${r.status}): ${r.stderr.trim()}`);
      process.exit(70);
    }
  }
  let homeCount = 0;
  const freshHome = (role) => {
    const dir = path.join(tmp, 'homes', `${role}-${++homeCount}`);
    fs.cpSync(homes[role], dir, { recursive: true, preserveTimestamps: true });
    fs.chmodSync(dir, 0o700);
    return dir;
  };
  // Options that exist in this build (the CLI grows while the suite does).
  const connectHelp = spawnSync(process.execPath, [p2pcatBin, 'connect', '--help'], { env, encoding: 'utf8', timeout: 30_000 }).stdout ?? '';
  const features = { noLog: /--no-log/.test(connectHelp), peerRate: /--peer-rate/.test(connectHelp) };
  let cert = null;
  if (peers.available.openssl) {
    try {
      cert = makeCert(tmp);
    } catch (e) {
      peers.notes.push(`no TLS certificate (${e.message}); TLS peers skipped`);
      peers.available.openssl = false;
    }
  }
  if (!cert) peers.notes.push('no openssl: TLS comparisons (ncat --ssl, socat OPENSSL, node:tls, s_time) skipped');
  const ctx = {
    root,
    build,
    tmp,
    p2pcatBin,
    homes,
    freshHome,
    features,
    baseEnv: env,
    // tls: the certificate exists, so the TLS variants of ncat, socat and node:tls can run.
    available: { ...peers.available, tls: !!cert },
    cert,
    certDir: tmp,
    log,
    notes: peers.notes,
  };

  const results = {
    version: 1,
    mode,
    startedAt,
    git: git(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '?', node: process.version, os: `${os.type()} ${os.release()}`, loadavgAtStart: os.loadavg() },
    peers,
    parameters: P,
    errors: [],
  };

  const suite = async (name, fn) => {
    if (!opts.only.includes(name)) return;
    const s0 = performance.now();
    log(`${name}: starting`);
    try {
      await fn();
    } catch (e) {
      results.errors.push(`${name}: ${e.message}`);
      log(`${name}: FAILED: ${e.stack}`);
    }
    log(`${name}: done in ${((performance.now() - s0) / 1000).toFixed(1)} s`);
    (results.suiteSeconds ??= {})[name] = (performance.now() - s0) / 1000;
  };

  // Start-up first, while nothing else has warmed or loaded the machine.
  await suite('startup', () => {
    results.startup = runStartup(ctx, P.startup);
  });
  await suite('handshake', async () => {
    (results.handshakes ??= {}).inProcess = await runInprocHandshakes(ctx, P.handshake);
  });
  await suite('connect', async () => {
    (results.handshakes ??= {}).fromSpawn = await runConnectTimes(ctx, P.connect);
  });
  await suite('pipe', async () => {
    results.pipe = await runPipe(ctx, P.pipe);
    // Raw bytes (issue 8): listener sends a file, side by side with nc, ncat --ssl, socat OPENSSL.
    results.raw = await runRawPipe(ctx, P.raw);
  });
  await suite('chat', async () => {
    results.chat = await runChat(ctx, P.chat);
  });
  for (const name of EXTERNAL) {
    await suite(name, async () => {
      const r = await runExternal(name, opts.quick, P.externalTimeoutSeconds, build);
      (results.external ??= {})[name] = r;
      log(`${name}: ${r.status}${r.error ? `: ${r.error}` : ''}`);
    });
  }

  // Last: it loads the machine for minutes.
  await suite('soak', async () => {
    results.soak = await runSoak(ctx, P.soak);
    for (const r of results.soak.runs) {
      if (r.error) results.errors.push(`soak ${r.label}: ${r.error}`);
      // Nothing may be lost or printed twice: either makes the run fail, with the figures.
      else if (r.lost > 0 || r.hubDuplicates > 0) results.errors.push(`soak ${r.label}: ${r.lost} of ${r.sent} messages lost, ${r.hubDuplicates} printed twice by the hub`);
    }
  });

  results.finishedAt = new Date().toISOString();
  results.durationSeconds = (performance.now() - t0) / 1000;
  results.machine.loadavgAtEnd = os.loadavg();

  const dir = path.join(root, 'bench/results');
  fs.mkdirSync(dir, { recursive: true });
  const md = renderMarkdown(results);
  // latest.* is always a complete run; a run of some suites (--only) goes to partial.*.
  const base = opts.only.length === SUITES.length ? 'latest' : 'partial';
  results.suites = opts.only;
  // Write beside and rename, so a reader never sees half a file.
  for (const [name, text] of [[`${base}.json`, JSON.stringify(results, null, 2) + '\n'], [`${base}.md`, md]]) {
    fs.writeFileSync(path.join(dir, `${name}.tmp`), text);
    fs.renameSync(path.join(dir, `${name}.tmp`), path.join(dir, name));
  }
  process.stdout.write(md);
  log(`wrote bench/results/${base}.json and ${base}.md (${mode} mode, ${results.durationSeconds.toFixed(1)} s)`);
  if (liveCount() > 0) log(`killing ${liveCount()} children left running`);
  killAll();
  process.exit(results.errors.length ? 1 : 0);
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`${sig}: killing children`);
    killAll();
    process.exit(128 + (os.constants.signals[sig] ?? 1));
  });
}

main().catch((e) => {
  log(`FAILED: ${e.stack}`);
  killAll();
  process.exit(70);
});
