// Direct messages: sealed for one recipient. Outside truth: node:crypto's
// X25519, HKDF and ChaCha20-Poly1305 open what @noble sealed, and node's
// X25519 agrees with the Ed25519→X25519 map.
import t from 'tap';
import crypto from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { Signer, generateSigningKey } from '../../src/crypto/ed25519.js';
import { checkEnvelope, openDm, sealDm } from '../../src/mesh/dm.js';
import { DM_SEAL_CONTEXT } from '../../src/crypto/labels.js';

const alice = generateSigningKey();
const bob = generateSigningKey();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const now = new Date('2025-04-29T14:20:00.123Z');

function nodeX25519Private(raw: Uint8Array): crypto.KeyObject {
  return crypto.createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), raw]), format: 'der', type: 'pkcs8' });
}
function nodeX25519Public(raw: Uint8Array): crypto.KeyObject {
  return crypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), raw]), format: 'der', type: 'spki' });
}

t.test('seal for bob, open as bob', async (t) => {
  const { envelope, record } = sealDm(new Signer(alice.seed), { room: 'ops', username: 'alice', message: 'the vault code is 1234', to: hex(bob.publicKey), now });
  t.equal(envelope.to, hex(bob.publicKey));
  t.notMatch(JSON.stringify(envelope), /vault|alice/, 'nothing readable in the envelope');
  const r = openDm(bob.seed, hex(bob.publicKey), 'ops', { ...envelope });
  t.ok(r.ok);
  if (r.ok) {
    t.same(r.record, record);
    t.equal(r.record.message, 'the vault code is 1234');
    t.equal(r.record.from, hex(alice.publicKey));
  }
});

t.test('node:crypto opens it too (independent X25519, HKDF, ChaCha20-Poly1305)', async (t) => {
  const { envelope } = sealDm(new Signer(alice.seed), { room: 'ops', username: 'alice', message: 'cross-check', to: hex(bob.publicKey), now });
  // The birational map agrees with node's X25519: X25519(base, toMontgomerySecret(seed)) == toMontgomery(ed pub).
  const xs = ed25519.utils.toMontgomerySecret(bob.seed);
  const xpubNode = crypto.createPublicKey(nodeX25519Private(xs)).export({ format: 'der', type: 'spki' }).subarray(12);
  t.equal(hex(xpubNode), hex(ed25519.utils.toMontgomery(bob.publicKey)), 'Ed25519→X25519 public key matches node\'s X25519 of the converted secret');
  const ss = crypto.diffieHellman({ privateKey: nodeX25519Private(xs), publicKey: nodeX25519Public(Buffer.from(envelope.eph, 'hex')) });
  const okm = Buffer.from(crypto.hkdfSync('sha256', ss, Buffer.concat([Buffer.from(envelope.eph, 'hex'), xpubNode]), Buffer.from(DM_SEAL_CONTEXT), 44));
  const ct = Buffer.from(envelope.ct, 'base64');
  const d = crypto.createDecipheriv('chacha20-poly1305', okm.subarray(0, 32), okm.subarray(32, 44), { authTagLength: 16 });
  d.setAAD(Buffer.from(JSON.stringify([DM_SEAL_CONTEXT, 'ops', envelope.to])), { plaintextLength: ct.length - 16 });
  d.setAuthTag(ct.subarray(ct.length - 16));
  const pt = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
  t.equal(JSON.parse(pt.toString()).message, 'cross-check');
});

t.test('what fails: another recipient, another room, a flipped byte, a forged inner signature, a wrong id', async (t) => {
  const { envelope } = sealDm(new Signer(alice.seed), { room: 'ops', username: 'alice', message: 'hi', to: hex(bob.publicKey), now });
  const carol = generateSigningKey();
  t.match(openDm(carol.seed, hex(carol.publicKey), 'ops', { ...envelope }), { ok: false, reason: /someone else/ });
  t.match(openDm(carol.seed, hex(bob.publicKey), 'ops', { ...envelope }), { ok: false, reason: /does not open/ }, 'claiming to be bob without his key');
  t.match(openDm(bob.seed, hex(bob.publicKey), 'dev', { ...envelope }), { ok: false, reason: /does not open/ });
  const ct = Buffer.from(envelope.ct, 'base64');
  ct[3]! ^= 1;
  t.match(checkEnvelope({ ...envelope, ct: ct.toString('base64') }), { ok: false, reason: /id does not match/ }, 'relays see a tampered ciphertext');
  t.match(checkEnvelope({ ...envelope, ct: 'not base64!' }), { ok: false });
  t.match(checkEnvelope({ ...envelope, to: 'zz' }), { ok: false });
  // Mallory seals to bob a record claiming alice wrote it.
  const mallory = new Signer(generateSigningKey().seed);
  const forged = sealDm(mallory, { room: 'ops', username: 'alice', message: 'send money', to: hex(bob.publicKey), now });
  const tampered = openDm(bob.seed, hex(bob.publicKey), 'ops', { ...forged.envelope });
  t.ok(tampered.ok && tampered.record.from === Buffer.from(mallory.publicKey).toString('hex'), 'the author is who signed, whatever the username says');
  t.throws(() => sealDm(new Signer(alice.seed), { room: 'ops', username: 'a', message: '\u0001'.repeat(10_000), to: hex(bob.publicKey), now }), RangeError, 'too long once sealed (JSON escaping, then base64)');
});
