// CHAT records: the seed's fields (uuid, username, timestamp, message, msg_id)
// plus the room, the author's Ed25519 public key (`from`) and signature (`sig`).
//   msg_id = hex SHA-256(uuid + timestamp + message)          (the seed's rule)
//   sig    = Ed25519(author, CHAT_SIGNATURE_CONTEXT || 0x00 || JSON([room, uuid, username, timestamp, message, msg_id]))
// The uuid must be the one derived from `from`, so nobody can borrow another
// peer's uuid. Pure functions: no I/O, no clock (callers pass the time).
import crypto from 'node:crypto';
import { CHAT_SIGNATURE_CONTEXT } from '../crypto/labels.js';
import { Signer, verify } from '../crypto/ed25519.js';
import { uuidFromPublicKey } from '../crypto/identity.js';
import { CHAT_MAX_MESSAGE_BYTES, CLOCK_SKEW_MAX_MS, ROOM_MAX_BYTES, USERNAME_MAX_BYTES } from '../limits.js';
import { fromHex, toHex, utf8Length } from '../util.js';

export interface ChatRecord {
  type: 'CHAT';
  room: string;
  uuid: string;
  username: string;
  timestamp: string;
  message: string;
  msg_id: string;
  from: string;
  sig: string;
}

export function msgId(uuid: string, timestamp: string, message: string): string {
  return crypto.createHash('sha256').update(uuid + timestamp + message, 'utf8').digest('hex');
}

function signedBytes(r: Omit<ChatRecord, 'sig' | 'type' | 'from'>): Buffer {
  const body = JSON.stringify([r.room, r.uuid, r.username, r.timestamp, r.message, r.msg_id]);
  return Buffer.concat([Buffer.from(CHAT_SIGNATURE_CONTEXT), Buffer.from([0]), Buffer.from(body, 'utf8')]);
}

export function createChat(signer: Signer, fields: { room: string; username: string; message: string; now: Date }): ChatRecord {
  const uuid = uuidFromPublicKey(signer.publicKey);
  const timestamp = fields.now.toISOString();
  const msg_id = msgId(uuid, timestamp, fields.message);
  const unsigned = { room: fields.room, uuid, username: fields.username, timestamp, message: fields.message, msg_id };
  return {
    type: 'CHAT',
    ...unsigned,
    from: toHex(signer.publicKey),
    sig: toHex(signer.sign(signedBytes(unsigned))),
  };
}

const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

export type ChatCheck = { ok: true; record: ChatRecord } | { ok: false; reason: string };

/**
 * Validate an untrusted object as a CHAT record: shape, sizes, msg_id,
 * uuid binding, signature, and (when given) room and clock. Never throws.
 */
export function checkChat(o: unknown, opts: { room?: string; now?: number } = {}): ChatCheck {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return { ok: false, reason: 'not an object' };
  const r = o as Record<string, unknown>;
  for (const f of ['room', 'uuid', 'username', 'timestamp', 'message', 'msg_id', 'from', 'sig'] as const) {
    if (typeof r[f] !== 'string') return { ok: false, reason: `field ${f} missing or not a string` };
  }
  const rec: ChatRecord = {
    type: 'CHAT',
    room: r.room as string,
    uuid: r.uuid as string,
    username: r.username as string,
    timestamp: r.timestamp as string,
    message: r.message as string,
    msg_id: r.msg_id as string,
    from: r.from as string,
    sig: r.sig as string,
  };
  if (utf8Length(rec.message) > CHAT_MAX_MESSAGE_BYTES) return { ok: false, reason: 'message too long' };
  if (utf8Length(rec.username) > USERNAME_MAX_BYTES || rec.username.length === 0) return { ok: false, reason: 'bad username' };
  if (utf8Length(rec.room) > ROOM_MAX_BYTES) return { ok: false, reason: 'bad room' };
  if (opts.room !== undefined && rec.room !== opts.room) return { ok: false, reason: 'message for another room' };
  if (!ISO_RE.test(rec.timestamp) || Number.isNaN(Date.parse(rec.timestamp))) return { ok: false, reason: 'bad timestamp' };
  if (opts.now !== undefined && Date.parse(rec.timestamp) > opts.now + CLOCK_SKEW_MAX_MS) return { ok: false, reason: 'timestamp too far in the future' };
  const pub = fromHex(rec.from, 32);
  const sig = fromHex(rec.sig, 64);
  if (!pub || !sig) return { ok: false, reason: 'bad key or signature encoding' };
  if (uuidFromPublicKey(pub) !== rec.uuid) return { ok: false, reason: 'uuid does not belong to the author key' };
  if (msgId(rec.uuid, rec.timestamp, rec.message) !== rec.msg_id) return { ok: false, reason: 'msg_id does not match' };
  if (!verify(pub, signedBytes(rec), sig)) return { ok: false, reason: 'bad signature' };
  return { ok: true, record: rec };
}
