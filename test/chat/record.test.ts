import t from 'tap';
import crypto from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { createChat, checkChat, msgId } from '../../src/chat/record.js';
import { Signer, generateSigningKey, verify } from '../../src/crypto/ed25519.js';
import { uuidFromPublicKey } from '../../src/crypto/identity.js';
import { CHAT_SIGNATURE_CONTEXT } from '../../src/crypto/labels.js';

const key = generateSigningKey();
const signer = new Signer(key.seed);
const now = new Date('2025-04-29T14:20:00.123Z');

t.test('msg_id is the seed\'s hex SHA-256(uuid + timestamp + message)', async (t) => {
  const rec = createChat(signer, { room: 'ops', username: 'alice', message: 'Hello!', now });
  const expected = crypto.createHash('sha256').update(rec.uuid + '2025-04-29T14:20:00.123Z' + 'Hello!').digest('hex');
  t.equal(rec.msg_id, expected);
  t.equal(msgId(rec.uuid, rec.timestamp, rec.message), expected);
  t.equal(rec.uuid, uuidFromPublicKey(key.publicKey));
  t.match(rec.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

t.test('the signature verifies with an independent Ed25519 (noble)', async (t) => {
  const rec = createChat(signer, { room: 'ops', username: 'alice', message: 'Hello!', now });
  const signed = Buffer.concat([
    Buffer.from(CHAT_SIGNATURE_CONTEXT),
    Buffer.from([0]),
    Buffer.from(JSON.stringify([rec.room, rec.uuid, rec.username, rec.timestamp, rec.message, rec.msg_id])),
  ]);
  t.ok(ed25519.verify(Buffer.from(rec.sig, 'hex'), signed, key.publicKey), 'noble verifies our signature');
  t.equal(Buffer.from(ed25519.sign(signed, key.seed)).toString('hex'), rec.sig, 'Ed25519 is deterministic: same bytes as noble');
  t.ok(checkChat(rec, { room: 'ops' }).ok);
});

t.test('any tampering is caught, and never throws', async (t) => {
  const rec = createChat(signer, { room: 'ops', username: 'alice', message: 'Hello!', now });
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['message changed', { ...rec, message: 'Hellx!' }, /msg_id/],
    ['msg_id recomputed after change', { ...rec, message: 'x', msg_id: msgId(rec.uuid, rec.timestamp, 'x') }, /signature/],
    ['username changed', { ...rec, username: 'mallory' }, /signature/],
    ['room changed', { ...rec, room: 'other' }, /another room/],
    ['foreign uuid', { ...rec, uuid: uuidFromPublicKey(generateSigningKey().publicKey) }, /uuid/],
    ['key swapped', { ...rec, from: Buffer.from(generateSigningKey().publicKey).toString('hex') }, /uuid/],
    ['bad timestamp', { ...rec, timestamp: 'yesterday' }, /timestamp/],
    ['future timestamp', { ...rec, timestamp: '2999-01-01T00:00:00.000Z' }, /future/],
    ['missing field', { ...rec, sig: undefined }, /sig/],
  ];
  for (const [name, obj, re] of cases) {
    const r = checkChat(obj, { room: 'ops', now: now.getTime() });
    t.notOk(r.ok, name);
    if (!r.ok) t.match(r.reason, re, name);
  }
  for (const junk of [null, 1, 'x', [], { type: 'CHAT' }]) t.notOk(checkChat(junk).ok);
  t.notOk(verify(new Uint8Array(31), new Uint8Array(1), new Uint8Array(64)));
});
