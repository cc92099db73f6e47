// Direct messages, sealed end to end for one recipient (docs/protocol.md,
// "DM"). Peers that relay a DM see only the recipient's key and ciphertext.
//
//   inner   a DM record: the CHAT fields plus `to`, signed by the author:
//           sig = Ed25519(author, DM_SIGNATURE_CONTEXT || 0x00 || JSON([room, uuid, username, timestamp, message, msg_id, to]))
//   seal    X = Ed25519→X25519 (RFC 7748 birational map) of the recipient's key
//           e = fresh X25519 key pair; ss = X25519(e, X)
//           key || nonce = HKDF-SHA256(ikm = ss, salt = e.pub || X, info = DM_SEAL_CONTEXT, 44 bytes)
//           ct = ChaCha20-Poly1305(key, nonce, aad = JSON([DM_SEAL_CONTEXT, room, to]), JSON(inner))
//   wire    {"id": hex SHA-256(e.pub || ct), "to": hex key, "eph": hex e.pub, "ct": base64 ct}
// The recipient opens it with the X25519 form of its own Ed25519 secret.
// The key and nonce are fresh per message (e is), so a zero-free nonce is safe.
// Pure: the caller passes the time and the randomness source is the CSPRNG.
import crypto from 'node:crypto';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { DM_SEAL_CONTEXT, DM_SIGNATURE_CONTEXT } from '../crypto/labels.js';
import { verify, type Signer } from '../crypto/ed25519.js';
import { checkUsername, uuidFromPublicKey } from '../crypto/identity.js';
import { msgId, type ChatRecord } from '../chat/record.js';
import { CHAT_MAX_MESSAGE_BYTES, FRAME_MAX_PLAINTEXT_BYTES } from '../limits.js';
import { concatBytes, fromHex, toHex, utf8, utf8Length } from '../util.js';

/** A direct message: the fields of a CHAT record, plus its one reader. */
export interface DmRecord extends Omit<ChatRecord, 'type'> {
  type: 'DM';
  to: string;
}

export interface DmEnvelope {
  id: string;
  to: string;
  eph: string;
  ct: string;
}

/** Room the sealed envelope body leaves in a frame for the type byte, ttl and JSON punctuation. */
const ENVELOPE_MAX_BYTES = FRAME_MAX_PLAINTEXT_BYTES - 256;

function signedBytes(r: Omit<DmRecord, 'type' | 'sig' | 'from'>): Buffer {
  const body = JSON.stringify([r.room, r.uuid, r.username, r.timestamp, r.message, r.msg_id, r.to]);
  return Buffer.concat([Buffer.from(DM_SIGNATURE_CONTEXT), Buffer.from([0]), Buffer.from(body, 'utf8')]);
}

function keys(ss: Uint8Array, ephPub: Uint8Array, recipientX: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
  const okm = hkdf(sha256, ss, concatBytes(ephPub, recipientX), utf8.encode(DM_SEAL_CONTEXT), 44);
  return { key: okm.subarray(0, 32), nonce: okm.subarray(32, 44) };
}

function aad(room: string, to: string): Uint8Array {
  return utf8.encode(JSON.stringify([DM_SEAL_CONTEXT, room, to]));
}

export function envelopeId(ephPub: Uint8Array, ct: Uint8Array): string {
  return crypto.createHash('sha256').update(ephPub).update(ct).digest('hex');
}

/**
 * Write and seal a DM. Throws RangeError when the message cannot fit one
 * frame once sealed, and Error when `to` is not a valid Ed25519 key.
 */
export function sealDm(signer: Signer, f: { room: string; username: string; message: string; to: string; now: Date }): { envelope: DmEnvelope; record: DmRecord } {
  const toKey = fromHex(f.to, 32);
  if (!toKey) throw new Error('recipient key must be 64 hex digits');
  if (utf8Length(f.message) > CHAT_MAX_MESSAGE_BYTES) throw new RangeError('message too long');
  const uuid = uuidFromPublicKey(signer.publicKey);
  const timestamp = f.now.toISOString();
  const unsigned = { room: f.room, uuid, username: f.username, timestamp, message: f.message, msg_id: msgId(uuid, timestamp, f.message), to: f.to };
  const record: DmRecord = { type: 'DM', ...unsigned, from: toHex(signer.publicKey), sig: toHex(signer.sign(signedBytes(unsigned))) };
  const recipientX = ed25519.utils.toMontgomery(toKey);
  const e = x25519.utils.randomSecretKey();
  const ephPub = x25519.getPublicKey(e);
  const ss = x25519.getSharedSecret(e, recipientX);
  const { key, nonce } = keys(ss, ephPub, recipientX);
  const { type: _t, ...inner } = record;
  const ct = chacha20poly1305(key, nonce, aad(f.room, f.to)).encrypt(utf8.encode(JSON.stringify(inner)));
  e.fill(0);
  ss.fill(0);
  const envelope: DmEnvelope = { id: envelopeId(ephPub, ct), to: f.to, eph: toHex(ephPub), ct: Buffer.from(ct).toString('base64') };
  if (JSON.stringify(envelope).length > ENVELOPE_MAX_BYTES) throw new RangeError('message too long for a direct message once sealed');
  return { envelope, record };
}

export type EnvelopeCheck = { ok: true; envelope: DmEnvelope; ephPub: Uint8Array; ct: Uint8Array } | { ok: false; reason: string };

const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** What a relay checks: shape, sizes and that the id names this ciphertext. */
export function checkEnvelope(o: Record<string, unknown>): EnvelopeCheck {
  if (typeof o.id !== 'string' || typeof o.to !== 'string' || typeof o.eph !== 'string' || typeof o.ct !== 'string') return { ok: false, reason: 'DM fields missing' };
  if (!fromHex(o.to, 32)) return { ok: false, reason: 'DM has a bad recipient key' };
  const ephPub = fromHex(o.eph, 32);
  if (!ephPub) return { ok: false, reason: 'DM has a bad ephemeral key' };
  if (o.ct.length > ENVELOPE_MAX_BYTES || o.ct.length % 4 !== 0 || !B64_RE.test(o.ct)) return { ok: false, reason: 'DM ciphertext is not base64 of a sane size' };
  const ct = new Uint8Array(Buffer.from(o.ct, 'base64'));
  if (ct.length < 17) return { ok: false, reason: 'DM ciphertext too short' };
  if (envelopeId(ephPub, ct) !== o.id) return { ok: false, reason: 'DM id does not match its ciphertext' };
  return { ok: true, envelope: { id: o.id, to: o.to, eph: o.eph, ct: o.ct }, ephPub, ct };
}

/** Open a DM addressed to us; checks everything inside (room, binding, msg_id, signature). Never throws. */
export function openDm(seed: Uint8Array, ourKey: string, room: string, o: Record<string, unknown>): { ok: true; record: DmRecord; id: string } | { ok: false; reason: string } {
  const env = checkEnvelope(o);
  if (!env.ok) return env;
  if (env.envelope.to !== ourKey) return { ok: false, reason: 'DM is for someone else' };
  let pt: Uint8Array;
  try {
    const xs = ed25519.utils.toMontgomerySecret(seed);
    const ourX = x25519.getPublicKey(xs);
    const ss = x25519.getSharedSecret(xs, env.ephPub);
    const { key, nonce } = keys(ss, env.ephPub, ourX);
    xs.fill(0);
    ss.fill(0);
    pt = chacha20poly1305(key, nonce, aad(room, ourKey)).decrypt(env.ct);
  } catch {
    return { ok: false, reason: 'DM does not open (bad tag, wrong room, or a bad ephemeral key)' };
  }
  let r: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(Buffer.from(pt).toString('utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    r = v as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'DM plaintext is not a JSON object' };
  }
  for (const f of ['room', 'uuid', 'username', 'timestamp', 'message', 'msg_id', 'from', 'to', 'sig'] as const) {
    if (typeof r[f] !== 'string') return { ok: false, reason: `DM field ${f} missing` };
  }
  const rec = { type: 'DM', ...r } as DmRecord;
  const record: DmRecord = { type: 'DM', room: rec.room, uuid: rec.uuid, username: rec.username, timestamp: rec.timestamp, message: rec.message, msg_id: rec.msg_id, from: rec.from, to: rec.to, sig: rec.sig };
  if (record.room !== room) return { ok: false, reason: 'DM for another room' };
  if (record.to !== ourKey) return { ok: false, reason: 'DM sealed to us but addressed to someone else' };
  try {
    checkUsername(record.username);
  } catch {
    return { ok: false, reason: 'DM has a bad username' };
  }
  if (Number.isNaN(Date.parse(record.timestamp))) return { ok: false, reason: 'DM has a bad timestamp' };
  const from = fromHex(record.from, 32);
  const sig = fromHex(record.sig, 64);
  if (!from || !sig) return { ok: false, reason: 'DM has a bad author key or signature' };
  if (uuidFromPublicKey(from) !== record.uuid) return { ok: false, reason: 'DM uuid does not belong to its author' };
  if (msgId(record.uuid, record.timestamp, record.message) !== record.msg_id) return { ok: false, reason: 'DM msg_id does not match' };
  if (!verify(from, signedBytes(record), sig)) return { ok: false, reason: 'DM has a bad signature' };
  return { ok: true, record, id: env.envelope.id };
}
