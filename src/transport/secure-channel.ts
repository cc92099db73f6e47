// The p2pcat session protocol over any ordered byte stream, sans-I/O:
// bytes in, bytes out, no sockets and no timers (src/transport/session.ts is
// the driver). docs/protocol.md, "Handshake" and "Transport", describes it:
//
//   -> e                      payload {"v":1}
//   <- e, ee, s, es           payload {"v":1}
//   -> s, se, psk             payload empty          (Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b)
//   <- HELLO  (first transport message, each side)   {"v":1,"key","name","sig"[,"port"]}
//   -> HELLO
//
// HELLO binds the sender's Ed25519 identity to its Noise static key and to
// this handshake: sig = Ed25519(IDENTITY_BINDING_CONTEXT || 0x00 || s.pub || h).
// It travels after the PSK is proven, so a stranger without the room key
// learns no identity or username, not even the responder's (XXpsk3's message
// 2 is not yet PSK-authenticated).
import { P2pcatError } from '../errors.js';
import { HandshakeState, NoiseError, generateKeyPair, type CipherState, type KeyPair } from '../crypto/noise.js';
import { IDENTITY_BINDING_CONTEXT, NOISE_PROLOGUE, NOISE_PROTOCOL, WIRE_VERSION } from '../crypto/labels.js';
import type { Room } from '../crypto/room.js';
import { verify } from '../crypto/ed25519.js';
import { fingerprint, uuidFromPublicKey, checkUsername } from '../crypto/identity.js';
import { AEAD_TAG_BYTES, FRAME_LENGTH_PREFIX_BYTES, HANDSHAKE_MAX_MESSAGE_BYTES, NOISE_MAX_MESSAGE_BYTES, REKEY_AFTER_MESSAGES } from '../limits.js';
import { FrameDecoder, encodeFrame } from '../wire/frame.js';
import { MSG, decodeMessage, encodeBinary, encodeMessage, type Message, type MsgName } from '../wire/messages.js';
import { concatBytes, fromHex, toHex, utf8 } from '../util.js';

export interface PeerIdentity {
  /** Ed25519 public key, hex. */
  key: string;
  username: string;
  uuid: string;
  fingerprint: string;
  /** The TCP port the peer says it accepts peers on (HELLO `port`), when it listens. */
  listenPort?: number;
}

/** Whatever signs our HELLO: a Signer, or anything with the same shape. */
export interface HelloSigner {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export interface ChannelOptions {
  initiator: boolean;
  room: Room;
  signer: HelloSigner;
  username: string;
  /** Rekey each direction after this many messages (tests lower it). */
  rekeyAfterMessages?: number;
  /** Static Noise key; fresh per session unless given. */
  staticKeyPair?: KeyPair;
  /** Our listening port, advertised in HELLO so neighbours can tell other members where to dial us. */
  listenPort?: number;
}

export interface ReceiveResult {
  /** Frames to write to the stream, in order. */
  send: Buffer[];
  /** Protocol messages received after HELLO. */
  messages: Message[];
  /** Set once, when the peer's HELLO has been verified. */
  up?: PeerIdentity;
}

type Phase = 'handshake' | 'hello' | 'up' | 'failed';

const VERSION_PAYLOAD = utf8.encode(JSON.stringify({ v: WIRE_VERSION }));

export class SecureChannel {
  readonly initiator: boolean;
  #opts: ChannelOptions;
  #hs: HandshakeState;
  #static: KeyPair;
  #decoder = new FrameDecoder({ maxFrameBytes: HANDSHAKE_MAX_MESSAGE_BYTES, minFrameBytes: 32 });
  #send: CipherState | undefined;
  #recv: CipherState | undefined;
  #phase: Phase = 'handshake';
  #peer: PeerIdentity | undefined;
  #peerSig: string | undefined;
  #handshakeMessages = 0;
  #rekeyAfter: number;
  #sentSinceRekey = 0;
  #recvSinceRekey = 0;
  #dataScratch: Buffer | undefined;

  constructor(opts: ChannelOptions) {
    this.initiator = opts.initiator;
    this.#opts = opts;
    this.#rekeyAfter = opts.rekeyAfterMessages ?? REKEY_AFTER_MESSAGES;
    this.#static = opts.staticKeyPair ?? generateKeyPair();
    this.#hs = new HandshakeState({
      protocolName: NOISE_PROTOCOL,
      initiator: opts.initiator,
      prologue: utf8.encode(NOISE_PROLOGUE),
      s: this.#static,
      psks: [opts.room.key],
    });
  }

  get phase(): Phase {
    return this.#phase;
  }

  get peer(): PeerIdentity | undefined {
    return this.#peer;
  }

  /** The peer's HELLO signature (hex), once verified: what a relaying attacker would try to replay. */
  get peerHelloSignature(): string | undefined {
    return this.#peerSig;
  }

  /** Bytes received that do not yet make a whole frame (non-zero at EOF: a truncated frame). */
  get bufferedBytes(): number {
    return this.#decoder.buffered;
  }

  /** Has this side sent its last handshake message (so a close now means the peer refused it)? */
  get handshakeSent(): boolean {
    return this.#hs.complete;
  }

  /** The first frames to send: the initiator's message 1, nothing for a responder. */
  start(): Buffer[] {
    if (!this.initiator) return [];
    return [this.#writeHandshake(VERSION_PAYLOAD)];
  }

  /** Feed bytes from the stream. Throws P2pcatError; after a throw, close the stream. */
  receive(chunk: Uint8Array): ReceiveResult {
    if (this.#phase === 'failed') throw P2pcatError.protocol('channel already failed');
    const result: ReceiveResult = { send: [], messages: [] };
    try {
      for (const frame of this.#decoder.frames(chunk)) this.#onFrame(frame, result);
    } catch (e) {
      this.#phase = 'failed';
      throw e;
    }
    return result;
  }

  /**
   * Like receive(), for a chunk in a buffer the caller reuses (a socket's
   * onread buffer): whatever part of it stays held (a partial frame) is copied.
   */
  receiveTransient(chunk: Uint8Array): ReceiveResult {
    try {
      return this.receive(chunk);
    } finally {
      this.#decoder.ownHeld();
    }
  }

  /** Encrypt one protocol message into a frame. */
  seal(type: MsgName, body: Record<string, unknown> = {}): Buffer {
    if (this.#phase !== 'up' && !(this.#phase === 'hello' && type === 'HELLO')) throw new Error(`cannot send ${type} before the session is up`);
    return this.#sealBytes(encodeMessage(type, body));
  }

  /** Encrypt one binary protocol message (FILE_DATA: a header and a chunk) into a frame. */
  sealBinary(type: MsgName, parts: Uint8Array[]): Buffer {
    if (this.#phase !== 'up') throw new Error(`cannot send ${type} before the session is up`);
    return this.#sealBytes(encodeBinary(type, parts));
  }

  /**
   * Seal raw bytes as DATA messages, as many full frames as it takes, into
   * one buffer ready for a single write (shared/PERF-FACTS.md: one write per
   * read is what makes the bulk path fast).
   */
  sealData(data: Uint8Array | readonly Uint8Array[]): Buffer {
    if (this.#phase !== 'up') throw new Error('cannot send DATA before the session is up');
    // Several pieces (a carried tail and a new read) are gathered into full
    // frames: each frame's plaintext is built in one reused buffer, which
    // encryption reads at once (returning fresh ciphertext).
    const parts = data instanceof Uint8Array ? [data] : data;
    let length = 0;
    for (const p of parts) length += p.length;
    const maxChunk = NOISE_MAX_MESSAGE_BYTES - AEAD_TAG_BYTES - 1;
    const frames = Math.max(1, Math.ceil(length / maxChunk));
    const out = Buffer.allocUnsafe(length + frames * (FRAME_LENGTH_PREFIX_BYTES + 1 + AEAD_TAG_BYTES));
    const scratch = (this.#dataScratch ??= Buffer.allocUnsafe(1 + maxChunk));
    let off = 0;
    let part = 0;
    let partOff = 0;
    for (let i = 0; i < frames; i++) {
      const size = Math.min(maxChunk, length - i * maxChunk);
      scratch[0] = MSG.DATA;
      for (let filled = 0; filled < size; ) {
        const p = parts[part]!;
        const k = Math.min(size - filled, p.length - partOff);
        scratch.set(p.subarray(partOff, partOff + k), 1 + filled);
        filled += k;
        partOff += k;
        if (partOff === p.length) (part++, (partOff = 0));
      }
      const frame = this.#sealBytes(scratch.subarray(0, 1 + size), false);
      out.writeUInt16BE(frame.length, off);
      out.set(frame, off + FRAME_LENGTH_PREFIX_BYTES);
      off += FRAME_LENGTH_PREFIX_BYTES + frame.length;
    }
    return out.subarray(0, off);
  }

  /** The authenticated end of our byte stream (raw mode). */
  sealEof(): Buffer {
    return this.#sealBytes(Buffer.from([MSG.EOF]));
  }

  #sealBytes(plaintext: Uint8Array, framed: true): Buffer;
  #sealBytes(plaintext: Uint8Array, framed: false): Uint8Array;
  #sealBytes(plaintext: Uint8Array): Buffer;
  #sealBytes(plaintext: Uint8Array, framed = true): Buffer | Uint8Array {
    if (plaintext.length + AEAD_TAG_BYTES > NOISE_MAX_MESSAGE_BYTES) throw new RangeError(`message of ${plaintext.length} bytes does not fit one frame`);
    const cs = this.#send!;
    let ct: Uint8Array;
    try {
      ct = cs.encryptWithAd(new Uint8Array(0), plaintext);
    } catch (e) {
      throw this.#mapNoise(e, 'encrypting');
    }
    if (++this.#sentSinceRekey >= this.#rekeyAfter) {
      cs.rekey();
      this.#sentSinceRekey = 0;
    }
    return framed ? encodeFrame(ct) : ct;
  }

  #writeHandshake(payload: Uint8Array): Buffer {
    const msg = this.#hs.writeMessage(payload);
    this.#handshakeMessages++;
    return encodeFrame(msg);
  }

  #onFrame(frame: Buffer, out: ReceiveResult): void {
    if (this.#phase === 'handshake') return this.#onHandshakeFrame(frame, out);
    const cs = this.#recv!;
    let pt: Uint8Array;
    try {
      pt = cs.decryptWithAd(new Uint8Array(0), frame);
    } catch (e) {
      throw this.#mapNoise(e, 'decrypting a transport frame');
    }
    if (++this.#recvSinceRekey >= this.#rekeyAfter) {
      cs.rekey();
      this.#recvSinceRekey = 0;
    }
    const msg = decodeMessage(pt);
    if (this.#phase === 'hello') {
      if (msg.type !== 'HELLO') throw P2pcatError.protocol(`expected HELLO, got ${msg.type}`);
      this.#peer = this.#checkHello(msg.body);
      this.#phase = 'up';
      out.up = this.#peer;
      return;
    }
    if (msg.type === 'HELLO') throw P2pcatError.protocol('second HELLO');
    out.messages.push(msg);
  }

  #onHandshakeFrame(frame: Buffer, out: ReceiveResult): void {
    const index = this.#handshakeMessages; // 0-based index of this handshake message overall
    let payload: Uint8Array;
    try {
      payload = this.#hs.readMessage(frame);
    } catch (e) {
      if (index === 2) {
        throw P2pcatError.auth('handshake failed: the peer does not hold this room\'s key (wrong room or secret)', e);
      }
      throw P2pcatError.protocol(`handshake message ${index + 1} is invalid: not a p2pcat/${WIRE_VERSION} peer, or garbage`, e);
    }
    this.#handshakeMessages++;
    if (index < 2) this.#checkVersion(payload);
    if (!this.#hs.complete) out.send.push(this.#writeHandshake(index === 0 ? VERSION_PAYLOAD : new Uint8Array(0)));
    if (this.#hs.complete) this.#startTransport(out);
  }

  #checkVersion(payload: Uint8Array): void {
    let v: unknown;
    try {
      v = (JSON.parse(new TextDecoder().decode(payload)) as { v?: unknown }).v;
    } catch {
      throw P2pcatError.protocol('handshake payload is not JSON');
    }
    if (v !== WIRE_VERSION) throw P2pcatError.version(`peer speaks protocol version ${String(v)}; this p2pcat speaks ${WIRE_VERSION}`);
  }

  #startTransport(out: ReceiveResult): void {
    const { send, recv } = this.#hs.transport();
    this.#send = send;
    this.#recv = recv;
    this.#phase = 'hello';
    this.#decoder.setLimits({ maxFrameBytes: NOISE_MAX_MESSAGE_BYTES, minFrameBytes: AEAD_TAG_BYTES + 1 });
    // Transport frames are decrypted as soon as they are whole (#onFrame), never kept.
    this.#decoder.reuseJoinedFrames();
    const s = this.#static.publicKey;
    const sig = this.#opts.signer.sign(this.#bindingBytes(s));
    out.send.push(
      this.#sealBytes(encodeMessage('HELLO', {
        v: WIRE_VERSION,
        key: toHex(this.#opts.signer.publicKey),
        name: this.#opts.username,
        sig: toHex(sig),
        ...(this.#opts.listenPort !== undefined ? { port: this.#opts.listenPort } : {}),
      })),
    );
  }

  #bindingBytes(noiseStatic: Uint8Array): Uint8Array {
    return concatBytes(utf8.encode(IDENTITY_BINDING_CONTEXT), new Uint8Array([0]), noiseStatic, this.#hs.handshakeHash);
  }

  #checkHello(body: Record<string, unknown>): PeerIdentity {
    if (body.v !== WIRE_VERSION) throw P2pcatError.version(`peer speaks protocol version ${String(body.v)}`);
    const key = fromHex(body.key, 32);
    const sig = fromHex(body.sig, 64);
    if (!key || !sig) throw P2pcatError.protocol('HELLO has a malformed key or signature');
    let username: string;
    try {
      username = checkUsername(body.name);
    } catch {
      throw P2pcatError.protocol('HELLO has a bad username');
    }
    const rs = this.#hs.remoteStatic;
    if (!rs || !verify(key, this.#bindingBytes(rs), sig)) {
      throw P2pcatError.auth('peer\'s identity signature does not match this session');
    }
    this.#peerSig = toHex(sig);
    const port = body.port;
    if (port !== undefined && !(Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65535)) throw P2pcatError.protocol('HELLO has a bad port');
    const id: PeerIdentity = { key: toHex(key), username, uuid: uuidFromPublicKey(key), fingerprint: fingerprint(key) };
    if (port !== undefined) id.listenPort = port as number;
    return id;
  }

  #mapNoise(e: unknown, what: string): P2pcatError {
    if (e instanceof NoiseError && e.code === 'NONCE_EXHAUSTED') return P2pcatError.protocol('nonce space exhausted; reconnect');
    if (e instanceof NoiseError) return P2pcatError.protocol(e.code === 'DECRYPT' ? `${what}: bad tag (corrupted or forged frame)` : `${what}: ${e.code}: ${e.message}`, e);
    throw e;
  }
}
