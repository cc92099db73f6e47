// Handshakes, two ways.
//
// 1. In-process handshakes per second (bench/handshake-inproc.js, a fresh
//    Node process per measurement): p2pcat's SecureChannel vs node:tls 1.3
//    (server-authenticated and mutual), interleaved rounds; plus
//    `openssl s_time -new` against `openssl s_server` as a native reference
//    (C, two processes, so it may use both cores: not a like-for-like ratio).
//
// 2. From process start: spawn a dialling client, write one message to its
//    stdin at once, and time (a) until it says the session is up and (b) until
//    the listener prints the message. p2pcat: `connect --json` prints PEER_UP;
//    ncat -v prints "SSL connection to" / "Connected to"; nc -v prints
//    "succeeded". Includes the client's start-up (node, imports, identity load).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { start, stop, freePort, cmdline, waitExit } from './lib/proc.js';
import { median, percentile } from './lib/stats.js';

// ---------------------------------------------------------------- in-process

function inproc(ctx, impl, n) {
  const args = [path.join(ctx.root, 'bench/handshake-inproc.js'), impl, String(n)];
  if (impl !== 'p2pcat') args.push(ctx.certDir);
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000, env: { ...ctx.baseEnv, BENCH_BUILD_DIR: ctx.build } });
  if (r.status !== 0) throw new Error(`handshake-inproc.js ${impl} failed (${r.status ?? r.signal}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

async function sTime(ctx, seconds) {
  const port = String(await freePort());
  const server = start('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', ctx.cert.cert, '-key', ctx.cert.key, '-quiet', '-tls1_3'], { stdout: 'ignore', stderr: 'ignore' });
  try {
    // s_server prints nothing with -quiet; wait until the port accepts.
    await waitPort(port, 10_000);
    const t0 = performance.now();
    const r = spawnSync('openssl', ['s_time', '-connect', `127.0.0.1:${port}`, '-new', '-tls1_3', '-time', String(seconds)], { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
    const wall = (performance.now() - t0) / 1000;
    const m = r.stdout.match(/(\d+) connections in [\d.]+s/);
    if (!m) throw new Error(`openssl s_time printed no count: ${r.stdout.slice(-200)} ${r.stderr.slice(-200)}`);
    return { n: Number(m[1]), seconds: wall, perSecond: Number(m[1]) / wall };
  } finally {
    await stop(server);
  }
}

async function waitPort(port, ms) {
  const net = await import('node:net');
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: Number(port) });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listened on 127.0.0.1:${port} within ${ms} ms`);
}

export async function runInprocHandshakes(ctx, { rounds, handshakes, sTimeSeconds }) {
  const impls = ['p2pcat'];
  if (ctx.available.tls) impls.push('tls', 'tls-mutual');
  const acc = Object.fromEntries([...impls, 's_time'].map((k) => [k, { perSecond: [], p50: [], p99: [], errors: [] }]));
  for (let r = 0; r < rounds; r++) {
    const order = impls.map((_, i) => impls[(i + r) % impls.length]);
    for (const impl of order) {
      try {
        const res = inproc(ctx, impl, handshakes);
        if (res.otherSideCompleted < handshakes) acc[impl].errors.push(`round ${r + 1}: the other side completed only ${res.otherSideCompleted}`);
        acc[impl].perSecond[r] = res.perSecond;
        acc[impl].p50.push(res.p50Ms);
        acc[impl].p99.push(res.p99Ms);
        ctx.log(`handshakes round ${r + 1}/${rounds} ${impl}: ${Math.round(res.perSecond)}/s, p50 ${res.p50Ms.toFixed(2)} ms`);
      } catch (e) {
        acc[impl].errors.push(`round ${r + 1}: ${e.message}`);
        ctx.log(`handshakes round ${r + 1}/${rounds} ${impl}: FAILED: ${e.message}`);
      }
    }
    if (ctx.available.tls && sTimeSeconds > 0) {
      try {
        const res = await sTime(ctx, sTimeSeconds);
        acc.s_time.perSecond[r] = res.perSecond;
        ctx.log(`handshakes round ${r + 1}/${rounds} openssl s_time: ${Math.round(res.perSecond)}/s`);
      } catch (e) {
        acc.s_time.errors.push(`round ${r + 1}: ${e.message}`);
      }
    }
  }
  const label = {
    p2pcat: 'p2pcat SecureChannel (Noise XXpsk3 + HELLO both ways)',
    tls: 'node:tls 1.3, server certificate only',
    'tls-mutual': 'node:tls 1.3, mutual (client certificate too)',
    s_time: 'openssl s_time -new vs s_server (C, two processes; reference only)',
  };
  const command = {
    p2pcat: `node bench/handshake-inproc.js p2pcat ${handshakes}`,
    tls: `node bench/handshake-inproc.js tls ${handshakes} CERTDIR`,
    'tls-mutual': `node bench/handshake-inproc.js tls-mutual ${handshakes} CERTDIR`,
    s_time: `openssl s_server -accept 127.0.0.1:PORT -cert cert.pem -key key.pem -quiet -tls1_3 & openssl s_time -connect 127.0.0.1:PORT -new -tls1_3 -time ${sTimeSeconds}`,
  };
  const ids = [...impls, ...(ctx.available.tls && sTimeSeconds > 0 ? ['s_time'] : [])];
  return ids.map((id) => ({
    id,
    label: label[id],
    command: command[id],
    rounds,
    handshakes: id === 's_time' ? null : handshakes,
    perSecond: median(acc[id].perSecond),
    perRound: Array.from({ length: rounds }, (_, r) => acc[id].perSecond[r] ?? null),
    p50Ms: median(acc[id].p50),
    p99Ms: median(acc[id].p99),
    errors: acc[id].errors,
  }));
}

// ---------------------------------------------------------------- from process start

function connectTools(ctx) {
  const node = process.execPath;
  const bin = ctx.p2pcatBin;
  const tools = [
    {
      id: 'p2pcat',
      label: 'p2pcat connect --json (Noise XXpsk3, identity loaded from P2PCAT_HOME, default log)',
      listener: async () => {
        const p = start(node, [bin, 'listen', '0', '--bind', '127.0.0.1', '--json'], { env: { ...ctx.baseEnv, P2PCAT_HOME: ctx.freshHome('hub') } });
        const { match } = await p.err.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 15_000, 'p2pcat listen to print its port');
        return { p, port: match[1] };
      },
      dial: (port) => start(node, [bin, 'connect', `127.0.0.1:${port}`, '--json'], { env: { ...ctx.baseEnv, P2PCAT_HOME: ctx.freshHome('send') } }),
      line: (tag) => `{"message":"${tag}"}\n`,
      up: (p) => p.out.waitFor(/"type":"PEER_UP"/, 15_000, 'PEER_UP'),
      expectExit0: true,
      commands: {
        listener: cmdline('node', ['bin/p2pcat.js', 'listen', '0', '--bind', '127.0.0.1', '--json'], { P2PCAT_HOME: 'DIR1' }),
        client: `echo '{"message":"hi"}' | ` + cmdline('node', ['bin/p2pcat.js', 'connect', '127.0.0.1:PORT', '--json'], { P2PCAT_HOME: 'DIR2' }) + '   (up: PEER_UP on stdout)',
      },
    },
  ];
  if (ctx.available.ncat) {
    for (const ssl of ctx.available.tls ? [true, false] : [false]) {
      const tlsL = ssl ? ['--ssl', '--ssl-cert', ctx.cert.cert, '--ssl-key', ctx.cert.key] : [];
      const shownL = ssl ? ['--ssl', '--ssl-cert', 'cert.pem', '--ssl-key', 'key.pem'] : [];
      const tlsC = ssl ? ['--ssl'] : [];
      tools.push({
        id: ssl ? 'ncat-ssl' : 'ncat',
        label: ssl ? 'ncat --ssl (TLS 1.3, P-256 certificate)' : 'ncat (plaintext)',
        listener: async () => {
          const port = String(await freePort());
          const p = start('ncat', ['-v', '-l', '-k', ...tlsL, '127.0.0.1', port]);
          await p.err.waitFor(/Listening on/, 15_000, 'ncat to listen');
          return { p, port };
        },
        dial: (port) => start('ncat', ['-v', ...tlsC, '127.0.0.1', port]),
        line: (tag) => `${tag}\n`,
        up: (p) => p.err.waitFor(ssl ? /SSL connection to/ : /Connected to/, 15_000, 'ncat to connect'),
        commands: {
          listener: cmdline('ncat', ['-v', '-l', '-k', ...shownL, '127.0.0.1', 'PORT']),
          client: 'echo hi | ' + cmdline('ncat', ['-v', ...tlsC, '127.0.0.1', 'PORT']) + `   (up: "${ssl ? 'SSL connection to' : 'Connected to'}" on stderr)`,
        },
      });
    }
  }
  if (ctx.available.nc) {
    tools.push({
      id: 'nc',
      label: 'nc, OpenBSD (plaintext)',
      listener: async () => {
        const port = String(await freePort());
        const p = start('nc', ['-v', '-l', '-k', '127.0.0.1', port]);
        await p.err.waitFor(/Listening on/, 15_000, 'nc to listen');
        return { p, port };
      },
      dial: (port) => start('nc', ['-v', '-N', '127.0.0.1', port]),
      line: (tag) => `${tag}\n`,
      up: (p) => p.err.waitFor(/succeeded/, 15_000, 'nc to connect'),
      commands: {
        listener: cmdline('nc', ['-v', '-l', '-k', '127.0.0.1', 'PORT']),
        client: 'echo hi | ' + cmdline('nc', ['-v', '-N', '127.0.0.1', 'PORT']) + '   (up: "succeeded" on stderr)',
      },
    });
  }
  return tools;
}

async function oneDial(tool, listener, tag) {
  const got = listener.p.out.waitFor((line) => line.includes(tag), 15_000, `the listener to print ${tag}`);
  const c = tool.dial(listener.port);
  const up = tool.up(c);
  c.child.stdin.write(tool.line(tag));
  try {
    const [u, m] = await Promise.all([up, got]);
    return { upMs: u.t - c.t0, msgMs: m.t - c.t0, client: c };
  } catch (e) {
    await stop(c);
    throw e;
  }
}

export async function runConnectTimes(ctx, { rounds, samples }) {
  const tools = connectTools(ctx);
  const acc = Object.fromEntries(tools.map((t) => [t.id, { up: [], msg: [], badExits: 0, errors: [] }]));
  let k = 0;
  for (let r = 0; r < rounds; r++) {
    const listeners = {};
    try {
      for (const t of tools) {
        try {
          listeners[t.id] = await t.listener();
        } catch (e) {
          acc[t.id].errors.push(`round ${r + 1}: ${e.message.split('\n')[0]}`);
        }
      }
      for (let i = 0; i < samples; i++) {
        const order = tools.map((_, j) => tools[(j + i + r) % tools.length]);
        for (const t of order) {
          const l = listeners[t.id];
          if (!l) continue;
          try {
            const res = await oneDial(t, l, `~f${k++}~`);
            acc[t.id].up.push(res.upMs);
            acc[t.id].msg.push(res.msgMs);
            // stdin EOF: p2pcat says goodbye and exits 0; the others exit too.
            res.client.child.stdin.end();
            if (!(await waitExit(res.client, 10_000))) await stop(res.client);
            if (t.expectExit0 && res.client.code !== 0) acc[t.id].badExits++;
          } catch (e) {
            acc[t.id].errors.push(`round ${r + 1}: ${e.message.split('\n')[0]}`);
          }
        }
      }
    } finally {
      await Promise.all(Object.values(listeners).map((l) => stop(l.p)));
    }
    ctx.log(`connect round ${r + 1}/${rounds}: ` + tools.map((t) => `${t.id} up ${fmtMs(median(acc[t.id].up))} msg ${fmtMs(median(acc[t.id].msg))}`).join(', '));
  }
  return tools.map((t) => {
    const a = acc[t.id];
    if (a.badExits) a.errors.push(`${a.badExits} clients did not exit 0 after stdin EOF`);
    return {
      id: t.id,
      label: t.label,
      commands: t.commands,
      samples: a.up.length,
      upMs: { p50: percentile(a.up, 50), p99: percentile(a.up, 99) },
      firstMessageMs: { p50: percentile(a.msg, 50), p99: percentile(a.msg, 99) },
      errors: a.errors,
    };
  });
}

function fmtMs(x) {
  return x === null ? 'n/a' : `${x.toFixed(1)} ms`;
}
