// The set of sessions one p2pcat process holds, and what flows between them:
// every CHAT is checked (shape, msg_id, uuid, signature, room), deduplicated
// by msg_id, handed to the local user once, and relayed to every other
// session. With `listen` that makes a hub; when several peers dial each
// other, dedupe keeps relays from looping. (The mesh issue replaces relaying
// to everyone with bounded-degree gossip.)
import { EventEmitter } from 'node:events';
import { P2pcatError } from '../errors.js';
import { SEEN_IDS_MAX } from '../limits.js';
import { checkChat, type ChatRecord } from '../chat/record.js';
import type { Session, PeerInfo, SessionEnd } from '../transport/session.js';
import { SeenSet } from './seen.js';

export interface HubEvents {
  chat: (rec: ChatRecord, from: PeerInfo) => void;
  'peer-up': (peer: PeerInfo) => void;
  'peer-down': (peer: PeerInfo | undefined, end: SessionEnd, session: Session) => void;
  rejected: (err: P2pcatError, from: PeerInfo) => void;
}

export declare interface Hub {
  on<E extends keyof HubEvents>(event: E, fn: HubEvents[E]): this;
  emit<E extends keyof HubEvents>(event: E, ...args: Parameters<HubEvents[E]>): boolean;
}

export class Hub extends EventEmitter {
  readonly room: string;
  readonly sessions = new Set<Session>();
  readonly seen = new SeenSet(SEEN_IDS_MAX);
  /** Messages dropped because they failed a check, by reason. */
  readonly rejectedCount = new Map<string, number>();
  #paused = false;

  constructor(room: string) {
    super();
    this.room = room;
  }

  /** Peers whose handshake is complete. */
  get peers(): PeerInfo[] {
    return [...this.sessions].filter((s) => s.isUp).map((s) => s.peer!);
  }

  add(session: Session): void {
    this.sessions.add(session);
    if (this.#paused) session.pause();
    session.on('up', (peer) => this.emit('peer-up', peer));
    session.on('message', (m) => {
      if (m.type === 'CHAT') this.#onChat(m.body, session);
      // PING/PONG, ACK, SYNC and PEERS belong to later layers; unknown-but-valid types are ignored.
    });
    session.on('end', (end) => {
      this.sessions.delete(session);
      this.emit('peer-down', session.peer, end, session);
    });
  }

  /** A message written here: remember it and send it to every peer. */
  publish(rec: ChatRecord): void {
    this.seen.add(rec.msg_id);
    this.#broadcast(rec, undefined);
  }

  /** Stop reading from every peer (our reader is slow), or start again. */
  setPaused(paused: boolean): void {
    if (paused === this.#paused) return;
    this.#paused = paused;
    for (const s of this.sessions) (paused ? s.pause() : s.resume());
  }

  /** Bytes waiting in the slowest peer's socket. */
  maxWritableLength(): number {
    let m = 0;
    for (const s of this.sessions) m = Math.max(m, s.writableLength);
    return m;
  }

  closeAll(reason = 'bye'): void {
    for (const s of this.sessions) s.close(reason);
  }

  #onChat(body: Record<string, unknown>, from: Session): void {
    const peer = from.peer!;
    const check = checkChat(body, { room: this.room, now: Date.now() });
    if (!check.ok) {
      this.rejectedCount.set(check.reason, (this.rejectedCount.get(check.reason) ?? 0) + 1);
      this.emit('rejected', P2pcatError.badMessage(`dropped a message from ${peer.username} (${peer.addr}): ${check.reason}`), peer);
      return;
    }
    if (!this.seen.add(check.record.msg_id)) return;
    this.emit('chat', check.record, peer);
    this.#broadcast(check.record, from);
  }

  #broadcast(rec: ChatRecord, except: Session | undefined): void {
    const { type: _type, ...body } = rec;
    for (const s of this.sessions) if (s !== except && s.isUp) s.send('CHAT', body);
  }
}
