// Black-box on loopback: `discover --static`, `connect --peers FILE|-`, and
// the handshake keeping out a listed peer that lacks the room secret.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { BIN } from '../helpers/paths.js';
import { listen, run, exitOf, reap, tmpHome, type Proc } from '../helpers/proc.js';
import { procOf } from '../discovery/lanlab.js';

const peers = (p: { records: Record<string, any>[] }) => p.records.filter((r) => r.type === 'PEER');
const errors = (p: { stderr: string[] }) => p.stderr.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

function file(lines: string[]): string {
  const f = path.join(tmpHome('p2pcat-peers-'), 'peers.txt');
  fs.writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

t.test('discover --static: every form, bad lines as warnings, exit status', async (t) => {
  const key = 'ef'.repeat(32);
  const f = file([
    '# the team',
    '192.0.2.10:5050',
    '',
    'alice.lan:5050   # alice',
    '[2001:db8::5]:6000',
    'p2pcat://198.51.100.7:7000?room=ops',
    JSON.stringify({ type: 'PEER', addrs: ['203.0.113.1:1', '203.0.113.2:1'], via: 'lan', key }),
    'this is not a peer',
    '192.0.2.10:5050',
  ]);
  // Independent runs, started together.
  const d = run(['discover', '--static', f]);
  const once = run(['discover', '--static', f, '--once']);
  const empty = run(['discover', '--static', file(['# nobody'])]);
  const missing = run(['discover', '--static', '/nonexistent/peers.txt']);
  const stdin = run(['discover', '--static', '-']);
  stdin.end('192.0.2.99:1\n');
  const usage = ([
    [['--timeout', '0'], /--timeout/],
    [['--bootstrap', '127.0.0.1:1'], /--bootstrap is for --dht/],
    [['--lan-via', 'carrier-pigeon'], /lan-via/],
  ] as const).map(([args, re]) => ({ args, re, p: run(['discover', '--static', f, ...args]) }));

  t.equal((await exitOf(d)).code, 0);
  t.same(
    peers(d).map((p) => p.addrs),
    [['192.0.2.10:5050'], ['alice.lan:5050'], ['[2001:db8::5]:6000'], ['198.51.100.7:7000'], ['203.0.113.1:1', '203.0.113.2:1']],
    'one record per peer, duplicates dropped, in file order',
  );
  t.ok(peers(d).every((p) => p.via === 'static' && /Z$/.test(p.timestamp)));
  t.equal(peers(d)[3]!.link, 'p2pcat://198.51.100.7:7000?room=ops');
  t.equal(peers(d)[4]!.key, key);
  t.match(errors(d), [{ type: 'ERROR', code: 'P2PCAT_ERR_BAD_INPUT', line: 8 }], 'the bad line is one warning with its number');

  t.equal((await exitOf(once)).code, 0);
  t.equal(peers(once).length, 1, '--once: the first peer only');

  t.equal((await exitOf(empty)).code, 69, 'no peers: exit 69');
  t.same(empty.stdout, [], 'and nothing on stdout');

  t.equal((await exitOf(missing)).code, 74);
  t.match(missing.stderr.join('\n'), /P2PCAT_ERR_IO: --static: cannot read \/nonexistent\/peers.txt: ENOENT/);

  t.equal((await exitOf(stdin)).code, 0);
  t.same(peers(stdin).map((p) => p.addrs[0]), ['192.0.2.99:1'], '--static - reads stdin');

  for (const { args, re, p } of usage) {
    t.equal((await exitOf(p)).code, 64, `${args.join(' ')}: usage error`);
    t.match(p.stderr.join('\n'), re);
  }
});

t.test('connect --peers FILE: dials every listed peer, skips bad lines and dead peers', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await listen([], { name: 'hub' });
  procs.push(l);
  const f = file(['junk line', '127.0.0.1:1', `127.0.0.1:${l.port}`, JSON.stringify({ type: 'PEER', addrs: [`127.0.0.1:${l.port}`] })]);
  const c = run(['connect', '--peers', f, '--json'], { name: 'carol' });
  procs.push(c);
  c.end('hello via the list\n');
  t.equal((await exitOf(c)).code, 0, 'exit 0: one peer was reached');
  await l.waitRecord((r) => r.type === 'CHAT' && r.message === 'hello via the list', 'the message at the listener');
  const e = errors(c);
  t.ok(e.some((x) => x.code === 'P2PCAT_ERR_BAD_INPUT' && x.line === 1), 'the junk line is a warning');
  t.ok(e.some((x) => x.code === 'P2PCAT_ERR_UNAVAILABLE' && /127\.0\.0\.1:1/.test(x.message)), 'the dead peer is a warning');
  t.equal(l.records.filter((r) => r.type === 'PEER_UP').length, 1, 'the duplicate entry was dialled once');

  const none = run(['connect', '--peers', file(['# empty'])]);
  const usage = run(['connect']);
  const raw = run(['connect', '--raw', '--peers', f]);
  t.equal((await exitOf(none)).code, 69, 'an empty list: exit 69');
  t.equal((await exitOf(usage)).code, 64, 'no target and no --peers: usage error');
  t.match(usage.stderr.join('\n'), /--peers/);
  t.equal((await exitOf(raw)).code, 64, '--raw with --peers: usage error');
});

t.test('discover | connect --peers -: stdin is the list, connect only receives', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await listen([], { name: 'hub' });
  procs.push(l);
  const f = file([`127.0.0.1:${l.port}`]);
  const homeA = tmpHome();
  const homeB = tmpHome();
  const pipe = procOf(
    spawn('sh', ['-c', `P2PCAT_HOME=${homeA} "$NODE" "$BIN" discover --static ${f} | P2PCAT_HOME=${homeB} P2PCAT_NAME=dave "$NODE" "$BIN" connect --peers -`], {
      env: { ...process.env, NODE: process.execPath, BIN },
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  procs.push(pipe as unknown as Proc);
  await pipe.waitRecord((r) => r.type === 'PEER_UP', 'the pipeline connected (NDJSON even without --json)');
  l.write('to the pipeline\n');
  await pipe.waitRecord((r) => r.type === 'CHAT' && r.message === 'to the pipeline', 'it receives');
  l.kill('SIGTERM');
  t.equal((await exitOf(pipe as unknown as Proc)).code, 0, 'it exits 0 when the peer says goodbye');
  t.notOk(l.records.some((r) => r.type === 'CHAT'), 'nothing was sent from the pipeline: its stdin was the peer list');
});

t.test('a listed peer without the room secret: the handshake keeps it out', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const secret = { P2PCAT_SECRET: 'right' };
  const [good, evil] = await Promise.all([listen(['--room', 'ops'], { env: secret, name: 'good' }), listen(['--room', 'ops'], { env: { P2PCAT_SECRET: 'wrong' }, name: 'evil' })]);
  procs.push(good!, evil!);
  const both = run(['connect', '--peers', file([`127.0.0.1:${evil!.port}`, `127.0.0.1:${good!.port}`]), '--room', 'ops'], { env: secret, name: 'erin' });
  const alone = run(['connect', '--peers', file([`127.0.0.1:${evil!.port}`]), '--room', 'ops'], { env: secret });
  procs.push(both, alone);
  both.end('for members only\n');
  alone.end('for members only\n');
  t.equal((await exitOf(both)).code, 0, 'the member was reached');
  await good!.waitRecord((r) => r.type === 'CHAT' && r.message === 'for members only', 'the member got it');
  t.ok(errors(both).some((e) => e.code === 'P2PCAT_ERR_AUTH'), 'the impostor is an AUTH warning');
  t.equal((await exitOf(alone)).code, 77, 'only the impostor listed: exit 77');
  t.match(alone.stderr.join('\n'), /P2PCAT_ERR_AUTH/);
  t.notOk(evil!.records.some((r) => r.type === 'CHAT'), 'no message reached the impostor');
});

t.test('the key of a PEER record is pinned: a peer with another key is refused', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const home = tmpHome();
  const key = JSON.parse(spawnSync(process.execPath, [BIN, 'id'], { env: { ...process.env, P2PCAT_HOME: home }, encoding: 'utf8' }).stdout).public_key;
  const l = await listen([], { home, name: 'pinned' });
  procs.push(l);
  const rec = (k: string) => file([JSON.stringify({ type: 'PEER', addrs: [`127.0.0.1:${l.port}`], via: 'lan', key: k })]);
  const right = run(['connect', '--peers', rec(key)], { name: 'judy' });
  const wrong = run(['connect', '--peers', rec('00'.repeat(32))], { name: 'ken' });
  procs.push(right, wrong);
  right.end('to the pinned key\n');
  wrong.end('to an impostor\n');
  t.equal((await exitOf(right)).code, 0, 'the listed key: connected');
  t.equal((await exitOf(wrong)).code, 77, 'another key: P2PCAT_ERR_AUTH, exit 77');
  t.match(wrong.stderr.join('\n'), /P2PCAT_ERR_AUTH/);
  await l.waitRecord((r) => r.type === 'CHAT' && r.message === 'to the pinned key', 'the pinned peer got its message');
  t.notOk(l.records.some((r) => r.type === 'CHAT' && r.message === 'to an impostor'), 'nothing was sent under a wrong pin');
});
