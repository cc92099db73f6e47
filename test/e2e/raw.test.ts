// Black-box: raw mode (listen --raw / connect --raw), netcat's other half.
import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { run, exitOf, reap, tmpHome, type Proc } from '../helpers/proc.js';
import { BIN } from '../helpers/paths.js';
import { recordingProxy } from '../helpers/proxy.js';

async function rawListen(args: string[] = [], opts: Parameters<typeof run>[1] = {}): Promise<Proc & { port: number }> {
  const p = run(['listen', '--raw', '0', '--bind', '127.0.0.1', ...args], { binary: true, ...opts });
  const line = await p.waitFor(() => p.stderr.find((l) => /listening on /.test(l)), 'the listening line');
  return Object.assign(p, { port: Number(/:(\d+) /.exec(line)![1]) });
}

t.test('bytes both ways, half-close like nc -N, exit 0 when both ends finished', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await rawListen();
  procs.push(l);
  const lOut = l.bytes;
  const c = run(['connect', '--raw', `127.0.0.1:${l.port}`], { binary: true });
  procs.push(c);
  const cOut = c.bytes;
  const up = crypto.randomBytes(3 * 1024 * 1024 + 17); // several frames, an odd tail
  const down = crypto.randomBytes(200_000);
  c.end(up); // connector's input ends first: the other direction must keep flowing
  await new Promise((r) => setTimeout(r, 300));
  l.end(down);
  t.equal((await exitOf(c)).code, 0, 'connect exits 0');
  t.equal((await exitOf(l)).code, 0, 'listen exits 0');
  t.ok(lOut().equals(up), 'listener received every byte, in order');
  t.ok(cOut().equals(down), 'connector received every byte after its own EOF');
});

t.test('tar c dir | connect --raw, listen --raw | tar x', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const src = tmpHome('p2pcat-tar-src-');
  fs.mkdirSync(path.join(src, 'd', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'd', 'a.txt'), 'alpha\n');
  fs.writeFileSync(path.join(src, 'd', 'sub', 'b.bin'), crypto.randomBytes(500_000));
  const dst = tmpHome('p2pcat-tar-dst-');
  const home1 = tmpHome();
  const home2 = tmpHome();
  const recv = spawn('sh', ['-c', `"${process.execPath}" "${BIN}" listen --raw 0 --bind 127.0.0.1 < /dev/null | tar x -C "${dst}"`], { env: { ...process.env, P2PCAT_HOME: home1 }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  recv.stderr.on('data', (d) => (err += d));
  const t0 = Date.now();
  while (!/listening on .*:(\d+) /.test(err) && Date.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 20));
  const port = /listening on .*:(\d+) /.exec(err)![1];
  const send = spawn('sh', ['-c', `tar c -C "${src}" d | "${process.execPath}" "${BIN}" connect --raw 127.0.0.1:${port}`], { env: { ...process.env, P2PCAT_HOME: home2 }, stdio: ['ignore', 'pipe', 'pipe'] });
  const codes = await Promise.all([recv, send].map((p) => new Promise<number | null>((r) => p.on('close', r))));
  t.same(codes, [0, 0], `both pipelines exit 0 ${err}`);
  t.equal(fs.readFileSync(path.join(dst, 'd', 'a.txt'), 'utf8'), 'alpha\n');
  t.ok(fs.readFileSync(path.join(dst, 'd', 'sub', 'b.bin')).equals(fs.readFileSync(path.join(src, 'd', 'sub', 'b.bin'))), 'binary file identical');
});

t.test('a cut stream never looks complete: the receiver exits non-zero', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await rawListen([], {});
  procs.push(l);
  const c = run(['connect', '--raw', `127.0.0.1:${l.port}`]);
  procs.push(c);
  c.write(crypto.randomBytes(100_000));
  await l.waitFor(() => l.bytes().length > 0, 'the first bytes at the listener');
  c.kill('SIGKILL'); // the sender dies mid-stream: FIN with no end-of-stream mark
  const ex = await exitOf(l);
  t.equal(ex.code, 69);
  t.match(l.stderr.join('\n'), /P2PCAT_ERR_UNAVAILABLE: .*without an end-of-stream mark/);
});

t.test('nothing readable on the wire; wrong secret exits 77 and moves no bytes', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await rawListen(['--room', 'files'], { env: { P2PCAT_SECRET: 's3cret' }, stdin: 'ignore' });
  procs.push(l);
  const lOut = l.bytes;
  const proxy = await recordingProxy(l.port);
  t.teardown(() => proxy.close());
  const bad = run(['connect', '--raw', `127.0.0.1:${proxy.port}`, '--room', 'files'], { env: { P2PCAT_SECRET: 'guess' } });
  bad.end('PLAINTEXT-MARKER-ONE\n');
  t.equal((await exitOf(bad)).code, 77, 'wrong secret: 77');
  t.equal(l.exitInfo, undefined, 'the listener keeps waiting for a real peer');
  const good = run(['connect', '--raw', `127.0.0.1:${proxy.port}`, '--room', 'files'], { env: { P2PCAT_SECRET: 's3cret' } });
  good.end('PLAINTEXT-MARKER-TWO\n');
  t.equal((await exitOf(good)).code, 0);
  t.equal((await exitOf(l)).code, 0);
  t.equal(lOut().toString(), 'PLAINTEXT-MARKER-TWO\n');
  const wire = proxy.bytes();
  t.equal(wire.indexOf('PLAINTEXT-MARKER'), -1, 'no payload on the wire');
});

t.test('--exec: one program per session on listen -k', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await rawListen(['-k', '--exec', 'tr a-z A-Z']);
  procs.push(l);
  for (const word of ['first', 'second', 'third']) {
    const c = run(['connect', '--raw', `127.0.0.1:${l.port}`], { binary: true });
    procs.push(c);
    const out = c.bytes;
    c.end(`${word} session\n`);
    t.equal((await exitOf(c)).code, 0);
    t.equal(out().toString(), `${word.toUpperCase()} SESSION\n`, `${word}: the program answered`);
  }
  t.equal(l.exitInfo, undefined, '-k keeps listening');
});

t.test('usage: --raw conflicts with --json; -k is for listen', async (t) => {
  for (const args of [['connect', '--raw', '--json', '127.0.0.1:9'], ['connect', '--raw', '-k', '127.0.0.1:9'], ['connect', '--raw', 'a:1', 'b:2']]) {
    const p = run(args, { stdin: 'ignore' });
    t.equal((await exitOf(p)).code, 64, args.join(' '));
  }
});

t.test('--send-only / --recv-only and --idle-timeout', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  // The listener only receives: its stdin is never read, even though it stays open.
  const l = await rawListen(['--recv-only']);
  procs.push(l);
  const c = run(['connect', '--raw', '--send-only', `127.0.0.1:${l.port}`], { binary: true });
  procs.push(c);
  c.end('one way\n');
  t.equal((await exitOf(c)).code, 0, 'send-only sender exits 0');
  t.equal((await exitOf(l)).code, 0, 'recv-only receiver exits 0 without stdin EOF');
  t.equal(l.bytes().toString(), 'one way\n');
  t.equal(c.bytes().length, 0, 'nothing came back');

  const quiet = await rawListen(['--idle-timeout', '1']);
  procs.push(quiet);
  const idle = run(['connect', '--raw', `127.0.0.1:${quiet.port}`], { binary: true });
  procs.push(idle);
  const ex = await exitOf(quiet);
  t.equal(ex.code, 75, 'idle listener gives up with 75');
  t.match(quiet.stderr.join('\n'), /P2PCAT_ERR_TIMEOUT: no data for 1 s/);
  t.not((await exitOf(idle)).code, 0, 'the peer of a timed-out session does not exit 0');
});

t.test('interactive: a short piece arrives without waiting for a full frame or EOF, both ways', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await rawListen();
  procs.push(l);
  const c = run(['connect', '--raw', `127.0.0.1:${l.port}`], { binary: true });
  procs.push(c);
  // stdin stays open: the sender holds a piece shorter than a frame only briefly.
  c.write('ping\n');
  await l.waitFor(() => l.bytes().toString() === 'ping\n', 'ping at the listener', 10_000);
  l.write('pong\n');
  await c.waitFor(() => c.bytes().toString() === 'pong\n', 'pong at the connector', 10_000);
  // A full frame and a tail in one write: the tail follows on its own too.
  const big = crypto.randomBytes(70_000);
  c.write(big);
  await l.waitFor(() => l.bytes().length === 5 + big.length, 'the 70 kB piece at the listener', 10_000);
  t.ok(l.bytes().subarray(5).equals(big), 'in order, intact');
  c.end();
  l.end();
  t.equal((await exitOf(c)).code, 0);
  t.equal((await exitOf(l)).code, 0);
});
