// LAN beacons (src/discovery/beacon.ts): sealing checked against an
// independent ChaCha20-Poly1305 (@noble/ciphers), every field's tampering
// refused, replays outside the window refused, other rooms ignored quietly,
// and any input at all handled without a throw.
import t from 'tap';
import fc from 'fast-check';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { deriveDiscoveryKeys, LAN_EPOCH_MS } from '../../src/discovery/keys.js';
import {
  ReplayCache,
  decodeDatagram,
  encodeBeaconDatagram,
  encodeProbeDatagram,
  fitAddrs,
  parseBeaconTxt,
  readBeacon,
  sealBeacon,
} from '../../src/discovery/beacon.js';
import { LAN_BEACON_AAD_CONTEXT } from '../../src/crypto/labels.js';
import { LAN_BEACON_MAX_BYTES, LAN_BEACON_MAX_SKEW_MS, LAN_MAX_ADDRS } from '../../src/limits.js';

const KEY = deriveDiscoveryKeys(Uint8Array.from({ length: 32 }, (_, i) => i));
const OTHER = deriveDiscoveryKeys(Uint8Array.from({ length: 32 }, (_, i) => 100 + i));
const PUB = Uint8Array.from({ length: 32 }, (_, i) => 200 - i);
const NOW = 1_750_000_123_456;
const bytes = (ss: string[]) => ss.map((s) => new Uint8Array(Buffer.from(s)));
const txt = (extra: Partial<Parameters<typeof sealBeacon>[1]> = {}) =>
  sealBeacon(KEY, { nowMs: NOW, port: 5050, addrs: ['10.0.0.7', '192.168.1.20'], publicKey: PUB, ...extra });
const field = (ss: string[], k: string) => ss.find((s) => s.startsWith(k + '='))!.slice(k.length + 1);
const replace = (ss: string[], k: string, v: string) => ss.map((s) => (s.startsWith(k + '=') ? `${k}=${v}` : s));

t.test('a sealed beacon opens for the room, with its fields and the identity key', async (t) => {
  const ss = txt();
  t.ok(ss.every((s) => Buffer.byteLength(s) <= 255), 'every TXT string fits 255 bytes');
  const r = readBeacon(KEY, bytes(ss), NOW + 1000);
  t.equal(r.kind, 'peer');
  if (r.kind !== 'peer') return;
  t.same(r.beacon.addrs, ['10.0.0.7', '192.168.1.20']);
  t.equal(r.beacon.port, 5050);
  t.equal(r.beacon.ts, NOW);
  t.equal(r.beacon.epoch, Math.floor(NOW / LAN_EPOCH_MS));
  t.same([...r.beacon.publicKey!], [...PUB]);
  t.equal(r.beacon.goodbye, false);
  const bye = readBeacon(KEY, bytes(txt({ goodbye: true })), NOW);
  t.equal(bye.kind === 'peer' && bye.beacon.goodbye, true, 'a goodbye is a beacon with g=1');
  const anon = readBeacon(KEY, bytes(txt({ publicKey: undefined })), NOW);
  t.equal(anon.kind === 'peer' && anon.beacon.publicKey, undefined, 'the key is optional');
});

t.test('x= is ChaCha20-Poly1305 of the key under K_beacon, nonce n, AAD as documented (noble decrypts it)', async (t) => {
  const ss = txt();
  const aad = [
    LAN_BEACON_AAD_CONTEXT,
    'v=1',
    `t=${field(ss, 't')}`,
    `n=${field(ss, 'n')}`,
    `e=${field(ss, 'e')}`,
    `ts=${field(ss, 'ts')}`,
    `p=${field(ss, 'p')}`,
    `a=${field(ss, 'a')}`,
    'g=0',
  ].join('\n');
  const nonce = Buffer.from(field(ss, 'n'), 'hex');
  const pt = chacha20poly1305(KEY.beaconKey, nonce, new TextEncoder().encode(aad)).decrypt(Buffer.from(field(ss, 'x'), 'base64url'));
  t.same([...pt], [...PUB]);
});

t.test('other rooms are foreign; tampering with any field is refused', async (t) => {
  const ss = txt();
  t.equal(readBeacon(OTHER, bytes(ss), NOW).kind, 'foreign', 'another room does not recognise it');
  // Fields the tag covers: a change makes it unrecognisable (foreign, quiet).
  t.equal(readBeacon(KEY, bytes(replace(ss, 't', '0'.repeat(32))), NOW).kind, 'foreign');
  t.equal(readBeacon(KEY, bytes(replace(ss, 'n', '0'.repeat(24))), NOW).kind, 'foreign');
  t.equal(readBeacon(KEY, bytes(replace(ss, 'e', String(Number(field(ss, 'e')) + 1))), NOW).kind, 'foreign');
  // Fields only the MAC covers: a member's tag with a bad MAC is a forgery (loud).
  for (const [k, v] of [
    ['p', '4444'],
    ['a', '10.6.6.6'],
    ['a', '10.0.0.7'],
    ['ts', String(NOW + 1)],
    ['x', Buffer.alloc(48, 1).toString('base64url')],
  ] as const) {
    const r = readBeacon(KEY, bytes(replace(ss, k, v)), NOW);
    t.equal(r.kind, 'bad', `${k}=${v} refused`);
    t.match(r.kind === 'bad' && r.reason, /forged or altered/);
  }
  const g = readBeacon(KEY, bytes([...ss.slice(0, -1), 'g=1', ss.at(-1)!]), NOW);
  t.match(g.kind === 'bad' && g.reason, /forged/, 'adding g=1 (a fake goodbye) is refused');
  const mixed = readBeacon(KEY, bytes(replace(ss, 'x', field(txt(), 'x'))), NOW);
  t.equal(mixed.kind, 'bad', "another beacon's MAC does not fit");
});

t.test('replays outside the window are refused; exact replays inside it are spotted', async (t) => {
  const ss = bytes(txt());
  t.equal(readBeacon(KEY, ss, NOW + LAN_BEACON_MAX_SKEW_MS).kind, 'peer', 'at the edge of the window');
  const late = readBeacon(KEY, ss, NOW + LAN_BEACON_MAX_SKEW_MS + 1);
  t.match(late.kind === 'bad' && late.reason, /stale or replayed/);
  const early = readBeacon(KEY, ss, NOW - LAN_BEACON_MAX_SKEW_MS - 1);
  t.match(early.kind === 'bad' && early.reason, /stale or replayed/, 'a beacon from the future too');
  // The epoch must match the timestamp (no keeping an old tag alive with a new ts).
  const cache = new ReplayCache(4);
  const r = readBeacon(KEY, ss, NOW);
  t.equal(r.kind === 'peer' && cache.check(r.beacon.nonce), false, 'first sight');
  t.equal(r.kind === 'peer' && cache.check(r.beacon.nonce), true, 'the same nonce again is a replay');
  for (let i = 0; i < 10; i++) cache.check(new Uint8Array(12).fill(i));
  t.equal(cache.size, 4, 'the replay cache is bounded');
});

t.test('malformed beacons of a member are bad, not crashes', async (t) => {
  const ss = txt();
  const cases: [string[], RegExp][] = [
    [ss.filter((s) => !s.startsWith('x=')), /lacks "x="/],
    [replace(ss, 'p', '0'), /out of range/],
    [replace(ss, 'p', '070'), /plain decimal/],
    [replace(ss, 'a', '10.0.0.1,10.0.0.1'), /twice/],
    [replace(ss, 'a', 'example.com'), /not an IP/],
    [replace(ss, 'a', Array.from({ length: LAN_MAX_ADDRS + 1 }, (_, i) => `10.0.0.${i + 1}`).join(',')), /addresses/],
    [replace(ss, 'x', 'AAAA'), /3 bytes/],
    [replace(ss, 't', 'XYZ'), /tag/],
    [[...ss, ...Array(20).fill('z=1')], /strings/],
  ];
  for (const [c, re] of cases) {
    const r = readBeacon(KEY, bytes(c), NOW);
    t.match(r.kind === 'bad' ? r.reason : r.kind, re);
  }
  t.equal(parseBeaconTxt(bytes(['txtvers=1', 'path=/'])).kind, 'foreign', 'another service is foreign');
  t.equal(parseBeaconTxt(bytes(replace(ss, 'v', '2'))).kind, 'foreign', 'a later version is foreign');
  t.equal(parseBeaconTxt([new Uint8Array([0xff, 0x3d])]).kind, 'bad', 'non-ASCII');
});

t.test('any TXT input: readBeacon never throws', async (t) => {
  const real = txt();
  const piece = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.constantFrom(...real).map((s) => new Uint8Array(Buffer.from(s))),
    fc.tuple(fc.constantFrom('v', 't', 'n', 'e', 'ts', 'p', 'a', 'x', 'g'), fc.string({ maxLength: 80 })).map(([k, v]) => new Uint8Array(Buffer.from(`${k}=${v}`))),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 20 }), fc.integer({ min: 0, max: 2 ** 46 }), (ss, now) => {
      const r = readBeacon(KEY, ss, now);
      return r.kind === 'peer' || r.kind === 'foreign' || r.kind === 'bad';
    }),
    { numRuns: 3000 },
  );
  t.pass('no throw');
});

t.test('datagrams: beacon and probe round trip; garbage, truncation and oversize are bad', async (t) => {
  const ss = txt();
  const d = decodeDatagram(encodeBeaconDatagram(ss));
  t.equal(d.kind, 'beacon');
  t.equal(d.kind === 'beacon' && readBeacon(KEY, d.strings, NOW).kind, 'peer');
  t.equal(decodeDatagram(encodeProbeDatagram()).kind, 'probe');
  const full = encodeBeaconDatagram(ss);
  t.match(decodeDatagram(full.subarray(0, full.length - 3)), { kind: 'bad', reason: /past the end/ });
  t.match(decodeDatagram(new Uint8Array(LAN_BEACON_MAX_BYTES + 1)), { kind: 'bad', reason: /bytes/ });
  t.match(decodeDatagram(Buffer.from('GET / HTTP/1.1')), { kind: 'bad', reason: /magic/ });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1200 }), (b) => ['bad', 'beacon', 'probe'].includes(decodeDatagram(b).kind)), { numRuns: 3000 });
});

t.test('addresses that fit one beacon', async (t) => {
  const v6 = Array.from({ length: 12 }, (_, i) => `2001:db8:aaaa:bbbb:cccc:dddd:eeee:${i.toString(16).padStart(4, '0')}`);
  const fit = fitAddrs(['10.0.0.1', '10.0.0.1', 'fe80::1%eth0', 'nonsense', ...v6]);
  t.equal(fit[0], '10.0.0.1', 'duplicates, zones and non-addresses are dropped');
  t.ok(fit.length <= LAN_MAX_ADDRS);
  t.ok(2 + fit.join(',').length <= 255, '"a=" stays within one TXT string');
  const ss = sealBeacon(KEY, { nowMs: NOW, port: 1, addrs: v6 });
  t.ok(ss.every((s) => Buffer.byteLength(s) <= 255));
  t.equal(readBeacon(KEY, bytes(ss), NOW).kind, 'peer', 'many IPv6 addresses still make a valid beacon');
  t.throws(() => sealBeacon(KEY, { nowMs: NOW, port: 0, addrs: ['10.0.0.1'] }), RangeError);
  t.throws(() => sealBeacon(KEY, { nowMs: NOW, port: 1, addrs: [] }), RangeError);
});
