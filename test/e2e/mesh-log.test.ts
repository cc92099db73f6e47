// Black-box: listen/connect and the encrypted log (issue 3 wired into chat).
// Every CHAT sent and received is logged; msg_ids already in the log count
// as seen after a restart; --log PATH and --no-log; a failing append (the
// file size limit standing in for a full disk) is an ERROR record, not a crash.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { exitOf, reap, tmpHome, type Proc } from '../helpers/proc.js';
import { BIN } from '../helpers/paths.js';
import { errors, sleep, prun, peer } from '../mesh/peers.js';

async function logCat(home: string, extra: string[] = []): Promise<Record<string, any>[]> {
  const p = prun(['log', 'cat', ...extra], { home, stdin: 'ignore' });
  await exitOf(p);
  return p.records;
}

// Real processes: allow for a CI box running every suite at once.
t.setTimeout(240_000);

t.test('sent and received messages are logged; the log is the memory across restarts', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const home = tmpHome();
  const l = await peer('keeper', [], { home });
  procs.push(l);
  const c = prun(['connect', `127.0.0.1:${l.port}`, '--json'], { name: 'visitor' });
  procs.push(c);
  await c.waitRecord((r) => r.type === 'PEER_UP', 'up');
  c.write('first from the visitor\n');
  const first = await l.waitRecord((r) => r.message === 'first from the visitor', 'received');
  l.write('reply from the keeper\n');
  await c.waitRecord((r) => r.message === 'reply from the keeper', 'the reply');
  c.end();
  await exitOf(c);
  l.kill('SIGTERM');
  t.equal((await exitOf(l)).code, 0);
  t.same((await logCat(home)).map((r) => r.message), ['first from the visitor', 'reply from the keeper'], 'both, in order');

  // Restarted on the same log: a peer replaying the old record (say, from `log cat`) is not shown again.
  const l2 = await peer('keeper', [], { home });
  procs.push(l2);
  const replayer = prun(['connect', `127.0.0.1:${l2.port}`], { name: 'replayer' });
  procs.push(replayer);
  const { type: _t, ...rec } = first;
  replayer.end(JSON.stringify({ type: 'CHAT', ...rec }) + '\nsomething new\n');
  t.equal((await exitOf(replayer)).code, 0);
  await l2.waitRecord((r) => r.message === 'something new', 'the new message');
  await sleep(300);
  t.notOk(l2.records.some((r) => r.message === 'first from the visitor'), 'the logged msg_id counts as seen');
  l2.kill('SIGTERM');
  await exitOf(l2);
  t.same((await logCat(home)).map((r) => r.message), ['first from the visitor', 'reply from the keeper', 'something new']);
});

t.test('--log PATH and --no-log', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const home = tmpHome();
  const file = path.join(home, 'elsewhere.p2plog');
  const l = await peer('host', ['--log', file], { home });
  procs.push(l);
  const c = prun(['connect', `127.0.0.1:${l.port}`, '--no-log'], { home: tmpHome() });
  procs.push(c);
  c.end('to a chosen file\n');
  await exitOf(c);
  await l.waitRecord((r) => r.message === 'to a chosen file', 'received');
  l.kill('SIGTERM');
  await exitOf(l);
  t.same((await logCat(home, ['--log', file])).map((r) => r.message), ['to a chosen file']);
  t.notOk(fs.existsSync(path.join(home, 'logs')), 'nothing in the default place');
  const none = prun(['connect', `127.0.0.1:1`, '--no-log'], { home, stdin: 'ignore' });
  await exitOf(none);
  t.notOk(fs.existsSync(path.join(home, 'logs')), '--no-log creates no log');
});

t.test('a failing append (file size limit: EFBIG, as a full disk would) is an ERROR record; the chat goes on', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await peer('host');
  procs.push(l);
  const home = tmpHome();
  // ulimit -f 16: files may not grow past 8 KiB; the log hits it after a few messages.
  const child = spawn('sh', ['-c', `ulimit -f 16; exec "${process.execPath}" "${BIN}" connect 127.0.0.1:${l.port} --json`], {
    // No NODE_OPTIONS: tap's preloads catch SIGXFSZ and re-raise it; p2pcat itself ignores it and sees EFBIG.
    env: { ...process.env, NODE_OPTIONS: '', P2PCAT_HOME: home, P2PCAT_NAME: 'small-disk' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  t.teardown(() => child.kill('SIGKILL'));
  for (let i = 0; i < 40; i++) child.stdin.write(`message ${i} ${'x'.repeat(400)}\n`);
  await l.waitFor(() => l.records.filter((r) => r.type === 'CHAT').length === 40, 'all 40 delivered');
  child.stdin.end();
  t.equal(await exit, 0, 'exit 0: the messages went out');
  const errs = err.split('\n').filter((s) => s.startsWith('{')).map((s) => JSON.parse(s));
  t.ok(errs.some((e) => e.code === 'P2PCAT_ERR_IO' && /cannot append to the log/.test(e.message)), 'an ERROR record says the log append failed');
  t.ok(errs.filter((e) => e.code === 'P2PCAT_ERR_IO').length <= 2, 'said once per failing stretch, not per message');
  const cat = prun(['log', 'cat'], { home, stdin: 'ignore' });
  t.equal((await exitOf(cat)).code, 0, `the log still opens and reads afterwards (${cat.records.length} of 40 made it)`);
  t.ok(cat.records.length < 40);
  t.same(errors(l), [], 'the other side saw nothing wrong');
});
