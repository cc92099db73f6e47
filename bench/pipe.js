// netcat-style use: `client < FILE` with N lines, then EOF, into a listener.
// Times the client from spawn to exit, then counts what the listener printed
// (waiting a few seconds for stragglers). A client that exits 0 must have
// delivered every line: "stdin EOF on connect says goodbye and exits 0 once
// the peer has read everything" (issue 2). Interleaved rounds.
//
//   p2pcat:     p2pcat connect --json < FILE  ->  p2pcat listen --json (counts CHAT records)
//   nc:         nc -N < FILE                  ->  nc -l               (plaintext)
//   socat-ssl:  socat -u STDIN OPENSSL: < FILE ->  socat -u OPENSSL-LISTEN: STDOUT (TLS 1.3)
// (ncat --ssl is left out: its connector loses data when it sends and closes,
// see shared/PERF-FACTS.md.)
import fs from 'node:fs';
import path from 'node:path';
import { start, stop, waitExit, freePort, cmdline } from './lib/proc.js';
import { median } from './lib/stats.js';

const PAD = 'x'.repeat(100);
const text = (i) => `~p${i}~ ${PAD}`.slice(0, 100);

function tools(ctx) {
  const node = process.execPath;
  const bin = ctx.p2pcatBin;
  const list = [
    {
      id: 'p2pcat',
      label: 'p2pcat connect --json (default log, ACKs as the build does them)',
      file: 'json',
      async listener() {
        const p = start(node, [bin, 'listen', '0', '--bind', '127.0.0.1', '--json'], { env: { ...ctx.baseEnv, P2PCAT_HOME: ctx.freshHome('hub') } });
        const { match } = await p.err.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 15_000, 'p2pcat listen to print its port');
        return { p, port: match[1], counts: (line) => line.startsWith('{"type":"CHAT"') && line.includes('~p') };
      },
      client: (port, fd) => start(node, [bin, 'connect', `127.0.0.1:${port}`, '--json'], { env: { ...ctx.baseEnv, P2PCAT_HOME: ctx.freshHome('send') }, stdin: fd, stdout: 'ignore' }),
      commands: {
        listener: cmdline('node', ['bin/p2pcat.js', 'listen', '0', '--bind', '127.0.0.1', '--json'], { P2PCAT_HOME: 'DIR1' }) + ' | count CHAT records',
        client: cmdline('node', ['bin/p2pcat.js', 'connect', '127.0.0.1:PORT', '--json'], { P2PCAT_HOME: 'DIR2' }) + ' < N-lines-of-{"message":…}.ndjson',
      },
    },
  ];
  if (ctx.available.nc) {
    list.push({
      id: 'nc',
      label: 'nc -N, OpenBSD (plaintext)',
      file: 'text',
      async listener() {
        const port = String(await freePort());
        const p = start('nc', ['-v', '-l', '127.0.0.1', port]);
        await p.err.waitFor(/Listening on/, 15_000, 'nc to listen');
        return { p, port, counts: (line) => line.startsWith('~p') };
      },
      client: (port, fd) => start('nc', ['-N', '127.0.0.1', port], { stdin: fd, stdout: 'ignore' }),
      commands: { listener: cmdline('nc', ['-l', '127.0.0.1', 'PORT']) + ' | count lines', client: cmdline('nc', ['-N', '127.0.0.1', 'PORT']) + ' < N-lines.txt' },
    });
  }
  if (ctx.available.socat && ctx.available.tls) {
    list.push({
      id: 'socat-ssl',
      label: 'socat OPENSSL (TLS 1.3, P-256 cert)',
      file: 'text',
      async listener() {
        const port = String(await freePort());
        const p = start('socat', ['-d', '-d', '-u', `OPENSSL-LISTEN:${port},bind=127.0.0.1,reuseaddr,cert=${ctx.cert.cert},key=${ctx.cert.key},verify=0`, 'STDOUT']);
        await p.err.waitFor(/listening on/, 15_000, 'socat to listen');
        return { p, port, counts: (line) => line.startsWith('~p') };
      },
      client: (port, fd) => start('socat', ['-u', 'STDIN', `OPENSSL:127.0.0.1:${port},verify=0`], { stdin: fd, stdout: 'ignore' }),
      commands: {
        listener: cmdline('socat', ['-u', 'OPENSSL-LISTEN:PORT,bind=127.0.0.1,reuseaddr,cert=cert.pem,key=key.pem,verify=0', 'STDOUT']) + ' | count lines',
        client: cmdline('socat', ['-u', 'STDIN', 'OPENSSL:127.0.0.1:PORT,verify=0']) + ' < N-lines.txt',
      },
    });
  }
  return list;
}

async function once(ctx, tool, files, n) {
  const l = await tool.listener();
  let count = 0;
  let resolveAll;
  const all = new Promise((r) => (resolveAll = r));
  l.p.out.onLine((line) => {
    if (l.counts(line) && ++count === n) resolveAll();
  });
  const fd = fs.openSync(files[tool.file], 'r');
  let c;
  try {
    c = tool.client(l.port, fd);
    const exited = await waitExit(c, 15_000 + n * 5);
    const seconds = ((c.tExit ?? performance.now()) - c.t0) / 1000;
    if (!exited) await stop(c);
    // Stragglers: what the client handed over may still be on its way.
    await Promise.race([all, new Promise((r) => setTimeout(r, 5000))]);
    return { exited, code: c.code, signal: c.signal, seconds, delivered: count };
  } finally {
    fs.closeSync(fd);
    if (c) await stop(c);
    await stop(l.p);
  }
}

export async function runPipe(ctx, { rounds, lines }) {
  const files = { json: path.join(ctx.tmp, 'pipe.ndjson'), text: path.join(ctx.tmp, 'pipe.txt') };
  const js = [];
  const tx = [];
  for (let i = 0; i < lines; i++) {
    js.push(`{"message":"${text(i)}"}\n`);
    tx.push(`${text(i)}\n`);
  }
  fs.writeFileSync(files.json, js.join(''));
  fs.writeFileSync(files.text, tx.join(''));
  const list = tools(ctx);
  const acc = Object.fromEntries(list.map((t) => [t.id, { seconds: [], delivered: [], codes: [], errors: [] }]));
  for (let r = 0; r < rounds; r++) {
    for (const t of list.map((_, i) => list[(i + r) % list.length])) {
      const a = acc[t.id];
      try {
        const res = await once(ctx, t, files, lines);
        a.delivered[r] = res.delivered;
        a.codes[r] = res.exited ? res.code : 'killed (no exit)';
        // A rate only for runs that delivered everything and exited 0.
        a.seconds[r] = res.delivered === lines && res.code === 0 ? res.seconds : null;
        if (res.code === 0 && res.delivered < lines) a.errors.push(`round ${r + 1}: exited 0 but the listener got ${res.delivered} of ${lines} lines`);
        else if (res.code !== 0) a.errors.push(`round ${r + 1}: client exit ${a.codes[r]}, listener got ${res.delivered} of ${lines}`);
        ctx.log(`pipe round ${r + 1}/${rounds} ${t.id}: exit ${a.codes[r]} after ${res.seconds.toFixed(2)} s, delivered ${res.delivered}/${lines}`);
      } catch (e) {
        a.errors.push(`round ${r + 1}: ${e.message.split('\n')[0]}`);
        ctx.log(`pipe round ${r + 1}/${rounds} ${t.id}: FAILED: ${e.message}`);
      }
    }
  }
  return list.map((t) => {
    const a = acc[t.id];
    const secs = Array.from({ length: rounds }, (_, r) => a.seconds[r] ?? null);
    return {
      id: t.id,
      label: t.label,
      commands: t.commands,
      lines,
      rounds,
      seconds: median(secs),
      rate: { median: median(secs.map((s) => (s ? lines / s : null))), perRound: secs.map((s) => (s ? lines / s : null)) },
      delivered: Array.from({ length: rounds }, (_, r) => a.delivered[r] ?? null),
      exitCodes: Array.from({ length: rounds }, (_, r) => a.codes[r] ?? null),
      errors: a.errors,
    };
  });
}
