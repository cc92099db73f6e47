// Black-box: 32 peers on loopback form a mesh on their own (each is given one
// earlier peer; the rest is PEERS exchange and dialling, default policy).
// Every message reaches every peer exactly once, each peer keeps a bounded
// number of neighbours, and the full copies a peer sends per message stay
// near the push degree, far below the 31 of flooding to every member.
import t from 'tap';
import { reap, type Proc } from '../helpers/proc.js';
import { peer, members, neighbours, sleep, stop, texts, type Peer } from '../mesh/peers.js';

const N = 32;
// 32 processes on 2 cores: allow for a loaded machine (about a minute on an idle one).
t.setTimeout(300_000);

t.test(`${N} peers: every message reaches every peer exactly once`, async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const peers: Peer[] = [];
  const t0 = Date.now();
  const phase = (what: string) => t.comment(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // Staggered start, a few at a time: ~50 MB and a fraction of a CPU second each.
  const first = await peer('m00', ['--stats']);
  peers.push(first);
  procs.push(first);
  for (let i = 1; i < N; i += 4) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(4, N - i) }, (_, k) => {
        const j = i + k;
        // Bootstrap from an earlier peer (a binary tree, so no single peer is everyone's first contact).
        const via = peers[Math.floor((j - 1) / 2)] ?? first;
        return peer(`m${String(j).padStart(2, '0')}`, ['--stats', '--peer', `127.0.0.1:${via.port}`]);
      }),
    );
    for (const p of batch) {
      peers.push(p);
      procs.push(p);
    }
  }
  phase('all started');
  for (const p of peers) await p.waitFor(() => members(p).size === N - 1, `${p.name} knows all ${N - 1} others`, 120_000);
  phase('everyone knows everyone');
  for (const p of peers) p.write(`hello from ${p.name}\n`);
  for (const p of peers) {
    await p.waitFor(() => texts(p).length >= N - 1, `${p.name} got ${N - 1} messages`, 120_000).catch((e: Error) => {
      const missing = peers.filter((q) => q !== p && !texts(p).includes(`hello from ${q.name}`)).map((q) => q.name);
      throw new Error(`${p.name} is missing ${missing.join(', ')}; its neighbours: ${neighbours(p)}\n${e.message.slice(0, 2000)}`);
    });
  }
  phase('every message delivered');
  await sleep(1000); // room for duplicates, were there any
  let exact = 0;
  for (const p of peers) {
    const got = texts(p);
    const want = peers.filter((q) => q !== p).map((q) => `hello from ${q.name}`).sort();
    if (got.length === N - 1 && JSON.stringify([...got].sort()) === JSON.stringify(want)) exact++;
    else t.fail(`${p.name} got ${got.length}: ${JSON.stringify(got.slice(0, 5))}…`);
  }
  t.equal(exact, N, `all ${N} peers got each of the ${N - 1} others' messages exactly once`);
  const degrees = peers.map(neighbours);
  const avg = degrees.reduce((a, b) => a + b, 0) / N;
  t.ok(avg <= 9, `average neighbours ${avg.toFixed(1)} (each dials at most 4), max ${Math.max(...degrees)}`);
  const stats = await Promise.all(peers.map((p) => stop(p)));
  phase('all stopped');
  const copies = stats.map((s) => s?.sent?.byType?.CHAT?.messages ?? 0);
  const perPeerPerMessage = copies.reduce((a, b) => a + b, 0) / N / N;
  t.ok(perPeerPerMessage < 8, `full copies sent per peer per message: ${perPeerPerMessage.toFixed(2)} (flooding to every member: ${N - 1})`);
  const dups = stats.reduce((a, s) => a + (s?.duplicates ?? 0), 0);
  t.comment(`duplicates received in all: ${dups} (${(dups / N / N).toFixed(2)} per peer per message); ihave ids ${stats.reduce((a, s) => a + (s?.ihave_ids ?? 0), 0)}`);
});
