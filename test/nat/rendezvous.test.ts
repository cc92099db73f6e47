// RendezvousCore, sans-I/O, with a fake clock: pairing, expiry, rate limits,
// bounded tables, RFC 5780 CHANGE-REQUEST routing, and the relay's rules.
import t from 'tap';
import fc from 'fast-check';
import { RendezvousCore, type Datagram, type Via } from '../../src/nat/rendezvous.js';
import { registerRequest, readAnswer } from '../../src/nat/register.js';
import { ATTR, METHOD, decodeStun, decodeErrorCode, decodeXorAddress, encodeChangeRequest, encodeStun, getAttr, newTransactionId, decodeAddress } from '../../src/nat/stun.js';
import { roomTokens, newPeerId } from '../../src/nat/token.js';
import { RENDEZVOUS_MAX_PER_TOKEN, RENDEZVOUS_RATE_BURST, RENDEZVOUS_REGISTRATION_TTL_MS, RELAY_MAX_PAIRS } from '../../src/limits.js';
import { P2pcatError } from '../../src/errors.js';

const sockets = {
  pp: { address: '203.0.113.10', port: 3478 },
  pa: { address: '203.0.113.10', port: 3479 },
  ap: { address: '203.0.113.11', port: 3478 },
  aa: { address: '203.0.113.11', port: 3479 },
};
const ep = (address: string, port: number) => ({ family: 4 as const, address, port });
const key = (n: number) => new Uint8Array(32).fill(n);

function reg(core: RendezvousCore, from: ReturnType<typeof ep>, roomKey: Uint8Array, id: Uint8Array, now: number, extra: { relay?: boolean; via?: Via } = {}) {
  const msg = registerRequest({ tokens: roomTokens(roomKey, now), id, candidates: [ep('10.0.0.5', 4000)], nat: 'endpoint-independent', relay: extra.relay ?? false });
  return core.receive(encodeStun(msg, { fingerprint: true }), from, extra.via ?? 'pp', now);
}
const answer = (d: Datagram) => readAnswer(decodeStun(d.data));

t.test('two peers with the same room token are paired and told about each other', async (t) => {
  const core = new RendezvousCore({ sockets, relay: false });
  const a = ep('198.51.100.1', 40000);
  const b = ep('198.51.100.2', 50000);
  const ida = newPeerId();
  const idb = newPeerId();
  const now = 1_700_000_000_000;
  const r1 = reg(core, a, key(1), ida, now);
  t.equal(r1.length, 1);
  const a1 = answer(r1[0]!);
  t.same(a1.public, a, 'the response carries the observed public endpoint');
  t.equal(a1.peer, undefined, 'no peer yet');
  // Someone in another room does not pair with a.
  t.equal(answer(reg(core, ep('198.51.100.3', 1), key(2), newPeerId(), now)[0]!).peer, undefined, 'another room stays apart');
  const r2 = reg(core, b, key(1), idb, now + 10);
  t.equal(r2.length, 2, 'a response for b and an indication for a');
  const b1 = answer(r2[0]!);
  t.same(b1.peer?.public, a, "b learns a's public endpoint");
  t.same(b1.peer?.candidates, [ep('10.0.0.5', 4000)], "and a's local candidates");
  t.same([...b1.peer!.id], [...ida], "and a's id");
  t.equal(b1.peer?.nat, 'endpoint-independent');
  const ind = decodeStun(r2[1]!.data);
  t.equal(ind.cls, 'indication');
  t.same(r2[1]!.to, a, 'the indication goes to a');
  t.same(readAnswer(ind).peer?.public, b, "a learns b's public endpoint");
  t.same(core.events.map((e) => e.type), ['PAIR']);
  // a refreshes and now sees b in its own response too.
  t.same(answer(reg(core, a, key(1), ida, now + 20)[0]!).peer?.public, b);
});

t.test('tokens from adjacent epochs still meet; a week later they do not', async (t) => {
  const core = new RendezvousCore({ sockets, relay: false });
  const hour = 3600_000;
  const t0 = 1_700_000_000_000 - (1_700_000_000_000 % hour) + hour - 5; // 5 ms before a rotation
  reg(core, ep('198.51.100.1', 1), key(1), newPeerId(), t0);
  const late = reg(core, ep('198.51.100.2', 2), key(1), newPeerId(), t0 + 10);
  t.ok(answer(late[0]!).peer, 'paired across the rotation');
  const t1 = t0 + 7 * 24 * hour;
  const a = new Set(roomTokens(key(1), t0).map((x) => Buffer.from(x).toString('hex')));
  t.notOk(roomTokens(key(1), t1).some((x) => a.has(Buffer.from(x).toString('hex'))), 'tokens rotate');
  t.not(Buffer.from(roomTokens(key(1), t0)[0]!).toString('hex'), Buffer.from(roomTokens(key(2), t0)[0]!).toString('hex'), 'and differ per room');
});

t.test('registrations expire, and a lone peer can pair again', async (t) => {
  const core = new RendezvousCore({ sockets, relay: false });
  const now = 1_700_000_000_000;
  reg(core, ep('198.51.100.1', 1), key(1), newPeerId(), now);
  t.equal(core.registrations, 1);
  core.sweep(now + RENDEZVOUS_REGISTRATION_TTL_MS + 1);
  t.equal(core.registrations, 0, 'forgotten after the TTL');
  const b = newPeerId();
  reg(core, ep('198.51.100.2', 2), key(1), b, now + RENDEZVOUS_REGISTRATION_TTL_MS + 2);
  t.equal(answer(reg(core, ep('198.51.100.2', 2), key(1), b, now + RENDEZVOUS_REGISTRATION_TTL_MS + 3)[0]!).peer, undefined, 'no ghost of the expired one');
});

t.test('per-source rate limit and bounded tables', async (t) => {
  const core = new RendezvousCore({ sockets, relay: false });
  const now = 1_700_000_000_000;
  let answered = 0;
  for (let i = 0; i < RENDEZVOUS_RATE_BURST * 2; i++) {
    const m = encodeStun({ method: METHOD.BINDING, cls: 'request', transactionId: newTransactionId(), attributes: [] });
    answered += core.receive(m, ep('198.51.100.9', 1000 + i), 'pp', now).length;
  }
  t.equal(answered, RENDEZVOUS_RATE_BURST, 'a burst is answered, the rest dropped');
  t.equal(core.counters.rateLimited, RENDEZVOUS_RATE_BURST);
  t.equal(core.receive(encodeStun({ method: 1, cls: 'request', transactionId: newTransactionId(), attributes: [] }), ep('198.51.100.10', 1), 'pp', now).length, 1, 'other sources are unaffected');
  // One token holds at most RENDEZVOUS_MAX_PER_TOKEN waiting peers (distinct tokens, so nobody pairs: use one token only).
  const core2 = new RendezvousCore({ sockets, relay: false });
  const tok = roomTokens(key(3), now).slice(0, 1);
  const one = (i: number, id: Uint8Array) => core2.receive(encodeStun(registerRequest({ tokens: tok, id, candidates: [], nat: 'unknown' })), ep(`198.51.${100 + (i >> 8)}.${i & 255}`, 1), 'pp', now);
  // Pairs form two by two; fill with pairs, then check waiting count: every odd one waits briefly.
  let lastErr: number | undefined;
  for (let i = 0; i < RENDEZVOUS_MAX_PER_TOKEN * 4; i++) {
    const a = answer(one(i, newPeerId())[0]!);
    lastErr = a.error?.code;
  }
  t.equal(lastErr, undefined, 'peers that pair two by two never hit the per-token cap');
  t.equal(core2.registrations, RENDEZVOUS_MAX_PER_TOKEN * 4);
});

t.test('CHANGE-REQUEST is answered from the alternate socket, with RFC 5780 attributes', async (t) => {
  const core = new RendezvousCore({ sockets, relay: false });
  const now = 1;
  const from = ep('198.51.100.1', 5555);
  for (const [flags, via] of [
    [{ changeIp: false, changePort: false }, 'pp'],
    [{ changeIp: true, changePort: false }, 'ap'],
    [{ changeIp: false, changePort: true }, 'pa'],
    [{ changeIp: true, changePort: true }, 'aa'],
  ] as const) {
    const tid = newTransactionId();
    const out = core.receive(encodeStun({ method: 1, cls: 'request', transactionId: tid, attributes: [{ type: ATTR.CHANGE_REQUEST, value: encodeChangeRequest(flags) }] }), from, 'pp', now);
    t.equal(out[0]!.via, via, `${JSON.stringify(flags)} -> ${via}`);
    const m = decodeStun(out[0]!.data);
    t.same(decodeXorAddress(getAttr(m, ATTR.XOR_MAPPED_ADDRESS)!, tid), from);
    t.same(decodeAddress(getAttr(m, ATTR.RESPONSE_ORIGIN)!), { family: 4, ...sockets[via] }, 'RESPONSE-ORIGIN names the answering socket');
    t.same(decodeAddress(getAttr(m, ATTR.OTHER_ADDRESS)!), { family: 4, ...sockets.aa });
  }
  const plain = new RendezvousCore({ sockets: { pp: sockets.pp }, relay: false });
  const out = plain.receive(encodeStun({ method: 1, cls: 'request', transactionId: newTransactionId(), attributes: [{ type: ATTR.CHANGE_REQUEST, value: encodeChangeRequest({ changeIp: true, changePort: false }) }] }), from, 'pp', 1);
  const m = decodeStun(out[0]!.data);
  t.equal(m.cls, 'error');
  t.equal(decodeErrorCode(getAttr(m, ATTR.ERROR_CODE)!).code, 420, 'a server with one address says 420');
  t.equal(getAttr(m, ATTR.OTHER_ADDRESS), undefined);
});

t.test('unknown comprehension-required attributes get 420; garbage and non-requests get silence', async (t) => {
  const core = new RendezvousCore({ sockets, relay: false });
  const out = core.receive(encodeStun({ method: 1, cls: 'request', transactionId: newTransactionId(), attributes: [{ type: 0x7777, value: new Uint8Array(4) }] }), ep('198.51.100.1', 1), 'pp', 1);
  const m = decodeStun(out[0]!.data);
  t.equal(decodeErrorCode(getAttr(m, ATTR.ERROR_CODE)!).code, 420);
  t.same([...getAttr(m, ATTR.UNKNOWN_ATTRIBUTES)!], [0x77, 0x77]);
  t.same(core.receive(encodeStun({ method: 1, cls: 'success', transactionId: newTransactionId(), attributes: [] }), ep('198.51.100.1', 1), 'pp', 1), [], 'responses are not answered');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      try {
        core.receive(b, ep('198.51.100.7', 1), 'pp', 2);
        return true;
      } catch (e) {
        return e instanceof P2pcatError;
      }
    }),
  );
});

t.test('relay: only when offered, only after both ask, only between the pair', async (t) => {
  const now = 1_700_000_000_000;
  const a = ep('198.51.100.1', 40000);
  const b = ep('198.51.100.2', 50000);
  const off = new RendezvousCore({ sockets, relay: false });
  const ida = newPeerId();
  const idb = newPeerId();
  reg(off, a, key(1), ida, now);
  reg(off, b, key(1), idb, now);
  const refused = answer(reg(off, a, key(1), ida, now, { relay: true })[0]!);
  t.equal(refused.error?.code, 403, 'a rendezvous without --relay refuses');
  t.same(off.receive(Buffer.from([0xff, 1, 2, 3]), a, 'pp', now), [], 'and forwards nothing');

  const on = new RendezvousCore({ sockets, relay: true });
  reg(on, a, key(1), ida, now);
  reg(on, b, key(1), idb, now);
  t.equal(answer(reg(on, a, key(1), ida, now, { relay: true })[0]!).relay, false, 'pending until the peer asks too');
  t.same(on.receive(Buffer.from([0xff, 1]), a, 'pp', now), [], 'nothing forwarded yet');
  t.equal(answer(reg(on, b, key(1), idb, now, { relay: true })[0]!).relay, true, 'granted once both asked');
  t.equal(answer(reg(on, a, key(1), ida, now, { relay: true })[0]!).relay, true, 'and a sees it granted');
  const fwd = on.receive(Buffer.from([0xff, 9, 9]), a, 'pp', now + 1);
  t.same(fwd.map((d) => d.to), [{ address: b.address, port: b.port }], 'a -> b');
  t.same(on.receive(Buffer.from([0xff, 7]), b, 'pp', now + 2).map((d) => d.to), [{ address: a.address, port: a.port }], 'b -> a');
  t.same(on.receive(Buffer.from([0xff, 7]), ep('198.51.100.66', 50000), 'pp', now + 3), [], 'a stranger is not relayed');
  t.ok(on.events.some((e) => e.type === 'RELAY'));
  t.ok(RELAY_MAX_PAIRS > 0);
});
