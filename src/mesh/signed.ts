// Small signed statements the mesh carries besides CHAT (docs/protocol.md,
// "PEERS" and "ACK"): each is signed by the member it speaks for, so a
// neighbour that relays it cannot forge or alter it.
//
//   presence  {key, name, port?, ts, state, sig}      "I am in the room" / "I am leaving"
//             sig = Ed25519(key, PRESENCE_SIGNATURE_CONTEXT || 0x00 || JSON([room, key, name, port|null, ts, state]))
//   ack       {id, by, name, sig}                     "I received message id"
//             sig = Ed25519(by, ACK_SIGNATURE_CONTEXT || 0x00 || JSON([room, id, name]))
// Pure: no clock inside (callers pass it), never throws on bad input.
import { ACK_SIGNATURE_CONTEXT, PRESENCE_SIGNATURE_CONTEXT } from '../crypto/labels.js';
import { verify, type Signer } from '../crypto/ed25519.js';
import { checkUsername } from '../crypto/identity.js';
import { CLOCK_SKEW_MAX_MS, PRESENCE_MAX_AGE_MS } from '../limits.js';
import { fromHex, toHex } from '../util.js';

export interface Presence {
  key: string;
  name: string;
  port?: number;
  /** Milliseconds since the epoch, by the member's clock; newer replaces older. */
  ts: number;
  state: 'up' | 'bye';
  sig: string;
}

export interface Ack {
  /** The acknowledged message: a CHAT's msg_id, a DM's envelope id. */
  id: string;
  by: string;
  name: string;
  sig: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

function bytes(label: string, parts: unknown[]): Buffer {
  return Buffer.concat([Buffer.from(label), Buffer.from([0]), Buffer.from(JSON.stringify(parts), 'utf8')]);
}

const ID_RE = /^[0-9a-f]{64}$/;

export function signPresence(signer: Signer, room: string, f: { name: string; port?: number | undefined; ts: number; state: 'up' | 'bye' }): Presence {
  const key = toHex(signer.publicKey);
  const sig = toHex(signer.sign(bytes(PRESENCE_SIGNATURE_CONTEXT, [room, key, f.name, f.port ?? null, f.ts, f.state])));
  const p: Presence = { key, name: f.name, ts: f.ts, state: f.state, sig };
  if (f.port !== undefined) p.port = f.port;
  return p;
}

export function checkPresence(o: unknown, opts: { room: string; now: number }): Checked<Presence> {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return { ok: false, reason: 'presence is not an object' };
  const r = o as Record<string, unknown>;
  const key = fromHex(r.key, 32);
  const sig = fromHex(r.sig, 64);
  if (!key || !sig) return { ok: false, reason: 'presence has a bad key or signature encoding' };
  let name: string;
  try {
    name = checkUsername(r.name);
  } catch {
    return { ok: false, reason: 'presence has a bad username' };
  }
  if (r.port !== undefined && !(Number.isInteger(r.port) && (r.port as number) >= 1 && (r.port as number) <= 65535)) return { ok: false, reason: 'presence has a bad port' };
  if (!Number.isSafeInteger(r.ts)) return { ok: false, reason: 'presence has a bad ts' };
  const ts = r.ts as number;
  if (ts > opts.now + CLOCK_SKEW_MAX_MS) return { ok: false, reason: 'presence from the future' };
  if (ts < opts.now - PRESENCE_MAX_AGE_MS) return { ok: false, reason: 'presence too old (a replay?)' };
  if (r.state !== 'up' && r.state !== 'bye') return { ok: false, reason: 'presence has a bad state' };
  const port = r.port as number | undefined;
  if (!verify(key, bytes(PRESENCE_SIGNATURE_CONTEXT, [opts.room, r.key, name, port ?? null, ts, r.state]), sig)) return { ok: false, reason: 'presence has a bad signature' };
  const p: Presence = { key: r.key as string, name, ts, state: r.state, sig: r.sig as string };
  if (port !== undefined) p.port = port;
  return { ok: true, value: p };
}

export function signAck(signer: Signer, room: string, id: string, name: string): Ack {
  const by = toHex(signer.publicKey);
  return { id, by, name, sig: toHex(signer.sign(bytes(ACK_SIGNATURE_CONTEXT, [room, id, name]))) };
}

/** Shape only: what a relay checks before passing an ACK along its route. */
export function ackShape(o: Record<string, unknown>): Checked<Ack> {
  if (typeof o.id !== 'string' || !ID_RE.test(o.id)) return { ok: false, reason: 'ACK has a bad id' };
  if (!fromHex(o.by, 32) || !fromHex(o.sig, 64)) return { ok: false, reason: 'ACK has a bad key or signature encoding' };
  try {
    checkUsername(o.name);
  } catch {
    return { ok: false, reason: 'ACK has a bad username' };
  }
  return { ok: true, value: { id: o.id, by: o.by as string, name: o.name as string, sig: o.sig as string } };
}

export function checkAck(o: Record<string, unknown>, room: string): Checked<Ack> {
  const s = ackShape(o);
  if (!s.ok) return s;
  const a = s.value;
  if (!verify(fromHex(a.by, 32)!, bytes(ACK_SIGNATURE_CONTEXT, [room, a.id, a.name]), fromHex(a.sig, 64)!)) return { ok: false, reason: 'ACK has a bad signature' };
  return s;
}
