// Sync over a live Session (src/transport/session.ts): the responder for
// every session, and "sync on connect" (docs/sync.md, "Automatic sync").
// The whole integration surface for listen/connect (the mesh) and for
// `p2pcat sync`:
//
//   const sync = attachSync(session, store, { onRecords });
//   session.on('message', (m) => { if (sync.onMessage(m)) return; ... });
//   session.once('up', () => { if (session.direction === 'out') void sync.start(); });
//   session.once('end', () => sync.stop());
//
// onMessage() takes SYNC_REQUEST (answered by the responder) and
// SYNC_RESPONSE (fed to a running initiator) and returns true for them.
import { P2pcatError } from '../errors.js';
import { PEER_SEND_QUEUE_MAX_BYTES, SYNC_ROUND_TIMEOUT_MS } from '../limits.js';
import type { Session } from '../transport/session.js';
import type { Message } from '../wire/messages.js';
import type { ChatRecord } from '../chat/record.js';
import { SyncInitiator, SyncResponder, emptyStats, type InitiatorOptions, type SyncChannel, type SyncStats, type SyncStore } from './engine.js';

/** What attachSync needs of a session: a Session, or anything shaped like one (tests). */
export type SyncSession = Pick<Session, 'send' | 'writableLength' | 'onceDrain' | 'isUp'>;

export interface AttachOptions {
  /** New records stored because of a sync on this session (pulled by us or pushed to us), once durable. */
  onRecords?: (records: ChatRecord[], how: 'pulled' | 'pushed') => void;
  /** One line per problem worth telling (refused records, a peer's refusal). */
  onWarning?: (e: P2pcatError) => void;
  /** A sync this side started ended: its counts, and its error if it failed. */
  onDone?: (stats: SyncStats, error: P2pcatError | undefined) => void;
}

export interface SyncAttachment {
  /** Handle a SYNC_* message; true when it was one. */
  onMessage(msg: Message): boolean;
  /** Run a sync as the initiator (pull and push by default). Resolves with its counts, rejects with a P2pcatError. */
  start(opts?: InitiatorOptions): Promise<SyncStats>;
  /** The session ended: fail a running sync, free the responder's snapshots. */
  stop(err?: P2pcatError): void;
  /** The running sync's counts (or the last one's). */
  readonly stats: SyncStats;
}

/**
 * A SyncChannel over a session: sends are dropped once it is down; "drained"
 * waits for the socket's drain, at most SYNC_ROUND_TIMEOUT_MS (a peer that
 * stops reading then meets the session's own queue limit on the next send).
 */
export function sessionChannel(s: SyncSession): SyncChannel {
  return {
    send: (type, body) => s.send(type, body) && s.writableLength < PEER_SEND_QUEUE_MAX_BYTES / 4,
    drained: () =>
      new Promise<void>((resolve) => {
        if (!s.isUp || s.writableLength < PEER_SEND_QUEUE_MAX_BYTES / 4) return resolve();
        const t = setTimeout(resolve, SYNC_ROUND_TIMEOUT_MS);
        t.unref();
        s.onceDrain(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}

export function attachSync(session: SyncSession, store: SyncStore | undefined, opts: AttachOptions = {}): SyncAttachment {
  const channel = sessionChannel(session);
  const responder = new SyncResponder(channel, store, {
    onRecords: (r) => opts.onRecords?.(r, 'pushed'),
    ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
  });
  let current: SyncInitiator | undefined;
  let last = emptyStats();
  let nextId = 1;
  let stopped: P2pcatError | undefined;
  return {
    onMessage(msg: Message): boolean {
      if (msg.type === 'SYNC_REQUEST') {
        if (!stopped) responder.onRequest(msg.body);
        return true;
      }
      if (msg.type === 'SYNC_RESPONSE') {
        current?.onResponse(msg.body);
        return true;
      }
      return false;
    },
    async start(o: InitiatorOptions = {}): Promise<SyncStats> {
      if (stopped) throw stopped;
      if (!store) throw P2pcatError.usage('sync needs a log (--no-log keeps none)');
      if (current && !current.failed) throw P2pcatError.usage('a sync is already running on this session');
      const init = new SyncInitiator(channel, store, {
        ...o,
        syncId: nextId++,
        onRecords: (r) => {
          opts.onRecords?.(r, 'pulled');
          return o.onRecords?.(r);
        },
        onWarning: (e) => {
          o.onWarning?.(e);
          opts.onWarning?.(e);
        },
      });
      current = init;
      last = init.stats;
      try {
        const s = await init.run();
        opts.onDone?.(s, undefined);
        return s;
      } catch (e) {
        if (e instanceof P2pcatError) opts.onDone?.(init.stats, e);
        throw e;
      } finally {
        if (current === init) current = undefined;
      }
    },
    stop(err?: P2pcatError): void {
      stopped ??= err ?? P2pcatError.unavailable('the session ended');
      current?.fail(stopped);
      responder.close();
    },
    get stats(): SyncStats {
      return current?.stats ?? last;
    },
  };
}
