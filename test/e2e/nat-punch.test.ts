// NAT lab (test/helpers/netns.ts): `p2pcat punch` finds a direct path for
// every NAT pair that NATLAB.md says can punch — port-preserving on both
// sides, port-preserving vs random-port (birthday probing), two peers behind
// one NAT (LAN candidates), no NAT vs random-port — then runs the same Noise
// handshake and chat as `connect` over udx on that path: a chat both ways and
// a 5 MB transfer arrive intact, and the rendezvous relays nothing.
import t, { type Test } from 'tap';
import { ADDR, chatTransfer, createLab, labRendezvous, labUnavailable, punchPair, type Lab } from '../helpers/netns.js';
import type { Proc } from '../helpers/proc.js';

const skip = labUnavailable();
const MB5 = 5 * 1024 * 1024;

async function chatBothWays(t: Test, A: Proc, B: Proc): Promise<void> {
  A.write('hello from ann\n');
  B.write(JSON.stringify({ message: 'hello from bob' }) + '\n');
  const atB = await B.waitRecord((r) => r.type === 'CHAT' && r.message === 'hello from ann', 'ann -> bob');
  const atA = await A.waitRecord((r) => r.type === 'CHAT' && r.message === 'hello from bob', 'bob -> ann');
  t.equal(atB.username, 'ann', 'signed by ann, checked by bob');
  t.equal(atA.username, 'bob');
}

async function goodbye(t: Test, A: Proc, B: Proc): Promise<void> {
  A.end();
  const [ea, eb] = await Promise.all([A.exited, B.exited]);
  t.equal(ea.code, 0, 'stdin EOF: ann says goodbye and exits 0');
  t.equal(eb.code, 0, 'bob sees a clean goodbye and exits 0');
}

const path = (p: Proc) => p.records.find((r) => r.type === 'PATH');

t.test('punch in the lab', { skip }, async (t) => {
  const lab: Lab = createLab({ ra: 'eim', rb: 'eim' });
  t.teardown(() => lab.teardown());
  const rv = await labRendezvous(lab, 3478);

  await t.test('both behind port-preserving masquerade: direct, via public endpoints', async (t) => {
    const [A, B] = await punchPair(lab, 'a1', 'b1', 3478);
    t.match(path(A), { type: 'PATH', path: 'direct', via: 'public', nat: { self: 'endpoint-independent', peer: 'endpoint-independent' }, remote: new RegExp(`^${ADDR.rbWan}:`) });
    t.match(path(B), { path: 'direct', remote: new RegExp(`^${ADDR.raWan}:`) });
    t.not(path(A)!.role, path(B)!.role, 'one initiator, one responder');
    t.equal(A.records.find((r) => r.type === 'PEER_UP')!.direction === 'out', path(A)!.role === 'initiator', 'the initiator dials the Noise handshake');
    await chatBothWays(t, A, B);
    const x = await chatTransfer(A, B, MB5);
    t.ok(x.intact, `5 MB in ${x.messages} messages arrived intact and in order`);
    await goodbye(t, A, B);
  });

  await t.test('port-preserving vs random-port: birthday probing finds a direct path', async (t) => {
    lab.setNat('rb', 'random');
    t.teardown(() => lab.setNat('rb', 'eim'));
    const [A, B] = await punchPair(lab, 'a1', 'b1', 3478);
    t.match(path(A), { path: 'direct', via: 'birthday', nat: { self: 'endpoint-independent', peer: 'address-and-port-dependent' } });
    t.match(path(B), { path: 'direct', via: 'birthday', nat: { self: 'address-and-port-dependent', peer: 'endpoint-independent' } });
    t.not(path(A)!.remote, path(A)!.peer_public, "the path is not the symmetric side's mapping toward the rendezvous");
    await chatBothWays(t, A, B);
    const x = await chatTransfer(B, A, MB5);
    t.ok(x.intact, '5 MB arrived intact');
    await goodbye(t, A, B);
  });

  await t.test('two peers behind the same NAT meet on their LAN addresses (no hairpin)', async (t) => {
    const [A, B] = await punchPair(lab, 'a1', 'a2', 3478);
    t.match(path(A), { path: 'direct', via: 'local', remote: `${ADDR.a2}:${/:(\d+)$/.exec(path(B)!.local)![1]}` });
    t.match(path(B), { path: 'direct', via: 'local', remote: new RegExp(`^${ADDR.a1}:`) });
    await chatBothWays(t, A, B);
    await goodbye(t, A, B);
  });

  await t.test('no NAT vs random-port: direct', async (t) => {
    lab.setNat('rb', 'random');
    t.teardown(() => lab.setNat('rb', 'eim'));
    const [A, B] = await punchPair(lab, 'pub', 'b1', 3478);
    t.match(path(A), { path: 'direct', nat: { self: 'none', peer: 'address-and-port-dependent' } });
    t.match(path(B), { path: 'direct', remote: new RegExp(`^${ADDR.pub}:`) });
    await chatBothWays(t, A, B);
    await goodbye(t, A, B);
  });

  await t.test('peers of different rooms are never paired', async (t) => {
    const A = lab.p2pcat('a1', ['punch', `${ADDR.rv}:3478`, '--room', 'red', '--json', '--wait', '1.5']);
    const B = lab.p2pcat('b1', ['punch', `${ADDR.rv}:3478`, '--room', 'blue', '--json', '--wait', '1.5']);
    const [ea, eb] = await Promise.all([A.exited, B.exited]);
    t.equal(ea.code, 75, 'no peer came: exit 75');
    t.equal(eb.code, 75);
    t.match(A.stderr.join('\n'), /P2PCAT_ERR_TIMEOUT: no peer of this room came to the rendezvous/);
    t.same(A.records, [], 'nothing on stdout');
  });

  rv.kill('SIGTERM');
  await rv.exited;
  const stats = rv.records.find((r) => r.type === 'STATS');
  t.match(stats, { type: 'STATS', relayed_bytes: 0, relay_pairs: 0 }, 'the rendezvous relayed nothing: no chat content passed through it');
});
