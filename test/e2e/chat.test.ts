// Black-box: the built p2pcat binary, listen + connect on loopback.
import t from 'tap';
import { spawn } from 'node:child_process';
import { listen, run, exitOf, reap, type Proc } from '../helpers/proc.js';
import { BIN } from '../helpers/paths.js';

const chats = (p: Proc) => p.records.filter((r) => r.type === 'CHAT');

t.test('three clients: every message reaches every other party exactly once', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await listen([], { name: 'hub' });
  procs.push(l);
  const names = ['ann', 'ben', 'cat'];
  const clients = names.map((n) => run(['connect', `127.0.0.1:${l.port}`, '--json'], { name: n }));
  procs.push(...clients);
  await l.waitFor(() => l.records.filter((r) => r.type === 'PEER_UP').length === 3, 'three PEER_UP on the listener');
  for (const c of clients) await c.waitRecord((r) => r.type === 'PEER_UP', 'PEER_UP on a client');
  // Each party sends two messages: a plain-text line and a JSON request.
  for (const [i, c] of clients.entries()) {
    c.write(`plain from ${names[i]}\n`);
    c.write(JSON.stringify({ message: `json from ${names[i]}` }) + '\n');
  }
  l.write('from the hub\n');
  const all = [...names.flatMap((n) => [`plain from ${n}`, `json from ${n}`]), 'from the hub'];
  const expectFor = (who: string) => all.filter((m) => !m.endsWith(` ${who}`) && !(who === 'hub' && m === 'from the hub'));
  await l.waitFor(() => chats(l).length >= 6, 'six messages at the listener');
  for (const [i, c] of clients.entries()) await c.waitFor(() => chats(c).length >= 5, `five messages at ${names[i]}`);
  await new Promise((r) => setTimeout(r, 300)); // give duplicates, if any, time to arrive
  t.same(chats(l).map((r) => r.message).sort(), expectFor('hub').sort(), 'listener got each other message once');
  for (const [i, c] of clients.entries()) {
    t.same(chats(c).map((r) => r.message).sort(), expectFor(names[i]!).sort(), `${names[i]} got each other message once`);
    for (const r of chats(c)) {
      t.match(r, { type: 'CHAT', room: 'lobby', uuid: /^[0-9a-f-]{36}$/, msg_id: /^[0-9a-f]{64}$/, from: /^[0-9a-f]{64}$/, sig: /^[0-9a-f]{128}$/, timestamp: /Z$/ });
    }
  }
  t.equal(chats(clients[0]!).find((r) => r.message === 'plain from ben')?.username, 'ben', 'usernames travel');
  for (const c of clients) c.end();
  for (const c of clients) t.equal((await exitOf(c)).code, 0, 'stdin EOF: connect exits 0');
  await l.waitFor(() => l.records.filter((r) => r.type === 'PEER_DOWN').length === 3, 'three PEER_DOWN');
  t.ok(l.records.filter((r) => r.type === 'PEER_DOWN').every((r) => r.reason === 'bye'), 'clean goodbyes');
  l.kill('SIGTERM');
  t.equal((await exitOf(l)).code, 0, 'SIGTERM ends listen with 0');
});

t.test('echo hi | p2pcat connect delivers and exits 0', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await listen();
  procs.push(l);
  const c = run(['connect', `127.0.0.1:${l.port}`], { name: 'echoer' });
  procs.push(c);
  c.end('hi\n');
  const ex = await exitOf(c);
  t.equal(ex.code, 0, 'exit 0');
  t.same(c.stdout.filter((s) => s.includes('"CHAT"')), [], 'no CHAT echoed to the sender');
  const rec = await l.waitRecord((r) => r.type === 'CHAT', 'the message at the listener');
  t.equal(rec.message, 'hi');
  t.equal(rec.username, 'echoer');
});

t.test('a malformed stdin line: one ERROR record on stderr, the stream goes on', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await listen();
  procs.push(l);
  const c = run(['connect', `127.0.0.1:${l.port}`, '--json']);
  procs.push(c);
  c.end(['first', '{"message": broken', '{"message":42}', 'x'.repeat(70_000), '{"type":"CHAT","message":"last"}', ''].join('\n'));
  t.equal((await exitOf(c)).code, 0);
  await l.waitFor(() => l.records.filter((r) => r.type === 'CHAT').length === 2, 'two good messages');
  t.same(chats(l).map((r) => r.message), ['first', 'last']);
  const errs = c.stderr.map((s) => JSON.parse(s));
  t.equal(errs.length, 3, 'one ERROR record per bad line');
  t.same(errs.map((e) => [e.type, e.code, e.line]), [
    ['ERROR', 'P2PCAT_ERR_BAD_INPUT', 2],
    ['ERROR', 'P2PCAT_ERR_BAD_INPUT', 3],
    ['ERROR', 'P2PCAT_ERR_BAD_INPUT', 4],
  ]);
});

t.test('--strict refuses plain text lines', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await listen();
  procs.push(l);
  const c = run(['connect', `127.0.0.1:${l.port}`, '--strict']);
  procs.push(c);
  c.end('plain\n{"message":"ok"}\n');
  t.equal((await exitOf(c)).code, 0);
  await l.waitRecord((r) => r.type === 'CHAT', 'the JSON message');
  await new Promise((r) => setTimeout(r, 200));
  t.same(chats(l).map((r) => r.message), ['ok']);
  t.match(c.stderr.join('\n'), /P2PCAT_ERR_BAD_INPUT.*--strict/);
});

t.test('peer EOF ends connect; a cut link is not a clean exit', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await listen();
  procs.push(l);
  const c = run(['connect', `127.0.0.1:${l.port}`, '--json']);
  procs.push(c);
  await c.waitRecord((r) => r.type === 'PEER_UP', 'PEER_UP');
  l.kill('SIGTERM'); // graceful: BYE to everyone
  t.equal((await exitOf(c)).code, 0, 'listener said goodbye: exit 0');
  t.match(c.records.find((r) => r.type === 'PEER_DOWN'), { reason: 'bye' });

  const l2 = await listen();
  procs.push(l2);
  const c2 = run(['connect', `127.0.0.1:${l2.port}`, '--json']);
  procs.push(c2);
  await c2.waitRecord((r) => r.type === 'PEER_UP', 'PEER_UP');
  l2.kill('SIGKILL');
  const ex = await exitOf(c2);
  t.equal(ex.code, 69, 'listener killed: exit 69 (EX_UNAVAILABLE)');
  t.match(c2.stderr.join('\n'), /P2PCAT_ERR_UNAVAILABLE/);
});

t.test('stdout EPIPE (| head -1) ends quietly', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await listen();
  procs.push(l);
  // p2pcat connect ... | head -1, with a sender flooding messages to it.
  const sh = spawn('sh', ['-c', `node ${BIN} connect 127.0.0.1:${l.port} --json | head -1`], {
    env: { ...process.env, P2PCAT_HOME: (await import('../helpers/proc.js')).tmpHome() },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  sh.stdout.on('data', (d) => (out += d));
  sh.stderr.on('data', (d) => (err += d));
  const sender = run(['connect', `127.0.0.1:${l.port}`]);
  procs.push(sender);
  await l.waitFor(() => l.records.filter((r) => r.type === 'PEER_UP').length === 2, 'both up');
  for (let i = 0; i < 200; i++) sender.write(`line ${i}\n`);
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => sh.kill('SIGKILL'), 15_000);
    sh.on('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
    setTimeout(() => sh.stdin.end(), 3000); // if EPIPE did not end it, stdin EOF will
  });
  t.equal(code, 0);
  t.equal(out.trim().split('\n').length, 1, 'head got one line');
  t.notMatch(err, /EPIPE|Error|at /, 'nothing on stderr');
  sender.end();
  await exitOf(sender);
});

t.test('connect to a closed port: exit 69 with a coded error', async (t) => {
  const c = run(['connect', '127.0.0.1:1'], { stdin: 'ignore' });
  const ex = await exitOf(c);
  t.equal(ex.code, 69);
  t.match(c.stderr.join('\n'), /^p2pcat: P2PCAT_ERR_UNAVAILABLE: 127\.0\.0\.1:1: connection refused$/m);
  t.same(c.stdout, [], 'nothing on stdout');
});

t.test('usage errors exit 64', async (t) => {
  for (const args of [['connect', 'nohostport'], ['listen', '99999'], ['frobnicate'], ['connect', 'h:1', '--secret', 'a', '--secret-file', 'b']]) {
    const c = run(args, { stdin: 'ignore' });
    const ex = await exitOf(c);
    t.equal(ex.code, 64, args.join(' '));
    t.match(c.stderr.join('\n'), /P2PCAT_ERR_USAGE/, args.join(' '));
  }
});

t.test('connect < FILE delivers every line before exiting 0, even while rate-limited both ways', async (t) => {
  // Regression: a rate-paused socket with nothing left to write keeps no event
  // loop alive; connect used to slip away with exit 0 and the tail undelivered.
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await listen();
  procs.push(l);
  const n = 20000; // well above the 4000-message burst: both sides' rate limits engage
  const c = run(['connect', `127.0.0.1:${l.port}`]);
  procs.push(c);
  c.end(Array.from({ length: n }, (_, i) => `line ${i}`).join('\n') + '\n');
  t.equal((await exitOf(c, 90_000)).code, 0, 'exit 0');
  await l.waitFor(() => chats(l).length >= n, `${n} messages at the listener`, 30_000);
  const got = chats(l).map((r) => r.message);
  t.equal(new Set(got).size, n, 'every line arrived once');
  t.equal(got[n - 1], `line ${n - 1}`, 'in order, the tail included');
});
