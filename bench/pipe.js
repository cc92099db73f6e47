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
import crypto from 'node:crypto';
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

// ---------------------------------------------------------------- raw bytes
// netcat's other half (issue 8): a file of random bytes through each tool,
// the listener sending (`listener < FILE`, `client > pipe`), as PERF-FACTS.md
// says ncat --ssl must be measured (its connector loses data when it sends).
// The bench counts what the client's stdout carried: a run counts only when
// every byte arrived and the client exited 0. Time: client spawn -> client
// exit (start-up and handshake included, as a user would see it).
//
//   p2pcat raw:  p2pcat listen --raw < FILE       ->  p2pcat connect --raw < /dev/null
//   nc:          nc -N -l < FILE                  ->  nc < /dev/null               (plaintext)
//   ncat --ssl:  ncat -l --ssl --send-only < FILE ->  ncat --ssl --recv-only       (TLS 1.3)
//   socat:       socat -u STDIN OPENSSL-LISTEN:   ->  socat -u OPENSSL: STDOUT     (TLS 1.3)

function rawTools(ctx) {
  const node = process.execPath;
  const bin = ctx.p2pcatBin;
  const list = [
    {
      id: 'p2pcat',
      label: 'p2pcat listen --raw / connect --raw (Noise, ChaChaPoly)',
      async listener(fd) {
        const p = start(node, [bin, 'listen', '--raw', '0', '--bind', '127.0.0.1'], { env: { ...ctx.baseEnv, P2PCAT_HOME: ctx.freshHome('hub') }, stdin: fd, stdout: 'ignore' });
        const { match } = await p.err.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 15_000, 'p2pcat listen --raw to print its port');
        return { p, port: match[1] };
      },
      client: (port) => start(node, [bin, 'connect', '--raw', `127.0.0.1:${port}`], { env: { ...ctx.baseEnv, P2PCAT_HOME: ctx.freshHome('recv') }, stdin: 'ignore', tapStdout: false }),
      commands: {
        listener: cmdline('node', ['bin/p2pcat.js', 'listen', '--raw', '0', '--bind', '127.0.0.1'], { P2PCAT_HOME: 'DIR1' }) + ' < FILE',
        client: cmdline('node', ['bin/p2pcat.js', 'connect', '--raw', '127.0.0.1:PORT'], { P2PCAT_HOME: 'DIR2' }) + ' < /dev/null | count bytes',
      },
    },
  ];
  if (ctx.available.nc) {
    list.push({
      id: 'nc',
      label: 'nc -N, OpenBSD (plaintext)',
      async listener(fd) {
        const port = String(await freePort());
        const p = start('nc', ['-v', '-N', '-l', '127.0.0.1', port], { stdin: fd, stdout: 'ignore' });
        await p.err.waitFor(/Listening on/, 15_000, 'nc to listen');
        return { p, port };
      },
      client: (port) => start('nc', ['127.0.0.1', port], { stdin: 'ignore', tapStdout: false }),
      commands: { listener: cmdline('nc', ['-N', '-l', '127.0.0.1', 'PORT']) + ' < FILE', client: cmdline('nc', ['127.0.0.1', 'PORT']) + ' < /dev/null | count bytes' },
    });
  }
  if (ctx.available.ncat && ctx.available.tls) {
    list.push({
      id: 'ncat-ssl',
      label: 'ncat --ssl (TLS 1.3, P-256 cert)',
      async listener(fd) {
        const port = String(await freePort());
        const p = start('ncat', ['-v', '-l', '--ssl', '--ssl-cert', ctx.cert.cert, '--ssl-key', ctx.cert.key, '--send-only', '127.0.0.1', port], { stdin: fd, stdout: 'ignore' });
        await p.err.waitFor(/Listening on/, 15_000, 'ncat to listen');
        return { p, port };
      },
      client: (port) => start('ncat', ['--ssl', '--recv-only', '127.0.0.1', port], { stdin: 'ignore', tapStdout: false }),
      commands: {
        listener: cmdline('ncat', ['-l', '--ssl', '--ssl-cert', 'cert.pem', '--ssl-key', 'key.pem', '--send-only', '127.0.0.1', 'PORT']) + ' < FILE',
        client: cmdline('ncat', ['--ssl', '--recv-only', '127.0.0.1', 'PORT']) + ' < /dev/null | count bytes',
      },
    });
  }
  if (ctx.available.socat && ctx.available.tls) {
    list.push({
      id: 'socat-ssl',
      label: 'socat OPENSSL (TLS 1.3, P-256 cert)',
      async listener(fd) {
        const port = String(await freePort());
        const p = start('socat', ['-d', '-d', '-u', 'STDIN', `OPENSSL-LISTEN:${port},bind=127.0.0.1,reuseaddr,cert=${ctx.cert.cert},key=${ctx.cert.key},verify=0`], { stdin: fd, stdout: 'ignore' });
        await p.err.waitFor(/listening on/, 15_000, 'socat to listen');
        return { p, port };
      },
      client: (port) => start('socat', ['-u', `OPENSSL:127.0.0.1:${port},verify=0`, 'STDOUT'], { stdin: 'ignore', tapStdout: false }),
      commands: {
        listener: cmdline('socat', ['-u', 'STDIN', 'OPENSSL-LISTEN:PORT,bind=127.0.0.1,reuseaddr,cert=cert.pem,key=key.pem,verify=0']) + ' < FILE',
        client: cmdline('socat', ['-u', 'OPENSSL:127.0.0.1:PORT,verify=0', 'STDOUT']) + ' < /dev/null | count bytes',
      },
    });
  }
  return list;
}

async function rawOnce(tool, file, size) {
  const fd = fs.openSync(file, 'r');
  let l;
  let c;
  try {
    l = await tool.listener(fd);
    c = tool.client(l.port);
    let bytes = 0;
    let tFirst;
    let tLast;
    c.child.stdout.on('data', (b) => {
      tFirst ??= performance.now();
      tLast = performance.now();
      bytes += b.length;
    });
    const outEnd = new Promise((r) => c.child.stdout.once('close', r));
    const exited = await waitExit(c, 60_000 + size / 1e6 * 200);
    const seconds = ((c.tExit ?? performance.now()) - c.t0) / 1000;
    await Promise.race([outEnd, new Promise((r) => setTimeout(r, 2000))]);
    // Also the data phase alone (first byte -> last byte at the client's
    // stdout): the pipe without start-up and handshake.
    const dataSeconds = tFirst !== undefined && tLast > tFirst ? (tLast - tFirst) / 1000 : null;
    return { exited, code: c.code, signal: c.signal, seconds, dataSeconds, startMs: tFirst !== undefined ? tFirst - c.t0 : null, bytes };
  } finally {
    fs.closeSync(fd);
    if (c) await stop(c);
    if (l) await stop(l.p, { graceMs: 2000 });
  }
}

/** Random bytes into a file, in 1 MiB pieces (never the whole file in memory). */
function randomFile(file, size) {
  const fd = fs.openSync(file, 'w');
  try {
    const piece = 1024 * 1024;
    for (let off = 0; off < size; off += piece) fs.writeSync(fd, crypto.randomBytes(Math.min(piece, size - off)));
  } finally {
    fs.closeSync(fd);
  }
}

export async function runRawPipe(ctx, { rounds, megabytes }) {
  const size = megabytes * 1024 * 1024;
  const file = path.join(ctx.tmp, 'raw.bin');
  randomFile(file, size);
  const list = rawTools(ctx);
  const acc = Object.fromEntries(list.map((t) => [t.id, { seconds: [], dataSeconds: [], startMs: [], delivered: [], codes: [], errors: [] }]));
  try {
    for (let r = 0; r < rounds; r++) {
      for (const t of list.map((_, i) => list[(i + r) % list.length])) {
        const a = acc[t.id];
        try {
          const res = await rawOnce(t, file, size);
          a.delivered[r] = res.bytes;
          a.codes[r] = res.exited ? res.code : 'killed (no exit)';
          const ok = res.bytes === size && res.code === 0;
          a.seconds[r] = ok ? res.seconds : null;
          a.dataSeconds[r] = ok ? res.dataSeconds : null;
          a.startMs[r] = ok ? res.startMs : null;
          if (res.code === 0 && res.bytes !== size) a.errors.push(`round ${r + 1}: exited 0 but delivered ${res.bytes} of ${size} bytes`);
          else if (res.code !== 0) a.errors.push(`round ${r + 1}: client exit ${a.codes[r]}, delivered ${res.bytes} of ${size}`);
          ctx.log(`raw round ${r + 1}/${rounds} ${t.id}: exit ${a.codes[r]} after ${res.seconds.toFixed(2)} s, ${(res.bytes / 1e6 / res.seconds).toFixed(0)} MB/s (data phase ${res.dataSeconds ? (res.bytes / 1e6 / res.dataSeconds).toFixed(0) : '?'} MB/s, first byte after ${res.startMs?.toFixed(0) ?? '?'} ms), delivered ${res.bytes}/${size}`);
        } catch (e) {
          a.errors.push(`round ${r + 1}: ${e.message.split('\n')[0]}`);
          ctx.log(`raw round ${r + 1}/${rounds} ${t.id}: FAILED: ${e.message}`);
        }
      }
    }
  } finally {
    fs.rmSync(file, { force: true });
  }
  return list.map((t) => {
    const a = acc[t.id];
    const secs = Array.from({ length: rounds }, (_, r) => a.seconds[r] ?? null);
    const dsecs = Array.from({ length: rounds }, (_, r) => a.dataSeconds[r] ?? null);
    return {
      id: t.id,
      label: t.label,
      commands: t.commands,
      bytes: size,
      // Data phase only (client's first byte -> last byte), and spawn -> first byte.
      dataRate: { median: median(dsecs.map((s) => (s ? size / 1e6 / s : null))), perRound: dsecs.map((s) => (s ? size / 1e6 / s : null)) },
      firstByteMs: median(Array.from({ length: rounds }, (_, r) => a.startMs[r] ?? null)),
      rounds,
      seconds: median(secs),
      // MB = 10^6 bytes, as PERF-FACTS.md counts them.
      rate: { median: median(secs.map((s) => (s ? size / 1e6 / s : null))), perRound: secs.map((s) => (s ? size / 1e6 / s : null)) },
      delivered: Array.from({ length: rounds }, (_, r) => a.delivered[r] ?? null),
      exitCodes: Array.from({ length: rounds }, (_, r) => a.codes[r] ?? null),
      errors: a.errors,
    };
  });
}
