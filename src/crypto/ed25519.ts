// Ed25519 signatures for identities and chat records (RFC 8032).
// node:crypto does the work (about 15x faster than pure JS here, see
// shared/PERF-FACTS.md); keys travel as raw 32-byte strings, wrapped in the
// fixed PKCS#8 / SPKI DER prefixes node needs. test/crypto/ed25519.test.ts
// cross-checks every operation against @noble/curves.
import crypto from 'node:crypto';

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface SigningKey {
  /** 32-byte RFC 8032 seed (the "secret key"). */
  readonly seed: Uint8Array;
  /** 32-byte public key. */
  readonly publicKey: Uint8Array;
}

function privateKeyObject(seed: Uint8Array): crypto.KeyObject {
  if (seed.length !== 32) throw new RangeError('ed25519 seed must be 32 bytes');
  return crypto.createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

const publicKeyCache = new Map<string, crypto.KeyObject>();
function publicKeyObject(publicKey: Uint8Array): crypto.KeyObject {
  if (publicKey.length !== 32) throw new RangeError('ed25519 public key must be 32 bytes');
  const id = Buffer.from(publicKey).toString('hex');
  let ko = publicKeyCache.get(id);
  if (!ko) {
    ko = crypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    if (publicKeyCache.size > 4096) publicKeyCache.clear();
    publicKeyCache.set(id, ko);
  }
  return ko;
}

export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  const pub = crypto.createPublicKey(privateKeyObject(seed)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(pub.subarray(SPKI_PREFIX.length));
}

export function generateSigningKey(): SigningKey {
  const seed = new Uint8Array(crypto.randomBytes(32));
  return { seed, publicKey: publicKeyFromSeed(seed) };
}

/** A signer that keeps the parsed key object, so signing many records is cheap. */
export class Signer {
  readonly publicKey: Uint8Array;
  readonly #key: crypto.KeyObject;
  constructor(seed: Uint8Array) {
    this.#key = privateKeyObject(seed);
    this.publicKey = publicKeyFromSeed(seed);
  }
  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(crypto.sign(null, message, this.#key));
  }
}

export function sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(crypto.sign(null, message, privateKeyObject(seed)));
}

/** False for any malformed key or signature; never throws on bad input. */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return crypto.verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}
