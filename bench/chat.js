// Chat through a relay: messages per second, one-message latency and peak
// RSS, for p2pcat and the closest real equivalents, in interleaved rounds.
//
// Every tool runs the same three-process shape on loopback:
//   sender  --TCP-->  hub/relay  --TCP-->  receiver
// The driver (this process) writes lines into the sender's stdin and reads
// the receiver's stdout.
//   p2pcat:     connect -> listen (hub) -> connect --json; NDJSON in ({"message":...}),
//               one signed CHAT record per message out; the hub verifies, prints
//               (to /dev/null here) and re-encrypts every message.
//   ncat-chat:  ncat clients around `ncat -l --chat` (plaintext broker).
//   ncat-ssl:   the same with --ssl (TLS 1.3, ECDSA P-256 certificate).
//   socat:      socat STDIN -> socat TCP-LISTEN relay -> socat TCP-LISTEN STDOUT (plaintext).
//   socat-ssl:  the same with OPENSSL addresses (TLS 1.3).
//
// Latency: one line at a time, the next one only after the previous one came
// out of the receiver. Rate: N lines in one write, timed until the receiver
// printed the last of them; every tool's output is checked (p2pcat: each
// message exactly once; peers: the received bytes equal the sent ones, less
// ncat's "<userN> " prefixes).
import { start, stop, peakRssKiB, cpuSeconds, freePort, writeAll, cmdline } from './lib/proc.js';
import { median, percentile } from './lib/stats.js';

const PAD = 'x'.repeat(100);

/** The message text for tag `~r12~`: 100 characters, like a line of chat. */
function text(tag) {
  return `${tag} ${PAD}`.slice(0, 100);
}

/**
 * variant: 'default' (what a user gets), 'nolog' (--no-log: what the log
 * costs), 'norate' (--peer-rate 0: capacity, without the per-neighbour
 * message-rate limit).
 */
function p2pcatTool(ctx, variant = 'default') {
  const node = process.execPath;
  const bin = ctx.p2pcatBin;
  const envFor = (role) => ({ ...ctx.baseEnv, P2PCAT_HOME: ctx.freshHome(role) });
  const extra = { default: [], nolog: ['--no-log'], norate: ['--peer-rate', '0'] }[variant];
  const defaults = [ctx.features?.noLog ? 'default log' : '', ctx.features?.peerRate ? 'default --peer-rate' : ''].filter(Boolean).join(', ');
  return {
    id: variant === 'default' ? 'p2pcat' : `p2pcat-${variant}`,
    label: {
      default: `p2pcat (Noise XXpsk3, Ed25519-signed records${defaults ? `; ${defaults}` : ''})`,
      nolog: 'p2pcat --no-log (the same, keeping no log)',
      norate: 'p2pcat --peer-rate 0 (the same, no per-neighbour rate limit)',
    }[variant],
    encrypted: true,
    line: (tag) => `{"message":"${text(tag)}"}\n`,
    records: true,
    commands: {
      hub: cmdline('node', ['bin/p2pcat.js', 'listen', '0', '--bind', '127.0.0.1', '--json', ...extra], { P2PCAT_HOME: 'DIR1' }) + ' >/dev/null',
      receiver: cmdline('node', ['bin/p2pcat.js', 'connect', '127.0.0.1:PORT', '--json', ...extra], { P2PCAT_HOME: 'DIR2' }) + ' | count CHAT records',
      sender: `N lines of {"message":"~rI~ xxx…(100 chars)"} | ` + cmdline('node', ['bin/p2pcat.js', 'connect', '127.0.0.1:PORT', '--json', ...extra], { P2PCAT_HOME: 'DIR3' }),
    },
    async start() {
      const hub = start(node, [bin, 'listen', '0', '--bind', '127.0.0.1', '--json', ...extra], { env: envFor('hub'), stdout: 'ignore' });
      const s = { procs: { hub } };
      try {
        const { match } = await hub.err.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 15_000, 'p2pcat listen to print its port');
        const target = `127.0.0.1:${match[1]}`;
        const receiver = start(node, [bin, 'connect', target, '--json', ...extra], { env: envFor('recv') });
        s.procs.receiver = receiver;
        await receiver.out.waitFor(/"type":"PEER_UP"/, 15_000, 'the receiver\'s PEER_UP');
        const sender = start(node, [bin, 'connect', target, '--json', ...extra], { env: envFor('send') });
        s.procs.sender = sender;
        s.sender = sender;
        s.receiver = receiver;
        await sender.out.waitFor(/"type":"PEER_UP"/, 15_000, 'the sender\'s PEER_UP');
      } catch (e) {
        await stopAll(s);
        throw e;
      }
      s.stop = async () => {
        // connect: stdin EOF says goodbye and exits 0; listen: SIGTERM.
        await Promise.all([stop(s.procs.sender, { graceMs: 8000 }), stop(s.procs.receiver, { graceMs: 8000 })]);
        await stop(hub, { termMs: 8000 });
        const bad = ['sender', 'receiver', 'hub'].filter((k) => s.procs[k].code !== 0).map((k) => `${k} exited ${s.procs[k].code ?? s.procs[k].signal}`);
        return bad;
      };
      return s;
    },
  };
}

function ncatChatTool(ctx, ssl) {
  const tls = ssl ? ['--ssl'] : [];
  const tlsListen = ssl ? ['--ssl', '--ssl-cert', ctx.cert.cert, '--ssl-key', ctx.cert.key] : [];
  const shownListen = ssl ? ['--ssl', '--ssl-cert', 'cert.pem', '--ssl-key', 'key.pem'] : [];
  return {
    id: ssl ? 'ncat-ssl-chat' : 'ncat-chat',
    label: ssl ? 'ncat --ssl --chat (TLS 1.3, P-256 cert)' : 'ncat --chat (plaintext)',
    encrypted: ssl,
    needs: ['ncat'],
    line: (tag) => `${text(tag)}\n`,
    // ncat's chat broker puts "<userN> " in front of every chunk it relays.
    normalize: (s) => s.replace(/<user\d+> /g, ''),
    commands: {
      hub: cmdline('ncat', ['-v', '-l', ...shownListen, '--chat', '127.0.0.1', 'PORT']),
      receiver: cmdline('ncat', [...tls, '127.0.0.1', 'PORT']) + ' | count lines',
      sender: 'N lines of "~rI~ xxx…(100 chars)" | ' + cmdline('ncat', [...tls, '127.0.0.1', 'PORT']),
    },
    async start() {
      const port = String(await freePort());
      const hub = start('ncat', ['-v', '-l', ...tlsListen, '--chat', '127.0.0.1', port], { stdout: 'ignore' });
      const s = { procs: { hub } };
      try {
        await hub.err.waitFor(/Listening on/, 15_000, 'ncat --chat to listen');
        const receiver = start('ncat', [...tls, '127.0.0.1', port]);
        s.procs.receiver = receiver;
        await receiver.out.waitFor(/already connected/, 15_000, 'the receiver to join the chat');
        const seen = receiver.out.waitFor(/is connected as/, 15_000, 'the sender\'s arrival at the receiver');
        const sender = start('ncat', [...tls, '127.0.0.1', port]);
        s.procs.sender = sender;
        await sender.out.waitFor(/already connected/, 15_000, 'the sender to join the chat');
        await seen;
        s.sender = sender;
        s.receiver = receiver;
      } catch (e) {
        await stopAll(s);
        throw e;
      }
      s.stop = async () => {
        await stopAll(s);
        return [];
      };
      return s;
    },
  };
}

function socatTool(ctx, ssl) {
  const listen = (port) => (ssl ? `OPENSSL-LISTEN:${port},bind=127.0.0.1,reuseaddr,cert=${ctx.cert.cert},key=${ctx.cert.key},verify=0` : `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`);
  const shownListen = (port) => (ssl ? `OPENSSL-LISTEN:${port},bind=127.0.0.1,reuseaddr,cert=cert.pem,key=key.pem,verify=0` : `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`);
  const dial = (port) => (ssl ? `OPENSSL:127.0.0.1:${port},verify=0` : `TCP:127.0.0.1:${port}`);
  return {
    id: ssl ? 'socat-ssl' : 'socat',
    label: ssl ? 'socat OPENSSL relay (TLS 1.3, P-256 cert)' : 'socat TCP relay (plaintext)',
    encrypted: ssl,
    needs: ['socat'],
    line: (tag) => `${text(tag)}\n`,
    normalize: (s) => s,
    commands: {
      hub: cmdline('socat', ['-u', shownListen('P1'), dial('P2')]),
      receiver: cmdline('socat', ['-u', shownListen('P2'), 'STDOUT']) + ' | count lines',
      sender: 'N lines of "~rI~ xxx…(100 chars)" | ' + cmdline('socat', ['-u', 'STDIN', dial('P1')]),
    },
    async start() {
      const p1 = String(await freePort());
      const p2 = String(await freePort());
      const s = { procs: {} };
      try {
        const receiver = start('socat', ['-d', '-d', '-u', listen(p2), 'STDOUT']);
        s.procs.receiver = receiver;
        const hub = start('socat', ['-d', '-d', '-u', listen(p1), dial(p2)], { stdout: 'ignore' });
        s.procs.hub = hub;
        await Promise.all([
          receiver.err.waitFor(/listening on/, 15_000, 'the socat receiver to listen'),
          hub.err.waitFor(/listening on/, 15_000, 'the socat relay to listen'),
        ]);
        const ready = [receiver, hub].map((p) => p.err.waitFor(/starting data transfer loop/, 15_000, 'socat to connect'));
        const sender = start('socat', ['-d', '-d', '-u', 'STDIN', dial(p1)], { stdout: 'ignore' });
        s.procs.sender = sender;
        await Promise.all([...ready, sender.err.waitFor(/starting data transfer loop/, 15_000, 'the socat sender to connect')]);
        s.sender = sender;
        s.receiver = receiver;
      } catch (e) {
        await stopAll(s);
        throw e;
      }
      s.stop = async () => {
        await stopAll(s);
        return [];
      };
      return s;
    },
  };
}

async function stopAll(s) {
  await Promise.all(Object.values(s.procs).map((p) => stop(p, { termMs: 3000 })));
}

export function chatTools(ctx) {
  const tools = [p2pcatTool(ctx)];
  if (ctx.features?.noLog) tools.push(p2pcatTool(ctx, 'nolog'));
  if (ctx.features?.peerRate) tools.push(p2pcatTool(ctx, 'norate'));
  if (ctx.available.ncat) tools.push(ncatChatTool(ctx, false));
  if (ctx.available.ncat && ctx.available.tls) tools.push(ncatChatTool(ctx, true));
  if (ctx.available.socat) tools.push(socatTool(ctx, false));
  if (ctx.available.socat && ctx.available.tls) tools.push(socatTool(ctx, true));
  return tools;
}

async function measureLatency(tool, s, samples) {
  const out = [];
  for (let i = 0; i < samples; i++) {
    const tag = `~l${i}~`;
    const got = s.receiver.out.waitFor((line) => line.includes(tag), 10_000, `latency message ${i}`);
    const t0 = performance.now();
    s.sender.child.stdin.write(tool.line(tag));
    const { t } = await got;
    out.push(t - t0);
  }
  return out;
}

async function measureRate(tool, s, n) {
  const lines = [];
  for (let i = 0; i < n; i++) lines.push(tool.line(`~r${i}~`));
  const payload = lines.join('');
  const expected = tool.records ? null : lines.join('');
  const timeoutMs = 15_000 + n * 2; // a floor of 500 messages/s
  let resolveDone;
  const done = new Promise((r) => (resolveDone = r));
  let offs = [];
  let delivered = 0;
  let dups = 0;
  let tEnd = null;
  const chunks = [];
  if (tool.records) {
    const seen = new Uint8Array(n);
    offs.push(
      s.receiver.out.onLine((line, t) => {
        if (!line.startsWith('{"type":"CHAT"')) return;
        const m = line.match(/~r(\d+)~/);
        if (!m) return;
        const i = Number(m[1]);
        if (i >= n) return;
        if (seen[i]) dups++;
        else {
          seen[i] = 1;
          if (++delivered === n) {
            tEnd = t;
            resolveDone();
          }
        }
      }),
    );
  } else {
    offs.push(
      s.receiver.out.onRaw((chunk, t) => {
        chunks.push(chunk);
        for (let k = chunk.indexOf('\n'); k !== -1; k = chunk.indexOf('\n', k + 1)) delivered++;
        if (delivered >= n && tEnd === null) {
          tEnd = t;
          resolveDone();
        }
      }),
    );
  }
  const roles = ['hub', 'receiver', 'sender'];
  const cpu0 = roles.map((k) => cpuSeconds(s.procs[k].pid));
  const t0 = performance.now();
  await writeAll(s.sender, payload);
  const timer = setTimeout(resolveDone, timeoutMs);
  await done;
  clearTimeout(timer);
  for (const off of offs) off();
  const cpu1 = roles.map((k) => cpuSeconds(s.procs[k].pid));
  const res = { n, delivered: Math.min(delivered, n), dups, seconds: tEnd === null ? null : (tEnd - t0) / 1000 };
  // CPU microseconds per message, per process (10 ms clock ticks: coarse for the fast peers).
  res.cpuUsPerMsg = Object.fromEntries(roles.map((k, i) => [k, cpu0[i] === null || cpu1[i] === null ? null : ((cpu1[i] - cpu0[i]) * 1e6) / n]));
  res.rate = res.seconds ? n / res.seconds : null;
  if (tEnd === null) res.error = `timed out after ${timeoutMs} ms with ${delivered} of ${n} messages`;
  if (expected !== null && tEnd !== null) {
    const got = tool.normalize(chunks.join(''));
    if (got !== expected) res.error = `received bytes differ from the sent lines (${got.length} vs ${expected.length} chars)`;
  }
  if (dups) res.error = `${dups} duplicate messages`;
  return res;
}

/**
 * Run every tool for `rounds` interleaved rounds: in each round, each tool
 * (in a rotating order) starts fresh, measures latency then rate, reports peak RSS.
 */
export async function runChat(ctx, { rounds, latencySamples, messages, peerMessages }) {
  const tools = chatTools(ctx);
  const per = Object.fromEntries(tools.map((t) => [t.id, { rates: [], latencies: [], rss: { hub: [], receiver: [], sender: [] }, cpu: { hub: [], receiver: [], sender: [] }, errors: [] }]));
  // The peers move 100-character lines hundreds of times faster than p2pcat
  // moves signed records: give them more lines, so their time is not all start-up noise.
  const count = (tool) => (tool.id.startsWith('p2pcat') ? messages : Math.max(messages, peerMessages ?? messages));
  for (let r = 0; r < rounds; r++) {
    const order = tools.map((_, i) => tools[(i + r) % tools.length]);
    for (const tool of order) {
      const acc = per[tool.id];
      let s;
      try {
        s = await tool.start();
        const lat = await measureLatency(tool, s, latencySamples);
        acc.latencies.push(...lat);
        const rate = await measureRate(tool, s, count(tool));
        if (rate.error) acc.errors.push(`round ${r + 1}: ${rate.error}`);
        else {
          acc.rates[r] = rate.rate;
          for (const k of ['hub', 'receiver', 'sender']) acc.cpu[k].push(rate.cpuUsPerMsg[k]);
        }
        for (const k of ['hub', 'receiver', 'sender']) acc.rss[k].push(peakRssKiB(s.procs[k].pid));
        const bad = await s.stop();
        for (const b of bad) acc.errors.push(`round ${r + 1}: ${b}`);
        ctx.log(`chat round ${r + 1}/${rounds} ${tool.id}: ${rate.rate ? Math.round(rate.rate) : 'n/a'} msg/s, latency p50 ${median(lat).toFixed(3)} ms`);
      } catch (e) {
        acc.errors.push(`round ${r + 1}: ${e.message.split('\n')[0]}`);
        ctx.log(`chat round ${r + 1}/${rounds} ${tool.id}: FAILED: ${e.message}`);
        if (s) await s.stop().catch(() => {});
      }
    }
  }
  return tools.map((t) => {
    const a = per[t.id];
    return {
      id: t.id,
      label: t.label,
      encrypted: t.encrypted,
      commands: t.commands,
      rounds,
      messages: count(t),
      // perRound[r] is null where round r failed, so rounds pair up across tools.
      rate: { median: median(a.rates), perRound: Array.from({ length: rounds }, (_, r) => a.rates[r] ?? null) },
      latencyMs: { samples: a.latencies.length, p50: percentile(a.latencies, 50), p99: percentile(a.latencies, 99), max: percentile(a.latencies, 100) },
      peakRssKiB: { hub: median(a.rss.hub), receiver: median(a.rss.receiver), sender: median(a.rss.sender) },
      cpuUsPerMsg: { hub: median(a.cpu.hub), receiver: median(a.cpu.receiver), sender: median(a.cpu.sender) },
      errors: a.errors,
    };
  });
}
