// Black-box: hostile and broken peers against the built binary. Each bad
// connection is closed with a coded error and the listener keeps serving.
import t, { type Test } from 'tap';
import net from 'node:net';
import crypto from 'node:crypto';
import { listen, run, exitOf, reap, type Proc } from '../helpers/proc.js';
import { evil } from '../helpers/evil.js';
import { Signer, generateSigningKey } from '../../src/crypto/ed25519.js';
import { createChat } from '../../src/chat/record.js';

function connectRaw(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

function closed(s: net.Socket, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      s.destroy();
      resolve();
    }, timeoutMs);
    s.on('error', () => {});
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** An in-test p2pcat peer built from the library, so it can misbehave after a real handshake. */
const handshake = (port: number, room = 'lobby') => evil(port, 'mallory', room, { deaf: true });

/** Check the listener still serves honest peers: a fresh connect delivers a message. */
async function stillServes(t: Test, l: Proc & { port: number }, text: string): Promise<void> {
  const c = run(['connect', `127.0.0.1:${l.port}`]);
  c.end(text + '\n');
  t.equal((await exitOf(c)).code, 0, `an honest peer still gets through after: ${text}`);
  await l.waitRecord((r) => r.type === 'CHAT' && r.message === text, `"${text}" at the listener`);
}

t.test('garbage, truncated frames, oversize lengths, bad tags, forged messages', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await listen(['--handshake-timeout', '1']);
  procs.push(l);
  // A long-lived honest peer that must survive everything below.
  const witness = run(['connect', `127.0.0.1:${l.port}`, '--json'], { name: 'witness' });
  procs.push(witness);
  await witness.waitRecord((r) => r.type === 'PEER_UP', 'witness up');
  const errorsBefore = () => l.stderr.filter((s) => s.startsWith('{')).map((s) => JSON.parse(s));

  // 1. Garbage instead of a handshake.
  let s = await connectRaw(l.port);
  s.write(Buffer.concat([Buffer.from([0x00, 0xc8]), crypto.randomBytes(200)])); // one 200-byte frame of noise
  await closed(s);
  await l.waitFor(() => errorsBefore().some((e) => e.code === 'P2PCAT_ERR_PROTOCOL' && /handshake message 1/.test(e.message)), 'garbage error');
  await stillServes(t, l, 'after garbage');

  // 2. Oversize length during the handshake.
  s = await connectRaw(l.port);
  s.write(Buffer.from([0xff, 0xff, 1, 2, 3]));
  await closed(s);
  await l.waitFor(() => errorsBefore().some((e) => e.code === 'P2PCAT_ERR_FRAME_TOO_LARGE'), 'oversize error');
  await stillServes(t, l, 'after oversize');

  // 3. A truncated frame after a real handshake.
  let h = await handshake(l.port);
  h.socket.end(Buffer.concat([Buffer.from([0x01, 0x00]), crypto.randomBytes(40)]));
  await closed(h.socket);
  await l.waitFor(() => errorsBefore().some((e) => /truncated frame/.test(e.message)) || l.records.some((r) => r.type === 'PEER_DOWN' && r.reason === 'P2PCAT_ERR_PROTOCOL'), 'truncated-frame error');
  await stillServes(t, l, 'after truncation');

  // 4. A bad tag: one flipped bit in a sealed frame.
  h = await handshake(l.port);
  const good = createChat(h.signer, { room: 'lobby', username: 'mallory', message: 'sealed but flipped', now: new Date() });
  const { type: _t, ...body } = good;
  const frame = h.ch.seal('CHAT', body);
  frame[frame.length - 3]! ^= 0x01;
  h.socket.write(frame);
  await closed(h.socket);
  await l.waitFor(() => l.records.some((r) => r.type === 'PEER_DOWN' && r.username === 'mallory' && r.reason === 'P2PCAT_ERR_PROTOCOL'), 'bad-tag PEER_DOWN');
  t.notOk(l.records.some((r) => r.message === 'sealed but flipped'), 'the flipped message was not shown');
  await stillServes(t, l, 'after bad tag');

  // 5. Forged and foreign-room messages inside a valid session are dropped and reported; the session stays.
  h = await handshake(l.port);
  const other = new Signer(generateSigningKey().seed);
  const forged = { ...createChat(other, { room: 'lobby', username: 'alice', message: 'forged', now: new Date() }), from: Buffer.from(h.signer.publicKey).toString('hex') };
  const foreign = createChat(h.signer, { room: 'elsewhere', username: 'mallory', message: 'wrong room', now: new Date() });
  for (const rec of [forged, foreign]) {
    const { type: _x, ...b } = rec;
    h.socket.write(h.ch.seal('CHAT', b));
  }
  const ok = createChat(h.signer, { room: 'lobby', username: 'mallory', message: 'honest after forgery', now: new Date() });
  const { type: _y, ...okb } = ok;
  h.socket.write(h.ch.seal('CHAT', okb));
  h.socket.write(h.ch.seal('CHAT', okb)); // a replay: dropped silently as a duplicate
  await l.waitRecord((r) => r.message === 'honest after forgery', 'the honest message');
  await witness.waitRecord((r) => r.message === 'honest after forgery', 'relayed to the witness');
  t.notOk(l.records.some((r) => r.message === 'forged' || r.message === 'wrong room'), 'forged and foreign messages not shown');
  t.equal(l.records.filter((r) => r.message === 'honest after forgery').length, 1, 'replay dropped');
  t.equal(errorsBefore().filter((e) => e.code === 'P2PCAT_ERR_BAD_MESSAGE').length, 2, 'two BAD_MESSAGE reports');
  h.socket.destroy();

  // 6. A silent client cannot hold a handshake slot: --handshake-timeout 1.
  s = await connectRaw(l.port);
  const t0 = Date.now();
  await closed(s, 10_000);
  t.ok(Date.now() - t0 < 9_000, 'the listener closed the silent connection');
  await l.waitFor(() => errorsBefore().some((e) => e.code === 'P2PCAT_ERR_TIMEOUT'), 'timeout error');
  await stillServes(t, l, 'after silence');

  t.equal(witness.exitInfo, undefined, 'the witness is still connected');
  t.ok(witness.records.some((r) => r.message === 'after silence'), 'and still receives');
  witness.end();
  await exitOf(witness);
});

t.test('wrong room secret: both sides fail with P2PCAT_ERR_AUTH, connect exits 77, no plaintext crosses', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await listen(['--room', 'ops'], { env: { P2PCAT_SECRET: 'right horse battery' } });
  procs.push(l);
  const c = run(['connect', `127.0.0.1:${l.port}`, '--room', 'ops'], { env: { P2PCAT_SECRET: 'wrong horse battery' } });
  procs.push(c);
  c.end('top secret plan\n');
  const ex = await exitOf(c);
  t.equal(ex.code, 77);
  t.match(c.stderr.join('\n'), /^p2pcat: P2PCAT_ERR_AUTH: /m);
  await l.waitFor(() => l.stderr.some((s) => s.includes('P2PCAT_ERR_AUTH')), 'AUTH on the listener');
  t.notOk(l.records.some((r) => r.type === 'CHAT' || r.type === 'PEER_UP'), 'nothing shown on the listener');
  // The right secret from a file works.
  const ok = run(['connect', `127.0.0.1:${l.port}`, '--room', 'ops', '--secret', 'right horse battery']);
  procs.push(ok);
  ok.end('hello members\n');
  t.equal((await exitOf(ok)).code, 0);
  await l.waitRecord((r) => r.message === 'hello members', 'member message');
  // Same secret, other room name: also refused.
  const wrongRoom = run(['connect', `127.0.0.1:${l.port}`, '--room', 'dev'], { env: { P2PCAT_SECRET: 'right horse battery' } });
  wrongRoom.end('x\n');
  t.equal((await exitOf(wrongRoom)).code, 77, 'another room is refused');
});
