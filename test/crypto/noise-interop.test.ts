// Interop with an independent Noise implementation, holepunchto's
// noise-handshake (libsodium underneath), over a real loopback TCP socket with
// a 2-byte big-endian length prefix per message (Noise rev 34 section 13).
// Every pattern it has (NN, NNpsk0, XX, XXpsk0, IK, XK; it speaks only
// 25519/ChaChaPoly/BLAKE2b) runs with our engine as initiator and as
// responder: handshake payloads, handshake hash, learned static keys, then
// transport messages both ways (our CipherState <-> their Cipher), and the
// same transport bytes reproduced from their rx/tx keys.
//
// Their Cipher is plain Noise ChaChaPoly for n < 2^32 only: it writes the
// counter with setUint32, so n = 2^32 encrypts as n = 0. Checked below.

import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CipherState, generateKeyPair, HandshakeState } from '../../src/crypto/noise.js';

interface TheirKeyPair {
  publicKey: Buffer;
  secretKey: Buffer;
}
interface TheirNoise {
  s: TheirKeyPair;
  rs: Buffer | null;
  complete: boolean;
  rx: Buffer | null;
  tx: Buffer | null;
  hash: Buffer | null;
  initialise(prologue: Uint8Array, remoteStatic?: Uint8Array): void;
  send(payload?: Uint8Array): Buffer;
  recv(message: Uint8Array): Buffer;
}
interface TheirCipher {
  nonce: number;
  encrypt(plaintext: Uint8Array, ad?: Uint8Array): Buffer;
  decrypt(ciphertext: Uint8Array, ad?: Uint8Array): Buffer;
  setNonce(n: number): void;
}

const require = createRequire(import.meta.url);
const Noise = require('noise-handshake') as new (
  pattern: string,
  initiator: boolean,
  staticKeypair?: TheirKeyPair | null,
  opts?: { psk?: Uint8Array },
) => TheirNoise;
const Cipher = require('noise-handshake/cipher') as new (key: Uint8Array) => TheirCipher;

const hex = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('hex') : String(b));
const EMPTY = new Uint8Array(0);
const PROLOGUE = new TextEncoder().encode('p2pcat interop test');
const PATTERNS = ['NN', 'NNpsk0', 'XX', 'XXpsk0', 'IK', 'XK'] as const;
const MESSAGES: Record<(typeof PATTERNS)[number], number> = { NN: 2, NNpsk0: 2, XX: 3, XXpsk0: 3, IK: 2, XK: 3 };

/** Transport plaintexts each side sends: empty, small, odd sizes, and the largest that fits 65535. */
function transportPlaintexts(who: string): Uint8Array[] {
  const fill = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);
  return [EMPTY, new TextEncoder().encode(`hello from ${who}`), fill(1, 1), fill(1000, 2), fill(4097, 3), fill(65535 - 16, 4), fill(77, 5)];
}

// ---------------------------------------------------------------- framing over a socket

function frame(b: Uint8Array): Buffer {
  if (b.length > 0xffff) throw new RangeError('frame too long');
  const head = Buffer.alloc(2);
  head.writeUInt16BE(b.length);
  return Buffer.concat([head, b]);
}

/** Reads length-prefixed frames from a socket; next() resolves with each one in order. */
function frameReader(sock: net.Socket): () => Promise<Buffer> {
  let buf = Buffer.alloc(0);
  const queue: Buffer[] = [];
  let wake: (() => void) | undefined;
  let ended: Error | undefined;
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2) {
      const n = buf.readUInt16BE(0);
      if (buf.length < 2 + n) break;
      queue.push(Buffer.from(buf.subarray(2, 2 + n)));
      buf = buf.subarray(2 + n);
    }
    wake?.();
  });
  const stop = (err: Error) => {
    ended ??= err;
    wake?.();
  };
  sock.on('end', () => stop(new Error('peer closed the connection')));
  sock.on('error', stop);
  return async () => {
    while (queue.length === 0) {
      if (ended) throw ended;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
    return queue.shift()!;
  };
}

// ---------------------------------------------------------------- the two parties

/** What the socket driver needs from either implementation. */
interface Party {
  writeHandshake(payload: Uint8Array): Uint8Array;
  readHandshake(message: Uint8Array): Uint8Array;
  readonly complete: boolean;
  /** Transport, available once complete. */
  seal(plaintext: Uint8Array): Uint8Array;
  open(ciphertext: Uint8Array): Uint8Array;
}

function ourParty(hs: HandshakeState): Party {
  let tr: { send: CipherState; recv: CipherState } | undefined;
  const transport = () => (tr ??= hs.transport());
  return {
    writeHandshake: (p) => hs.writeMessage(p),
    readHandshake: (m) => hs.readMessage(m),
    get complete() {
      return hs.complete;
    },
    seal: (p) => transport().send.encryptWithAd(EMPTY, p),
    open: (c) => transport().recv.decryptWithAd(EMPTY, c),
  };
}

function theirParty(n: TheirNoise): Party & { keys(): { tx: Buffer; rx: Buffer } } {
  let tx: TheirCipher | undefined;
  let rx: TheirCipher | undefined;
  let keys: { tx: Buffer; rx: Buffer } | undefined;
  const ready = () => {
    // Copies: their Cipher keeps the key by reference and _clear() zeroes it.
    keys ??= { tx: Buffer.from(n.tx!), rx: Buffer.from(n.rx!) };
    tx ??= new Cipher(Buffer.from(keys.tx));
    rx ??= new Cipher(Buffer.from(keys.rx));
    return { tx, rx };
  };
  return {
    writeHandshake: (p) => n.send(Buffer.from(p)),
    // A copy: on completion noise-handshake zeroes its `re`, a view into the buffer given to recv().
    readHandshake: (m) => n.recv(Buffer.from(m)),
    get complete() {
      return n.complete;
    },
    seal: (p) => ready().tx.encrypt(Buffer.from(p)),
    open: (c) => ready().rx.decrypt(Buffer.from(c)),
    keys: () => (ready(), keys!),
  };
}

interface Drive {
  handshakePayloads: string[];
  transportPlaintexts: string[];
  sentTransport: Uint8Array[];
}

/** One side of a session over a socket: the handshake, then send all, then read all. */
async function drive(party: Party, initiator: boolean, sock: net.Socket, messages: number, who: string): Promise<Drive> {
  const next = frameReader(sock);
  const handshakePayloads: string[] = [];
  for (let i = 0; i < messages; i++) {
    if ((i % 2 === 0) === initiator) sock.write(frame(party.writeHandshake(new TextEncoder().encode(`${who} handshake payload ${i}`))));
    else handshakePayloads.push(new TextDecoder().decode(party.readHandshake(await next())));
  }
  if (!party.complete) throw new Error(`${who}: not complete after ${messages} messages`);
  const sentTransport: Uint8Array[] = [];
  for (const p of transportPlaintexts(who)) {
    const c = party.seal(p);
    sentTransport.push(c);
    sock.write(frame(c));
  }
  const received: string[] = [];
  for (let i = 0; i < transportPlaintexts('x').length; i++) received.push(hex(party.open(await next())));
  sock.end();
  return { handshakePayloads, transportPlaintexts: received, sentTransport };
}

async function loopback(): Promise<{ client: net.Socket; server: net.Socket; close: () => Promise<void> }> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const accepted = once(srv, 'connection') as Promise<[net.Socket]>;
  const client = net.connect((srv.address() as AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  const [server] = await accepted;
  return {
    client,
    server,
    close: async () => {
      client.destroy();
      server.destroy();
      srv.close();
      await once(srv, 'close');
    },
  };
}

// ---------------------------------------------------------------- the sessions

for (const pattern of PATTERNS) {
  for (const oursIsInitiator of [true, false]) {
    const title = `${pattern}: p2pcat ${oursIsInitiator ? 'initiator' : 'responder'} <-> noise-handshake ${oursIsInitiator ? 'responder' : 'initiator'} over TCP`;
    t.test(title, async (t) => {
      const psk = pattern.includes('psk') ? new Uint8Array(32).map((_, i) => 0xa0 ^ i) : undefined;
      const ourS = generateKeyPair();
      const theirs = new Noise(pattern, !oursIsInitiator, null, psk ? { psk: Buffer.from(psk) } : {});
      const theirStatic = Buffer.from(theirs.s.publicKey);
      // IK and XK: the initiator knows the responder's static key in advance.
      const preRs = pattern === 'IK' || pattern === 'XK';
      theirs.initialise(Buffer.from(PROLOGUE), preRs && !oursIsInitiator ? Buffer.from(ourS.publicKey) : undefined);
      const ours = new HandshakeState({
        protocolName: `Noise_${pattern}_25519_ChaChaPoly_BLAKE2b`,
        initiator: oursIsInitiator,
        prologue: PROLOGUE,
        s: ourS,
        rs: preRs && oursIsInitiator ? theirStatic : undefined,
        psks: psk ? [psk] : undefined,
      });
      const us = ourParty(ours);
      const them = theirParty(theirs);

      const conn = await loopback();
      const [ourSock, theirSock] = oursIsInitiator ? [conn.client, conn.server] : [conn.server, conn.client];
      let a: Drive;
      let b: Drive;
      try {
        [a, b] = await Promise.all([
          drive(us, oursIsInitiator, ourSock, MESSAGES[pattern], 'p2pcat'),
          drive(them, !oursIsInitiator, theirSock, MESSAGES[pattern], 'noise-handshake'),
        ]);
      } finally {
        await conn.close();
      }

      const expectPayloads = (who: string, fromInitiator: boolean) =>
        Array.from({ length: MESSAGES[pattern] }, (_, i) => i)
          .filter((i) => (i % 2 === 0) === fromInitiator)
          .map((i) => `${who} handshake payload ${i}`);
      t.same(a.handshakePayloads, expectPayloads('noise-handshake', !oursIsInitiator), 'we read their handshake payloads');
      t.same(b.handshakePayloads, expectPayloads('p2pcat', oursIsInitiator), 'they read ours');
      t.equal(hex(ours.handshakeHash), hex(theirs.hash), 'handshake hashes agree');
      if (pattern !== 'NN' && pattern !== 'NNpsk0') {
        t.equal(hex(ours.remoteStatic), hex(theirStatic), 'we learned (or were given) their static key');
        t.equal(hex(theirs.rs), hex(ourS.publicKey), 'they learned ours');
      }
      t.same(a.transportPlaintexts, transportPlaintexts('noise-handshake').map(hex), 'our CipherState opened every message of their Cipher');
      t.same(b.transportPlaintexts, transportPlaintexts('p2pcat').map(hex), 'their Cipher opened every message of our CipherState');

      // Same bytes from their split keys: tx is their sending key (initiator: c1), rx their receiving key.
      const { tx, rx } = them.keys();
      const mirrorTheirs = new CipherState('ChaChaPoly', tx);
      const mirrorOurs = new CipherState('ChaChaPoly', rx);
      t.same(transportPlaintexts('noise-handshake').map((p) => hex(mirrorTheirs.encryptWithAd(EMPTY, p))), b.sentTransport.map(hex), 'our CipherState with their tx key reproduces their wire bytes');
      t.same(transportPlaintexts('p2pcat').map((p) => hex(mirrorOurs.encryptWithAd(EMPTY, p))), a.sentTransport.map(hex), 'our wire bytes are what their rx key gives');
    });
  }
}

t.test('noise-handshake Cipher conventions vs ours (associated data, nonces)', async (t) => {
  const key = new Uint8Array(32).map((_, i) => i * 7);
  const ad = new TextEncoder().encode('associated data');
  const pt = new TextEncoder().encode('plain Noise');

  const theirs = new Cipher(Buffer.from(key));
  const ours = new CipherState('ChaChaPoly', key);
  for (let i = 0; i < 3; i++) t.equal(hex(theirs.encrypt(Buffer.from(pt), Buffer.from(ad))), hex(ours.encryptWithAd(ad, pt)), `n = ${i} with associated data`);

  const bad = new Cipher(Buffer.from(key));
  const c0 = new CipherState('ChaChaPoly', key).encryptWithAd(EMPTY, pt);
  const tampered = Buffer.from(c0);
  tampered[0]! ^= 1;
  t.throws(() => bad.decrypt(tampered), 'their Cipher refuses a flipped bit');
  t.equal(bad.nonce, 0, 'their nonce does not advance on failure (as in ours)');
  t.equal(hex(bad.decrypt(Buffer.from(c0))), hex(pt), 'then reads the genuine message');

  const last = new Cipher(Buffer.from(key));
  last.setNonce(2 ** 32 - 1);
  const o32 = new CipherState('ChaChaPoly', key);
  o32.setNonce(2n ** 32n - 1n);
  t.equal(hex(last.encrypt(Buffer.from(pt))), hex(o32.encryptWithAd(EMPTY, pt)), 'n = 2^32-1: still the same bytes');

  // Their counter is written with DataView.setUint32, so it wraps at 2^32.
  const wrap = new Cipher(Buffer.from(key));
  wrap.setNonce(2 ** 32);
  const theirsAt32 = hex(wrap.encrypt(Buffer.from(pt)));
  t.equal(theirsAt32, hex(new CipherState('ChaChaPoly', key).encryptWithAd(EMPTY, pt)), 'noise-handshake quirk: its n = 2^32 encrypts as n = 0 (nonce reuse)');
  t.not(theirsAt32, hex(o32.encryptWithAd(EMPTY, pt)), 'ours uses the full 64-bit n at 2^32, as the spec says');
});
