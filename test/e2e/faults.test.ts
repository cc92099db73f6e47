// Faults, black-box: the built binary on a switched LAN of network namespaces
// (createLan in test/helpers/netns.ts) whose links are cut, restored and
// impaired while peers chat and sync, and peers killed with SIGKILL. What must
// hold every time: no message lost, none printed twice, none stored twice in a
// log (`p2pcat log verify` counts duplicates in the file itself, before the
// read-back dedupe), every log verifies, sessions come back on their own.
//
//  1. a link cut mid-chat and restored: what was written on either side of
//     the cut arrives after it (gossip, then sync on reconnect);
//  2. a link cut mid-sync: the sync fails, a second one completes, both logs
//     end with the same msg_id set;
//  3. SIGKILL of a mesh peer mid-chat, restarted on the same home and log: it
//     rejoins, catches up, prints nothing twice nor anything it already had;
//  4. random loss and reordering on every link during a chat of hundreds of
//     messages.
//
// This kernel has no sch_netem (`tc qdisc add ... netem` says "unknown qdisc
// kind"), so loss comes from iptables' statistic match and reordering from an
// HTB qdisc plus a random BPF classifier (see createLan). Over TCP the kernel
// puts reordered segments back in order before p2pcat sees them: scenario 4
// checks that the sessions survive it (retransmits, keep-alives), not
// p2pcat's own ordering.
//
// Reduced form (the default, for CI): tens of messages per phase, a 2000-
// message log, cuts of a few seconds; about a minute in all.
// P2PCAT_FAULTS=full: ten times the messages, a 30,000-message log.
// Skips when not root or without `ip netns`.
import t from 'tap';
import path from 'node:path';
import { createChat, type ChatRecord } from '../../src/chat/record.js';
import { Signer } from '../../src/crypto/ed25519.js';
import { loadOrCreateIdentity } from '../../src/crypto/identity.js';
import { ChatLog, defaultLogPath } from '../../src/store/log.js';
import { createLan, labUnavailable, type Lan } from '../helpers/netns.js';
import { exitOf, run, tmpHome, type Proc } from '../helpers/proc.js';

const skip = labUnavailable('lan');
if (skip) t.plan(0, `fault lab skipped: ${skip}`);
t.setTimeout(300_000);

const FULL = process.env.P2PCAT_FAULTS === 'full';
const SIZE = FULL ? { phase: 100, burst: 500, logA: 30_000, logB: 3_000, lossy: 1000 } : { phase: 10, burst: 50, logA: 2_000, logB: 200, lossy: 100 };
const ROOM = 'ops';
const PORT = 5050;
const WAIT = 60_000;

const chats = (p: Proc) => p.records.filter((r) => r.type === 'CHAT');
const sorted = (xs: string[]) => [...xs].sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A mesh peer: `listen 5050` on host i, dialling `peers` (redialled with backoff when cut). */
function meshPeer(lan: Lan, i: number, name: string, home: string, peers: number[], extra: string[] = []): Proc {
  const dial = peers.flatMap((j) => ['--peer', `${lan.addr(j)}:${PORT}`]);
  return lan.p2pcat(i, ['listen', String(PORT), '--json', '--room', ROOM, ...dial, ...extra], { name, home });
}

async function listening(p: Proc): Promise<void> {
  await p.waitFor(() => p.stderr.some((l) => /listening on /.test(l)), 'the listening line', WAIT);
}

function upCount(p: Proc): number {
  const up = new Set<string>();
  for (const r of p.records) {
    if (r.type === 'PEER_UP') up.add(r.peer);
    if (r.type === 'PEER_DOWN') up.delete(r.peer);
  }
  return up.size;
}

/** Write `n` messages `TAG i` as NDJSON requests; returns the texts. */
function say(p: Proc, tag: string, n: number): string[] {
  const texts = Array.from({ length: n }, (_, i) => `${tag} ${i}`);
  p.write(texts.map((m) => JSON.stringify({ message: m }) + '\n').join(''));
  return texts;
}

/** Wait until p has printed every text in `want` (at least once). */
async function received(p: Proc, want: string[], what: string, timeoutMs = WAIT): Promise<void> {
  const need = new Set(want);
  await p.waitFor(() => {
    const got = new Set(chats(p).map((r) => r.message as string));
    for (const m of need) if (!got.has(m)) return false;
    return true;
  }, `${what} (${want.length} messages)`, timeoutMs);
}

/** Poll `pred` every 200 ms until it holds (bounded). */
async function waitUntil(pred: () => boolean, what: string, timeoutMs: number): Promise<void> {
  for (const end = Date.now() + timeoutMs; !pred(); await sleep(200)) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

/** SIGTERM and wait. */
async function stop(p: Proc): Promise<void> {
  p.kill('SIGTERM');
  await exitOf(p, 20_000);
}

/** The room's log of a home, black-box: `log cat` (deduplicated on read) and `log verify` (counts what the file holds twice). */
async function logOf(home: string): Promise<{ texts: string[]; ids: string[]; verify: Record<string, any>; code: number | null }> {
  const cat = run(['log', 'cat', '--room', ROOM], { home, stdin: 'ignore' });
  const ver = run(['log', 'verify', '--room', ROOM], { home, stdin: 'ignore' });
  const [, v] = await Promise.all([exitOf(cat, 60_000), exitOf(ver, 60_000)]);
  const recs = cat.records.filter((r) => r.type === 'CHAT');
  return { texts: recs.map((r) => r.message as string), ids: recs.map((r) => r.msg_id as string), verify: ver.records.find((r) => r.type === 'LOG_VERIFY') ?? {}, code: v.code };
}

/** A home whose identity wrote `n` messages into its ops log (built in process: thousands of signed records in a second). */
async function homeWithMessages(n: number, tag: string, start: number): Promise<{ home: string; records: ChatRecord[] }> {
  const home = tmpHome('p2pcat-faults-');
  const { identity } = loadOrCreateIdentity(path.join(home, 'identity.json'));
  const signer = new Signer(identity.seed);
  const records = Array.from({ length: n }, (_, i) => createChat(signer, { room: ROOM, username: tag, message: `${tag} ${i}`, now: new Date(start + i * 1000) }));
  const log = await ChatLog.open(defaultLogPath(ROOM, { P2PCAT_HOME: home }), identity.seed, { onWarning: () => undefined });
  for (let i = 0; i < records.length; i += 1000) await log.append(records.slice(i, i + 1000));
  await log.close();
  return { home, records };
}

if (!skip) {
  t.test('1. a link cut mid-chat and restored: what was said on both sides of the cut arrives once', async (t) => {
    const lan = createLan(3);
    t.teardown(() => lan.teardown());
    const names = ['ann', 'bob', 'cat'];
    const homes = names.map(() => tmpHome('p2pcat-faults-'));
    // --peer-timeout 3: a silent link is declared dead after 3 s, so the cut really ends the sessions.
    const P = [meshPeer(lan, 0, 'ann', homes[0]!, [], ['--peer-timeout', '3']), meshPeer(lan, 1, 'bob', homes[1]!, [0], ['--peer-timeout', '3']), meshPeer(lan, 2, 'cat', homes[2]!, [0, 1], ['--peer-timeout', '3'])];
    await Promise.all(P.map((p) => p.waitFor(() => upCount(p) === 2, 'a full mesh', WAIT)));
    const sent: string[][] = [[], [], []];
    const others = (i: number) => sent.flatMap((s, j) => (j === i ? [] : s));

    P.forEach((p, i) => sent[i]!.push(...say(p, `${names[i]} before`, SIZE.phase)));
    await Promise.all(P.map((p, i) => received(p, others(i), `${names[i]}: the messages before the cut`)));

    lan.cut(2);
    // Written at once (still in flight when the sessions die) and again once both sides saw the link go.
    P.forEach((p, i) => sent[i]!.push(...say(p, `${names[i]} cut-early`, SIZE.phase)));
    await Promise.all([P[0]!, P[1]!, P[2]!].map((p) => p.waitFor(() => upCount(p) === (p === P[2] ? 0 : 1), 'the cut to be noticed', WAIT)));
    P.forEach((p, i) => sent[i]!.push(...say(p, `${names[i]} cut-late`, SIZE.phase)));
    await Promise.all([P[0]!, P[1]!].map((p, i) => received(p, others(i).filter((m) => !m.startsWith('cat')), 'the two still connected keep chatting')));
    t.notOk(
      chats(P[2]!).some((r) => /cut/.test(r.message)),
      'nothing crossed the cut',
    );

    lan.restore(2);
    await Promise.all(P.map((p) => p.waitFor(() => upCount(p) === 2, 'the mesh to heal by itself (redial with backoff)', WAIT)));
    P.forEach((p, i) => sent[i]!.push(...say(p, `${names[i]} after`, SIZE.phase)));
    await Promise.all(P.map((p, i) => received(p, others(i), `${names[i]}: everything`)));
    await sleep(500); // a late duplicate would show up here
    await Promise.all(P.map(stop));
    const logs = await Promise.all(homes.map(logOf));
    for (const [i, p] of P.entries()) {
      t.same(sorted(chats(p).map((r) => r.message)), sorted(others(i)), `${names[i]} printed every message of the others exactly once`);
      const log = logs[i]!;
      t.same(sorted(log.texts), sorted(sent.flat()), `${names[i]}'s log holds every message`);
      t.match(log.verify, { ok: true, duplicates: 0, invalid: 0, records: sent.flat().length }, `${names[i]}'s log verifies, no record stored twice`);
      t.equal(log.code, 0);
    }
  });

  t.test('2. a link cut mid-sync: the sync fails cleanly, a second one completes, the logs end identical', async (t) => {
    const lan = createLan(2);
    t.teardown(() => lan.teardown());
    const T0 = Date.parse('2025-04-29T14:00:00.000Z');
    const [a, b] = await Promise.all([homeWithMessages(SIZE.logA, 'alice', T0), homeWithMessages(SIZE.logB, 'bob', T0 + 500)]);
    const A = lan.p2pcat(0, ['listen', String(PORT), '--json', '--room', ROOM], { home: a.home, name: 'alice' });
    await listening(A);
    // Slow b's link (1.5 Mbit/s) so the sync lasts seconds, not a blink: the cut lands inside it.
    lan.impair(1, { rateKbit: 1500 });
    const target = `${lan.addr(0)}:${PORT}`;
    const s1 = lan.p2pcat(1, ['sync', target, '--room', ROOM, '--json', '--timeout', '3'], { home: b.home });
    await s1.waitFor(() => chats(s1).length >= SIZE.logA / 10, 'the first tenth of the sync', WAIT);
    lan.cut(1);
    const atCut = chats(s1).length;
    t.ok(atCut < SIZE.logA, `cut mid-sync: ${atCut} of ${SIZE.logA} records had arrived`);
    // The sync gives up after --timeout, then closes gracefully: BYE and FIN, and it waits up to
    // CLOSE_TIMEOUT_MS (30 s) for the peer's FIN, which cannot come through the cut. Once its socket
    // is in FIN-WAIT-1 it has given up: plug the cable back in so the close completes at once.
    await waitUntil(() => s1.exitInfo !== undefined || lan.exec(1, ['ss', '-Htn', 'state', 'fin-wait-1', 'dst', target]).trim() !== '', 'the cut sync to give up and close', WAIT);
    lan.restore(1);
    const e1 = await exitOf(s1, WAIT);
    t.ok(e1.code === 75 || e1.code === 69, `the cut sync gives up with 75 or 69 (got ${e1.code}): ${s1.stderr.join(' | ')}`);
    t.notOk(s1.records.some((r) => r.type === 'SYNC_DONE' && r.ok), 'and does not claim success');
    const mid = await logOf(b.home);
    t.match(mid.verify, { ok: true, duplicates: 0 }, `the interrupted log verifies (${mid.ids.length} records)`);

    lan.impair(1, null);
    const s2 = lan.p2pcat(1, ['sync', target, '--room', ROOM, '--json'], { home: b.home });
    const e2 = await exitOf(s2, WAIT);
    t.equal(e2.code, 0, `the second sync completes: ${s2.stderr.join(' | ')}`);
    t.match(s2.records.find((r) => r.type === 'SYNC_DONE'), { ok: true, rejected: 0 });
    const aIds = a.records.map((r) => r.msg_id);
    const bIds = b.records.map((r) => r.msg_id);
    t.same(sorted([...chats(s1), ...chats(s2)].map((r) => r.msg_id)), sorted(aIds), "between the two runs, every one of alice's messages printed exactly once");
    await A.waitFor(() => new Set(chats(A).map((r) => r.msg_id)).size >= bIds.length, "alice to store bob's messages", WAIT);
    await sleep(300);
    await stop(A);
    t.same(sorted(chats(A).map((r) => r.msg_id)), sorted(bIds), "alice printed each of bob's messages once, across both syncs");
    const union = sorted([...aIds, ...bIds]);
    const logs = await Promise.all([a.home, b.home].map(logOf));
    for (const [who, log] of [['alice', logs[0]!], ['bob', logs[1]!]] as const) {
      t.same(sorted(log.ids), union, `${who}'s log: the union`);
      t.match(log.verify, { ok: true, duplicates: 0, invalid: 0, records: union.length }, `${who}'s log verifies, nothing stored twice`);
    }
  });

  t.test('3. SIGKILL of a mesh peer mid-chat, restarted on the same home: it rejoins and catches up, nothing twice', async (t) => {
    const lan = createLan(2);
    t.teardown(() => lan.teardown());
    const [homeA, homeB] = [tmpHome('p2pcat-faults-'), tmpHome('p2pcat-faults-')];
    const A = meshPeer(lan, 0, 'ann', homeA, []);
    const B = meshPeer(lan, 1, 'bob', homeB, [0]);
    await Promise.all([A, B].map((p) => p.waitFor(() => upCount(p) === 1, 'up', WAIT)));
    const fromA = say(A, 'ann before', SIZE.phase);
    const fromB = say(B, 'bob before', SIZE.phase);
    await Promise.all([received(B, fromA, 'bob has ann'), received(A, fromB, 'ann has bob')]);

    // Both talking; bob is killed as ann's burst arrives.
    fromA.push(...say(A, 'ann burst', SIZE.burst));
    fromB.push(...say(B, 'bob burst', SIZE.burst));
    await B.waitFor(() => chats(B).some((r) => /^ann burst/.test(r.message)), 'the burst to reach bob', WAIT);
    B.child.kill('SIGKILL');
    await B.exited;
    await A.waitFor(() => upCount(A) === 0, 'ann to see bob go', WAIT);
    fromA.push(...say(A, 'ann alone', SIZE.phase));
    const before = await logOf(homeB);
    t.equal(before.code, 0, `bob's log after SIGKILL verifies (${before.ids.length} records; a torn tail would be cut back)`);

    const B2 = meshPeer(lan, 1, 'bob', homeB, [0]);
    await B2.waitFor(() => upCount(B2) === 1, 'bob back in the mesh', WAIT);
    const missed = fromA.filter((m) => !before.texts.includes(m));
    await received(B2, missed, 'bob catches up with what it had not logged');
    const fromB2 = say(B2, 'bob after', SIZE.phase);
    await received(A, fromB2, 'ann hears the restarted bob');
    // Whatever bob logged before it died reaches ann (sync on connect), even if the kill cut its sending.
    const bobLogged = before.texts.filter((m) => m.startsWith('bob'));
    await received(A, bobLogged, 'ann has everything bob had logged');
    await sleep(500);
    await Promise.all([stop(A), stop(B2)]);

    const atA = chats(A).map((r) => r.message as string);
    t.equal(new Set(atA).size, atA.length, 'ann printed no message twice');
    t.ok(fromB.filter((m) => !atA.includes(m)).every((m) => !bobLogged.includes(m)), 'the only bob messages ann lacks are ones bob never logged (read, then killed)');
    const [la, lb] = await Promise.all([logOf(homeA), logOf(homeB)]);
    t.same(sorted(lb.ids), sorted(la.ids), 'both logs hold the same messages');
    // What the restarted bob printed: everything the room has that its log did not, once each, except
    // its own messages that reached ann but not bob's log before the kill (the send is not behind the
    // append): sync hands them back and they are stored, but what you send is never echoed to you.
    t.equal(chats(B2).filter((r) => r.username === 'bob').length, 0, 'bob is not shown his own messages that came back by sync');
    t.same(sorted(chats(B2).map((r) => r.message)), sorted(lb.texts.filter((m) => !before.texts.includes(m) && !fromB2.includes(m) && !m.startsWith('bob'))), 'the restarted bob printed exactly what its log lacked from others, once each, nothing from its log again');
    t.ok(missed.every((m) => chats(B2).some((r) => r.message === m)), "among them every message of ann's it had missed");
    t.ok(fromA.every((m) => lb.texts.includes(m)), "bob's log has every message ann wrote");
    for (const [who, log] of [['ann', la], ['bob', lb]] as const) {
      t.match(log.verify, { ok: true, duplicates: 0, invalid: 0 }, `${who}'s log verifies, nothing stored twice (${log.ids.length} records)`);
    }
  });

  t.test('4. packet loss and reordering on every link during a chat of hundreds of messages: all arrive exactly once', async (t) => {
    const lan = createLan(3);
    t.teardown(() => lan.teardown());
    const applied = [0, 1, 2].map((i) => lan.impair(i, { lossPercent: 5, reorderPercent: 10 }));
    t.ok(applied.every((a) => a.loss), '5 % loss on every link, both directions (iptables statistic)');
    if (!applied.every((a) => a.reorder)) t.comment('reordering could not be injected here (no HTB or BPF classifier): loss only');
    const names = ['ann', 'bob', 'cat'];
    const homes = names.map(() => tmpHome('p2pcat-faults-'));
    const P = [meshPeer(lan, 0, 'ann', homes[0]!, []), meshPeer(lan, 1, 'bob', homes[1]!, [0]), meshPeer(lan, 2, 'cat', homes[2]!, [0, 1])];
    const t0 = Date.now();
    await Promise.all(P.map((p) => p.waitFor(() => upCount(p) === 2, 'a full mesh over lossy links', WAIT)));
    const t1 = Date.now();
    const sent = P.map((p, i) => say(p, `${names[i]} lossy`, SIZE.lossy));
    const others = (i: number) => sent.flatMap((s, j) => (j === i ? [] : s));
    await Promise.all(P.map((p, i) => received(p, others(i), `${names[i]}: every message over the lossy links`, 90_000)));
    t.comment(`mesh up over the impaired links in ${t1 - t0} ms; ${3 * SIZE.lossy} messages delivered in ${Date.now() - t1} ms`);
    await sleep(500);
    // The impairment really happened: packets dropped by the rule, packets sent through the slow class.
    const drops = [0, 1, 2].reduce((s, i) => s + Number(/^\s*(\d+)/m.exec(lan.exec(i, ['iptables', '-L', 'IMPAIR', '-v', '-n', '-x']).split('\n').slice(2).join('\n'))?.[1] ?? 0), 0);
    const slow = [0, 1, 2].reduce((s, i) => s + Number(/class htb 1:20[^]*?Sent \d+ bytes (\d+) pkt/.exec(lan.exec(i, ['tc', '-s', 'class', 'show', 'dev', 'eth0']))?.[1] ?? 0), 0);
    t.ok(drops > 0, `${drops} packets dropped on the hosts' links`);
    if (applied.every((a) => a.reorder)) t.ok(slow > 0, `${slow} packets held back and reordered (hosts' egress)`);
    await Promise.all(P.map(stop));
    const logs = await Promise.all(homes.map(logOf));
    for (const [i, p] of P.entries()) {
      t.same(sorted(chats(p).map((r) => r.message)), sorted(others(i)), `${names[i]} printed each of the ${others(i).length} messages exactly once`);
      const log = logs[i]!;
      t.match(log.verify, { ok: true, duplicates: 0, invalid: 0, records: sent.flat().length }, `${names[i]}'s log: all ${sent.flat().length}, none twice`);
    }
  });
}
