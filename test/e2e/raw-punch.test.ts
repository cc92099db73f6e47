// Black-box: `punch --raw` on loopback. Two peers meet through a real
// `p2pcat rendezvous`, hole-punch UDP (the direct path is their loopback
// endpoints) and then move bytes as `connect --raw` does, over udx: a few MB
// both ways arrive byte-identical, each side's EOF reaches the other, and both
// exit 0. stdout carries the peer's bytes only; the path is told on stderr.
import t from 'tap';
import crypto from 'node:crypto';
import { run, exitOf, reap, type Proc } from '../helpers/proc.js';

const sha256 = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

async function startRendezvous(procs: Proc[]): Promise<Proc & { port: number }> {
  const p = run(['rendezvous', '0', '--bind', '127.0.0.1']);
  procs.push(p);
  const line = await p.waitFor(() => p.stderr.find((l) => /rendezvous listening on /.test(l)), 'the listening line');
  return Object.assign(p, { port: Number(/127\.0\.0\.1:(\d+)/.exec(line)![1]) });
}

t.test('punch --raw: MBs both ways over a punched udx path, byte-identical, EOF each way, exit 0', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const rv = await startRendezvous(procs);
  const args = ['punch', `127.0.0.1:${rv.port}`, '--room', 'rawpunch', '--raw', '--wait', '20'];
  const a = run(args, { name: 'ann', binary: true });
  const b = run(args, { name: 'bob', binary: true });
  procs.push(a, b);
  const fromA = crypto.randomBytes(3 * 1024 * 1024 + 101); // many frames and an odd tail
  const fromB = crypto.randomBytes(2 * 1024 * 1024 + 7);
  // Before the session is up the bytes wait in the pipe (backpressure), so
  // both sides may write at once; each side's EOF follows its last byte.
  a.end(fromA);
  b.end(fromB);
  const [ea, eb] = await Promise.all([exitOf(a, 60_000), exitOf(b, 60_000)]);
  t.equal(ea.code, 0, `ann exits 0\n${a.stderr.join('\n')}`);
  t.equal(eb.code, 0, `bob exits 0\n${b.stderr.join('\n')}`);
  t.equal(b.bytes().length, fromA.length, 'bob got as many bytes as ann sent');
  t.equal(sha256(b.bytes()), sha256(fromA), "ann -> bob: bob's stdout is ann's stdin, byte for byte");
  t.equal(sha256(a.bytes()), sha256(fromB), 'bob -> ann: byte-identical');
  for (const [p, name] of [[a, 'ann'], [b, 'bob']] as const) {
    t.match(p.stderr.join('\n'), /path: direct via public, 127\.0\.0\.1:\d+ <-> 127\.0\.0\.1:\d+/, `${name}: the path on stderr, not in the byte stream`);
  }
  rv.kill('SIGTERM');
  await exitOf(rv);
});

t.test('punch --raw half-close: one side sends and ends, the other keeps sending after that EOF', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const rv = await startRendezvous(procs);
  const args = ['punch', `127.0.0.1:${rv.port}`, '--room', 'halfclose', '--raw', '--wait', '20'];
  const a = run(args, { name: 'ann', binary: true });
  const b = run(args, { name: 'bob', binary: true });
  procs.push(a, b);
  const fromA = crypto.randomBytes(300_000);
  a.end(fromA);
  // bob sees ann's EOF (all her bytes), and only then sends his own.
  await b.waitFor(() => b.bytes().length === fromA.length, "ann's bytes at bob", 30_000);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(a.exitInfo, undefined, 'ann waits for the other direction to end');
  const fromB = crypto.randomBytes(500_000);
  b.end(fromB);
  const [ea, eb] = await Promise.all([exitOf(a, 30_000), exitOf(b, 30_000)]);
  t.equal(ea.code, 0, 'ann exits 0');
  t.equal(eb.code, 0, 'bob exits 0');
  t.equal(sha256(b.bytes()), sha256(fromA));
  t.equal(sha256(a.bytes()), sha256(fromB), "bob's bytes sent after ann's EOF arrive");
  rv.kill('SIGTERM');
  await exitOf(rv);
});

t.test('punch --raw: -k and --max-conns are for listen (usage, 64)', async (t) => {
  for (const extra of [['-k'], ['--exec', 'cat', '--max-conns', '2']]) {
    const p = run(['punch', '127.0.0.1:9', '--raw', ...extra], { stdin: 'ignore' });
    t.equal((await exitOf(p)).code, 64, extra.join(' '));
  }
});
