// The session protocol without sockets: two SecureChannels wired together.
import t from 'tap';
import fc from 'fast-check';
import { SecureChannel } from '../../src/transport/secure-channel.js';
import { deriveRoom } from '../../src/crypto/room.js';
import { Signer, generateSigningKey } from '../../src/crypto/ed25519.js';
import { uuidFromPublicKey } from '../../src/crypto/identity.js';

const room = deriveRoom('lobby');

function pair(opts: { rekey?: number; roomB?: ReturnType<typeof deriveRoom> } = {}) {
  const sa = new Signer(generateSigningKey().seed);
  const sb = new Signer(generateSigningKey().seed);
  const a = new SecureChannel({ initiator: true, room, signer: sa, username: 'alice', rekeyAfterMessages: opts.rekey });
  const b = new SecureChannel({ initiator: false, room: opts.roomB ?? room, signer: sb, username: 'bob', rekeyAfterMessages: opts.rekey });
  return { a, b, sa, sb };
}

/** Shuttle bytes until both are up; returns what each side saw come up. */
function connect(a: SecureChannel, b: SecureChannel) {
  let toB: Buffer[] = a.start();
  let toA: Buffer[] = [];
  let upA, upB;
  for (let i = 0; i < 10 && (toA.length || toB.length); i++) {
    for (const f of toB.splice(0)) {
      const r = b.receive(f);
      toA.push(...r.send);
      if (r.up) upB = r.up;
    }
    for (const f of toA.splice(0)) {
      const r = a.receive(f);
      toB.push(...r.send);
      if (r.up) upA = r.up;
    }
  }
  return { upA, upB };
}

t.test('handshake brings both sides up with each other\'s identity', async (t) => {
  const { a, b, sa, sb } = pair();
  const { upA, upB } = connect(a, b);
  t.match(upA, { username: 'bob', key: Buffer.from(sb.publicKey).toString('hex'), uuid: uuidFromPublicKey(sb.publicKey) });
  t.match(upB, { username: 'alice', key: Buffer.from(sa.publicKey).toString('hex') });
  t.equal(a.phase, 'up');
  t.equal(b.phase, 'up');
});

t.test('messages flow both ways, in any chunking, across many rekeys', async (t) => {
  const { a, b } = pair({ rekey: 7 });
  connect(a, b);
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 200 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 64 }), (texts, cut) => {
      const wire = Buffer.concat(texts.map((m) => a.seal('CHAT', { m })));
      const got: string[] = [];
      for (let off = 0; off < wire.length; off += cut) for (const msg of b.receive(wire.subarray(off, off + cut)).messages) got.push(msg.body.m as string);
      const back = b.seal('PING', { n: texts.length });
      const pong = a.receive(back).messages[0]!;
      return JSON.stringify(got) === JSON.stringify(texts) && pong.type === 'PING' && pong.body.n === texts.length;
    }),
    { numRuns: 30 },
  );
  t.pass('property held');
});

t.test('rekey really changes the key: sides that rekey out of step cannot read', async (t) => {
  const sa = new Signer(generateSigningKey().seed);
  const sb = new Signer(generateSigningKey().seed);
  const a = new SecureChannel({ initiator: true, room, signer: sa, username: 'alice', rekeyAfterMessages: 3 });
  const b = new SecureChannel({ initiator: false, room, signer: sb, username: 'bob', rekeyAfterMessages: 1000 });
  connect(a, b);
  // a's HELLO was its message 1; PINGs 2 and 3 go under the first key, then a rekeys.
  t.equal(b.receive(a.seal('PING', { i: 2 })).messages[0]!.body.i, 2);
  t.equal(b.receive(a.seal('PING', { i: 3 })).messages[0]!.body.i, 3);
  t.throws(() => b.receive(a.seal('PING', { i: 4 })), { code: 'P2PCAT_ERR_PROTOCOL' }, 'message 4 is under the new key');
});

t.test('a room member relaying someone else\'s HELLO is refused (channel binding)', async (t) => {
  // alice <-> mallory: mallory learns alice's HELLO signature.
  const alice = new Signer(generateSigningKey().seed);
  const mallory = new Signer(generateSigningKey().seed);
  const am = new SecureChannel({ initiator: true, room, signer: alice, username: 'alice' });
  const ma = new SecureChannel({ initiator: false, room, signer: mallory, username: 'mallory' });
  connect(am, ma);
  const stolen = ma.peerHelloSignature!;
  t.ok(stolen, 'mallory holds alice\'s signature');
  // mallory -> bob, claiming to be alice with the stolen signature.
  const fakeAlice = { publicKey: alice.publicKey, sign: () => new Uint8Array(Buffer.from(stolen, 'hex')) };
  const mb = new SecureChannel({ initiator: true, room, signer: fakeAlice, username: 'alice' });
  const bob = new SecureChannel({ initiator: false, room, signer: new Signer(generateSigningKey().seed), username: 'bob' });
  const m2 = bob.receive(mb.start()[0]!).send;
  const m3 = mb.receive(m2[0]!).send;
  t.throws(() => bob.receive(Buffer.concat(m3)), { code: 'P2PCAT_ERR_AUTH', message: /identity signature/ });
  t.equal(bob.peer, undefined, 'bob never accepts the impostor');
});

t.test('wrong room key: the responder fails with AUTH at message 3, nothing else is accepted', async (t) => {
  const { a, b } = pair({ roomB: deriveRoom('lobby', new TextEncoder().encode('secret')) });
  const m1 = a.start();
  const m2 = b.receive(m1[0]!).send;
  const m3 = a.receive(m2[0]!).send;
  t.equal(m3.length, 2, 'initiator sends message 3 and its HELLO');
  t.throws(() => b.receive(Buffer.concat(m3)), { code: 'P2PCAT_ERR_AUTH' });
  t.throws(() => b.receive(Buffer.alloc(4)), { code: 'P2PCAT_ERR_PROTOCOL' }, 'a failed channel stays failed');
});

t.test('garbage and wrong sizes are protocol errors, never crashes', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 400 }), (junk) => {
      const { b } = pair();
      try {
        b.receive(junk);
        return true;
      } catch (e) {
        return (e as { name?: string }).name === 'P2pcatError';
      }
    }),
    { numRuns: 200 },
  );
  t.pass('property held');
});
