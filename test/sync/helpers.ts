// In-process plumbing for the sync tests: two engines joined by a channel
// that carries each message as JSON text (as the wire would), asynchronously,
// and signed records from a few authors with clocks of their own.
import { createChat, type ChatRecord } from '../../src/chat/record.js';
import { Signer } from '../../src/crypto/ed25519.js';
import crypto from 'node:crypto';
import { SyncInitiator, SyncResponder, type InitiatorOptions, type ResponderOptions, type SyncChannel, type SyncStats, type SyncStore } from '../../src/sync/engine.js';

export const ROOM = 'ops';

export function signerOf(label: string): Signer {
  return new Signer(new Uint8Array(crypto.createHash('sha256').update(`p2pcat sync test ${label}`).digest()));
}

export const AUTHORS = ['alice', 'bob', 'carol'].map((name) => ({ name, signer: signerOf(name) }));

let seq = 0;
/** A signed CHAT record by author `a` at time `ms`. */
export function chat(a: number, ms: number, text?: string, room = ROOM): ChatRecord {
  const au = AUTHORS[a % AUTHORS.length]!;
  return createChat(au.signer, { room, username: au.name, message: text ?? `m${seq++}`, now: new Date(ms) });
}

export const T0 = Date.parse('2025-04-29T14:00:00.000Z');

/** n records by author a, one second apart from `start`. */
export function history(n: number, a = 0, start = T0, tag = 'h'): ChatRecord[] {
  return Array.from({ length: n }, (_, i) => chat(a, start + i * 1000, `${tag} ${i}`));
}

export interface Link {
  /** What the initiator sends, before delivery: return undefined to drop, or a replacement body. */
  toResponder?: (type: string, body: Record<string, unknown>) => Record<string, unknown> | undefined;
}

/** A channel pair: bodies are JSON round-tripped and delivered on a later tick. */
export function wire(onA: (body: Record<string, unknown>) => void, onB: (body: Record<string, unknown>) => void): { a: SyncChannel; b: SyncChannel; closed: () => void } {
  let closed = false;
  const mk = (deliver: (body: Record<string, unknown>) => void): SyncChannel => ({
    send: (_type, body) => {
      if (closed) return false;
      const text = JSON.stringify(body);
      setImmediate(() => {
        if (!closed) deliver(JSON.parse(text) as Record<string, unknown>);
      });
      return true;
    },
    drained: () => Promise.resolve(),
  });
  return { a: mk(onB), b: mk(onA), closed: () => (closed = true) };
}

/** Run one sync: `a` initiates against `b`'s responder. */
export async function syncPair(a: SyncStore, b: SyncStore, opts: InitiatorOptions = {}, ropts: ResponderOptions = {}): Promise<{ stats: SyncStats; responder: SyncResponder }> {
  let init!: SyncInitiator;
  let resp!: SyncResponder;
  const w = wire(
    (body) => init.onResponse(body),
    (body) => resp.onRequest(body),
  );
  resp = new SyncResponder(w.b, b, ropts);
  init = new SyncInitiator(w.a, a, opts);
  try {
    const stats = await init.run();
    return { stats, responder: resp };
  } finally {
    w.closed();
    resp.close();
  }
}
