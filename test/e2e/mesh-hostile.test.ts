// Black-box: hostile members after a real handshake (in-test peers built
// from the library). A flooder is rate-limited without starving an honest
// peer; forged, replayed and foreign-room messages are dropped and counted,
// never shown; PEERS lists with garbage or hostile addresses are bounded and
// cannot make the peer dial outside its dial policy.
import t from 'tap';
import net from 'node:net';
import { exitOf, reap, type Proc } from '../helpers/proc.js';
import { evil } from '../helpers/evil.js';
import { Signer, generateSigningKey } from '../../src/crypto/ed25519.js';
import { createChat } from '../../src/chat/record.js';
import { signPresence } from '../../src/mesh/signed.js';
import { peer, errors, stop, sleep, prun } from '../mesh/peers.js';

const body = (rec: ReturnType<typeof createChat>) => {
  const { type: _t, ...b } = rec;
  return b;
};

// Real processes: allow for a CI box running every suite at once.
t.setTimeout(240_000);

t.test('a flooding neighbour is read at its rate; an honest one is not starved', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await peer('host', ['--peer-rate', '200', '--no-log']);
  procs.push(l);
  const m = await evil(l.port);
  const FLOOD = 20_000;
  // Pre-signed, then written as fast as the socket takes them.
  const frames: Buffer[] = [];
  for (let i = 0; i < FLOOD; i++) frames.push(m.ch.seal('CHAT', body(createChat(m.signer, { room: 'lobby', username: 'mallory', message: `flood ${i}`, now: new Date() }))));
  m.socket.write(Buffer.concat(frames));
  await l.waitFor(() => errors(l).some((e) => e.code === 'P2PCAT_ERR_LIMIT' && /mallory/.test(e.message)), 'the rate-limit warning');
  const honest = prun(['connect', `127.0.0.1:${l.port}`, '--no-log'], { name: 'honest' });
  procs.push(honest);
  honest.end('an honest word\n');
  t.equal((await exitOf(honest, 30_000)).code, 0);
  await l.waitRecord((r) => r.message === 'an honest word', 'the honest message gets through', 30_000);
  const flooded = l.records.filter((r) => typeof r.message === 'string' && r.message.startsWith('flood ')).length;
  t.ok(flooded < FLOOD, `the honest message arrived while the flood was still being read (${flooded} of ${FLOOD} shown)`);
  t.equal(l.exitInfo, undefined, 'the host is alive');
  m.socket.destroy();
});

t.test('forged, replayed, foreign-room and malformed messages: dropped, counted, never shown', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await peer('host', ['--stats']);
  procs.push(l);
  const m = await evil(l.port);
  const alice = new Signer(generateSigningKey().seed);
  // Alice's record, signed by mallory: the author key does not match the signature.
  const mallorySig = createChat(m.signer, { room: 'lobby', username: 'alice', message: 'forged text', now: new Date() }).sig;
  const forged = { ...body(createChat(alice, { room: 'lobby', username: 'alice', message: 'forged text', now: new Date() })), sig: mallorySig };
  // Mallory's record claiming alice's key: the uuid no longer matches the key.
  const stolen = { ...body(createChat(m.signer, { room: 'lobby', username: 'alice', message: 'stolen identity', now: new Date() })), from: Buffer.from(alice.publicKey).toString('hex') };
  const old = body(createChat(m.signer, { room: 'lobby', username: 'mallory', message: 'replayed from two days ago', now: new Date(Date.now() - 2 * 86_400_000) }));
  const foreign = body(createChat(m.signer, { room: 'dev', username: 'mallory', message: 'from another room', now: new Date() }));
  const good = body(createChat(m.signer, { room: 'lobby', username: 'mallory', message: 'a fair message', now: new Date() }));
  m.send('CHAT', forged);
  m.send('CHAT', stolen);
  m.send('CHAT', old);
  m.send('CHAT', foreign);
  m.send('CHAT', { ...good, ttl: -1 });
  m.send('IHAVE', { ids: ['not hex'] });
  m.send('ACK', { id: 'ab'.repeat(32), by: 'cd'.repeat(32), name: 'x', sig: 'ef'.repeat(64) });
  m.send('CHAT', good);
  m.send('CHAT', good); // a replay within the session: a duplicate
  await l.waitRecord((r) => r.message === 'a fair message', 'the fair message');
  await sleep(300);
  t.equal(l.records.filter((r) => r.message === 'a fair message').length, 1, 'shown once');
  for (const bad of ['forged text', 'stolen identity', 'replayed from two days ago', 'from another room']) t.notOk(l.records.some((r) => r.message === bad), `not shown: ${bad}`);
  const reported = errors(l).filter((e) => e.code === 'P2PCAT_ERR_BAD_MESSAGE').map((e) => e.message);
  t.match(reported.join('\n'), /bad signature[\s\S]*uuid does not belong[\s\S]*older than 24 h[\s\S]*another room[\s\S]*bad ttl[\s\S]*malformed id[\s\S]*ACK has a bad signature/, 'each reported on stderr');
  m.socket.destroy();
  const stats = await stop(l);
  t.match(stats, { type: 'STATS', duplicates: 1 });
  t.same(
    Object.keys(stats!.rejected).sort(),
    ['ACK has a bad signature', 'IHAVE with a malformed id', 'bad signature', 'bad ttl', 'message for another room', 'older than 24 h (a replay? history travels by sync)', 'uuid does not belong to the author key'].sort(),
    'and counted by reason',
  );
});

t.test('PEERS with garbage and hostile addresses: bounded, and nothing dialled outside the policy', async (t) => {
  const procs: Proc[] = [];
  const servers: net.Server[] = [];
  t.teardown(() => {
    reap(procs);
    for (const s of servers) s.close();
  });
  // A trap: a TCP port on loopback that records whoever dials it.
  const dialled: string[] = [];
  const trap = net.createServer((s) => {
    dialled.push(String(s.remotePort));
    s.destroy();
  });
  servers.push(trap);
  await new Promise<void>((r) => trap.listen(0, '127.0.0.1', () => r()));
  const trapPort = (trap.address() as net.AddressInfo).port;

  const hostile = (port: number) => {
    // Real, signed statements of members that do not exist, pointing at the trap or at nonsense.
    const entries: unknown[] = [];
    for (let i = 0; i < 100; i++) {
      const s = new Signer(generateSigningKey().seed);
      const p = signPresence(s, 'lobby', { name: `ghost${i}`, port, ts: Date.now(), state: 'up' });
      const addr = ['127.0.0.1:' + port, '0.0.0.0:' + port, '224.0.0.1:5353', '255.255.255.255:9', 'evil.example:80', '127.0.0.1:0', '[::]:1'][i % 7];
      entries.push({ ...p, addr });
    }
    entries.push('garbage', 42, { key: 'zz' });
    for (let i = 0; i < 3000; i++) entries.push(0); // thousands of entries (the frame bounds the bytes)
    return entries;
  };

  // 1. --dial-policy none: the hints are refused or ignored; the trap is never dialled.
  const strict = await peer('strict', ['--dial-policy', 'none', '--stats', '--no-log']);
  procs.push(strict);
  const m1 = await evil(strict.port);
  m1.send('PEERS', { peers: hostile(trapPort) });
  await strict.waitFor(() => errors(strict).some((e) => /only the first 64 are read/.test(e.message)), 'the over-long list is reported');
  await sleep(2500); // two heartbeats: a dial would have happened
  t.same(dialled, [], 'policy none: nobody dialled the trap');
  t.equal(strict.exitInfo, undefined, 'alive');

  // 2. A CIDR policy that excludes loopback: same.
  const cidr = await peer('cidr', ['--dial-policy', '10.0.0.0/8', '--no-log']);
  procs.push(cidr);
  const m2 = await evil(cidr.port);
  m2.send('PEERS', { peers: hostile(trapPort) });
  await sleep(2500);
  t.same(dialled, [], 'a 10/8 policy: the loopback trap is not dialled');
  const reasons = errors(cidr).map((e) => e.message).join('\n');
  t.match(reasons, /address hint refused: unspecified/);
  t.match(reasons, /address hint refused: multicast/);
  t.match(reasons, /address hint refused: broadcast/);
  t.match(reasons, /address hint refused: not IP:PORT/);
  t.match(reasons, /address hint refused: port out of range/);
  t.match(reasons, /outside the dial policy/);

  // 3. The default (same scope as the teller, here loopback): the hint would be followed,
  //    which is what the two policies above prevented.
  const open = await peer('open', ['--no-log']);
  procs.push(open);
  const m3 = await evil(open.port);
  m3.send('PEERS', { peers: hostile(trapPort) });
  await open.waitFor(() => dialled.length > 0, 'the default policy dials the loopback hint from a loopback neighbour');
  t.ok(dialled.length <= 8, `bounded dialling: ${dialled.length} dials, not one per ghost`);
  const stats = await stop(strict);
  t.ok(stats!.rejected['PEERS entries over the limit'] >= 3000, `the excess entries are counted (${stats!.rejected['PEERS entries over the limit']})`);
  for (const m of [m1, m2, m3]) m.socket.destroy();
});
