// Room-derived keys, tags and info-hashes for discovery (docs/discovery.md,
// "Derivation"). Sans-I/O: functions of the room key, an epoch and a nonce.
//
//   K_tag    = HMAC-BLAKE2b-512(room key, "p2pcat lan tag v1")[0..32]
//   K_beacon = HMAC-BLAKE2b-512(room key, "p2pcat lan beacon key v1")[0..32]
//   K_dht    = HMAC-BLAKE2b-512(room key, "p2pcat dht infohash v1")[0..32]
//   tag(e, nonce)  = HMAC-BLAKE2b-512(K_tag, u64be(e) || nonce)[0..16]
//   infoHash(e)    = HMAC-BLAKE2b-512(K_dht, u64be(e))[0..20]
//   epoch(t, len)  = floor(t / len), t in ms since the Unix epoch
//
// A LAN tag also covers the beacon's random nonce, so two members announcing
// in the same epoch show different tags: an outsider cannot even group them.
// The DHT info-hash cannot do that (every member must look up the same key),
// so it only rotates with its (longer) epoch.
import crypto from 'node:crypto';
import { DHT_EPOCH_S, DHT_INFOHASH_CONTEXT, LAN_BEACON_KEY_CONTEXT, LAN_EPOCH_S, LAN_TAG_CONTEXT } from '../crypto/labels.js';

export const LAN_EPOCH_MS = LAN_EPOCH_S * 1000;
export const DHT_EPOCH_MS = DHT_EPOCH_S * 1000;
export const TAG_BYTES = 16;
export const INFO_HASH_BYTES = 20;

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = crypto.createHmac('blake2b512', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

export function u64be(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('epoch must be a non-negative safe integer');
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** The keys one room uses for discovery; derive once per process. */
export interface DiscoveryKeys {
  readonly tagKey: Uint8Array;
  readonly beaconKey: Uint8Array;
  readonly dhtKey: Uint8Array;
}

export function deriveDiscoveryKeys(roomKey: Uint8Array): DiscoveryKeys {
  if (roomKey.length !== 32) throw new RangeError('room key must be 32 bytes');
  const sub = (label: string) => new Uint8Array(hmac(roomKey, Buffer.from(label, 'utf8')).subarray(0, 32));
  return { tagKey: sub(LAN_TAG_CONTEXT), beaconKey: sub(LAN_BEACON_KEY_CONTEXT), dhtKey: sub(DHT_INFOHASH_CONTEXT) };
}

export function epochOf(nowMs: number, epochMs: number): number {
  return Math.floor(nowMs / epochMs);
}

/** The epochs a time window [from, to] touches, oldest first (at most a few). */
export function epochsIn(fromMs: number, toMs: number, epochMs: number): number[] {
  const out: number[] = [];
  const first = epochOf(Math.max(0, fromMs), epochMs);
  const last = epochOf(Math.max(0, toMs), epochMs);
  for (let e = first; e <= last && out.length < 4; e++) out.push(e);
  return out;
}

export function lanTag(keys: DiscoveryKeys, epoch: number, nonce: Uint8Array): Uint8Array {
  return new Uint8Array(hmac(keys.tagKey, u64be(epoch), nonce).subarray(0, TAG_BYTES));
}

export function dhtInfoHash(keys: DiscoveryKeys, epoch: number): Uint8Array {
  return new Uint8Array(hmac(keys.dhtKey, u64be(epoch)).subarray(0, INFO_HASH_BYTES));
}
