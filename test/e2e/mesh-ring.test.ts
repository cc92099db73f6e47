// Black-box: a ring of 8 peers (each dials the previous one; the last also
// the first; --dial-policy none keeps it a ring). One is killed with SIGKILL:
// the other seven, now a line, keep talking, every message to every peer
// once. Restarted on its port, it is redialled (backoff) and back in the ring.
import t from 'tap';
import { reap, tmpHome, type Proc } from '../helpers/proc.js';
import { peer, members, sleep, texts, type Peer, prun } from '../mesh/peers.js';

// Real processes: allow for a CI box running every suite at once.
t.setTimeout(240_000);

t.test('a ring of 8 survives a SIGKILL and heals when the peer comes back', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const N = 8;
  const names = Array.from({ length: N }, (_, i) => `p${i}`);
  const homes = names.map(() => tmpHome());
  const ring: Peer[] = [];
  for (let i = 0; i < N; i++) {
    const dial = i === 0 ? [] : ['--peer', `127.0.0.1:${ring[i - 1]!.port}`];
    if (i === N - 1) dial.push('--peer', `127.0.0.1:${ring[0]!.port}`);
    const p = await peer(names[i]!, ['--dial-policy', 'none', ...dial], { home: homes[i]! });
    procs.push(p);
    ring.push(p);
  }
  for (const p of ring) await p.waitFor(() => members(p).size === N - 1, `${p.name} knows all ${N - 1} others`, 30_000);
  for (const p of ring) t.equal(new Set(p.records.filter((r) => r.type === 'PEER_UP').map((r) => r.username)).size, 2, `${p.name} has exactly two neighbours`);

  ring[0]!.write('round one from p0\n');
  for (const p of ring.slice(1)) await p.waitRecord((r) => r.message === 'round one from p0', `p0's message at ${p.name}`);

  // Kill p3: p2 and p4 lose a neighbour; the ring becomes the line p4-p5-p6-p7-p0-p1-p2.
  const victim = ring[3]!;
  const victimPort = victim.port;
  victim.kill('SIGKILL');
  await ring[2]!.waitRecord((r) => r.type === 'PEER_DOWN' && r.username === 'p3', 'p2 sees p3 go');
  await ring[4]!.waitRecord((r) => r.type === 'PEER_DOWN' && r.username === 'p3', 'p4 sees p3 go');
  const alive = ring.filter((p) => p !== victim);
  for (const p of alive) p.write(`after the kill from ${p.name}\n`);
  for (const p of alive) {
    const want = alive.filter((q) => q !== p).map((q) => `after the kill from ${q.name}`).sort();
    await p.waitFor(() => want.every((m) => texts(p).includes(m)), `${p.name} hears the six others`, 30_000);
  }
  await sleep(500);
  for (const p of alive) {
    const got = texts(p).filter((m) => m.startsWith('after the kill'));
    t.equal(got.length, 6, `${p.name}: six messages, each once`);
    t.equal(new Set(got).size, 6);
  }

  // p3 comes back on its port; p4 redials it (jittered exponential backoff) and the ring is whole again.
  const again = prun(['listen', String(victimPort), '--bind', '127.0.0.1', '--json', '--dial-policy', 'none', '--peer', `127.0.0.1:${ring[2]!.port}`], { name: 'p3', home: homes[3]! });
  procs.push(again);
  await again.waitFor(() => again.stderr.some((l) => /listening on/.test(l)), 'p3 listening on its old port');
  await ring[4]!.waitFor(() => ring[4]!.records.filter((r) => r.type === 'PEER_UP' && r.username === 'p3').length === 2, 'p4 redialled p3', 90_000);
  again.write('p3 is back\n');
  for (const p of alive) await p.waitRecord((r) => r.message === 'p3 is back', `p3's message at ${p.name}`);
});
