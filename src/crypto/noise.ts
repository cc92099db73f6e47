// The Noise Protocol Framework engine, revision 34, sans-I/O: bytes in, bytes
// out, no sockets or timers. Section 5 objects under the spec's names
// (CipherState 5.1, SymmetricState 5.2, HandshakeState 5.3), one generic
// engine for every pattern in noise-patterns.ts, psk modifiers (section 9),
// message limits (section 3), nonce rules (5.1) and rekey (4.2, 11.3).
//
// Usage: build a HandshakeState per side, alternate writeMessage/readMessage
// until `complete`, then `transport()` (or `split()`) for the CipherStates.
// Any NoiseError from readMessage/writeMessage ends the handshake: the state
// refuses further use and its secrets are wiped.

import { NOISE_MAX_MESSAGE_BYTES } from '../limits.js';
import { parseProtocolName, type HandshakePattern, type Token } from './noise-patterns.js';
import {
  checkBytes,
  EMPTY,
  generateKeyPair,
  hkdf,
  keyPairFromSecret,
  KEYLEN,
  MAX_NONCE,
  nativeCrypto,
  NoiseError,
  TAGLEN,
  type CipherFunction,
  type CipherName,
  type CryptoProvider,
  type DhFunction,
  type DhKey,
  type HashFunction,
  type KeyPair,
} from './primitives.js';

export { generateKeyPair, keyPairFromSecret, NoiseError, nativeCrypto };
export { loadNobleCrypto, type NoiseErrorCode, type CryptoProvider, type KeyPair } from './primitives.js';
export { parseProtocolName, parsePattern, PATTERN_NAMES, type HandshakePattern } from './noise-patterns.js';

const ZEROS32 = new Uint8Array(32);
const DISABLE = Symbol('disable');

// ---------------------------------------------------------------- 5.1 CipherState

export class CipherState {
  readonly #cipher: CipherFunction;
  #k: Uint8Array | undefined;
  #n = 0n;
  #disabled: string | undefined;

  /** A CipherState for `cipher` (node:crypto when given by name), keyed when `key` is given. */
  constructor(cipher: CipherName | CipherFunction = 'ChaChaPoly', key?: Uint8Array) {
    if (typeof cipher === 'string') {
      const c = nativeCrypto.ciphers[cipher];
      if (!c) throw NoiseError.unsupported(`unknown cipher "${cipher}"`);
      this.#cipher = c;
    } else {
      this.#cipher = cipher;
    }
    if (key !== undefined) this.initializeKey(key);
  }

  get cipherName(): CipherName {
    return this.#cipher.name;
  }

  /** InitializeKey(key): k = key (copied), n = 0. */
  initializeKey(key: Uint8Array): void {
    checkBytes('key', key, KEYLEN);
    this.#k?.fill(0);
    this.#k = new Uint8Array(key);
    this.#n = 0n;
  }

  hasKey(): boolean {
    return this.#k !== undefined;
  }

  /** n: messages encrypted (or decrypted) so far under this state. */
  get nonce(): bigint {
    return this.#n;
  }

  /** SetNonce(nonce), section 5.1 (for out-of-order transports, and tests). */
  setNonce(n: bigint | number): void {
    const v = BigInt(n);
    if (v < 0n || v > MAX_NONCE) throw new RangeError('nonce must be in [0, 2^64-1]');
    this.#n = v;
  }

  /** EncryptWithAd(ad, plaintext). Without a key, returns plaintext (as the spec says). */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (this.#disabled !== undefined) throw NoiseError.state(this.#disabled);
    checkBytes('ad', ad);
    checkBytes('plaintext', plaintext);
    const k = this.#k;
    const max = NOISE_MAX_MESSAGE_BYTES - (k ? TAGLEN : 0);
    if (plaintext.length > max) {
      throw new RangeError(`plaintext of ${plaintext.length} bytes exceeds the ${max}-byte limit of one Noise message`);
    }
    if (!k) return plaintext;
    if (this.#n === MAX_NONCE) throw NoiseError.nonceExhausted();
    const ct = this.#cipher.encrypt(k, this.#n, ad, plaintext);
    this.#n++;
    return ct;
  }

  /** DecryptWithAd(ad, ciphertext). n advances only when the tag verifies. */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (this.#disabled !== undefined) throw NoiseError.state(this.#disabled);
    checkBytes('ad', ad);
    checkBytes('ciphertext', ciphertext);
    if (ciphertext.length > NOISE_MAX_MESSAGE_BYTES) {
      throw NoiseError.tooLong(`message of ${ciphertext.length} bytes exceeds the Noise limit of ${NOISE_MAX_MESSAGE_BYTES}`);
    }
    const k = this.#k;
    if (!k) return ciphertext;
    if (this.#n === MAX_NONCE) throw NoiseError.nonceExhausted();
    if (ciphertext.length < TAGLEN) throw NoiseError.short(`ciphertext of ${ciphertext.length} bytes is shorter than the tag`);
    const pt = this.#cipher.decrypt(k, this.#n, ad, ciphertext);
    if (pt === null) throw NoiseError.decrypt();
    this.#n++;
    return pt;
  }

  /** Rekey(): k = REKEY(k) = first 32 bytes of ENCRYPT(k, 2^64-1, empty, 32 zeros). n is unchanged. */
  rekey(): void {
    if (this.#disabled !== undefined) throw NoiseError.state(this.#disabled);
    const k = this.#k;
    if (!k) throw NoiseError.state('rekey needs a key');
    const next = new Uint8Array(this.#cipher.encrypt(k, MAX_NONCE, EMPTY, ZEROS32).subarray(0, KEYLEN));
    k.fill(0);
    this.#k = next;
  }

  /** Zero the key; any further use throws STATE. */
  destroy(): void {
    this[DISABLE]('this CipherState was destroyed');
  }

  /** @internal */
  [DISABLE](reason: string): this {
    this.#k?.fill(0);
    this.#k = undefined;
    this.#disabled = reason;
    return this;
  }
}

// ---------------------------------------------------------------- 5.2 SymmetricState

export class SymmetricState {
  readonly #hash: HashFunction;
  readonly #cipher: CipherFunction;
  readonly #cs: CipherState;
  #ck: Uint8Array;
  #h: Uint8Array;

  /** InitializeSymmetric(protocol_name). */
  constructor(protocolName: string, hash: HashFunction, cipher: CipherFunction) {
    this.#hash = hash;
    this.#cipher = cipher;
    const name = new TextEncoder().encode(protocolName);
    if (name.length <= hash.HASHLEN) {
      this.#h = new Uint8Array(hash.HASHLEN);
      this.#h.set(name);
    } else {
      this.#h = hash.hash(name);
    }
    this.#ck = new Uint8Array(this.#h);
    this.#cs = new CipherState(cipher);
  }

  /** Chaining key (a copy). */
  get ck(): Uint8Array {
    return new Uint8Array(this.#ck);
  }

  /** Handshake hash (a copy). */
  get h(): Uint8Array {
    return new Uint8Array(this.#h);
  }

  hasKey(): boolean {
    return this.#cs.hasKey();
  }

  mixKey(inputKeyMaterial: Uint8Array): void {
    const [ck, tempK] = hkdf(this.#hash, this.#ck, inputKeyMaterial, 2) as [Uint8Array, Uint8Array];
    this.#setCk(ck);
    this.#cs.initializeKey(tempK.subarray(0, KEYLEN));
    tempK.fill(0);
  }

  mixHash(data: Uint8Array): void {
    this.#h = this.#hash.hash(this.#h, data);
  }

  mixKeyAndHash(inputKeyMaterial: Uint8Array): void {
    const [ck, tempH, tempK] = hkdf(this.#hash, this.#ck, inputKeyMaterial, 3) as [Uint8Array, Uint8Array, Uint8Array];
    this.#setCk(ck);
    this.mixHash(tempH);
    this.#cs.initializeKey(tempK.subarray(0, KEYLEN));
    tempK.fill(0);
  }

  getHandshakeHash(): Uint8Array {
    return new Uint8Array(this.#h);
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.#cs.encryptWithAd(this.#h, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const plaintext = this.#cs.decryptWithAd(this.#h, ciphertext);
    this.mixHash(ciphertext);
    return plaintext;
  }

  /** Split(): the two transport CipherStates (c1 initiator→responder, c2 responder→initiator). */
  split(): [CipherState, CipherState] {
    const [k1, k2] = hkdf(this.#hash, this.#ck, EMPTY, 2) as [Uint8Array, Uint8Array];
    const c1 = new CipherState(this.#cipher, k1.subarray(0, KEYLEN));
    const c2 = new CipherState(this.#cipher, k2.subarray(0, KEYLEN));
    k1.fill(0);
    k2.fill(0);
    return [c1, c2];
  }

  /** Zero ck and the handshake cipher key; h stays (it is public channel-binding data). */
  wipe(): void {
    this.#ck.fill(0);
    this.#cs[DISABLE]('the handshake is over');
  }

  #setCk(ck: Uint8Array): void {
    this.#ck.fill(0);
    this.#ck = ck;
  }
}

// ---------------------------------------------------------------- 5.3 HandshakeState

export interface HandshakeOptions {
  /** Full protocol name, e.g. 'Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b'. */
  protocolName: string;
  initiator: boolean;
  prologue?: Uint8Array;
  /** Local static key pair. */
  s?: KeyPair;
  /** Fixed local ephemeral (test vectors only); otherwise generated at the `e` token. */
  e?: KeyPair;
  /** Remote static public key known in advance (only for patterns with that pre-message). */
  rs?: Uint8Array;
  /** Remote ephemeral known in advance (only for patterns with that pre-message). */
  re?: Uint8Array;
  /** 32-byte PSKs in the order the psk tokens occur; exactly as many as the name has. */
  psks?: Uint8Array[];
  /** Crypto implementation; node:crypto unless given (tests pass the @noble reference). */
  crypto?: CryptoProvider;
}

type DhToken = 'ee' | 'es' | 'se' | 'ss';

export class HandshakeState {
  readonly protocolName: string;
  readonly initiator: boolean;
  readonly pattern: HandshakePattern;
  readonly #dh: DhFunction;
  readonly #ss: SymmetricState;
  /** Exact byte length of message i without its payload. */
  readonly #overhead: number[];
  readonly #psks: Uint8Array[];
  #pskIndex = 0;
  #s: DhKey | undefined;
  #e: DhKey | undefined;
  #rs: Uint8Array | undefined;
  #re: Uint8Array | undefined;
  #msgIndex = 0;
  #failed = false;
  #splitDone = false;

  /** Initialize(handshake_pattern, initiator, prologue, s, e, rs, re), plus psks. */
  constructor(opts: HandshakeOptions) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('HandshakeState needs an options object');
    const proto = parseProtocolName(opts.protocolName);
    if (typeof opts.initiator !== 'boolean') throw new TypeError('initiator must be a boolean');
    const provider = opts.crypto ?? nativeCrypto;
    const p = proto.pattern;
    const initiator = opts.initiator;
    this.protocolName = proto.protocolName;
    this.initiator = initiator;
    this.pattern = p;
    this.#dh = provider.dh[proto.dh];

    const localPre = initiator ? p.preInitiator : p.preResponder;
    const remotePre = initiator ? p.preResponder : p.preInitiator;
    const mine = p.messages.filter((_, i) => i % 2 === (initiator ? 0 : 1)).flat();
    const all = p.messages.flat();
    const needS =
      localPre.includes('s') ||
      mine.includes('s') ||
      all.includes('ss') ||
      all.includes(initiator ? 'se' : 'es');

    // Cheap checks first, so that a refused call leaves no prepared private key behind.
    const psks = opts.psks ?? [];
    if (!Array.isArray(psks)) throw new TypeError('psks must be an array');
    if (psks.length !== p.pskCount) {
      throw new TypeError(`${p.name} has ${p.pskCount} psk token(s), but ${psks.length} PSK(s) were given`);
    }
    psks.forEach((k, i) => checkBytes(`psks[${i}]`, k, KEYLEN));
    const prologue = opts.prologue ?? EMPTY;
    checkBytes('prologue', prologue);
    if (needS && !opts.s) throw new TypeError(`${p.name} needs a local static key pair (s) on the ${role(initiator)} side`);
    if (localPre.includes('e') && !opts.e) throw new TypeError(`${p.name} needs a fixed local ephemeral (e) for its pre-message`);
    this.#rs = this.#importRemote('rs', opts.rs, remotePre.includes('s'), p.name);
    this.#re = this.#importRemote('re', opts.re, remotePre.includes('e'), p.name);

    if (needS) this.#s = this.#importKeyPair('s', opts.s!);
    if (opts.e) {
      try {
        this.#e = this.#importKeyPair('e', opts.e);
      } catch (err) {
        this.#s?.destroy();
        throw err;
      }
    }
    this.#psks = psks.map((k) => new Uint8Array(k));

    this.#ss = new SymmetricState(proto.protocolName, provider.hashes[proto.hash], provider.ciphers[proto.cipher]);
    this.#ss.mixHash(prologue);
    // Pre-messages: the initiator's first, then the responder's (section 5.3).
    for (const [pre, local] of [[p.preInitiator, initiator], [p.preResponder, !initiator]] as const) {
      for (const tok of pre) {
        if (tok === 's') {
          this.#ss.mixHash(local ? this.#s!.publicKey : this.#rs!);
        } else {
          const pub = local ? this.#e!.publicKey : this.#re!;
          this.#ss.mixHash(pub);
          if (p.psk) this.#ss.mixKey(pub); // section 9.2
        }
      }
    }

    this.#overhead = messageOverheads(p, this.#dh.DHLEN);
  }

  /** True once every handshake message has been written or read. */
  get complete(): boolean {
    return this.#msgIndex === this.pattern.messages.length;
  }

  /** Whether the next handshake message is ours to write. */
  isMyTurn(): boolean {
    return !this.#failed && !this.complete && (this.#msgIndex % 2 === 0) === this.initiator;
  }

  /** The peer's static public key, once known (a copy). */
  get remoteStatic(): Uint8Array | undefined {
    return this.#rs ? new Uint8Array(this.#rs) : undefined;
  }

  /** h: the handshake hash so far; after the last message, the value to use for channel binding. */
  get handshakeHash(): Uint8Array {
    return this.#ss.getHandshakeHash();
  }

  /** WriteMessage(payload, message_buffer): returns the whole handshake message. */
  writeMessage(payload: Uint8Array): Uint8Array {
    checkBytes('payload', payload);
    this.#checkTurn(true);
    const i = this.#msgIndex;
    const total = this.#overhead[i]! + payload.length;
    if (total > NOISE_MAX_MESSAGE_BYTES) {
      throw new RangeError(`handshake message would be ${total} bytes; the Noise limit is ${NOISE_MAX_MESSAGE_BYTES}`);
    }
    const out = new Uint8Array(total);
    let off = 0;
    const ss = this.#ss;
    try {
      for (const tok of this.pattern.messages[i]!) {
        switch (tok) {
          case 'e': {
            this.#e ??= this.#dh.generateKey();
            const pub = this.#e.publicKey;
            out.set(pub, off);
            off += pub.length;
            ss.mixHash(pub);
            if (this.pattern.psk) ss.mixKey(pub);
            break;
          }
          case 's': {
            const c = ss.encryptAndHash(this.#s!.publicKey);
            out.set(c, off);
            off += c.length;
            break;
          }
          case 'psk':
            ss.mixKeyAndHash(this.#psks[this.#pskIndex++]!);
            break;
          default:
            this.#mixDh(tok);
        }
      }
      const c = ss.encryptAndHash(payload);
      out.set(c, off);
      off += c.length;
      if (off !== total) throw new Error(`internal: message length ${off} != ${total}`);
    } catch (err) {
      this.#fail();
      throw err;
    }
    this.#msgIndex++;
    return out;
  }

  /** ReadMessage(message, payload_buffer): returns the payload. */
  readMessage(message: Uint8Array): Uint8Array {
    checkBytes('message', message);
    this.#checkTurn(false);
    const i = this.#msgIndex;
    const ss = this.#ss;
    const dhlen = this.#dh.DHLEN;
    let payload: Uint8Array;
    try {
      if (message.length > NOISE_MAX_MESSAGE_BYTES) {
        throw NoiseError.tooLong(`handshake message of ${message.length} bytes exceeds the Noise limit of ${NOISE_MAX_MESSAGE_BYTES}`);
      }
      if (message.length < this.#overhead[i]!) {
        throw NoiseError.short(`handshake message ${i + 1} of ${this.pattern.name} needs at least ${this.#overhead[i]} bytes, got ${message.length}`);
      }
      let off = 0;
      for (const tok of this.pattern.messages[i]!) {
        switch (tok) {
          case 'e': {
            const re = new Uint8Array(message.subarray(off, off + dhlen));
            off += dhlen;
            this.#re = re;
            ss.mixHash(re);
            if (this.pattern.psk) ss.mixKey(re);
            break;
          }
          case 's': {
            const len = dhlen + (ss.hasKey() ? TAGLEN : 0);
            this.#rs = new Uint8Array(ss.decryptAndHash(message.subarray(off, off + len)));
            off += len;
            break;
          }
          case 'psk':
            ss.mixKeyAndHash(this.#psks[this.#pskIndex++]!);
            break;
          default:
            this.#mixDh(tok);
        }
      }
      payload = new Uint8Array(ss.decryptAndHash(message.subarray(off)));
    } catch (err) {
      this.#fail();
      throw err;
    }
    this.#msgIndex++;
    return payload;
  }

  /**
   * Split(): the transport CipherStates. Only once, only when complete; it
   * zeroes ck and the ephemeral secret. For one-way patterns only
   * initiatorToResponder is meant to be used (section 7.4).
   */
  split(): { initiatorToResponder: CipherState; responderToInitiator: CipherState } {
    if (this.#failed) throw NoiseError.state('the handshake failed');
    if (!this.complete) throw NoiseError.state('split() before the handshake is complete');
    if (this.#splitDone) throw NoiseError.state('split() was already called');
    const [c1, c2] = this.#ss.split();
    this.#splitDone = true;
    this.#wipe();
    return { initiatorToResponder: c1, responderToInitiator: c2 };
  }

  /** split() seen from this side. In one-way patterns the unused direction throws STATE. */
  transport(): { send: CipherState; recv: CipherState } {
    const { initiatorToResponder: c1, responderToInitiator: c2 } = this.split();
    if (this.pattern.oneWay) {
      const reason = `${this.pattern.name} is one-way: only the initiator sends`;
      return this.initiator ? { send: c1, recv: c2[DISABLE](reason) } : { send: c2[DISABLE](reason), recv: c1 };
    }
    return this.initiator ? { send: c1, recv: c2 } : { send: c2, recv: c1 };
  }

  #checkTurn(write: boolean): void {
    if (this.#failed) throw NoiseError.state('the handshake failed earlier; start a new one');
    if (this.complete) throw NoiseError.state('the handshake is already complete');
    const mine = (this.#msgIndex % 2 === 0) === this.initiator;
    if (write && !mine) throw NoiseError.state(`message ${this.#msgIndex + 1} is the peer's to write`);
    if (!write && mine) throw NoiseError.state(`message ${this.#msgIndex + 1} is ours to write, not to read`);
  }

  #mixDh(tok: Exclude<Token, 'e' | 's' | 'psk'>): void {
    const init = this.initiator;
    const [local, remote] = dhKeys(tok, init, this.#e, this.#s, this.#re, this.#rs);
    if (!local || !remote) throw new Error(`internal: ${tok} without its keys in ${this.pattern.name}`);
    const shared = this.#dh.dh(local, remote);
    this.#ss.mixKey(shared);
    shared.fill(0);
  }

  #fail(): void {
    this.#failed = true;
    this.#wipe();
  }

  #wipe(): void {
    this.#e?.destroy();
    this.#s?.destroy();
    this.#ss.wipe();
    for (const k of this.#psks) k.fill(0);
  }

  #importKeyPair(name: string, kp: KeyPair): DhKey {
    if (kp === null || typeof kp !== 'object') throw new TypeError(`${name} must be a key pair`);
    checkBytes(`${name}.secretKey`, kp.secretKey, KEYLEN);
    checkBytes(`${name}.publicKey`, kp.publicKey, KEYLEN);
    const key = this.#dh.importSecret(kp.secretKey);
    if (!bytesEqual(key.publicKey, kp.publicKey)) {
      key.destroy();
      throw new RangeError(`${name}.publicKey is not the public key of ${name}.secretKey`);
    }
    return key;
  }

  #importRemote(name: string, key: Uint8Array | undefined, needed: boolean, pattern: string): Uint8Array | undefined {
    if (key === undefined) {
      if (needed) throw new TypeError(`${pattern} needs the peer's ${name} in advance (pre-message)`);
      return undefined;
    }
    if (!needed) throw new TypeError(`${pattern} has no pre-message for ${name}; it is learned in the handshake`);
    checkBytes(name, key, this.#dh.DHLEN);
    return new Uint8Array(key);
  }
}

function role(initiator: boolean): string {
  return initiator ? 'initiator' : 'responder';
}

/** The (local key pair, remote public key) a DH token combines, section 5.3. */
function dhKeys(
  tok: DhToken,
  initiator: boolean,
  e: DhKey | undefined,
  s: DhKey | undefined,
  re: Uint8Array | undefined,
  rs: Uint8Array | undefined,
): [DhKey | undefined, Uint8Array | undefined] {
  switch (tok) {
    case 'ee':
      return [e, re];
    case 'es':
      return initiator ? [e, rs] : [s, re];
    case 'se':
      return initiator ? [s, re] : [e, rs];
    case 'ss':
      return [s, rs];
  }
}

/**
 * Bytes each handshake message takes besides its payload. Whether k is set at
 * a token is known from the pattern alone: it is set from the first DH or psk
 * token on (or the first `e` in a psk handshake), and never unset.
 */
function messageOverheads(p: HandshakePattern, dhlen: number): number[] {
  let keyed = p.psk && (p.preInitiator.includes('e') || p.preResponder.includes('e'));
  return p.messages.map((tokens) => {
    let len = 0;
    for (const tok of tokens) {
      if (tok === 'e') {
        len += dhlen;
        if (p.psk) keyed = true;
      } else if (tok === 's') {
        len += dhlen + (keyed ? TAGLEN : 0);
      } else {
        keyed = true;
      }
    }
    return len + (keyed ? TAGLEN : 0);
  });
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
