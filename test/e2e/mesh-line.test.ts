// Black-box: a line of three peers A – B – C where A and C never connect
// (--dial-policy none): messages cross the middle both ways, exactly once;
// members beyond the neighbours are known; ACKs come back; --wait-ack exits
// 0 when every member confirmed and 75 when they cannot; a silent neighbour
// is dropped after --peer-timeout.
import t from 'tap';
import { exitOf, reap, type Proc } from '../helpers/proc.js';
import { peer, texts, members, sleep, errors, type Peer, prun } from '../mesh/peers.js';

const line = async (procs: Proc[], extra: string[] = []): Promise<[Peer, Peer, Peer]> => {
  const b = await peer('bob', ['--dial-policy', 'none', ...extra]);
  procs.push(b);
  const a = await peer('ann', ['--dial-policy', 'none', '--peer', `127.0.0.1:${b.port}`, ...extra]);
  procs.push(a);
  const c = await peer('cat', ['--dial-policy', 'none', '--peer', `127.0.0.1:${b.port}`, ...extra]);
  procs.push(c);
  for (const p of [a, b, c]) await p.waitFor(() => members(p).size === 2, `${p.name} knows the two others`);
  return [a, b, c];
};

// Real processes: allow for a CI box running every suite at once.
t.setTimeout(240_000);

t.test('a line of three: A reaches C and C reaches A through B, exactly once', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const [a, b, c] = await line(procs);
  t.notOk(a.records.some((r) => r.type === 'PEER_UP' && r.username === 'cat'), 'ann never connected to cat');
  t.notOk(c.records.some((r) => r.type === 'PEER_UP' && r.username === 'ann'), 'cat never connected to ann');
  t.ok(a.records.some((r) => r.type === 'MEMBER_UP' && r.username === 'cat'), 'but ann knows cat is in the room');
  a.write('hello from ann\n');
  const got = await c.waitRecord((r) => r.type === 'CHAT' && r.message === 'hello from ann', 'ann at cat');
  t.equal(got.username, 'ann');
  c.write('{"message":"hi ann, cat here"}\n');
  await a.waitRecord((r) => r.type === 'CHAT' && r.message === 'hi ann, cat here', 'cat at ann');
  // Receipts, signed by each recipient, routed back along the path.
  await a.waitFor(() => new Set(a.records.filter((r) => r.type === 'ACK' && r.msg_id === got.msg_id).map((r) => r.username)).size === 2, 'ACKs from bob and cat');
  await sleep(500);
  t.same(texts(a), ['hi ann, cat here'], 'ann: once');
  t.same(texts(c), ['hello from ann'], 'cat: once');
  t.same(texts(b).sort(), ['hello from ann', 'hi ann, cat here'], 'bob sees both, once each');
  t.same(new Set(a.records.filter((r) => r.type === 'ACK').map((r) => r.username)), new Set(['bob', 'cat']), 'ACK records name who confirmed');
  for (const p of [a, b, c]) t.same(errors(p), [], `${p.name}: no errors`);
});

t.test('--wait-ack: exit 0 once every member confirmed; 75 when more confirmations are asked than can come', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const [, b] = await line(procs);
  const ok = prun(['connect', `127.0.0.1:${b.port}`, '--dial-policy', 'none', '--wait-ack', '--timeout', '20', '--json'], { name: 'dora' });
  procs.push(ok);
  ok.end('{"message":"deploy done"}\n');
  t.equal((await exitOf(ok, 30_000)).code, 0, 'confirmed by everyone present');
  t.same(new Set(ok.records.filter((r) => r.type === 'ACK').map((r) => r.username)), new Set(['ann', 'bob', 'cat']), 'by ann, bob and cat (two of them beyond the neighbour)');
  const tooMany = prun(['connect', `127.0.0.1:${b.port}`, '--dial-policy', 'none', '--wait-ack=5', '--timeout', '2'], { name: 'eve' });
  procs.push(tooMany);
  tooMany.end('anyone?\n');
  t.equal((await exitOf(tooMany, 30_000)).code, 75, 'three members cannot give five confirmations: 75');
  t.match(tooMany.stderr.join('\n'), /P2PCAT_ERR_TIMEOUT: 1 of 1 messages not confirmed/);
});

t.test('liveness: a neighbour that goes silent is dropped (P2PCAT_ERR_TIMEOUT), one that leaves says so', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => {
    for (const p of procs) p.kill('SIGCONT');
    reap(procs);
  });
  const [a, b, c] = await line(procs, ['--peer-timeout', '3']);
  c.kill('SIGSTOP');
  const down = await b.waitRecord((r) => r.type === 'PEER_DOWN' && r.username === 'cat', 'cat dropped by bob');
  t.equal(down.reason, 'P2PCAT_ERR_TIMEOUT');
  c.kill('SIGCONT');
  a.kill('SIGTERM');
  const left = await b.waitRecord((r) => r.type === 'MEMBER_DOWN' && r.username === 'ann', 'ann left');
  t.equal(left.reason, 'bye');
  t.equal((await exitOf(a)).code, 0);
});
