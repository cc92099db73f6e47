// NAT lab (test/helpers/netns.ts): two random-port ("symmetric") NATs cannot
// punch (NATLAB.md). Without a relay, `punch` fails with
// P2PCAT_ERR_PUNCH_FAILED naming both NAT types, and no chat crosses; with
// `rendezvous --relay` the peers chat through it (ciphertext only, counted in
// its STATS). And every path survives loss: 10% of forwarded packets dropped
// at both routers (plus 50 ms of delay where the kernel has tc netem).
import t from 'tap';
import { ADDR, chatTransfer, createLab, labRendezvous, labUnavailable, netemAvailable, punchPair, type Lab } from '../helpers/netns.js';
import type { Proc } from '../helpers/proc.js';

const skip = labUnavailable();
const MB5 = 5 * 1024 * 1024;
const path = (p: Proc) => p.records.find((r) => r.type === 'PATH');

t.test('symmetric NATs, relay and loss in the lab', { skip }, async (t) => {
  const lab: Lab = createLab({ ra: 'random', rb: 'random' });
  t.teardown(() => lab.teardown());
  const plain = await labRendezvous(lab, 3478);
  const relay = await labRendezvous(lab, 3480, true);

  await t.test('both random-port without a relay: P2PCAT_ERR_PUNCH_FAILED names both NATs', async (t) => {
    // Two independent rooms at once: one rendezvous that offers no relay, and --no-relay against one that does.
    const offered = ['punch', `${ADDR.rv}:3478`, '--room', 'ops', '--json', '--wait', '20'];
    const declined = ['punch', `${ADDR.rv}:3480`, '--room', 'norelay', '--json', '--wait', '20', '--no-relay'];
    const A = lab.p2pcat('a1', offered, { name: 'ann' });
    const B = lab.p2pcat('b1', offered, { name: 'bob' });
    const C = lab.p2pcat('a2', declined);
    const D = lab.p2pcat('b1', declined);
    A.write('secret words that must not travel\n');
    const [ea, eb, ec, ed] = await Promise.all([A.exited, B.exited, C.exited, D.exited]);
    for (const [p, e] of [
      [A, ea],
      [B, eb],
    ] as const) {
      if (!t.equal(e.code, 69, 'exit 69 (unavailable)')) t.comment(p.stderr.join('\n'));
      const line = p.stderr.find((l) => l.includes('P2PCAT_ERR_PUNCH_FAILED'));
      t.ok(line, 'one P2PCAT_ERR_PUNCH_FAILED line');
      t.match(line, /this side: symmetric \(address-and-port-dependent mapping\); peer: symmetric \(address-and-port-dependent mapping\)/, 'it names both NAT types');
      t.match(line, /refused to relay/, 'and says the rendezvous does not relay');
      t.notOk(p.records.some((r) => r.type === 'PEER_UP' || r.type === 'CHAT' || r.type === 'PATH'), 'no session, no PATH, no chat');
    }
    if (!t.same([ec.code, ed.code], [69, 69], '--no-relay: both exit 69')) t.comment([...C.stderr, ...D.stderr].join('\n'));
    t.match(C.stderr.join('\n'), /P2PCAT_ERR_PUNCH_FAILED: .*relay not tried \(--no-relay\)/, '--no-relay does not ask');
  });

  await t.test('both random-port with rendezvous --relay: relayed, chat and 5 MB intact', async (t) => {
    const [A, B] = await punchPair(lab, 'a1', 'b1', 3480);
    t.match(path(A), { type: 'PATH', path: 'relayed', via: 'relay', remote: `${ADDR.rv}:3480`, nat: { self: 'address-and-port-dependent', peer: 'address-and-port-dependent' } });
    t.match(path(B), { path: 'relayed' });
    A.write('through the relay\n');
    t.equal((await B.waitRecord((r) => r.type === 'CHAT', 'the chat at bob')).message, 'through the relay');
    const x = await chatTransfer(B, A, MB5);
    t.ok(x.intact, '5 MB arrived intact through the relay');
    A.end();
    const [ea, eb] = await Promise.all([A.exited, B.exited]);
    t.same([ea.code, eb.code], [0, 0], 'clean goodbye through the relay');
  });

  await t.test('10% loss at both routers: punch, chat and 5 MB still make it', async (t) => {
    lab.setNat('ra', 'eim');
    lab.setNat('rb', 'eim');
    const applied = [lab.impair('ra', { lossPercent: 10, delayMs: 50 }), lab.impair('rb', { lossPercent: 10, delayMs: 50 })];
    t.teardown(() => {
      lab.impair('ra', null);
      lab.impair('rb', null);
    });
    if (!netemAvailable()) t.comment('this kernel has no sch_netem: loss comes from iptables statistic, and there is no added delay');
    t.ok(applied.every((a) => a.loss), 'loss applied');
    const [A, B] = await punchPair(lab, 'a1', 'b1', 3478, { timeoutMs: 45_000 });
    t.match(path(A), { path: 'direct' });
    A.write('lossy hello\n');
    await B.waitRecord((r) => r.type === 'CHAT' && r.message === 'lossy hello', 'the chat at bob', 30_000);
    const x = await chatTransfer(A, B, MB5, 90_000);
    t.ok(x.intact, '5 MB arrived intact over a lossy path');
    if (!netemAvailable()) {
      const dropped = lab.exec('ra', ['iptables', '-L', 'IMPAIR', '-v', '-x', '-n']).split('\n').find((l) => l.includes('statistic'));
      t.ok(Number(dropped?.trim().split(/\s+/)[0]) > 0, `the router really dropped packets (${dropped?.trim().split(/\s+/)[0]})`);
    }
    A.end();
    await Promise.all([A.exited, B.exited]);
  });

  plain.kill('SIGTERM');
  relay.kill('SIGTERM');
  await Promise.all([plain.exited, relay.exited]);
  t.match(plain.records.find((r) => r.type === 'STATS'), { relayed_bytes: 0 }, 'the plain rendezvous relayed nothing');
  const rs = relay.records.find((r) => r.type === 'STATS');
  t.ok(rs && rs.relayed_bytes > MB5, `the relay carried the transfer (${rs?.relayed_bytes} bytes)`);
  t.ok(relay.records.some((r) => r.type === 'RELAY'), 'and printed a RELAY record');
});
