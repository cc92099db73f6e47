// Start-up time: `p2pcat --help`, `--version` and `id` (identity already
// created) against `node -e 0`, the floor for any Node CLI. With hyperfine
// (Debian's) when it is there: `hyperfine -N` (no shell), warm-up runs, one
// command after another. Without it: our own loop of spawns, interleaved,
// medians.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cmdline } from './lib/proc.js';
import { median, percentile } from './lib/stats.js';

function commands(ctx) {
  return [
    { id: 'node', label: 'node -e 0 (floor)', argv: [process.execPath, '-e', '0'], shown: 'node -e 0' },
    { id: 'help', label: 'p2pcat --help', argv: [process.execPath, ctx.p2pcatBin, '--help'], shown: 'node bin/p2pcat.js --help' },
    { id: 'version', label: 'p2pcat --version', argv: [process.execPath, ctx.p2pcatBin, '--version'], shown: 'node bin/p2pcat.js --version' },
    { id: 'id', label: 'p2pcat id (identity exists)', argv: [process.execPath, ctx.p2pcatBin, 'id'], shown: cmdline('node', ['bin/p2pcat.js', 'id'], { P2PCAT_HOME: 'DIR' }) },
  ];
}

/** Peak RSS of a bare Node process: the floor under every p2pcat RSS figure. */
function nodeFloorRssKiB(env) {
  const r = spawnSync(process.execPath, ['-e', "process.stdout.write(require('fs').readFileSync('/proc/self/status','utf8').match(/VmHWM:\\s+(\\d+)/)[1])"], { env, encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 ? Number(r.stdout) : null;
}

export function runStartup(ctx, { rounds, runs, warmup }) {
  const cmds = commands(ctx);
  const floorRss = nodeFloorRssKiB(ctx.baseEnv);
  const env = { ...ctx.baseEnv, P2PCAT_HOME: ctx.homes.send };
  if (ctx.available.hyperfine) {
    // hyperfine runs its commands one after another; a shared machine's load
    // drifts in that time, so run it `rounds` times and pair the commands
    // within each round (ratio to `node -e 0` per round, then the median).
    const q = (a) => a.map((x) => (/[\s'"]/.test(x) ? `'${x}'` : x)).join(' ');
    const perRound = [];
    let r;
    for (let k = 0; k < rounds; k++) {
      const out = path.join(ctx.tmp, `hyperfine-${k}.json`);
      const args = ['-N', '--style', 'none', '--warmup', String(warmup), '--runs', String(runs), '--export-json', out, ...cmds.map((c) => q(c.argv))];
      r = spawnSync('hyperfine', args, { encoding: 'utf8', env, timeout: 300_000 });
      if (r.status !== 0) break;
      perRound.push(JSON.parse(fs.readFileSync(out, 'utf8')).results);
    }
    if (perRound.length === rounds) {
      const hf = `hyperfine -N --warmup ${warmup} --runs ${runs}`;
      return {
        method: `${hf}, ${rounds} times; median of the per-round medians; ratio: median over rounds of (command ÷ node -e 0)`,
        nodeFloorRssKiB: floorRss,
        command: `${hf} ` + cmds.map((c) => `'${c.shown}'`).join(' ') + ` (× ${rounds})`,
        rows: cmds.map((c, i) => ({
          id: c.id,
          label: c.label,
          command: c.shown,
          medianMs: median(perRound.map((res) => res[i].median * 1000)),
          perRoundMs: perRound.map((res) => res[i].median * 1000),
          ratioToNode: median(perRound.map((res) => res[i].median / res[0].median)),
          minMs: Math.min(...perRound.map((res) => res[i].min * 1000)),
        })),
      };
    }
    // Say which command failed and how, then fall back to the loop.
    const culprit = cmds.map((c) => ({ c, r: spawnSync(c.argv[0], c.argv.slice(1), { env, encoding: 'utf8', timeout: 30_000 }) })).find((x) => x.r.status !== 0);
    const why = culprit ? `${culprit.c.shown} exited ${culprit.r.status ?? culprit.r.signal}: ${String(culprit.r.stderr).trim().split('\n').slice(-2).join(' | ')}` : 'every command succeeds when run again (a transient failure)';
    ctx.log(`hyperfine failed (${r.status}): ${why}; using a spawn loop`);
    ctx.notes?.push(`hyperfine failed (${why}); start-up was timed with the spawn loop`);
  }
  const times = cmds.map(() => []);
  const failures = cmds.map(() => 0);
  const total = warmup + runs * rounds;
  for (let i = 0; i < total; i++) {
    cmds.forEach((c, j) => {
      const t0 = performance.now();
      const r = spawnSync(c.argv[0], c.argv.slice(1), { env, stdio: 'ignore', timeout: 30_000 });
      const dt = performance.now() - t0;
      if (r.status !== 0) failures[j]++;
      else if (i >= warmup) times[j].push(dt);
    });
  }
  cmds.forEach((c, j) => {
    if (failures[j]) ctx.notes?.push(`start-up: ${c.shown} failed ${failures[j]} of ${total} times (left out)`);
  });
  return {
    method: `own loop: ${runs * rounds} spawns each after ${warmup} warm-up, interleaved, median`,
    nodeFloorRssKiB: floorRss,
    command: 'node bench/run.js (spawnSync loop)',
    rows: cmds.map((c, j) => ({
      id: c.id,
      label: c.label,
      command: c.shown,
      medianMs: median(times[j]),
      p90Ms: percentile(times[j], 90),
      minMs: times[j].length ? Math.min(...times[j]) : null,
      ratioToNode: median(times[j]) / median(times[0]),
    })),
  };
}
