// The peer book: presence, expiry, goodbyes, dial candidates and backoff.
import t from 'tap';
import { PeerBook, backoffMs } from '../../src/mesh/book.js';
import { parseDialPolicy } from '../../src/mesh/addr.js';
import { Signer, generateSigningKey } from '../../src/crypto/ed25519.js';
import { signPresence } from '../../src/mesh/signed.js';
import { PRESENCE_TIMEOUT_MS, RECONNECT_MAX_MS } from '../../src/limits.js';
import { presenceIntervalMs } from '../../src/mesh/book.js';

const me = new Signer(generateSigningKey().seed);
const ann = new Signer(generateSigningKey().seed);
const hex = (s: Signer) => Buffer.from(s.publicKey).toString('hex');
const pres = (s: Signer, ts: number, state: 'up' | 'bye' = 'up', port = 5050) => signPresence(s, 'lobby', { name: 'ann', port, ts, state });

t.test('presence: newer replaces older, goodbyes, expiry', async (t) => {
  const b = new PeerBook(hex(me), { random: () => 0.5 });
  t.same(b.presence(pres(me, 1), undefined, undefined, 0), { fresh: false, events: [] }, 'our own statement is ignored');
  let r = b.presence(pres(ann, 100), { host: '127.0.0.1', port: 5050 }, '127.0.0.1', 0);
  t.same(r.events, [{ type: 'up', key: hex(ann), name: 'ann' }]);
  t.ok(r.fresh);
  t.notOk(b.presence(pres(ann, 100), undefined, undefined, 10).fresh, 'the same statement again is not fresh');
  t.notOk(b.presence(pres(ann, 50), undefined, undefined, 10).fresh, 'an older one neither');
  t.same(b.expire(PRESENCE_TIMEOUT_MS - 1), [], 'not yet');
  t.same(b.expire(PRESENCE_TIMEOUT_MS + 1), [{ type: 'down', key: hex(ann), name: 'ann', reason: 'timeout' }], 'silent too long: gone');
  r = b.presence(pres(ann, 200), undefined, undefined, 0);
  t.same(r.events.map((e) => e.type), ['up'], 'back');
  r = b.presence(pres(ann, 300, 'bye'), undefined, undefined, 0);
  t.same(r.events, [{ type: 'down', key: hex(ann), name: 'ann', reason: 'bye' }], 'a goodbye');
});

t.test('sessions: a neighbour is present until BYE; a cut keeps it until the timeout', async (t) => {
  const b = new PeerBook(hex(me));
  t.same(b.sessionUp(hex(ann), 'ann', { host: '127.0.0.1', port: 6000 }, 0).map((e) => e.type), ['up']);
  t.same(b.expire(PRESENCE_TIMEOUT_MS * 10), [], 'a neighbour never times out here (keep-alives do that)');
  t.same(b.sessionDown(hex(ann), false, 0), [], 'cut: maybe reachable through others');
  t.same(b.expire(PRESENCE_TIMEOUT_MS + 1).map((e) => e.reason), ['timeout']);
  b.sessionUp(hex(ann), 'ann', undefined, 0);
  t.same(b.sessionDown(hex(ann), true, 0).map((e) => e.reason), ['bye']);
});

t.test('candidates: policy, backoff, busy', async (t) => {
  const b = new PeerBook(hex(me), { random: () => 0.5 });
  b.presence(pres(ann, 1), { host: '127.0.0.1', port: 5050 }, '127.0.0.1', 0);
  const p = parseDialPolicy('same-scope');
  t.same(b.candidates(0, new Set(), p, 4), [{ key: hex(ann), name: 'ann', host: '127.0.0.1', port: 5050 }]);
  t.same(b.candidates(0, new Set([hex(ann)]), p, 4), [], 'busy: skipped');
  b.dialed(hex(ann), { host: '127.0.0.1', port: 5050 }, false, 0);
  t.same(b.candidates(100, new Set(), p, 4), [], 'backing off');
  t.equal(b.candidates(10_000, new Set(), p, 4).length, 1, 'tried again later');
  const bob = new Signer(generateSigningKey().seed);
  b.presence(signPresence(bob, 'lobby', { name: 'bob', ts: 1, state: 'up' }), { host: '127.0.0.1', port: 22 }, '10.0.0.9', 0);
  t.notOk(b.candidates(10_000, new Set(), p, 4).some((c) => c.name === 'bob'), 'loopback learned from a LAN peer is never a candidate');
});

t.test('presence gets rarer in big rooms, so its cost per peer stays flat', async (t) => {
  t.equal(presenceIntervalMs(5), 10_000);
  t.equal(presenceIntervalMs(200), 50_000);
  const b = new PeerBook(hex(me));
  t.equal(b.timeoutMs, PRESENCE_TIMEOUT_MS);
});

t.test('backoff doubles with jitter up to the cap', async (t) => {
  t.equal(backoffMs(1, () => 0.5), 500);
  t.equal(backoffMs(3, () => 0.5), 2000);
  t.equal(backoffMs(3, () => 0), 1000);
  t.equal(backoffMs(3, () => 0.999999), 3000);
  t.equal(backoffMs(100, () => 0.5), RECONNECT_MAX_MS);
});

t.test('bounded: members and addresses', async (t) => {
  const b = new PeerBook(hex(me), { maxMembers: 10, maxAddrs: 2 });
  for (let i = 0; i < 30; i++) b.presence(signPresence(new Signer(generateSigningKey().seed), 'lobby', { name: `m${i}`, ts: 1, state: 'up' }), undefined, undefined, i);
  t.equal(b.size, 10);
  const k = hex(ann);
  for (let port = 1; port <= 10; port++) b.presence(pres(ann, port), { host: '10.0.0.1', port }, '10.0.0.2', 100);
  t.equal(b.get(k)!.addrs.size, 2);
});
