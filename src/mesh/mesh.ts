// The mesh driver (docs/mesh.md): the sessions one p2pcat process holds and
// everything that flows between them. It runs the sans-I/O parts — the gossip
// core (./gossip.ts), the peer book (./book.ts), rate limiters
// (./ratelimit.ts), DM sealing (./dm.ts), signed presence and ACKs
// (./signed.ts) — over real sessions and one heartbeat timer:
//
//   sessions   accept (refusing: ourselves, a wrong pinned key, keys not in
//              --allow, too many incoming), one session per member (a
//              duplicate is closed silently), keep-alive PING/PONG, a silent
//              neighbour is dropped after --peer-timeout.
//   dialling   keep --neighbours outgoing sessions by dialling members learned
//              from PEERS (within the dial policy); targets the user gave are
//              redialled with jittered exponential backoff when cut.
//   messages   CHAT and DM by gossip (eager push + IHAVE/IWANT), ACKs back
//              along the path the message came (reverse-path routing), PEERS
//              (signed presence statements) to learn members and addresses.
//   bad input  every message costs a token of the sender's bucket; a flooder
//              is paused, not served first. Bad messages are dropped, counted
//              and reported (a bounded number of warnings per minute).
import { EventEmitter } from 'node:events';
import { P2pcatError } from '../errors.js';
import {
  GOSSIP_IHAVE_INTERVAL_MS,
  GOSSIP_MAX_AGE_MS,
  GOSSIP_TTL_DEFAULT,
  GOSSIP_TTL_MAX,
  MESH_DIALS_IN_FLIGHT_MAX,
  MESH_HEARTBEAT_MS,
  MESH_MAX_INBOUND,
  MEMBERS_MAX,
  PEERS_MAX_ENTRIES,
  PEER_MSGS_BURST,
  PEER_WARNINGS_PER_MIN,
  PING_INTERVAL_MS,
  PRESENCE_INTERVAL_MS,
  SEEN_IDS_MAX,
} from '../limits.js';
import { checkChat, type ChatRecord } from '../chat/record.js';
import type { Room } from '../crypto/room.js';
import type { Signer } from '../crypto/ed25519.js';
import { Session, type PeerInfo, type SessionEnd, type SessionStream } from '../transport/session.js';
import type { Message, MsgName } from '../wire/messages.js';
import { toHex } from '../util.js';
import { dialRefusal, formatHostPort, parseHint, splitAddr, type DialPolicy, type HostPort } from './addr.js';
import { PeerBook, backoffMs, presenceIntervalMs, type MemberEvent } from './book.js';
import { checkEnvelope, openDm, sealDm, type DmRecord } from './dm.js';
import { Gossip, gossipConfig, type GossipItem, type Out } from './gossip.js';
import { TokenBucket } from './ratelimit.js';
import { SeenSet } from './seen.js';
import { ackShape, checkAck, checkPresence, signAck, signPresence, type Presence } from './signed.js';

/**
 * Something that rides on every neighbour session (log sync, src/sync/attach.ts):
 * it sees each message first and keeps the ones it handles.
 */
export interface MeshExtension {
  /** True when the message was its own (e.g. SYNC_REQUEST, SYNC_RESPONSE). */
  onMessage(m: Message): boolean;
  /** The session was accepted as a neighbour. */
  up?(peer: PeerInfo): void;
  end?(): void;
}

/** One way to reach a peer (structurally the same as chat.ts's Dialer). */
export interface MeshDialer {
  text: string;
  dial(): Promise<{ stream: SessionStream; addr?: string; direction?: 'in' | 'out' }>;
}

export interface MeshOptions {
  room: Room;
  signer: Signer;
  /** Our identity seed, to open DMs sealed to us. */
  seed: Uint8Array;
  username: () => string;
  handshakeTimeoutMs: number;
  peerTimeoutMs: number;
  /** Outgoing neighbours to keep (learned members are dialled up to this). */
  neighbours: number;
  /** Eager push degree (0: flood to every neighbour). */
  pushDegree: number;
  /** Messages per second one neighbour may send (0: no limit). */
  peerRate: number;
  policy: DialPolicy;
  allow?: Set<string> | undefined;
  /** Trust on first use: called for each (username|address, key) seen. */
  known?: ((kind: 'name' | 'addr', id: string, key: string) => void) | undefined;
  /** Is this msg_id already in the log? (dedupe across restarts) */
  isLogged?: ((id: string) => boolean) | undefined;
  /** A TCP dialer for a learned address. */
  tcpDialer: (host: string, port: number) => MeshDialer;
  /** Attach an extension to each neighbour session (log sync). */
  extend?: ((s: Session) => MeshExtension | undefined) | undefined;
  random?: () => number;
}

export interface AckEvent {
  /** The acknowledged message id (a CHAT's msg_id; a DM's msg_id inside the seal). */
  msg_id: string;
  by: string;
  username: string;
  dm: boolean;
}

export interface MemberInfo {
  key: string;
  username: string;
  neighbour: boolean;
}

export interface NeighbourInfo extends PeerInfo {
  rttMs: number | undefined;
  eager: boolean;
}

export interface MeshStats {
  neighbours: number;
  members: number;
  sent: { messages: number; bytes: number; byType: Record<string, { messages: number; bytes: number }> };
  received: { messages: number; bytes: number };
  delivered: number;
  duplicates: number;
  pushed: number;
  served: number;
  ihave_ids: number;
  iwant_ids: number;
  acks_received: number;
  rate_limited: number;
  rejected: Record<string, number>;
}

interface Neighbour {
  session: Session;
  peer: PeerInfo;
  bucket: TokenBucket;
  ratePaused: boolean;
  lastPingAt: number;
  ping: { n: number; at: number } | undefined;
  rttMs: number | undefined;
  warnWindow: number;
  warnCount: number;
  teller: string | undefined;
  /** It has sent its first PEERS (what it knows of the room). */
  informed: boolean;
  ext: MeshExtension | undefined;
}

interface Target {
  dialer: MeshDialer;
  expectedKey: string | undefined;
  key: string | undefined;
  failures: number;
  timer: NodeJS.Timeout | undefined;
  self: boolean;
}

interface Pending {
  /** Set when the session came from a user target. */
  target?: Target;
  /** Set when we dialled a learned member. */
  learned?: { key: string; at: HostPort };
  expectedKey?: string | undefined;
  /** Resolves the dial promise once accepted or ended. */
  settle?: (r: Session | P2pcatError) => void;
}

export declare interface Mesh {
  on(event: 'chat', fn: (rec: ChatRecord, from: PeerInfo) => void): this;
  on(event: 'dm', fn: (rec: DmRecord, from: PeerInfo) => void): this;
  on(event: 'ack', fn: (ack: AckEvent) => void): this;
  on(event: 'peer-up', fn: (peer: PeerInfo) => void): this;
  on(event: 'peer-down', fn: (peer: PeerInfo | undefined, end: SessionEnd, session: Session) => void): this;
  on(event: 'member-up', fn: (m: { key: string; name: string }) => void): this;
  on(event: 'member-down', fn: (m: { key: string; name: string; reason: string }) => void): this;
  on(event: 'rejected', fn: (err: P2pcatError, from: PeerInfo | undefined) => void): this;
  on(event: 'warn', fn: (err: P2pcatError, extra?: Record<string, unknown>) => void): this;
  on(event: 'dial-settled', fn: () => void): this;
  on(event: 'informed', fn: () => void): this;
}

const ID_RE = /^[0-9a-f]{64}$/;

function parseTtl(v: unknown): number | undefined {
  if (v === undefined) return GOSSIP_TTL_DEFAULT;
  if (!Number.isInteger(v) || (v as number) < 0) return undefined;
  return Math.min(v as number, GOSSIP_TTL_MAX);
}

export class Mesh extends EventEmitter {
  readonly room: Room;
  readonly selfKey: string;
  /** Every session, handshaking or up. */
  readonly sessions = new Set<Session>();
  readonly book: PeerBook;
  readonly gossip: Gossip<Session>;
  #o: MeshOptions;
  #random: () => number;
  #neighbours = new Map<Session, Neighbour>();
  #byKey = new Map<string, Session>();
  #pending = new Map<Session, Pending>();
  /** Sessions closed on purpose without a PEER_DOWN (duplicates, ourselves). */
  #quiet = new WeakSet<Session>();
  /** Sessions we refused (allow list, pinned key, full). */
  #refused = new WeakSet<Session>();
  #targets: Target[] = [];
  #dialing = new Map<string, number>();
  #dialsInFlight = 0;
  #listenPort: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lazyTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #uiPaused = false;
  #own = new Map<string, { msg_id: string; dm: boolean }>();
  #acksSeen = new SeenSet(SEEN_IDS_MAX);
  #presenceOut: { p: Presence; except: Session | undefined }[] = [];
  #nextPresenceAt = 0;
  #selfAddrs = new Set<string>();
  /** Authors of messages received lately (key → name): a DM can answer one before its presence arrives. */
  #authors = new Map<string, string>();
  #stats: MeshStats;

  constructor(opts: MeshOptions) {
    super();
    this.#o = opts;
    this.room = opts.room;
    this.#random = opts.random ?? Math.random;
    this.selfKey = toHex(opts.signer.publicKey);
    this.book = new PeerBook(this.selfKey, { random: this.#random });
    this.gossip = new Gossip<Session>(gossipConfig(opts.pushDegree), this.#random);
    this.#stats = {
      neighbours: 0,
      members: 0,
      sent: { messages: 0, bytes: 0, byType: {} },
      received: { messages: 0, bytes: 0 },
      delivered: 0,
      duplicates: 0,
      pushed: 0,
      served: 0,
      ihave_ids: 0,
      iwant_ids: 0,
      acks_received: 0,
      rate_limited: 0,
      rejected: {},
    };
  }

  /** Start the heartbeat (keep-alives, gossip, presence, dialling). */
  start(): void {
    if (this.#timer || this.#closed) return;
    this.#nextPresenceAt = Date.now() + this.#jitter(PRESENCE_INTERVAL_MS / 2);
    this.#timer = setInterval(() => this.#heartbeat(), MESH_HEARTBEAT_MS);
    this.#timer.unref();
    this.#lazyTimer = setInterval(() => {
      this.#sendOuts(this.gossip.lazy());
      this.#flushPresence();
    }, GOSSIP_IHAVE_INTERVAL_MS);
    this.#lazyTimer.unref();
  }

  setListenPort(port: number | undefined): void {
    this.#listenPort = port;
  }

  get listenPort(): number | undefined {
    return this.#listenPort;
  }

  get dialsInFlight(): number {
    return this.#dialsInFlight;
  }

  /** Neighbours: sessions that are up and accepted. */
  get peers(): PeerInfo[] {
    return [...this.#neighbours.values()].map((n) => n.peer);
  }

  neighbourInfo(): NeighbourInfo[] {
    return [...this.#neighbours.values()].map((n) => ({ ...n.peer, rttMs: n.rttMs, eager: this.gossip.isEager(n.session) }));
  }

  /** Members present in the room (not us), neighbours first. */
  members(): MemberInfo[] {
    return this.book.present().map((m) => ({ key: m.key, username: m.name, neighbour: m.direct > 0 }));
  }

  stats(): MeshStats {
    const s = this.#stats;
    s.neighbours = this.#neighbours.size;
    s.members = this.book.present().length;
    s.pushed = this.gossip.stats.pushed;
    s.served = this.gossip.stats.served;
    s.ihave_ids = this.gossip.stats.ihaveIds;
    s.iwant_ids = this.gossip.stats.iwantIds;
    s.duplicates = this.gossip.stats.duplicates;
    return structuredClone(s);
  }

  // ------------------------------------------------------------ sessions

  /** Wrap a stream in a session and manage it. */
  addStream(stream: SessionStream, direction: 'in' | 'out', addr?: string, pending: Pending = {}): Session {
    const s = new Session(stream, {
      initiator: direction === 'out',
      room: this.room,
      signer: this.#o.signer,
      username: this.#o.username(),
      handshakeTimeoutMs: this.#o.handshakeTimeoutMs,
      direction,
      ...(addr ? { addr } : {}),
      ...(this.#listenPort !== undefined ? { listenPort: this.#listenPort } : {}),
    });
    this.sessions.add(s);
    this.#pending.set(s, pending);
    if (this.#uiPaused) s.pause();
    s.on('up', (peer) => this.#onUp(s, peer));
    s.on('message', (m) => this.#onMessage(s, m.type, m.body, m.data));
    s.on('end', (end) => this.#onEnd(s, end));
    return s;
  }

  /** Pending handshakes (for the listener's bound). */
  get handshaking(): number {
    let n = 0;
    for (const s of this.sessions) if (!s.peer) n++;
    return n;
  }

  /**
   * Dial a target the user gave (connect TARGET, listen --peer, a join link).
   * Resolves with the session once it is accepted, or the error. A target
   * whose session is later cut is redialled with backoff while we run.
   */
  dialTarget(dialer: MeshDialer, opts: { expectedKey?: string | undefined; redial: boolean }): Promise<Session | P2pcatError> {
    const t: Target = { dialer, expectedKey: opts.expectedKey, key: opts.expectedKey, failures: 0, timer: undefined, self: false };
    if (!opts.redial) t.self = true; // never redialled
    else this.#targets.push(t);
    return this.#dialTargetOnce(t).then((r) => {
      if (r instanceof P2pcatError) this.#scheduleRedial(t, r);
      return r;
    });
  }

  async #dialTargetOnce(t: Target): Promise<Session | P2pcatError> {
    this.#dialsInFlight++;
    try {
      let conn: { stream: SessionStream; addr?: string; direction?: 'in' | 'out' };
      try {
        conn = await t.dialer.dial();
      } catch (e) {
        if (e instanceof P2pcatError) return e;
        throw e;
      }
      if (this.#closed) {
        conn.stream.destroy();
        return P2pcatError.unavailable('shutting down');
      }
      return await new Promise<Session | P2pcatError>((settle) => {
        this.addStream(conn.stream, conn.direction ?? 'out', conn.addr, { target: t, expectedKey: t.expectedKey, settle });
      });
    } finally {
      this.#dialsInFlight--;
      this.emit('dial-settled');
    }
  }

  /** Redial a target the user gave, with jittered exponential backoff (not after AUTH: it would be refused again). */
  #scheduleRedial(t: Target, err?: P2pcatError): void {
    if (this.#closed || t.self || t.timer) return;
    if (err?.code === 'P2PCAT_ERR_AUTH' || err?.code === 'P2PCAT_ERR_VERSION') {
      t.self = true;
      return;
    }
    t.failures++;
    t.timer = setTimeout(() => {
      t.timer = undefined;
      if (this.#closed) return;
      if (t.key && this.#byKey.has(t.key)) return; // reached through another session meanwhile
      void this.#dialTargetOnce(t).then((r) => {
        if (!(r instanceof P2pcatError)) return;
        // Said once, then every tenth try: a peer that stays down does not fill stderr.
        if (t.failures === 1 || t.failures % 10 === 0) this.emit('warn', P2pcatError.unavailable(`redialling ${t.dialer.text} (try ${t.failures}): ${r.message}`));
        this.#scheduleRedial(t, r);
      });
    }, backoffMs(t.failures, this.#random));
    t.timer.unref();
  }

  #dialLearned(c: { key: string; name: string; host: string; port: number }): void {
    const at = { host: c.host, port: c.port };
    this.#dialing.set(c.key, Date.now());
    this.#dialsInFlight++;
    const d = this.#o.tcpDialer(c.host, c.port);
    void d
      .dial()
      .then(
        (conn) =>
          new Promise<Session | P2pcatError>((settle) => {
            if (this.#closed) {
              conn.stream.destroy();
              return settle(P2pcatError.unavailable('shutting down'));
            }
            this.addStream(conn.stream, 'out', conn.addr, { learned: { key: c.key, at }, settle });
          }),
        (e: unknown) => (e instanceof P2pcatError ? e : P2pcatError.unavailable(String(e))),
      )
      .then((r) => {
        this.book.dialed(c.key, at, !(r instanceof P2pcatError), Date.now());
      })
      .finally(() => {
        this.#dialing.delete(c.key);
        this.#dialsInFlight--;
        this.emit('dial-settled');
      });
  }

  #settle(s: Session, r: Session | P2pcatError): void {
    const p = this.#pending.get(s);
    if (p?.settle) {
      const f = p.settle;
      delete p.settle;
      f(r);
    }
  }

  #onUp(s: Session, peer: PeerInfo): void {
    const pend = this.#pending.get(s) ?? {};
    const now = Date.now();
    if (peer.key === this.selfKey) {
      // We dialled ourselves (our own address came back in a PEERS list, or a --peer loop).
      this.#quiet.add(s);
      if (pend.target) pend.target.self = true;
      if (pend.learned) this.book.dropAddr(pend.learned.key, pend.learned.at);
      if (s.direction === 'out') this.#selfAddrs.add(s.addr);
      s.close('self');
      this.#settle(s, P2pcatError.usage(`${s.addr} is this peer itself`));
      return;
    }
    if (pend.expectedKey !== undefined && pend.expectedKey !== peer.key) {
      const err = P2pcatError.auth(`${s.addr} presented key ${peer.fingerprint} (${peer.username}), not the pinned one: refused`);
      this.#refused.add(s);
      s.refuse(err);
      this.#settle(s, err);
      return;
    }
    if (this.#o.allow && !this.#o.allow.has(peer.key)) {
      const err = P2pcatError.auth(`${peer.username} (${peer.fingerprint}) is not in the --allow list`);
      this.#refused.add(s);
      s.refuse(err);
      this.emit('warn', P2pcatError.auth(`refused ${s.addr}: ${err.message}`), { peer: peer.key, addr: s.addr });
      this.#settle(s, err);
      return;
    }
    const existing = this.#byKey.get(peer.key);
    if (existing) {
      // One session per member: keep the one dialled by the smaller key, the older one when that ties.
      const initiatorOf = (x: Session) => (x.direction === 'out' ? this.selfKey : peer.key);
      const keepNew = initiatorOf(s) !== initiatorOf(existing) && initiatorOf(s) < initiatorOf(existing);
      const loser = keepNew ? existing : s;
      const winner = keepNew ? s : existing;
      this.#quiet.add(loser);
      if (keepNew) {
        const n = this.#neighbours.get(existing)!;
        this.#neighbours.delete(existing);
        this.gossip.removePeer(existing);
        n.session = s;
        n.peer = { ...peer, addr: s.addr, direction: s.direction };
        n.ext?.end?.();
        n.ext = this.#o.extend?.(s);
        n.ext?.up?.(n.peer);
        this.#neighbours.set(s, n);
        this.#byKey.set(peer.key, s);
        this.gossip.addPeer(s);
      }
      loser.close('duplicate');
      this.#settle(s, winner);
      return;
    }
    const inbound = [...this.#neighbours.values()].filter((n) => n.session.direction === 'in').length;
    if (s.direction === 'in' && inbound >= MESH_MAX_INBOUND) {
      this.#sendPeers(s, this.#snapshot());
      const err = P2pcatError.limit(`this peer has ${inbound} incoming neighbours already; dial one of the members it listed`);
      this.#refused.add(s);
      s.refuse(err);
      this.emit('warn', P2pcatError.limit(`refused ${peer.username} (${s.addr}): ${inbound} incoming neighbours already`), { peer: peer.key, addr: s.addr });
      return;
    }
    const hp = splitAddr(s.addr);
    const n: Neighbour = {
      session: s,
      peer,
      bucket: new TokenBucket(this.#o.peerRate, Math.max(PEER_MSGS_BURST, this.#o.peerRate), now),
      ratePaused: false,
      lastPingAt: now,
      ping: undefined,
      rttMs: undefined,
      warnWindow: now,
      warnCount: 0,
      teller: hp?.host,
      informed: false,
      ext: undefined,
    };
    this.#neighbours.set(s, n);
    this.#byKey.set(peer.key, s);
    this.gossip.addPeer(s);
    if (pend.target) {
      pend.target.key = peer.key;
      pend.target.failures = 0;
    }
    // Where others may dial it: where we did, or its IP and the port it listens on.
    const at = hp ? (s.direction === 'out' ? hp : peer.listenPort !== undefined ? { host: hp.host, port: peer.listenPort } : undefined) : undefined;
    const dialable = at && !('refused' in parseHint(formatHostPort(at.host, at.port))) ? at : undefined;
    this.emit('peer-up', peer);
    n.ext = this.#o.extend?.(s);
    n.ext?.up?.(peer);
    this.#memberEvents(this.book.sessionUp(peer.key, peer.username, dialable, now));
    this.#o.known?.('name', peer.username, peer.key);
    if (pend.target && s.direction === 'out') this.#o.known?.('addr', pend.target.dialer.text, peer.key);
    this.#sendPeers(s, this.#snapshot());
    this.#settle(s, s);
  }

  #onEnd(s: Session, end: SessionEnd): void {
    this.sessions.delete(s);
    const pend = this.#pending.get(s);
    this.#pending.delete(s);
    const n = this.#neighbours.get(s);
    if (pend?.settle) {
      const f = pend.settle;
      delete pend.settle;
      f(end.error ?? P2pcatError.protocol(`${s.addr} closed during the handshake`));
    }
    if (end.error?.code === 'P2PCAT_ERR_LIMIT' && !this.#closed) this.#dialMore(Date.now()); // it was full: try the members it listed, now
    if (n) {
      n.ext?.end?.();
      this.#neighbours.delete(s);
      this.#byKey.delete(n.peer.key);
      this.gossip.removePeer(s);
      // A BYE "duplicate" closes one of two sessions to the same member: it has not left.
      const left = end.clean && end.byeReason !== 'duplicate';
      const evs = this.book.sessionDown(n.peer.key, left, Date.now());
      this.emit('peer-down', n.peer, end, s);
      this.#memberEvents(evs);
    } else if (this.#quiet.has(s)) {
      // A duplicate or ourselves: nothing to report.
    } else if (this.#refused.has(s)) {
      // Reported when we refused it.
    } else {
      this.emit('peer-down', s.peer, end, s);
    }
    if (pend?.target && !this.#quiet.has(s) && !this.#closed) {
      const t = pend.target;
      if (!(t.key && this.#byKey.has(t.key))) this.#scheduleRedial(t);
    }
    this.emit('dial-settled');
  }

  // ------------------------------------------------------------ messages

  #send(s: Session, type: MsgName, body: Record<string, unknown>): void {
    const before = s.bytesOut;
    if (!s.send(type, body)) {
      if (!s.isUp) return;
    }
    const bytes = s.bytesOut - before;
    const st = this.#stats.sent;
    st.messages++;
    st.bytes += bytes;
    const t = (st.byType[type] ??= { messages: 0, bytes: 0 });
    t.messages++;
    t.bytes += bytes;
  }

  #sendOuts(outs: Out<Session>[]): void {
    for (const o of outs) this.#send(o.to, o.type, o.body);
  }

  #reject(n: Neighbour | undefined, reason: string): void {
    this.#stats.rejected[reason] = (this.#stats.rejected[reason] ?? 0) + 1;
    if (!n) return;
    if (!this.#mayWarn(n)) return;
    this.emit('rejected', P2pcatError.badMessage(`dropped a message from ${n.peer.username} (${n.peer.addr}): ${reason}`), n.peer);
  }

  #mayWarn(n: Neighbour): boolean {
    const now = Date.now();
    if (now - n.warnWindow > 60_000) {
      n.warnWindow = now;
      n.warnCount = 0;
    }
    return ++n.warnCount <= PEER_WARNINGS_PER_MIN;
  }

  #onMessage(s: Session, type: MsgName, body: Record<string, unknown>, data?: Buffer): void {
    let n = this.#neighbours.get(s);
    // A duplicate session being closed: what the member sent on it before it knew still counts, as if sent on the one kept.
    if (!n && this.#quiet.has(s) && s.peer) {
      const kept = this.#byKey.get(s.peer.key);
      n = kept ? this.#neighbours.get(kept) : undefined;
    }
    if (!n) return; // refused, or gone: ignore what it still sends
    this.#stats.received.messages++;
    this.#rate(n);
    if (n.ext?.onMessage(data ? { type, body, data } : { type, body })) return;
    switch (type) {
      case 'CHAT':
        return this.#onChat(n, body);
      case 'DM':
        return this.#onDm(n, body);
      case 'ACK':
        return this.#onAck(n, body);
      case 'PEERS':
        return this.#onPeers(n, body);
      case 'IHAVE':
      case 'IWANT':
        return this.#onIds(n, type, body);
      case 'PING':
        this.#send(s, 'PONG', { n: Number.isSafeInteger(body.n) ? body.n : 0 });
        return;
      case 'PONG':
        if (n.ping && body.n === n.ping.n) {
          n.rttMs = Date.now() - n.ping.at;
          n.ping = undefined;
        }
        return;
      default:
        // SYNC_* and types of later versions: not ours to handle; ignored.
        return;
    }
  }

  #rate(n: Neighbour): void {
    const wait = n.bucket.take(1, Date.now());
    if (wait === 0 || n.ratePaused) return;
    n.ratePaused = true;
    this.#stats.rate_limited++;
    n.session.pause();
    if (this.#mayWarn(n)) {
      this.emit('warn', P2pcatError.limit(`${n.peer.username} (${n.peer.addr}) sends more than ${this.#o.peerRate} messages/s; reading it more slowly`), { peer: n.peer.key, addr: n.peer.addr });
    }
    const resume = () => {
      if (!this.#neighbours.has(n.session)) return;
      const left = n.bucket.take(0, Date.now());
      if (left > 0) {
        setTimeout(resume, left).unref();
        return;
      }
      n.ratePaused = false;
      if (!this.#uiPaused) n.session.resume();
    };
    setTimeout(resume, wait).unref();
  }

  #onChat(n: Neighbour, body: Record<string, unknown>): void {
    const id = body.msg_id;
    if (typeof id !== 'string' || !ID_RE.test(id)) return this.#reject(n, 'field msg_id missing or malformed');
    const ttl = parseTtl(body.ttl);
    if (ttl === undefined) return this.#reject(n, 'bad ttl');
    if (this.#seenBefore(n, id)) return;
    const now = Date.now();
    const check = checkChat(body, { room: this.room.name, now });
    if (!check.ok) return this.#reject(n, check.reason);
    if (Date.parse(check.record.timestamp) < now - GOSSIP_MAX_AGE_MS) return this.#reject(n, 'older than 24 h (a replay? history travels by sync)');
    const { type: _t, ...rec } = check.record;
    const item: GossipItem = { id, kind: 'CHAT', body: body.ack === true ? { ...rec, ack: true } : rec };
    this.#sendOuts(this.gossip.accept(n.session, item, ttl, now));
    this.#stats.delivered++;
    this.#noteAuthor(check.record.from, check.record.username);
    this.emit('chat', check.record, n.peer);
    if (body.ack === true) this.#send(n.session, 'ACK', { ...signAck(this.#o.signer, this.room.name, id, this.#o.username()), ttl: GOSSIP_TTL_DEFAULT });
  }

  #seenBefore(n: Neighbour, id: string): boolean {
    if (this.gossip.known(id)) {
      this.gossip.duplicate(n.session, id);
      return true;
    }
    if (this.#o.isLogged?.(id)) {
      this.gossip.markSeen(id);
      this.gossip.duplicate(n.session, id);
      return true;
    }
    return false;
  }

  #onDm(n: Neighbour, body: Record<string, unknown>): void {
    const ttl = parseTtl(body.ttl);
    if (ttl === undefined) return this.#reject(n, 'bad ttl');
    const env = checkEnvelope(body);
    if (!env.ok) return this.#reject(n, env.reason);
    const id = env.envelope.id;
    if (this.#seenBefore(n, id)) return;
    const ack = body.ack === true;
    if (env.envelope.to === this.selfKey) {
      const r = openDm(this.#o.seed, this.selfKey, this.room.name, body);
      this.gossip.markSeen(id);
      if (!r.ok) return this.#reject(n, r.reason);
      this.#stats.delivered++;
      this.#noteAuthor(r.record.from, r.record.username);
      this.emit('dm', r.record, n.peer);
      if (ack) this.#send(n.session, 'ACK', { ...signAck(this.#o.signer, this.room.name, id, this.#o.username()), ttl: GOSSIP_TTL_DEFAULT });
      return;
    }
    const direct = this.#byKey.get(env.envelope.to);
    const item: GossipItem = { id, kind: 'DM', body: ack ? { ...env.envelope, ack: true } : { ...env.envelope } };
    this.#sendOuts(this.gossip.accept(n.session, item, ttl, Date.now(), direct ? [direct] : undefined));
  }

  #onAck(n: Neighbour, body: Record<string, unknown>): void {
    const shape = ackShape(body);
    if (!shape.ok) return this.#reject(n, shape.reason);
    const ttl = parseTtl(body.ttl);
    if (ttl === undefined) return this.#reject(n, 'bad ttl');
    const a = shape.value;
    if (!this.#acksSeen.add(`${a.id}/${a.by}`)) return;
    const own = this.#own.get(a.id);
    if (own) {
      const c = checkAck(body, this.room.name);
      if (!c.ok) return this.#reject(n, c.reason);
      this.#stats.acks_received++;
      this.emit('ack', { msg_id: own.msg_id, by: a.by, username: a.name, dm: own.dm });
      return;
    }
    if (ttl <= 1) return;
    const fwd = { id: a.id, by: a.by, name: a.name, sig: a.sig, ttl: ttl - 1 };
    // Reverse path: towards the neighbour the message came from.
    const origin = this.gossip.origin(a.id);
    if (origin?.from && origin.from !== n.session && this.#neighbours.has(origin.from)) return this.#send(origin.from, 'ACK', fwd);
    if (origin && origin.from === undefined) return; // ours but forgotten: nowhere to go
    // Route lost: flood it to the eager set, but only a verified one (no amplification of forgeries).
    if (!checkAck(body, this.room.name).ok) return this.#reject(n, 'ACK has a bad signature');
    for (const m of this.#neighbours.values()) if (m.session !== n.session && this.gossip.isEager(m.session)) this.#send(m.session, 'ACK', fwd);
  }

  #onIds(n: Neighbour, type: 'IHAVE' | 'IWANT', body: Record<string, unknown>): void {
    const ids = body.ids;
    if (!Array.isArray(ids)) return this.#reject(n, `${type} without an ids list`);
    const max = type === 'IHAVE' ? this.gossip.cfg.ihaveMaxIds : this.gossip.cfg.iwantMaxIds;
    if (ids.length > max) this.#reject(n, `${type} with more than ${max} ids (the rest ignored)`);
    const list: string[] = [];
    for (const id of ids.slice(0, max)) {
      if (typeof id !== 'string' || !ID_RE.test(id)) return this.#reject(n, `${type} with a malformed id`);
      list.push(id);
    }
    if (type === 'IWANT') return this.#sendOuts(this.gossip.onIWant(n.session, list));
    const fresh = list.filter((id) => !(this.#o.isLogged?.(id) && (this.gossip.markSeen(id), true)));
    this.#sendOuts(this.gossip.onIHave(n.session, fresh, Date.now()));
  }

  #onPeers(n: Neighbour, body: Record<string, unknown>): void {
    if (!n.informed) {
      n.informed = true;
      this.emit('informed');
    }
    const list = body.peers;
    if (!Array.isArray(list)) return this.#reject(n, 'PEERS without a peers list');
    if (list.length > PEERS_MAX_ENTRIES) {
      this.#stats.rejected['PEERS entries over the limit'] = (this.#stats.rejected['PEERS entries over the limit'] ?? 0) + list.length - PEERS_MAX_ENTRIES;
      this.#reject(n, `PEERS with ${list.length} entries: only the first ${PEERS_MAX_ENTRIES} are read`);
    }
    const now = Date.now();
    for (const e of list.slice(0, PEERS_MAX_ENTRIES)) {
      // Already known (same or newer statement from that key): nothing to verify or pass on.
      const ek = (e as Record<string, unknown> | null)?.key;
      const ets = (e as Record<string, unknown> | null)?.ts;
      const have = typeof ek === 'string' ? this.book.get(ek)?.statement?.ts : undefined;
      if (have !== undefined && typeof ets === 'number' && ets <= have) continue;
      const c = checkPresence(e, { room: this.room.name, now });
      if (!c.ok) {
        this.#reject(n, c.reason);
        continue;
      }
      if (this.#o.allow && !this.#o.allow.has(c.value.key) && c.value.key !== this.selfKey) {
        this.#reject(n, 'presence of a key not in the --allow list');
        continue;
      }
      let hint: HostPort | undefined;
      const raw = (e as Record<string, unknown>).addr;
      if (raw !== undefined) {
        const h = parseHint(raw);
        if ('refused' in h) this.#reject(n, `address hint refused: ${h.refused}`);
        else {
          const why = dialRefusal(this.#o.policy, h, n.teller);
          if (why === undefined || this.#o.policy.kind === 'none') hint = { host: h.host, port: h.port };
          else this.#reject(n, `address hint outside the dial policy: ${why}`);
        }
      }
      const r = this.book.presence(c.value, hint, n.teller, now);
      this.#memberEvents(r.events);
      if (r.fresh) {
        if (r.events.some((ev) => ev.type === 'up')) this.#o.known?.('name', c.value.name, c.value.key);
        this.#presenceOut.push({ p: c.value, except: n.session });
      }
    }
  }

  #memberEvents(evs: MemberEvent[]): void {
    for (const e of evs) {
      if (e.type === 'up') this.emit('member-up', { key: e.key, name: e.name });
      else this.emit('member-down', { key: e.key, name: e.name, reason: e.reason ?? 'timeout' });
    }
  }

  #presenceEntry(p: Presence): Record<string, unknown> {
    const hint = p.key === this.selfKey ? undefined : this.book.hintFor(p.key);
    return hint ? { ...p, addr: hint } : { ...p };
  }

  #ownPresence(state: 'up' | 'bye'): Presence {
    return signPresence(this.#o.signer, this.room.name, { name: this.#o.username(), port: this.#listenPort, ts: Date.now(), state });
  }

  #snapshot(): Presence[] {
    return [this.#ownPresence('up'), ...this.book.statements(MEMBERS_MAX)];
  }

  #sendPeers(s: Session, list: Presence[]): void {
    for (let i = 0; i < list.length; i += PEERS_MAX_ENTRIES) {
      this.#send(s, 'PEERS', { peers: list.slice(i, i + PEERS_MAX_ENTRIES).map((p) => this.#presenceEntry(p)) });
    }
  }

  // ------------------------------------------------------------ local actions

  /** Our own CHAT: to every neighbour; recipients acknowledge it. */
  publish(rec: ChatRecord): void {
    const { type: _t, ...body } = rec;
    this.#own.set(rec.msg_id, { msg_id: rec.msg_id, dm: false });
    this.#trimOwn();
    this.#sendOuts(this.gossip.publish({ id: rec.msg_id, kind: 'CHAT', body: { ...body, ack: true } }, GOSSIP_TTL_DEFAULT, Date.now()));
  }

  /** Relay a signed record from stdin (someone else's) as if it had just arrived: no ACK requested. */
  relay(rec: ChatRecord): void {
    const { type: _t, ...body } = rec;
    this.#sendOuts(this.gossip.publish({ id: rec.msg_id, kind: 'CHAT', body }, GOSSIP_TTL_DEFAULT, Date.now()));
  }

  /**
   * Resolves once every neighbour has told us what it knows of the room (its
   * first PEERS), or after timeoutMs: how `--wait-ack` learns who is present.
   */
  whenInformed(timeoutMs: number): Promise<void> {
    const all = () => [...this.#neighbours.values()].every((n) => n.informed);
    if (all()) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.off('informed', check);
        resolve();
      };
      const check = () => {
        if (all()) done();
      };
      const t = setTimeout(done, timeoutMs);
      this.on('informed', check);
    });
  }

  /** Mark a msg_id seen (a record that came by sync): gossip will not deliver it again. */
  markSeen(id: string): void {
    this.gossip.markSeen(id);
  }

  /** Has this msg_id been seen (here or in the log)? */
  seen(id: string): boolean {
    return this.gossip.known(id) || this.#o.isLogged?.(id) === true;
  }

  /**
   * Find a member by key (64 hex), key prefix (at least 8 hex digits) or
   * username. Errors: unknown, or a name several members share.
   */
  resolve(who: string): { key: string; name: string } | P2pcatError {
    const present: { key: string; name: string }[] = this.book.present();
    for (const [key, name] of this.#authors) if (!present.some((m) => m.key === key)) present.push({ key, name });
    if (/^[0-9a-f]{8,64}$/.test(who)) {
      const hits = present.filter((m) => m.key.startsWith(who));
      if (hits.length === 1) return { key: hits[0]!.key, name: hits[0]!.name };
      if (who.length === 64) return { key: who, name: who.slice(0, 8) };
    }
    const named = present.filter((m) => m.name === who);
    if (named.length === 1) return { key: named[0]!.key, name: named[0]!.name };
    if (named.length > 1) return P2pcatError.badInput(`${named.length} members are called ${JSON.stringify(who)}: use a key (${named.map((m) => m.key.slice(0, 12)).join(', ')})`);
    return P2pcatError.badInput(`no member called ${JSON.stringify(who)} is in the room (see /who)`);
  }

  /** Seal and send a DM; routed to the recipient through the mesh. */
  sendDm(to: string, message: string, username: string): DmRecord | P2pcatError {
    const who = this.resolve(to);
    if (who instanceof P2pcatError) return who;
    if (who.key === this.selfKey) return P2pcatError.badInput('that is you');
    let sealed;
    try {
      sealed = sealDm(this.#o.signer, { room: this.room.name, username, message, to: who.key, now: new Date() });
    } catch (e) {
      return P2pcatError.badInput(`cannot send this direct message: ${(e as Error).message}`);
    }
    this.#own.set(sealed.envelope.id, { msg_id: sealed.record.msg_id, dm: true });
    this.#trimOwn();
    const direct = this.#byKey.get(who.key);
    const item: GossipItem = { id: sealed.envelope.id, kind: 'DM', body: { ...sealed.envelope, ack: true } };
    this.#sendOuts(this.gossip.publish(item, GOSSIP_TTL_DEFAULT, Date.now(), direct ? [direct] : undefined));
    return sealed.record;
  }

  #noteAuthor(key: string, name: string): void {
    this.#authors.delete(key);
    this.#authors.set(key, name);
    if (this.#authors.size > 256) this.#authors.delete(this.#authors.keys().next().value as string);
  }

  #trimOwn(): void {
    while (this.#own.size > this.gossip.cfg.cacheMax) this.#own.delete(this.#own.keys().next().value as string);
  }

  // ------------------------------------------------------------ flow control, shutdown

  /** Stop reading from every neighbour (our stdout is slow), or start again. */
  setPaused(paused: boolean): void {
    if (paused === this.#uiPaused) return;
    this.#uiPaused = paused;
    for (const s of this.sessions) {
      const n = this.#neighbours.get(s);
      if (paused) s.pause();
      else if (!n?.ratePaused) s.resume();
    }
  }

  maxWritableLength(): number {
    let m = 0;
    for (const s of this.sessions) m = Math.max(m, s.writableLength);
    return m;
  }

  /** Say goodbye: a "bye" presence, then BYE on every session. */
  close(reason = 'bye'): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#lazyTimer) clearInterval(this.#lazyTimer);
    for (const t of this.#targets) if (t.timer) clearTimeout(t.timer);
    const bye = this.#neighbours.size > 0 ? this.#ownPresence('bye') : undefined;
    for (const n of this.#neighbours.values()) if (bye) this.#send(n.session, 'PEERS', { peers: [bye] });
    for (const s of this.sessions) s.close(reason);
  }

  // ------------------------------------------------------------ heartbeat

  #jitter(ms: number): number {
    return Math.round(ms * (0.8 + 0.4 * this.#random()));
  }

  #heartbeat(): void {
    if (this.#closed) return;
    const now = Date.now();
    this.#sendOuts(this.gossip.heartbeat(now));
    // Liveness.
    const pingEvery = Math.min(PING_INTERVAL_MS, Math.max(200, Math.floor(this.#o.peerTimeoutMs / 3)));
    for (const n of [...this.#neighbours.values()]) {
      const silent = now - n.session.lastReceiveAt;
      if (silent > this.#o.peerTimeoutMs && !n.ratePaused && !this.#uiPaused) {
        n.session.destroy(P2pcatError.timeout(`${n.peer.username} (${n.peer.addr}) was silent for ${Math.round(silent / 1000)} s`));
        continue;
      }
      if (now - n.lastPingAt >= pingEvery) {
        n.lastPingAt = now;
        const seq = Math.floor(this.#random() * 2 ** 31);
        n.ping = { n: seq, at: now };
        this.#send(n.session, 'PING', { n: seq });
      }
    }
    // Presence: ours now and then, others' as they come.
    if (now >= this.#nextPresenceAt) {
      this.#nextPresenceAt = now + this.#jitter(presenceIntervalMs(this.book.size));
      const own = this.#ownPresence('up');
      for (const n of this.#neighbours.values()) this.#sendPeers(n.session, [own]);
    }
    this.#flushPresence();
    this.#memberEvents(this.book.expire(now));
    this.#dialMore(now);
  }

  /** Pass on fresh presence statements: to every neighbour but the one it came from, once per statement. */
  #flushPresence(): void {
    if (this.#presenceOut.length === 0) return;
    const out = this.#presenceOut.splice(0);
    for (const n of this.#neighbours.values()) {
      const list = out.filter((x) => x.except !== n.session).map((x) => x.p);
      if (list.length) this.#sendPeers(n.session, list);
    }
  }

  #dialMore(now: number): void {
    let outgoing = this.#dialsInFlight;
    for (const n of this.#neighbours.values()) if (n.session.direction === 'out') outgoing++;
    const need = Math.min(this.#o.neighbours - outgoing, MESH_DIALS_IN_FLIGHT_MAX - this.#dialsInFlight);
    if (need <= 0 || this.#o.policy.kind === 'none') return;
    const busy = new Set<string>([...this.#byKey.keys(), ...this.#dialing.keys()]);
    for (const c of this.book.candidates(now, busy, this.#o.policy, need)) {
      if (this.#selfAddrs.has(formatHostPort(c.host, c.port))) continue;
      this.#dialLearned(c);
    }
  }
}
