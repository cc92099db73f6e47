// Keys and tokens derived from a room key for NAT traversal (docs/nat.md,
// "Room tokens"). The rendezvous sees only the tokens: they are keyed hashes
// of the room key and of a rotating epoch, so it learns neither the room name
// nor anything that links one hour's meetings to the next.
//   token(epoch) = HMAC-BLAKE2b-512(room key, RENDEZVOUS_TOKEN_CONTEXT || u64be(epoch))[0..16]
//   probe key    = HMAC-BLAKE2b-512(room key, PUNCH_PROBE_KEY_CONTEXT)[0..32]
import crypto from 'node:crypto';
import { PUNCH_PROBE_KEY_CONTEXT, RENDEZVOUS_TOKEN_CONTEXT, RENDEZVOUS_TOKEN_EPOCH_S } from '../crypto/labels.js';

export const TOKEN_BYTES = 16;
export const PEER_ID_BYTES = 8;

export function roomToken(roomKey: Uint8Array, epoch: number): Uint8Array {
  const e = Buffer.alloc(8);
  e.writeBigUInt64BE(BigInt(epoch));
  const mac = crypto.createHmac('blake2b512', roomKey).update(RENDEZVOUS_TOKEN_CONTEXT).update(e).digest();
  return new Uint8Array(mac.subarray(0, TOKEN_BYTES));
}

/** This epoch's token and the previous one's, so two peers on either side of a rotation still meet. */
export function roomTokens(roomKey: Uint8Array, nowMs: number): Uint8Array[] {
  const epoch = Math.floor(nowMs / 1000 / RENDEZVOUS_TOKEN_EPOCH_S);
  return [roomToken(roomKey, epoch), roomToken(roomKey, epoch - 1)];
}

/** The STUN short-term MESSAGE-INTEGRITY key for punch probes: only room members make or accept them. */
export function probeKey(roomKey: Uint8Array): Uint8Array {
  return new Uint8Array(crypto.createHmac('blake2b512', roomKey).update(PUNCH_PROBE_KEY_CONTEXT).digest().subarray(0, 32));
}

export function newPeerId(): Uint8Array {
  return new Uint8Array(crypto.randomBytes(PEER_ID_BYTES));
}
