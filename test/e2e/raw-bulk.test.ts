// Black-box, bulk: 200 MB of random bytes each way at once through
// `listen --raw` and `connect --raw`, checked by SHA-256, streamed (the test
// never holds the data in memory); and a sender killed mid-stream leaves the
// receiver with a non-zero exit (the connect side here: the reverse case is
// in raw.test.ts).
import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN } from '../helpers/paths.js';
import { tmpHome } from '../helpers/proc.js';

const MB = 1024 * 1024;
const SIZE = 200 * MB;

/** SIZE random bytes into a file, 1 MiB at a time; returns its sha256. */
function randomFile(file: string, size: number): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'w');
  try {
    for (let off = 0; off < size; off += MB) {
      const b = crypto.randomBytes(Math.min(MB, size - off));
      h.update(b);
      fs.writeSync(fd, b);
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

interface Child {
  child: ChildProcess;
  stderr: () => string;
  /** sha256 and length of everything stdout carried, once it closed. */
  out: Promise<{ sha256: string; bytes: number }>;
  exit: Promise<number | null>;
}

function p2pcat(args: string[], stdin: 'pipe' | 'ignore' | number): Child {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: [stdin, 'pipe', 'pipe'], env: { ...process.env, P2PCAT_HOME: tmpHome() } });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (err += d));
  child.stdin?.on('error', () => {});
  const h = crypto.createHash('sha256');
  let bytes = 0;
  child.stdout!.on('data', (b: Buffer) => {
    h.update(b);
    bytes += b.length;
  });
  const out = new Promise<{ sha256: string; bytes: number }>((r) => child.stdout!.on('close', () => r({ sha256: h.digest('hex'), bytes })));
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, stderr: () => err, out, exit };
}

async function listening(l: Child): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < 15_000) {
    const m = /listening on 127\.0\.0\.1:(\d+) /.exec(l.stderr());
    if (m) return Number(m[1]);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no listening line: ${l.stderr()}`);
}

function bounded<T>(p: Promise<T>, ms: number, kill: ChildProcess[]): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, rej) => {
      timer = setTimeout(() => {
        for (const c of kill) c.kill('SIGKILL');
        rej(new Error(`not done within ${ms / 1000} s`));
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

t.test('200 MB each way at once, byte-identical by sha256, both exit 0', async (t) => {
  const dir = tmpHome('p2pcat-bulk-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'random.bin');
  const sum = randomFile(file, SIZE);
  // The listener reads a regular file (fs.read into one buffer); the
  // connector reads a pipe fed from the same file (process.stdin).
  const fd = fs.openSync(file, 'r');
  t.teardown(() => fs.closeSync(fd));
  const l = p2pcat(['listen', '--raw', '0', '--bind', '127.0.0.1'], fd);
  const procs = [l.child];
  t.teardown(() => procs.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));
  const port = await listening(l);
  const c = p2pcat(['connect', '--raw', `127.0.0.1:${port}`], 'pipe');
  procs.push(c.child);
  fs.createReadStream(file).pipe(c.child.stdin!);
  const [lx, cx, lo, co] = await bounded(Promise.all([l.exit, c.exit, l.out, c.out]), 120_000, procs);
  t.equal(lx, 0, `listen exits 0 ${l.stderr()}`);
  t.equal(cx, 0, `connect exits 0 ${c.stderr()}`);
  t.equal(co.bytes, SIZE, 'listener -> connector: every byte');
  t.equal(co.sha256, sum, 'listener -> connector: sha256 matches');
  t.equal(lo.bytes, SIZE, 'connector -> listener: every byte');
  t.equal(lo.sha256, sum, 'connector -> listener: sha256 matches');
});

t.test('the listener killed mid-stream: connect --raw exits non-zero, never 0', async (t) => {
  const l = p2pcat(['listen', '--raw', '0', '--bind', '127.0.0.1'], 'pipe');
  const procs = [l.child];
  t.teardown(() => procs.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));
  const port = await listening(l);
  const c = p2pcat(['connect', '--raw', `127.0.0.1:${port}`], 'ignore');
  procs.push(c.child);
  let got = 0;
  c.child.stdout!.on('data', (b: Buffer) => (got += b.length));
  l.child.stdin!.write(crypto.randomBytes(2 * MB));
  const t0 = Date.now();
  while (got === 0 && Date.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 20));
  t.ok(got > 0, 'bytes arrived before the kill');
  l.child.kill('SIGKILL');
  const code = await bounded(c.exit, 30_000, procs);
  t.equal(code, 69, 'cut stream: 69');
  t.match(c.stderr(), /P2PCAT_ERR_UNAVAILABLE: .*without an end-of-stream mark/);
});
