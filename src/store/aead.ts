// Keys and sealing for log and export files (docs/log-format.md, "Keys" and
// "Frames").
//
// AEAD: XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03): HChaCha20(key, nonce[0..16])
// gives a subkey, then ChaCha20-Poly1305 (RFC 8439) with the 96-bit nonce
// 0x00000000 || nonce[16..24]. HChaCha20 comes from @noble/ciphers; the
// ChaCha20-Poly1305 part is node:crypto (many times faster on blocks, see
// shared/PERF-FACTS.md). test/store/aead.test.ts checks every output against
// noble's xchacha20poly1305.
//
// Why XChaCha with random 24-byte nonces rather than a counter: several
// processes append to one file, and a later writer cannot know which counters
// an earlier one used; 192 random bits never collide in practice.
//
// Keys: HKDF-SHA256(ikm, salt = file id, info = LOG_KEY_INFO) for frames and
// HKDF-SHA256(ikm, salt = file id, info = LOG_CHECK_INFO)[0..16] for the key
// check value in the header. ikm is the identity's Ed25519 seed for a log, and
// scrypt(passphrase, salt = file id) for an export.
import crypto from 'node:crypto';
import { hchacha } from '@noble/ciphers/chacha.js';
import { P2pcatError } from '../errors.js';
import { KCV_BYTES, LOG_CHECK_INFO, LOG_KEY_INFO, NONCE_BYTES, TAG_BYTES } from './format.js';

const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

function wordsLE(b: Uint8Array, n: number): Uint32Array {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const w = new Uint32Array(n);
  for (let i = 0; i < n; i++) w[i] = dv.getUint32(i * 4, true);
  return w;
}

/** A frame key: seals and opens frames. */
export class FrameKey {
  readonly #k32: Uint32Array;
  readonly #out = new Uint32Array(8);
  readonly #subkey = Buffer.alloc(32);
  readonly #iv = Buffer.alloc(12);

  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new RangeError('frame key must be 32 bytes');
    this.#k32 = wordsLE(key, 8);
  }

  #prepare(nonce: Uint8Array): void {
    if (nonce.length !== NONCE_BYTES) throw new RangeError('XChaCha20 nonce must be 24 bytes');
    hchacha(SIGMA, this.#k32, wordsLE(nonce, 4), this.#out);
    const dv = new DataView(this.#subkey.buffer, this.#subkey.byteOffset, 32);
    for (let i = 0; i < 8; i++) dv.setUint32(i * 4, this.#out[i]!, true);
    this.#iv.fill(0, 0, 4);
    this.#iv.set(nonce.subarray(16, 24), 4);
  }

  /** ciphertext || tag, written into `out` at `off` (out must have room for plaintext.length + 16). */
  sealInto(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Buffer, off: number): void {
    this.#prepare(nonce);
    const c = crypto.createCipheriv('chacha20-poly1305', this.#subkey, this.#iv, { authTagLength: TAG_BYTES });
    c.setAAD(aad, { plaintextLength: plaintext.length });
    const ct = c.update(plaintext);
    c.final();
    ct.copy(out, off);
    c.getAuthTag().copy(out, off + plaintext.length);
  }

  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(plaintext.length + TAG_BYTES);
    this.sealInto(nonce, aad, plaintext, out, 0);
    return out;
  }

  /** The plaintext, or undefined when the tag does not verify. Never throws on bad bytes. */
  open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer | undefined {
    if (sealed.length < TAG_BYTES) return undefined;
    this.#prepare(nonce);
    const ctLen = sealed.length - TAG_BYTES;
    const d = crypto.createDecipheriv('chacha20-poly1305', this.#subkey, this.#iv, { authTagLength: TAG_BYTES });
    d.setAAD(aad, { plaintextLength: ctLen });
    d.setAuthTag(sealed.subarray(ctLen));
    const pt = d.update(sealed.subarray(0, ctLen));
    try {
      d.final();
    } catch {
      return undefined;
    }
    return pt;
  }
}

export interface FileKeys {
  frameKey: FrameKey;
  kcv: Uint8Array;
}

export function deriveKeys(ikm: Uint8Array, fileId: Uint8Array): FileKeys {
  const key = new Uint8Array(crypto.hkdfSync('sha256', ikm, fileId, LOG_KEY_INFO, 32));
  const kcv = new Uint8Array(crypto.hkdfSync('sha256', ikm, fileId, LOG_CHECK_INFO, KCV_BYTES));
  const frameKey = new FrameKey(key);
  key.fill(0);
  return { frameKey, kcv };
}

/** scrypt(passphrase, salt) -> 32 bytes of input keying material for an export file. */
export async function passphraseIkm(passphrase: Uint8Array, salt: Uint8Array, logN: number, r: number, p: number): Promise<Uint8Array> {
  const N = 2 ** logN;
  const maxmem = 128 * N * r * p + 32 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    crypto.scrypt(passphrase, salt, 32, { N, r, p, maxmem }, (err, key) => {
      if (err) reject(P2pcatError.io(`scrypt failed: ${err.message}`, err));
      else resolve(new Uint8Array(key));
    });
  });
}
