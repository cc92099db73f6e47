// The crypto functions a Noise engine is built on (Noise rev 34, section 4:
// DH, CIPHER, HASH, HMAC, HKDF; section 12: the 25519, ChaChaPoly, AESGCM,
// SHA256, SHA512, BLAKE2s and BLAKE2b instantiations), and NoiseError.
//
// Two providers implement the same interface:
//   - `nativeCrypto`: node:crypto (OpenSSL). The one p2pcat runs on; it is many
//     times faster (see ../shared/PERF-FACTS.md, crypto section).
//   - `loadNobleCrypto()`: @noble/curves, @noble/ciphers, @noble/hashes, with
//     HMAC written out from RFC 2104. The reference the native provider is
//     cross-checked against (test/crypto/primitives.test.ts). It is loaded on
//     demand so that importing the engine does not pay for noble.
// No I/O here beyond the CSPRNG.

import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';

// ---------------------------------------------------------------- errors

export type NoiseErrorCode =
  | 'DECRYPT' // authentication tag did not verify
  | 'STATE' // call not allowed now (not our turn, complete, failed, split twice)
  | 'SHORT' // message shorter than its pattern requires
  | 'TOO_LONG' // message longer than the 65535-byte Noise limit
  | 'NONCE_EXHAUSTED' // n reached 2^64-1 (section 5.1)
  | 'BAD_KEY' // a peer's public key gives an all-zero DH output (section 4.1 lets DH() signal an error)
  | 'UNSUPPORTED'; // protocol name, pattern, modifier or algorithm we do not do

/** Every failure the Noise engine reports about the protocol (not about its caller's types). */
export class NoiseError extends Error {
  readonly code: NoiseErrorCode;
  constructor(code: NoiseErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NoiseError';
    this.code = code;
  }
  static decrypt(msg = 'authentication failed') { return new NoiseError('DECRYPT', msg); }
  static state(msg: string) { return new NoiseError('STATE', msg); }
  static short(msg: string) { return new NoiseError('SHORT', msg); }
  static tooLong(msg: string) { return new NoiseError('TOO_LONG', msg); }
  static nonceExhausted() { return new NoiseError('NONCE_EXHAUSTED', 'nonce 2^64-1 reached; rekey or start a new session'); }
  static badKey(msg: string, cause?: unknown) { return new NoiseError('BAD_KEY', msg, { cause }); }
  static unsupported(msg: string) { return new NoiseError('UNSUPPORTED', msg); }
}

// ---------------------------------------------------------------- interfaces

export interface KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export type DhName = '25519';
export type CipherName = 'ChaChaPoly' | 'AESGCM';
export type HashName = 'SHA256' | 'SHA512' | 'BLAKE2s' | 'BLAKE2b';

/**
 * A private key prepared for DH by one provider (imported once, used for every
 * DH token). destroy() drops it: the noble provider zeroes its copy; the
 * native one drops its KeyObject, whose memory OpenSSL clears when freed.
 */
export interface DhKey {
  readonly publicKey: Uint8Array;
  destroy(): void;
}

/** Section 4.1. */
export interface DhFunction {
  readonly name: DhName;
  readonly DHLEN: number;
  /** GENERATE_KEYPAIR(), as a prepared key. */
  generateKey(): DhKey;
  /** Prepare a 32-byte secret (copied); its public key is derived, never trusted. */
  importSecret(secretKey: Uint8Array): DhKey;
  /** DH(key_pair, public_key). Throws NoiseError BAD_KEY for an all-zero result. */
  dh(local: DhKey, publicKey: Uint8Array): Uint8Array;
}

/** Section 4.2. The cipher owns its nonce encoding (sections 12.3, 12.4). */
export interface CipherFunction {
  readonly name: CipherName;
  /** ENCRYPT(k, n, ad, plaintext): ciphertext with the 16-byte tag appended. */
  encrypt(k: Uint8Array, n: bigint, ad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** DECRYPT(k, n, ad, ciphertext): the plaintext, or null when the tag does not verify. */
  decrypt(k: Uint8Array, n: bigint, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null;
}

/** Section 4.3 (HASH, HASHLEN, BLOCKLEN, HMAC). HKDF is built on top, below. */
export interface HashFunction {
  readonly name: HashName;
  readonly HASHLEN: number;
  readonly BLOCKLEN: number;
  /** HASH(parts[0] || parts[1] || ...). */
  hash(...parts: Uint8Array[]): Uint8Array;
  /** HMAC-HASH(key, parts[0] || parts[1] || ...). */
  hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
}

export interface CryptoProvider {
  readonly name: string;
  readonly dh: Readonly<Record<DhName, DhFunction>>;
  readonly ciphers: Readonly<Record<CipherName, CipherFunction>>;
  readonly hashes: Readonly<Record<HashName, HashFunction>>;
}

export const KEYLEN = 32;
export const TAGLEN = 16;
/** Section 5.1: n = 2^64-1 is reserved; using it is an error. */
export const MAX_NONCE = 2n ** 64n - 1n;

const EMPTY = new Uint8Array(0);

/**
 * HKDF(chaining_key, input_key_material, num_outputs), section 4.3: the
 * RFC 5869 extract-and-expand with empty info, written as the spec does.
 */
export function hkdf(hash: HashFunction, chainingKey: Uint8Array, ikm: Uint8Array, numOutputs: 2 | 3): Uint8Array[] {
  const tempKey = hash.hmac(chainingKey, ikm);
  const out1 = hash.hmac(tempKey, ONE);
  const out2 = hash.hmac(tempKey, out1, TWO);
  if (numOutputs === 2) {
    tempKey.fill(0);
    return [out1, out2];
  }
  const out3 = hash.hmac(tempKey, out2, THREE);
  tempKey.fill(0);
  return [out1, out2, out3];
}
const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);

/**
 * HMAC from RFC 2104 over any hash, with the block length the Noise spec
 * gives (64 for SHA256/BLAKE2s, 128 for SHA512/BLAKE2b). The noble provider
 * uses it; node's createHmac is checked against it.
 */
export function hmacRfc2104(
  hashParts: (parts: Uint8Array[]) => Uint8Array,
  blockLen: number,
  key: Uint8Array,
  parts: Uint8Array[],
): Uint8Array {
  const k0 = new Uint8Array(blockLen);
  k0.set(key.length > blockLen ? hashParts([key]) : key);
  const ipad = new Uint8Array(blockLen);
  const opad = new Uint8Array(blockLen);
  for (let i = 0; i < blockLen; i++) {
    ipad[i] = k0[i]! ^ 0x36;
    opad[i] = k0[i]! ^ 0x5c;
  }
  const inner = hashParts([ipad, ...parts]);
  const outer = hashParts([opad, inner]);
  k0.fill(0);
  ipad.fill(0);
  opad.fill(0);
  inner.fill(0);
  return outer;
}

// ---------------------------------------------------------------- checks shared by both providers

function checkBytes(name: string, v: unknown, len?: number): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (len !== undefined && v.length !== len) throw new RangeError(`${name} must be ${len} bytes, got ${v.length}`);
}

function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i]!;
  return acc === 0;
}

/** The 12-byte AEAD nonce: 4 zero bytes, then n as 64 bits, little- or big-endian. */
function nonceBytes(n: bigint, littleEndian: boolean): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, n, littleEndian);
  return nonce;
}

// ---------------------------------------------------------------- native (node:crypto)

// OpenSSL takes raw X25519 keys as JWK (fast) or wrapped in a fixed RFC 8410
// DER prefix (about 9x slower to import on OpenSSL 3). For a private JWK, node
// requires an `x` member but derives the public key from `d`; the public key is
// always read back from the imported key, never taken from the input.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const JWK_DUMMY_X = Buffer.alloc(32).toString('base64url');

class NativeDhKey implements DhKey {
  #key: KeyObject | undefined;
  readonly publicKey: Uint8Array;
  constructor(key: KeyObject) {
    this.#key = key;
    this.publicKey = new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).x ?? '', 'base64url'));
    if (this.publicKey.length !== 32) throw new Error('node:crypto returned an X25519 key without a 32-byte public key');
  }
  get keyObject(): KeyObject {
    if (!this.#key) throw NoiseError.state('this DH key was destroyed');
    return this.#key;
  }
  destroy(): void {
    this.#key = undefined;
  }
}

function nativeImportSecret(secretKey: Uint8Array): NativeDhKey {
  checkBytes('secretKey', secretKey, 32);
  const d = Buffer.from(secretKey.buffer, secretKey.byteOffset, 32).toString('base64url');
  try {
    const key = new NativeDhKey(createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d, x: JWK_DUMMY_X }, format: 'jwk' }));
    // An X25519 public key is never all-zero; seeing the dummy back means x was used.
    if (!isAllZero(key.publicKey)) return key;
  } catch {
    // fall through to DER
  }
  const der = Buffer.concat([PKCS8_X25519_PREFIX, secretKey]);
  try {
    return new NativeDhKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  } finally {
    der.fill(0);
  }
}

const nativeX25519: DhFunction = {
  name: '25519',
  DHLEN: 32,
  generateKey() {
    return new NativeDhKey(generateKeyPairSync('x25519').privateKey);
  },
  importSecret: nativeImportSecret,
  dh(local, publicKey) {
    if (!(local instanceof NativeDhKey)) throw new TypeError('this DH key was prepared by another crypto provider');
    checkBytes('publicKey', publicKey, 32);
    let out: Uint8Array;
    try {
      const pub = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
      out = diffieHellman({ privateKey: local.keyObject, publicKey: pub });
    } catch (err) {
      if (err instanceof NoiseError) throw err;
      // OpenSSL refuses low-order points (all-zero output).
      throw NoiseError.badKey('X25519 with this public key gives no shared secret', err);
    }
    if (isAllZero(out)) throw NoiseError.badKey('X25519 with this public key gives an all-zero shared secret');
    return out;
  },
};

// node's typings overload createCipheriv per mode; both modes used here share this shape.
interface NativeAeadCipher {
  setAAD(ad: Uint8Array, opts: { plaintextLength: number }): unknown;
  update(data: Uint8Array): Buffer;
  final(): Buffer;
  getAuthTag(): Buffer;
}
interface NativeAeadDecipher {
  setAAD(ad: Uint8Array, opts: { plaintextLength: number }): unknown;
  setAuthTag(tag: Uint8Array): unknown;
  update(data: Uint8Array): Buffer;
  final(): Buffer;
}
const NATIVE_AEAD = {
  'chacha20-poly1305': {
    cipher: (k: Uint8Array, iv: Uint8Array): NativeAeadCipher => createCipheriv('chacha20-poly1305', k, iv, { authTagLength: TAGLEN }),
    decipher: (k: Uint8Array, iv: Uint8Array): NativeAeadDecipher => createDecipheriv('chacha20-poly1305', k, iv, { authTagLength: TAGLEN }),
  },
  'aes-256-gcm': {
    cipher: (k: Uint8Array, iv: Uint8Array): NativeAeadCipher => createCipheriv('aes-256-gcm', k, iv, { authTagLength: TAGLEN }),
    decipher: (k: Uint8Array, iv: Uint8Array): NativeAeadDecipher => createDecipheriv('aes-256-gcm', k, iv, { authTagLength: TAGLEN }),
  },
};

function nativeAead(name: CipherName, algorithm: keyof typeof NATIVE_AEAD, littleEndian: boolean): CipherFunction {
  const make = NATIVE_AEAD[algorithm];
  return {
    name,
    encrypt(k, n, ad, plaintext) {
      const c = make.cipher(k, nonceBytes(n, littleEndian));
      c.setAAD(ad, { plaintextLength: plaintext.length });
      const body = c.update(plaintext);
      const fin = c.final();
      return Buffer.concat([body, fin, c.getAuthTag()], plaintext.length + TAGLEN);
    },
    decrypt(k, n, ad, ciphertext) {
      if (ciphertext.length < TAGLEN) return null;
      const end = ciphertext.length - TAGLEN;
      const d = make.decipher(k, nonceBytes(n, littleEndian));
      d.setAAD(ad, { plaintextLength: end });
      d.setAuthTag(ciphertext.subarray(end));
      const body = d.update(ciphertext.subarray(0, end));
      try {
        const fin = d.final();
        return fin.length === 0 ? body : Buffer.concat([body, fin]);
      } catch {
        body.fill(0);
        return null;
      }
    },
  };
}

function nativeHash(name: HashName, algorithm: string, HASHLEN: number, BLOCKLEN: number): HashFunction {
  return {
    name,
    HASHLEN,
    BLOCKLEN,
    hash(...parts) {
      const h = createHash(algorithm);
      for (const p of parts) h.update(p);
      return h.digest();
    },
    hmac(key, ...parts) {
      const m = createHmac(algorithm, key);
      for (const p of parts) m.update(p);
      return m.digest();
    },
  };
}

export const nativeCrypto: CryptoProvider = Object.freeze({
  name: 'node:crypto',
  dh: Object.freeze({ '25519': nativeX25519 }),
  ciphers: Object.freeze({
    ChaChaPoly: nativeAead('ChaChaPoly', 'chacha20-poly1305', true),
    AESGCM: nativeAead('AESGCM', 'aes-256-gcm', false),
  }),
  hashes: Object.freeze({
    SHA256: nativeHash('SHA256', 'sha256', 32, 64),
    SHA512: nativeHash('SHA512', 'sha512', 64, 128),
    BLAKE2s: nativeHash('BLAKE2s', 'blake2s256', 32, 64),
    BLAKE2b: nativeHash('BLAKE2b', 'blake2b512', 64, 128),
  }),
});

// ---------------------------------------------------------------- reference (@noble)

let noblePromise: Promise<CryptoProvider> | undefined;

/** The @noble reference provider, imported on first use. */
export function loadNobleCrypto(): Promise<CryptoProvider> {
  noblePromise ??= buildNobleCrypto();
  return noblePromise;
}

async function buildNobleCrypto(): Promise<CryptoProvider> {
  const [{ x25519 }, { chacha20poly1305 }, { gcm }, { sha256, sha512 }, { blake2b, blake2s }] = await Promise.all([
    import('@noble/curves/ed25519.js'),
    import('@noble/ciphers/chacha.js'),
    import('@noble/ciphers/aes.js'),
    import('@noble/hashes/sha2.js'),
    import('@noble/hashes/blake2.js'),
  ]);

  class NobleDhKey implements DhKey {
    #sk: Uint8Array | undefined;
    readonly publicKey: Uint8Array;
    constructor(secretKey: Uint8Array) {
      this.#sk = new Uint8Array(secretKey);
      this.publicKey = x25519.getPublicKey(this.#sk);
    }
    get secretKey(): Uint8Array {
      if (!this.#sk) throw NoiseError.state('this DH key was destroyed');
      return this.#sk;
    }
    destroy(): void {
      this.#sk?.fill(0);
      this.#sk = undefined;
    }
  }
  const dh: DhFunction = {
    name: '25519',
    DHLEN: 32,
    generateKey() {
      const sk = x25519.utils.randomSecretKey();
      const key = new NobleDhKey(sk);
      sk.fill(0);
      return key;
    },
    importSecret(secretKey) {
      checkBytes('secretKey', secretKey, 32);
      return new NobleDhKey(secretKey);
    },
    dh(local, publicKey) {
      if (!(local instanceof NobleDhKey)) throw new TypeError('this DH key was prepared by another crypto provider');
      checkBytes('publicKey', publicKey, 32);
      let out: Uint8Array;
      try {
        out = x25519.getSharedSecret(local.secretKey, publicKey);
      } catch (err) {
        if (err instanceof NoiseError) throw err;
        throw NoiseError.badKey('X25519 with this public key gives no shared secret', err);
      }
      if (isAllZero(out)) throw NoiseError.badKey('X25519 with this public key gives an all-zero shared secret');
      return out;
    },
  };

  type Aead = (key: Uint8Array, nonce: Uint8Array, ad?: Uint8Array) => {
    encrypt(p: Uint8Array): Uint8Array;
    decrypt(c: Uint8Array): Uint8Array;
  };
  const aead = (name: CipherName, make: Aead, littleEndian: boolean): CipherFunction => ({
    name,
    encrypt: (k, n, ad, plaintext) => make(k, nonceBytes(n, littleEndian), ad).encrypt(plaintext),
    decrypt(k, n, ad, ciphertext) {
      if (ciphertext.length < TAGLEN) return null;
      try {
        return make(k, nonceBytes(n, littleEndian), ad).decrypt(ciphertext);
      } catch {
        return null;
      }
    },
  });

  interface NobleHash {
    create(): { update(b: Uint8Array): unknown; digest(): Uint8Array };
  }
  const hashOf = (name: HashName, fn: NobleHash, HASHLEN: number, BLOCKLEN: number): HashFunction => {
    const hashParts = (parts: Uint8Array[]) => {
      const h = fn.create();
      for (const p of parts) h.update(p);
      return h.digest();
    };
    return {
      name,
      HASHLEN,
      BLOCKLEN,
      hash: (...parts) => hashParts(parts),
      hmac: (key, ...parts) => hmacRfc2104(hashParts, BLOCKLEN, key, parts),
    };
  };

  return Object.freeze({
    name: '@noble',
    dh: Object.freeze({ '25519': dh }),
    ciphers: Object.freeze({
      ChaChaPoly: aead('ChaChaPoly', chacha20poly1305 as unknown as Aead, true),
      AESGCM: aead('AESGCM', gcm as unknown as Aead, false),
    }),
    hashes: Object.freeze({
      SHA256: hashOf('SHA256', sha256, 32, 64),
      SHA512: hashOf('SHA512', sha512, 64, 128),
      BLAKE2s: hashOf('BLAKE2s', blake2s, 32, 64),
      BLAKE2b: hashOf('BLAKE2b', blake2b, 64, 128),
    }),
  });
}

// ---------------------------------------------------------------- key pairs

/** A fresh X25519 key pair from the CSPRNG. */
export function generateKeyPair(provider: CryptoProvider = nativeCrypto): KeyPair {
  const secretKey = randomBytes(32);
  try {
    return keyPairFromSecret(secretKey, provider);
  } finally {
    secretKey.fill(0);
  }
}

/** The X25519 key pair for a 32-byte secret (the secret is copied). */
export function keyPairFromSecret(secretKey: Uint8Array, provider: CryptoProvider = nativeCrypto): KeyPair {
  const key = provider.dh['25519'].importSecret(secretKey);
  key.destroy();
  return { publicKey: key.publicKey, secretKey: new Uint8Array(secretKey) };
}

export { checkBytes, EMPTY };
