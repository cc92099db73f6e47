// Unit level: bounds that live in a sans-I/O core are exceeded by one, using
// the real constant from src/limits.ts (not a small test config), and the
// value at the bound is shown to pass. Which test covers which bound:
// test/limits/registry.ts.
import t, { type Test } from 'tap';
import { P2pcatError } from '../../src/errors.js';
import * as L from '../../src/limits.js';
import { ATTR, METHOD, decodeStun, decodeErrorCode, encodeStun, encodeAddressList, getAttr, newTransactionId } from '../../src/nat/stun.js';
import { RendezvousCore, type Datagram } from '../../src/nat/rendezvous.js';
import { registerRequest, readAnswer } from '../../src/nat/register.js';
import { roomTokens, newPeerId } from '../../src/nat/token.js';
import { checkChat, createChat } from '../../src/chat/record.js';
import { Signer, generateSigningKey } from '../../src/crypto/ed25519.js';
import { SeenSet } from '../../src/mesh/seen.js';
import { checkKrpc, decodeBencode } from '../../src/discovery/krpc.js';

// bittorrent-dht's own bencode (a transitive dependency, loaded untyped), as test/discovery/krpc.test.ts does.
const bencode: { encode(v: unknown): Buffer } = await import(String('bencode')).then((m) => m.default);

function coded(t: Test, fn: () => unknown, code: string, what: string): void {
  try {
    fn();
    t.fail(`${what}: no error`);
  } catch (e) {
    t.ok(e instanceof P2pcatError && e.code === code, `${what}: ${code} (${(e as Error).message})`);
  }
}

t.test('STUN: STUN_MAX_MESSAGE_BYTES and STUN_MAX_ATTRIBUTES', async (t) => {
  const tid = newTransactionId();
  // The largest message: one SOFTWARE attribute that fills it exactly (header 20, attribute header 4).
  const atMax = encodeStun({ method: METHOD.BINDING, cls: 'request', transactionId: tid, attributes: [{ type: ATTR.SOFTWARE, value: new Uint8Array(L.STUN_MAX_MESSAGE_BYTES - 24) }] });
  t.equal(atMax.length, L.STUN_MAX_MESSAGE_BYTES);
  t.equal(decodeStun(atMax).attributes.length, 1, 'a message of exactly the bound decodes');
  t.throws(() => encodeStun({ method: METHOD.BINDING, cls: 'request', transactionId: tid, attributes: [{ type: ATTR.SOFTWARE, value: new Uint8Array(L.STUN_MAX_MESSAGE_BYTES - 20) }] }), RangeError, 'we never write a bigger one');
  // A bigger one on the wire: same header, body length patched.
  const over = Buffer.concat([Buffer.from(atMax), Buffer.alloc(4)]);
  over.writeUInt16BE(over.length - 20, 2);
  over.writeUInt16BE(over.length - 24, 22);
  coded(t, () => decodeStun(over), 'P2PCAT_ERR_PROTOCOL', `${over.length} bytes`);

  const attrs = (n: number) => Array.from({ length: n }, () => ({ type: ATTR.SOFTWARE, value: new Uint8Array(0) }));
  t.equal(decodeStun(encodeStun({ method: METHOD.BINDING, cls: 'request', transactionId: tid, attributes: attrs(L.STUN_MAX_ATTRIBUTES) })).attributes.length, L.STUN_MAX_ATTRIBUTES, `${L.STUN_MAX_ATTRIBUTES} attributes decode`);
  coded(t, () => decodeStun(encodeStun({ method: METHOD.BINDING, cls: 'request', transactionId: tid, attributes: attrs(L.STUN_MAX_ATTRIBUTES + 1) })), 'P2PCAT_ERR_PROTOCOL', `${L.STUN_MAX_ATTRIBUTES + 1} attributes`);
});

const sockets = { pp: { address: '203.0.113.10', port: 3478 } };
const key = (n: number) => new Uint8Array(32).fill(n);
const src = (i: number) => ({ family: 4 as const, address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 1000 });
const answer = (d: Datagram) => readAnswer(decodeStun(d.data));
const errorCode = (d: Datagram) => {
  const v = getAttr(decodeStun(d.data), ATTR.ERROR_CODE);
  return v ? decodeErrorCode(v).code : undefined;
};

t.test('rendezvous: RENDEZVOUS_MAX_REGISTRATIONS, RENDEZVOUS_MAX_TOKENS, PUNCH_MAX_CANDIDATES', async (t) => {
  const core = new RendezvousCore({ sockets, relay: false });
  const now = 1_700_000_000_000;
  // Every registration its own room (nobody pairs) and its own source (no rate limit).
  const one = (i: number, extra: Partial<Parameters<typeof registerRequest>[0]> = {}) =>
    core.receive(encodeStun(registerRequest({ tokens: roomTokens(new Uint8Array(32).fill(0).map((_, j) => (i >> (8 * (j % 4))) & 255), now).slice(0, 1), id: newPeerId(), candidates: [], nat: 'unknown', ...extra })), src(i), 'pp', now);
  let errors = 0;
  for (let i = 0; i < L.RENDEZVOUS_MAX_REGISTRATIONS; i++) if (errorCode(one(i)[0]!) !== undefined) errors++;
  t.equal(errors, 0, `${L.RENDEZVOUS_MAX_REGISTRATIONS} registrations are held`);
  t.equal(core.registrations, L.RENDEZVOUS_MAX_REGISTRATIONS);
  const full = one(L.RENDEZVOUS_MAX_REGISTRATIONS)[0]!;
  t.equal(errorCode(full), 508, 'one more: 508 (capacity), STUN style');
  t.equal(core.registrations, L.RENDEZVOUS_MAX_REGISTRATIONS, 'and it is not held');

  const c2 = new RendezvousCore({ sockets, relay: false });
  const reg = (tokens: Uint8Array[], candidates: { address: string; port: number }[], i: number) => {
    const m = registerRequest({ tokens, id: newPeerId(), candidates: [], nat: 'unknown' });
    // registerRequest itself cuts candidates to the bound; write the attribute by hand to exceed it.
    m.attributes = m.attributes.map((a) => (a.type === ATTR.P2P_CANDIDATES ? { type: a.type, value: encodeAddressList(candidates) } : a));
    return c2.receive(encodeStun(m), src(i), 'pp', now)[0]!;
  };
  const toks = roomTokens(key(9), now);
  const three = [...toks, ...roomTokens(key(8), now)].slice(0, L.RENDEZVOUS_MAX_TOKENS + 1);
  t.equal(errorCode(reg(toks.slice(0, L.RENDEZVOUS_MAX_TOKENS), [], 1)), undefined, `${L.RENDEZVOUS_MAX_TOKENS} tokens are accepted`);
  t.equal(errorCode(reg(three, [], 2)), 400, `${L.RENDEZVOUS_MAX_TOKENS + 1} tokens: 400`);
  const cands = (n: number) => Array.from({ length: n }, (_, i) => ({ address: `192.168.1.${i + 1}`, port: 4000 + i }));
  t.equal(errorCode(reg(roomTokens(key(7), now).slice(0, 1), cands(L.PUNCH_MAX_CANDIDATES), 3)), undefined, `${L.PUNCH_MAX_CANDIDATES} candidates are accepted`);
  t.equal(errorCode(reg(roomTokens(key(6), now).slice(0, 1), cands(L.PUNCH_MAX_CANDIDATES + 1), 4)), 400, `${L.PUNCH_MAX_CANDIDATES + 1} candidates: 400`);
  t.equal(registerRequest({ tokens: toks, id: newPeerId(), candidates: cands(20), nat: 'unknown' }).attributes.find((a) => a.type === ATTR.P2P_CANDIDATES)!.value.length, 8 * L.PUNCH_MAX_CANDIDATES, 'and we never send more');
});

t.test('rendezvous: RENDEZVOUS_MAX_SOURCES forgets the oldest rate state; RENDEZVOUS_RATE_PER_SEC refills', async (t) => {
  const core = new RendezvousCore({ sockets, relay: false });
  const now = 1_700_000_000_000;
  const ping = (i: number, at = now) => core.receive(encodeStun({ method: METHOD.BINDING, cls: 'request', transactionId: newTransactionId(), attributes: [] }), src(i), 'pp', at).length;
  let answered = 0;
  for (let k = 0; k < L.RENDEZVOUS_RATE_BURST + 5; k++) answered += ping(0);
  t.equal(answered, L.RENDEZVOUS_RATE_BURST, 'source 0 spent its burst');
  t.equal(ping(0, now + 1000), 1, `refilled at ${L.RENDEZVOUS_RATE_PER_SEC}/s: answered a second later`);
  let spent = 0;
  while (ping(0, now + 1000) === 1 && spent < 1000) spent++;
  t.equal(spent, L.RENDEZVOUS_RATE_PER_SEC - 1, 'a second refills exactly the rate');
  // Another core: MAX_SOURCES - 1 newer sources keep its (spent) state; MAX_SOURCES newer ones push it out.
  const fill = (c: RendezvousCore, from: number, to: number) => {
    for (let i = from; i <= to; i++) c.receive(encodeStun({ method: METHOD.BINDING, cls: 'request', transactionId: newTransactionId(), attributes: [] }), src(i), 'pp', now);
  };
  for (const [others, answeredAfter] of [
    [L.RENDEZVOUS_MAX_SOURCES - 1, 0],
    [L.RENDEZVOUS_MAX_SOURCES, 1],
  ] as const) {
    const c = new RendezvousCore({ sockets, relay: false });
    const p0 = () => c.receive(encodeStun({ method: METHOD.BINDING, cls: 'request', transactionId: newTransactionId(), attributes: [] }), src(0), 'pp', now).length;
    for (let k = 0; k < L.RENDEZVOUS_RATE_BURST; k++) p0();
    t.equal(p0(), 0, 'source 0 spent its burst');
    fill(c, 1, others);
    t.equal(p0(), answeredAfter, `after ${others} newer sources, source 0 is ${answeredAfter ? 'forgotten (the table is bounded)' : 'still limited'}`);
  }
});

t.test('relay: RELAY_MAX_PAIRS, RELAY_MAX_BYTES_PER_SEC, RELAY_MAX_BYTES_PER_PAIR', async (t) => {
  const core = new RendezvousCore({ sockets, relay: true });
  let now = 1_700_000_000_000;
  const pair = (n: number) => {
    const a = src(2 * n);
    const b = src(2 * n + 1);
    const ida = newPeerId();
    const idb = newPeerId();
    const room = new Uint8Array(32).map((_, j) => (n >> (8 * (j % 2))) & 255);
    const r = (from: typeof a, id: Uint8Array, relay: boolean) => core.receive(encodeStun(registerRequest({ tokens: roomTokens(room, now), id, candidates: [], nat: 'endpoint-independent', relay })), from, 'pp', now);
    r(a, ida, false);
    r(b, idb, false);
    r(a, ida, true);
    const granted = answer(r(b, idb, true)[0]!);
    return { a, b, granted };
  };
  const pairs = [];
  for (let n = 0; n < L.RELAY_MAX_PAIRS; n++) pairs.push(pair(n));
  t.equal(pairs.filter((p) => p.granted.relay === true).length, L.RELAY_MAX_PAIRS, `${L.RELAY_MAX_PAIRS} pairs are relayed`);
  const extra = pair(L.RELAY_MAX_PAIRS);
  t.not(extra.granted.relay, true, `pair ${L.RELAY_MAX_PAIRS + 1} is refused`);
  t.ok(extra.granted.error !== undefined || extra.granted.relay === false, 'with an error or a refusal');

  // Rate: in one instant a pair moves at most one second's budget.
  const { a } = pairs[0]!;
  const chunk = Buffer.alloc(1024 * 1024, 0xff);
  let moved = 0;
  for (let k = 0; k < 40; k++) moved += core.receive(chunk, a, 'pp', now).length * chunk.length;
  t.equal(moved, L.RELAY_MAX_BYTES_PER_SEC, 'one instant: exactly RELAY_MAX_BYTES_PER_SEC forwarded, the rest dropped');
  // Volume: at the allowed rate, the pair is dropped once it passes RELAY_MAX_BYTES_PER_PAIR.
  let forwarded = moved;
  let k = 0;
  for (; k < 400 && forwarded <= L.RELAY_MAX_BYTES_PER_PAIR; k++) {
    now += 1000 / 16; // a sixteenth of a second: 1 MiB of budget
    const out = core.receive(chunk, a, 'pp', now);
    if (out.length === 0) break;
    forwarded += chunk.length;
  }
  t.equal(forwarded, L.RELAY_MAX_BYTES_PER_PAIR, 'forwarded exactly the per-pair volume');
  now += 1000;
  t.same(core.receive(Buffer.from([0xff, 1]), a, 'pp', now), [], 'then the pair is gone');
  t.ok(core.events.some((e) => e.type === 'RELAY_END' && e.reason === `over ${L.RELAY_MAX_BYTES_PER_PAIR} bytes`), 'with an event saying why');
});

t.test('chat records from peers: CHAT_MAX_MESSAGE_BYTES, USERNAME_MAX_BYTES, ROOM_MAX_BYTES, CLOCK_SKEW_MAX_MS', async (t) => {
  const signer = new Signer(generateSigningKey().seed);
  const now = Date.now();
  const mk = (f: Partial<{ room: string; username: string; message: string; now: Date }>) => createChat(signer, { room: 'lobby', username: 'u', message: 'm', now: new Date(now), ...f });
  const ok = (r: unknown) => checkChat(r, { now }).ok;
  t.ok(ok(mk({ message: 'é'.repeat(L.CHAT_MAX_MESSAGE_BYTES / 2) })), 'a message of exactly the bound (in bytes) is accepted');
  t.notOk(ok(mk({ message: 'é'.repeat(L.CHAT_MAX_MESSAGE_BYTES / 2) + 'x' })), 'one byte more is refused, even correctly signed');
  t.ok(ok(mk({ username: 'n'.repeat(L.USERNAME_MAX_BYTES) })));
  t.notOk(ok(mk({ username: 'n'.repeat(L.USERNAME_MAX_BYTES + 1) })), 'a signed username over the bound is refused');
  t.ok(ok(mk({ room: 'r'.repeat(L.ROOM_MAX_BYTES) })));
  t.notOk(ok(mk({ room: 'r'.repeat(L.ROOM_MAX_BYTES + 1) })), 'a signed room name over the bound is refused');
  t.ok(ok(mk({ now: new Date(now + L.CLOCK_SKEW_MAX_MS - 1000) })), 'a day ahead (less a second) is accepted');
  t.notOk(ok(mk({ now: new Date(now + L.CLOCK_SKEW_MAX_MS + 1000) })), 'past the skew bound is refused');
});

t.test('SEEN_IDS_MAX: the duplicate filter stays bounded, forgetting the oldest', async (t) => {
  const s = new SeenSet(L.SEEN_IDS_MAX);
  for (let i = 0; i <= L.SEEN_IDS_MAX; i++) s.add(`id${i}`);
  t.notOk(s.has('id0'), 'the oldest id is forgotten once one more arrives');
  t.ok(s.has('id1') && s.has(`id${L.SEEN_IDS_MAX}`), 'the newest SEEN_IDS_MAX are kept');
});

t.test('DHT: DHT_MAX_BENCODE_DEPTH and DHT_MAX_VALUES_PER_REPLY', async (t) => {
  const nest = (d: number): unknown => (d === 0 ? 1 : [nest(d - 1)]);
  t.doesNotThrow(() => decodeBencode(bencode.encode(nest(L.DHT_MAX_BENCODE_DEPTH))), `depth ${L.DHT_MAX_BENCODE_DEPTH} decodes`);
  t.throws(() => decodeBencode(bencode.encode(nest(L.DHT_MAX_BENCODE_DEPTH + 1))), `depth ${L.DHT_MAX_BENCODE_DEPTH + 1} is refused`);
  const reply = (n: number) => bencode.encode({ t: 'aa', y: 'r', r: { id: Buffer.alloc(20, 1), token: 'tok', values: Array.from({ length: n }, (_, i) => Buffer.from([10, 0, (i >> 8) & 255, i & 255, 0x1f, 0x90])) } });
  const atMax = reply(L.DHT_MAX_VALUES_PER_REPLY);
  t.ok(atMax.length <= L.DHT_MAX_PACKET_BYTES, 'the reply at the bound fits one packet');
  t.equal(checkKrpc(atMax), undefined, `${L.DHT_MAX_VALUES_PER_REPLY} values pass`);
  t.match(checkKrpc(reply(L.DHT_MAX_VALUES_PER_REPLY + 1)) ?? '', /peers \(at most 100\)|at most/, `${L.DHT_MAX_VALUES_PER_REPLY + 1} values are refused`);
});
