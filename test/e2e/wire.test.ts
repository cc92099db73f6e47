// Black-box: record the TCP stream between two p2pcat processes and check that
// no message text, username, uuid or identity key appears on the wire.
import t from 'tap';
import { listen, run, exitOf, reap, type Proc } from '../helpers/proc.js';
import { recordingProxy } from '../helpers/proxy.js';

t.test('nothing readable crosses the wire', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await listen([], { name: 'listener-zed' });
  procs.push(l);
  const proxy = await recordingProxy(l.port);
  t.teardown(() => proxy.close());
  const c = run(['connect', `127.0.0.1:${proxy.port}`, '--json'], { name: 'dialler-yve' });
  procs.push(c);
  const up = await c.waitRecord((r) => r.type === 'PEER_UP', 'PEER_UP');
  const texts = ['the eagle lands at dawn', 'ÜnïcødeSecret✓'];
  for (const m of texts) c.write(m + '\n');
  l.write('reply from the listener side\n');
  await l.waitFor(() => l.records.filter((r) => r.type === 'CHAT').length === 2, 'both messages');
  const back = await c.waitRecord((r) => r.type === 'CHAT', 'the reply');
  c.end();
  t.equal((await exitOf(c)).code, 0);
  const lUp = l.records.find((r) => r.type === 'PEER_UP')!;
  const wire = proxy.bytes();
  t.ok(wire.length > 500, `recorded ${wire.length} bytes`);
  const needles: [string, Buffer][] = [
    ...[...texts, 'reply from the listener side', 'listener-zed', 'dialler-yve', up.uuid, lUp.uuid, up.peer, lUp.peer, back.msg_id, back.sig, 'lobby', 'CHAT', 'HELLO'].map(
      (s: string) => [s, Buffer.from(s)] as [string, Buffer],
    ),
    ['listener key (raw bytes)', Buffer.from(up.peer, 'hex')],
    ['dialler key (raw bytes)', Buffer.from(lUp.peer, 'hex')],
  ];
  for (const [name, needle] of needles) t.equal(wire.indexOf(needle), -1, `"${name}" is not on the wire`);
});

t.test('a wrong secret sends no plaintext either', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await listen(['--room', 'ops'], { env: { P2PCAT_SECRET: 'alpha' }, name: 'keeper' });
  procs.push(l);
  const proxy = await recordingProxy(l.port);
  t.teardown(() => proxy.close());
  const c = run(['connect', `127.0.0.1:${proxy.port}`, '--room', 'ops'], { env: { P2PCAT_SECRET: 'beta' }, name: 'intruder' });
  procs.push(c);
  c.end('attack at noon\n');
  t.equal((await exitOf(c)).code, 77);
  const wire = proxy.bytes();
  for (const s of ['attack at noon', 'intruder', 'keeper', 'ops']) t.equal(wire.indexOf(Buffer.from(s)), -1, `"${s}" is not on the wire`);
});
