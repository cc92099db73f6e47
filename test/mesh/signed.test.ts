import t from 'tap';
import { Signer, generateSigningKey } from '../../src/crypto/ed25519.js';
import { checkAck, checkPresence, signAck, signPresence } from '../../src/mesh/signed.js';

const s = new Signer(generateSigningKey().seed);
const now = Date.parse('2025-04-29T14:20:00Z');

t.test('presence statements', async (t) => {
  const p = signPresence(s, 'ops', { name: 'alice', port: 5050, ts: now, state: 'up' });
  t.same(checkPresence(p, { room: 'ops', now }), { ok: true, value: p });
  t.match(checkPresence(p, { room: 'dev', now }), { ok: false, reason: /signature/ }, 'another room');
  t.match(checkPresence({ ...p, port: 5051 }, { room: 'ops', now }), { ok: false, reason: /signature/ }, 'a relay changed the port');
  t.match(checkPresence({ ...p, name: 'mallory' }, { room: 'ops', now }), { ok: false }, 'or the name');
  t.match(checkPresence(p, { room: 'ops', now: now + 3_600_000 }), { ok: false, reason: /too old/ }, 'a replay an hour later');
  t.match(checkPresence({ ...p, port: 0 }, { room: 'ops', now }), { ok: false, reason: /port/ });
  t.match(checkPresence('x', { room: 'ops', now }), { ok: false });
});

t.test('ACKs cannot be forged by relays', async (t) => {
  const id = 'ab'.repeat(32);
  const a = signAck(s, 'ops', id, 'alice');
  t.ok(checkAck({ ...a }, 'ops').ok);
  const other = new Signer(generateSigningKey().seed);
  t.notOk(checkAck({ ...a, by: Buffer.from(other.publicKey).toString('hex') }, 'ops').ok, 'claiming another member confirmed');
  t.notOk(checkAck({ ...a, id: 'cd'.repeat(32) }, 'ops').ok, 'moved to another message');
  t.notOk(checkAck({ ...a }, 'dev').ok, 'another room');
});
