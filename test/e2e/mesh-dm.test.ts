// Black-box: a direct message relayed by a middle peer. ann – bob – cat,
// every link through a recording proxy; ann writes to cat. The text reaches
// cat, and never appears on bob's stdout, in bob's log, or on either wire.
import t from 'tap';
import { exitOf, reap, tmpHome, type Proc } from '../helpers/proc.js';
import { recordingProxy } from '../helpers/proxy.js';
import { peer, members, prun } from '../mesh/peers.js';

// Real processes: allow for a CI box running every suite at once.
t.setTimeout(240_000);

t.test('a DM through a relay: only the recipient can read it', async (t) => {
  const procs: Proc[] = [];
  const proxies: Awaited<ReturnType<typeof recordingProxy>>[] = [];
  t.teardown(async () => {
    reap(procs);
    for (const p of proxies) await p.close();
  });
  const cat = await peer('cat', ['--dial-policy', 'none']);
  procs.push(cat);
  const toCat = await recordingProxy(cat.port);
  proxies.push(toCat);
  const bobHome = tmpHome();
  const bob = await peer('bob', ['--dial-policy', 'none', '--peer', `127.0.0.1:${toCat.port}`], { home: bobHome });
  procs.push(bob);
  await bob.waitFor(() => members(bob).has('cat'), 'bob linked to cat');
  const toBob = await recordingProxy(bob.port);
  proxies.push(toBob);
  const ann = await peer('ann', ['--dial-policy', 'none', '--peer', `127.0.0.1:${toBob.port}`]);
  procs.push(ann);
  await ann.waitFor(() => members(ann).has('cat'), 'ann learns of cat through bob');
  await cat.waitFor(() => members(cat).has('ann'), 'cat learns of ann');

  const secret = 'the eagle lands at the old mill';
  ann.write(JSON.stringify({ message: secret, to: 'cat' }) + '\n');
  const dm = await cat.waitRecord((r) => r.type === 'DM', 'the DM at cat');
  t.match(dm, { type: 'DM', message: secret, username: 'ann', to: /^[0-9a-f]{64}$/, from: /^[0-9a-f]{64}$/, sig: /^[0-9a-f]{128}$/ });
  const ack = await ann.waitRecord((r) => r.type === 'ACK' && r.dm === true, 'cat\'s receipt at ann');
  t.equal(ack.username, 'cat');
  t.equal(ack.msg_id, dm.msg_id, 'the receipt names the message');
  // A reply by key prefix, and a public message to compare with.
  cat.write(JSON.stringify({ message: 'roger, the mill', to: dm.from.slice(0, 12) }) + '\n');
  await ann.waitRecord((r) => r.type === 'DM' && r.message === 'roger, the mill', 'the reply at ann');
  ann.write('a public hello\n');
  await bob.waitRecord((r) => r.type === 'CHAT' && r.message === 'a public hello', 'the public message at bob');

  t.notOk(bob.stdout.some((l) => l.includes('eagle') || l.includes('roger')), 'bob\'s stdout never shows the DMs');
  t.notOk(bob.records.some((r) => r.type === 'DM'), 'nor any DM record');
  // An unknown recipient is a coded error on stderr; the stream goes on.
  ann.write(JSON.stringify({ message: 'x', to: 'nobody-here' }) + '\n');
  await ann.waitFor(() => ann.stderr.some((l) => l.includes('P2PCAT_ERR_BAD_INPUT') && l.includes('nobody-here')), 'unknown recipient');

  // bob's log: the public message is there, the DMs are not.
  bob.kill('SIGTERM');
  await exitOf(bob);
  const cat_ = prun(['log', 'cat'], { home: bobHome, stdin: 'ignore' });
  procs.push(cat_);
  await exitOf(cat_);
  t.ok(cat_.stdout.some((l) => l.includes('a public hello')), 'bob logged the public message');
  t.notOk(cat_.stdout.some((l) => l.includes('eagle') || l.includes('roger')), 'bob\'s log has no DM text');

  for (const [name, p] of [['ann–bob', toBob], ['bob–cat', toCat]] as const) {
    const wire = p.bytes();
    t.ok(wire.length > 1000, `${name}: ${wire.length} bytes recorded`);
    for (const needle of ['eagle', 'roger', 'public hello', 'cat', 'ann']) t.equal(wire.indexOf(Buffer.from(needle)), -1, `${name}: "${needle}" is not on the wire`);
  }
});
