// Cross-checks the node:crypto provider against independent implementations
// on random inputs (fast-check): X25519, ChaChaPoly, AESGCM, the four hashes,
// HMAC and HKDF (Noise rev 34 sections 4 and 12). Then the CipherState rules
// of section 5.1: nonce layout, n = 2^64-1 refused, n advancing only on
// success, REKEY (4.2), and the 65535-byte message limit (section 3).
// Correctness only; no timing here.

import t from 'tap';
import fc from 'fast-check';
import { hkdfSync } from 'node:crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { gcm } from '@noble/ciphers/aes.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { blake2b, blake2s } from '@noble/hashes/blake2.js';
import {
  hkdf,
  loadNobleCrypto,
  MAX_NONCE,
  nativeCrypto,
  NoiseError,
  type CipherName,
  type CryptoProvider,
  type HashName,
} from '../../src/crypto/primitives.js';
import { CipherState, generateKeyPair, keyPairFromSecret } from '../../src/crypto/noise.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const bytes = (len: number) => fc.uint8Array({ minLength: len, maxLength: len });
const RUNS = { numRuns: 150 };

const noble: CryptoProvider = await loadNobleCrypto();
const CIPHERS: CipherName[] = ['ChaChaPoly', 'AESGCM'];
const HASHES: HashName[] = ['SHA256', 'SHA512', 'BLAKE2s', 'BLAKE2b'];
const NOBLE_HASH = { SHA256: sha256, SHA512: sha512, BLAKE2s: blake2s, BLAKE2b: blake2b } as const;
const NODE_DIGEST = { SHA256: 'sha256', SHA512: 'sha512', BLAKE2s: 'blake2s256', BLAKE2b: 'blake2b512' } as const;

/** The spec's nonce, built byte by byte here (not with the code under test). */
function specNonce(cipher: CipherName, n: bigint): Uint8Array {
  const out = new Uint8Array(12);
  for (let i = 0; i < 8; i++) {
    const byte = Number((n >> BigInt(8 * i)) & 0xffn);
    out[cipher === 'ChaChaPoly' ? 4 + i : 11 - i] = byte; // LE for ChaChaPoly, BE for AESGCM
  }
  return out;
}

function nobleAead(cipher: CipherName, k: Uint8Array, n: bigint, ad: Uint8Array) {
  return cipher === 'ChaChaPoly' ? chacha20poly1305(k, specNonce(cipher, n), ad) : gcm(k, specNonce(cipher, n), ad);
}

/** Result of a DH, or the NoiseError code it threw. */
function tryDh(p: CryptoProvider, sk: Uint8Array, pk: Uint8Array): string {
  const key = p.dh['25519'].importSecret(sk);
  try {
    return hex(p.dh['25519'].dh(key, pk));
  } catch (err) {
    if (err instanceof NoiseError) return `error ${err.code}`;
    throw err;
  } finally {
    key.destroy();
  }
}

t.test('X25519: node:crypto agrees with @noble/curves', async (t) => {
  const N = nativeCrypto.dh['25519'];
  const B = noble.dh['25519'];
  fc.assert(
    fc.property(bytes(32), (sk) => hex(N.importSecret(sk).publicKey) === hex(B.importSecret(sk).publicKey)),
    RUNS,
  );
  t.pass('public keys of random secrets agree');

  // Any 32 bytes are a valid X25519 input (the top bit is masked, u is reduced mod p).
  fc.assert(fc.property(bytes(32), bytes(32), (sk, pk) => tryDh(nativeCrypto, sk, pk) === tryDh(noble, sk, pk)), RUNS);
  t.pass('DH with random secrets and random 32-byte public keys agrees');

  // Both sides of an exchange, each computed by a different implementation.
  for (let i = 0; i < 20; i++) {
    const a = N.generateKey();
    const b = generateKeyPair(noble);
    t.equal(hex(N.dh(a, b.publicKey)), tryDh(noble, b.secretKey, a.publicKey), `native-generated key ${i} agrees with noble`);
  }

  const secrets = ['00'.repeat(32), 'ff'.repeat(32), '01' + '00'.repeat(31)];
  for (const s of secrets) t.equal(hex(N.importSecret(unhex(s)).publicKey), hex(B.importSecret(unhex(s)).publicKey), `edge secret ${s.slice(0, 8)}…`);

  // Low-order points (some written non-canonically, u >= p) give an all-zero
  // output; section 4.1 lets DH() signal an error for them, and both providers do.
  const sk = unhex('a8abababababababababababababababababababababababababababababab6b');
  const lowOrder = [
    '00'.repeat(32),
    '01' + '00'.repeat(31),
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
    '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
    'ec' + 'ff'.repeat(30) + '7f', // p - 1
    'ed' + 'ff'.repeat(30) + '7f', // p
    'ee' + 'ff'.repeat(30) + '7f', // p + 1
  ];
  for (const pk of lowOrder) {
    t.equal(tryDh(nativeCrypto, sk, unhex(pk)), 'error BAD_KEY', `low-order point ${pk.slice(0, 8)}…: native refuses`);
    t.equal(tryDh(noble, sk, unhex(pk)), 'error BAD_KEY', `low-order point ${pk.slice(0, 8)}…: noble refuses`);
  }

  // RFC 7748 section 5.2, first test vector: an outside known answer.
  t.equal(
    tryDh(
      nativeCrypto,
      unhex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
      unhex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
    ),
    'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
    'RFC 7748 vector',
  );

  const kp = keyPairFromSecret(unhex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
  t.equal(hex(kp.publicKey), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a', 'RFC 7748 section 6.1 Alice');
});

t.test('AEADs: node:crypto agrees with @noble/ciphers and the spec nonce layout', async (t) => {
  const nonces = fc.oneof(
    fc.bigInt({ min: 0n, max: MAX_NONCE - 1n }),
    fc.constantFrom(0n, 1n, 255n, 256n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 32n + 5n, MAX_NONCE - 1n),
  );
  for (const c of CIPHERS) {
    fc.assert(
      fc.property(bytes(32), nonces, fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 3000 }), (k, n, ad, pt) => {
        const ct = nativeCrypto.ciphers[c].encrypt(k, n, ad, pt);
        if (hex(ct) !== hex(noble.ciphers[c].encrypt(k, n, ad, pt))) return false;
        if (hex(ct) !== hex(nobleAead(c, k, n, ad).encrypt(pt))) return false;
        const back1 = nativeCrypto.ciphers[c].decrypt(k, n, ad, ct);
        const back2 = noble.ciphers[c].decrypt(k, n, ad, ct);
        if (!back1 || !back2 || hex(back1) !== hex(pt) || hex(back2) !== hex(pt)) return false;
        const bad = new Uint8Array(ct);
        bad[Number(n % BigInt(bad.length))]! ^= 1;
        return nativeCrypto.ciphers[c].decrypt(k, n, ad, bad) === null && noble.ciphers[c].decrypt(k, n, ad, bad) === null;
      }),
      RUNS,
    );
    t.pass(`${c}: random key, nonce, ad, plaintext agree; a flipped bit fails both`);

    const k = new Uint8Array(32).fill(7);
    const big = new Uint8Array(65535 - 16).fill(0xab);
    t.equal(hex(nativeCrypto.ciphers[c].encrypt(k, 3n, new Uint8Array(0), big)), hex(nobleAead(c, k, 3n, new Uint8Array(0)).encrypt(big)), `${c}: 65519-byte plaintext agrees`);
    t.equal(nativeCrypto.ciphers[c].decrypt(k, 0n, new Uint8Array(0), new Uint8Array(15)), null, `${c}: 15-byte ciphertext is refused`);
  }
});

t.test('hashes, HMAC, HKDF: node:crypto agrees with @noble/hashes and RFC 5869', async (t) => {
  for (const h of HASHES) {
    const N = nativeCrypto.hashes[h];
    const B = noble.hashes[h];
    t.equal(N.HASHLEN, NOBLE_HASH[h].outputLen, `${h}: HASHLEN`);
    t.equal(N.BLOCKLEN, NOBLE_HASH[h].blockLen, `${h}: BLOCKLEN`);
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 4 }), (parts) => {
        const all = Buffer.concat(parts);
        return hex(N.hash(...parts)) === hex(NOBLE_HASH[h](all)) && hex(B.hash(...parts)) === hex(NOBLE_HASH[h](all));
      }),
      RUNS,
    );
    t.pass(`${h}: HASH agrees`);

    // Keys around the block length, where HMAC switches to hashing the key.
    const keys = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 260 }).map((n) => new Uint8Array(n).fill(n)));
    fc.assert(
      fc.property(keys, fc.uint8Array({ maxLength: 300 }), (key, msg) => {
        const ref = hex(nobleHmac(NOBLE_HASH[h], key, msg));
        return hex(N.hmac(key, msg)) === ref && hex(B.hmac(key, msg)) === ref && hex(N.hmac(key, msg.subarray(0, 7), msg.subarray(7))) === ref;
      }),
      RUNS,
    );
    t.pass(`${h}: HMAC (node createHmac, RFC 2104 over noble, noble hmac) agrees`);

    fc.assert(
      fc.property(bytes(N.HASHLEN), fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 64 })), fc.constantFrom(2 as const, 3 as const), (ck, ikm, n) => {
        const ours = Buffer.concat(hkdf(N, ck, ikm, n));
        const ref = Buffer.from(hkdfSync(NODE_DIGEST[h], ikm, ck, new Uint8Array(0), n * N.HASHLEN));
        return ours.equals(ref) && Buffer.concat(hkdf(B, ck, ikm, n)).equals(ref);
      }),
      RUNS,
    );
    t.pass(`${h}: Noise HKDF equals RFC 5869 HKDF with empty info (node hkdfSync)`);
  }
});

t.test('CipherState: nonce layout, exhaustion, failure, rekey, limits', async (t) => {
  const ad = new TextEncoder().encode('ad');
  const pt = new TextEncoder().encode('hello');
  for (const c of CIPHERS) {
    const k = new Uint8Array(32).map((_, i) => i);

    const cs = new CipherState(c, k);
    t.equal(cs.nonce, 0n, `${c}: n starts at 0`);
    t.equal(hex(cs.encryptWithAd(ad, pt)), hex(nobleAead(c, k, 0n, ad).encrypt(pt)), `${c}: n = 0`);
    t.equal(hex(cs.encryptWithAd(ad, pt)), hex(nobleAead(c, k, 1n, ad).encrypt(pt)), `${c}: n = 1 (${c === 'ChaChaPoly' ? 'little' : 'big'}-endian)`);
    t.equal(cs.nonce, 2n, `${c}: n counts messages`);
    cs.setNonce(2n ** 32n + 5n);
    t.equal(hex(cs.encryptWithAd(ad, pt)), hex(nobleAead(c, k, 2n ** 32n + 5n, ad).encrypt(pt)), `${c}: n = 2^32 + 5 uses all 64 bits`);

    // n = 2^64-1 is reserved: the message at 2^64-2 is the last one.
    const tx = new CipherState(c, k);
    const rx = new CipherState(c, k);
    tx.setNonce(MAX_NONCE - 1n);
    rx.setNonce(MAX_NONCE - 1n);
    const last = tx.encryptWithAd(ad, pt);
    t.equal(hex(last), hex(nobleAead(c, k, MAX_NONCE - 1n, ad).encrypt(pt)), `${c}: n = 2^64-2 encrypts`);
    t.equal(tx.nonce, MAX_NONCE, `${c}: n is now 2^64-1`);
    t.throws(() => tx.encryptWithAd(ad, pt), { code: 'NONCE_EXHAUSTED' }, `${c}: encrypt at 2^64-1 refused`);
    t.equal(hex(rx.decryptWithAd(ad, last)), hex(pt), `${c}: the last message decrypts`);
    t.throws(() => rx.decryptWithAd(ad, last), { code: 'NONCE_EXHAUSTED' }, `${c}: decrypt at 2^64-1 refused`);
    t.throws(() => tx.setNonce(MAX_NONCE + 1n), RangeError, `${c}: setNonce beyond 2^64-1 refused`);
    t.throws(() => tx.setNonce(-1), RangeError, `${c}: negative nonce refused`);

    // A failed decrypt does not advance n.
    const a = new CipherState(c, k);
    const b = new CipherState(c, k);
    const m0 = a.encryptWithAd(ad, pt);
    const bad = new Uint8Array(m0);
    bad[0]! ^= 0x80;
    t.throws(() => b.decryptWithAd(ad, bad), { code: 'DECRYPT' }, `${c}: flipped bit gives DECRYPT`);
    t.throws(() => b.decryptWithAd(new Uint8Array(0), m0), { code: 'DECRYPT' }, `${c}: wrong ad gives DECRYPT`);
    t.equal(b.nonce, 0n, `${c}: n unchanged after failures`);
    t.equal(hex(b.decryptWithAd(ad, m0)), hex(pt), `${c}: the genuine message still decrypts`);
    t.throws(() => b.decryptWithAd(ad, new Uint8Array(15)), { code: 'SHORT' }, `${c}: 15-byte message gives SHORT`);

    // REKEY(k) = first 32 bytes of ENCRYPT(k, 2^64-1, empty, 32 zeros); n is kept.
    const expectedKey = nobleAead(c, k, MAX_NONCE, new Uint8Array(0)).encrypt(new Uint8Array(32)).subarray(0, 32);
    const r1 = new CipherState(c, k);
    const r2 = new CipherState(c, k);
    r1.encryptWithAd(ad, pt);
    r2.decryptWithAd(ad, new CipherState(c, k).encryptWithAd(ad, pt));
    r1.rekey();
    t.equal(r1.nonce, 1n, `${c}: rekey keeps n`);
    const afterRekey = r1.encryptWithAd(ad, pt);
    t.equal(hex(afterRekey), hex(nobleAead(c, expectedKey, 1n, ad).encrypt(pt)), `${c}: rekeyed key is REKEY(k)`);
    t.throws(() => new CipherState(c, k).decryptWithAd(ad, afterRekey), { code: 'DECRYPT' }, `${c}: old key cannot read after rekey`);
    r2.rekey();
    t.equal(hex(r2.decryptWithAd(ad, afterRekey)), hex(pt), `${c}: peer that also rekeys reads it`);
    t.throws(() => new CipherState(c).rekey(), { code: 'STATE' }, `${c}: rekey without a key refused`);

    // Section 3: 65535 bytes per message.
    const lim = new CipherState(c, k);
    t.equal(lim.encryptWithAd(ad, new Uint8Array(65535 - 16)).length, 65535, `${c}: 65519-byte plaintext makes a 65535-byte message`);
    t.throws(() => lim.encryptWithAd(ad, new Uint8Array(65535 - 15)), RangeError, `${c}: larger plaintext refused`);
    t.throws(() => new CipherState(c, k).decryptWithAd(ad, new Uint8Array(65536)), { code: 'TOO_LONG' }, `${c}: 65536-byte message refused`);

    const keyless = new CipherState(c);
    t.equal(keyless.hasKey(), false, `${c}: no key`);
    t.equal(hex(keyless.encryptWithAd(ad, pt)), hex(pt), `${c}: without a key, encrypt returns the plaintext (5.1)`);

    const gone = new CipherState(c, k);
    gone.destroy();
    t.throws(() => gone.encryptWithAd(ad, pt), { code: 'STATE' }, `${c}: destroyed state refuses use`);
  }
  t.throws(() => new CipherState('ChaChaPoly', new Uint8Array(31)), RangeError, '31-byte key refused');
  t.throws(() => new CipherState('ChaChaPoly', 'x' as unknown as Uint8Array), TypeError, 'non-bytes key refused');
});
