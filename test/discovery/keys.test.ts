// Discovery key derivation (src/discovery/keys.ts) against outside truth:
// @noble/hashes' HMAC over BLAKE2b (an independent implementation of both),
// pinned known-answer values, and properties of the epoch windows.
import t from 'tap';
import fc from 'fast-check';
import { hmac } from '@noble/hashes/hmac.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { deriveDiscoveryKeys, dhtInfoHash, epochOf, epochsIn, lanTag, u64be, DHT_EPOCH_MS, LAN_EPOCH_MS } from '../../src/discovery/keys.js';
import { announceEpochs, lookupEpochs } from '../../src/discovery/dht.js';
import { DHT_EPOCH_SKEW_MS } from '../../src/limits.js';
import { DHT_INFOHASH_CONTEXT, LAN_BEACON_KEY_CONTEXT, LAN_TAG_CONTEXT } from '../../src/crypto/labels.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const enc = (s: string) => new TextEncoder().encode(s);
const KEY = Uint8Array.from({ length: 32 }, (_, i) => i);
const NONCE = Uint8Array.from({ length: 12 }, (_, i) => 0xa0 + i);

t.test('sub-keys, tag and info-hash equal an independent HMAC-BLAKE2b-512 (noble)', async (t) => {
  const k = deriveDiscoveryKeys(KEY);
  const sub = (l: string) => hmac(blake2b, KEY, enc(l)).slice(0, 32);
  t.equal(hex(k.tagKey), hex(sub(LAN_TAG_CONTEXT)));
  t.equal(hex(k.beaconKey), hex(sub(LAN_BEACON_KEY_CONTEXT)));
  t.equal(hex(k.dhtKey), hex(sub(DHT_INFOHASH_CONTEXT)));
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat({ max: 2 ** 40 }), fc.uint8Array({ minLength: 12, maxLength: 12 }), (key, e, n) => {
      const kk = deriveDiscoveryKeys(key);
      const tagK = hmac(blake2b, key, enc(LAN_TAG_CONTEXT)).slice(0, 32);
      const dK = hmac(blake2b, key, enc(DHT_INFOHASH_CONTEXT)).slice(0, 32);
      return (
        hex(lanTag(kk, e, n)) === hex(hmac(blake2b, tagK, new Uint8Array([...u64be(e), ...n])).slice(0, 16)) &&
        hex(dhtInfoHash(kk, e)) === hex(hmac(blake2b, dK, u64be(e)).slice(0, 20))
      );
    }),
    { numRuns: 200 },
  );
});

t.test('pinned known answers (a change here changes the wire: bump the labels)', async (t) => {
  const k = deriveDiscoveryKeys(KEY);
  t.equal(hex(k.tagKey), '423b8dad862ad613d38efc70998af07dce222837fd86e4502147fe5d05cc4d9a');
  t.equal(hex(k.beaconKey), '1a2023f99cfd5885916699e6db45120675713f4d8c8fc055116955347633ee40');
  t.equal(hex(k.dhtKey), '00910771d56ffa674ffbd515b1923d6f70e16005c12243bc9174ef2ba99d3df9');
  t.equal(hex(lanTag(k, 2_900_000, NONCE)), 'b9508c16d0ac32d13413af2d262c0c67');
  t.equal(hex(dhtInfoHash(k, 480_000)), 'be614261bcf3dd830e692a9fda8972bd1f4d5fe6');
});

t.test('tags and info-hashes differ across rooms, epochs and nonces (no linking)', async (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.nat({ max: 2 ** 40 }),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      (a, b, e, n) => {
        fc.pre(hex(a) !== hex(b));
        const ka = deriveDiscoveryKeys(a);
        const kb = deriveDiscoveryKeys(b);
        const n2 = n.map((x, i) => (i === 0 ? x ^ 1 : x));
        return (
          hex(dhtInfoHash(ka, e)) !== hex(dhtInfoHash(kb, e)) &&
          hex(dhtInfoHash(ka, e)) !== hex(dhtInfoHash(ka, e + 1)) &&
          hex(lanTag(ka, e, n)) !== hex(lanTag(kb, e, n)) &&
          hex(lanTag(ka, e, n)) !== hex(lanTag(ka, e + 1, n)) &&
          hex(lanTag(ka, e, n)) !== hex(lanTag(ka, e, n2))
        );
      },
    ),
    { numRuns: 200 },
  );
  t.pass('200 random rooms, epochs and nonces');
});

t.test('epochs', async (t) => {
  t.equal(epochOf(0, LAN_EPOCH_MS), 0);
  t.equal(epochOf(LAN_EPOCH_MS - 1, LAN_EPOCH_MS), 0);
  t.equal(epochOf(LAN_EPOCH_MS, LAN_EPOCH_MS), 1);
  t.same(epochsIn(10 * DHT_EPOCH_MS - 1, 10 * DHT_EPOCH_MS + 1, DHT_EPOCH_MS), [9, 10]);
  t.same(epochsIn(5, 6, DHT_EPOCH_MS), [0]);
  t.throws(() => u64be(-1), RangeError);
  t.throws(() => deriveDiscoveryKeys(new Uint8Array(31)), RangeError);
});

t.test('DHT: a looker whose clock is off by up to the skew margin still queries an epoch the announcer used', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: DHT_EPOCH_MS, max: 2 ** 45 }), fc.integer({ min: -DHT_EPOCH_SKEW_MS, max: DHT_EPOCH_SKEW_MS }), (now, skew) => {
      const announced = new Set(announceEpochs(now));
      return lookupEpochs(now + skew).some((e) => announced.has(e));
    }),
    { numRuns: 2000 },
  );
  // And an announcer makes at most two announces per round, a looker at most three lookups.
  fc.assert(fc.property(fc.integer({ min: DHT_EPOCH_MS, max: 2 ** 45 }), (now) => announceEpochs(now).length <= 2 && lookupEpochs(now).length <= 3));
  t.pass('2000 clocks and skews');
});
