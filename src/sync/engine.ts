// The sync protocol (docs/sync.md, docs/protocol.md "Sync"): Negentropy
// rounds (./negentropy.ts) and the transfer of what they found, carried in
// SYNC_REQUEST / SYNC_RESPONSE (./wire.ts). This is the driver layer: it runs
// over two small interfaces, a SyncChannel (send a message, wait for room)
// and a SyncStore (a sorted snapshot of the local items, read records back,
// append new ones), so it runs the same over a Session and a ChatLog
// (./attach.ts, ./logstore.ts) as over in-memory pairs in tests.
//
//   SyncInitiator  runs one sync: rounds until the reconciliation is done,
//                  pulling what it lacks (get) and pushing what the peer
//                  lacks (put) as each round finds them, at most
//                  SYNC_WINDOW_REQUESTS requests in flight; every record
//                  received is checked (checkChat: signature, msg_id, room)
//                  and must be one it asked for, inside the range the peer
//                  claimed it in and inside the window; each reply has a
//                  timeout; rounds are bounded.
//   SyncResponder  answers one session's requests in order, one at a time,
//                  a bounded queue, snapshots freed at "end", on idle, on close.
import { checkChat, type ChatRecord } from '../chat/record.js';
import { P2pcatError, isP2pcatError } from '../errors.js';
import {
  SYNC_APPEND_BATCH_RECORDS,
  SYNC_BASE_ROUNDS,
  SYNC_GET_MAX_IDS,
  SYNC_IDS_PER_EXTRA_ROUND,
  SYNC_MAX_BAD_RECORDS,
  SYNC_MAX_ROUNDS,
  SYNC_NEG_MAX_BYTES,
  SYNC_RESPONDER_IDLE_MS,
  SYNC_RESPONDER_MAX_SYNCS,
  SYNC_RESPONDER_QUEUE_MAX,
  SYNC_RESPONDER_QUEUE_MAX_BYTES,
  SYNC_ROUND_TIMEOUT_MS,
  SYNC_WINDOW_REQUESTS,
} from '../limits.js';
import { ID_BYTES, type ItemRange, type ItemSet } from './items.js';
import { Negentropy, inRange, type Need } from './negentropy.js';
import { NegAssembler, decodePage, decodeRequest, decodeResponse, encodeRequest, encodeResponse, joinPage, negChunks, pageFitsFrame, pages, type SyncRequest, type SyncResponse } from './wire.js';

export type SyncMessageType = 'SYNC_REQUEST' | 'SYNC_RESPONSE';

/** Where sync messages go. */
export interface SyncChannel {
  /** Send one message; false when the peer is slow (wait for drained()) or gone. */
  send(type: SyncMessageType, body: Record<string, unknown>): boolean;
  /** Resolves once the outgoing queue has room again (at once when it has). */
  drained(): Promise<void>;
}

/** A frozen view of a store's items for one sync. */
export interface Snapshot {
  readonly items: ItemSet;
  /** Encoded records (src/store/records.ts format, one per slice) at these item indices; unreadable ones are left out. */
  read(indices: readonly number[]): Promise<Uint8Array[]>;
  release(): void;
}

export interface SyncStore {
  /** The room whose records this store syncs (records of other rooms are refused). */
  readonly room: string;
  snapshot(): Promise<Snapshot>;
  /** Append records that passed checkChat; resolves, once they are durable, with which were new. */
  add(records: readonly ChatRecord[]): Promise<boolean[]>;
}

export interface SyncStats {
  /** Records the peer stored because we pushed them. */
  sent: number;
  /** New records we stored. */
  received: number;
  /** Records we refused (bad signature, msg_id or room; not asked for; outside the range or window). */
  rejected: number;
  /** Records the peer claimed to have, that we asked for, and that it did not send. */
  missing: number;
  /** Valid records we already had by the time they arrived (another writer was faster). */
  duplicates: number;
  /** Records we pushed that the peer refused or already had. */
  peerRejected: number;
  peerDuplicates: number;
  /** Reconciliation rounds (one Negentropy message each way). */
  rounds: number;
  /** Requests sent (rounds, gets, puts, end). */
  requests: number;
  /** Bytes of SYNC messages as they cross the wire (frame prefix, type, JSON, tag). */
  bytesOut: number;
  bytesIn: number;
  /** Ids the reconciliation found: we lack (need) and the peer lacks (have). */
  needIds: number;
  haveIds: number;
}

export function emptyStats(): SyncStats {
  return { sent: 0, received: 0, rejected: 0, missing: 0, duplicates: 0, peerRejected: 0, peerDuplicates: 0, rounds: 0, requests: 0, bytesOut: 0, bytesIn: 0, needIds: 0, haveIds: 0 };
}

/** Bytes a message of this body takes on the wire: 2-byte length, type byte, JSON, 16-byte tag. */
export function wireBytes(body: Record<string, unknown>): number {
  return 2 + 1 + Buffer.byteLength(JSON.stringify(body), 'utf8') + 16;
}

const hexOf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const keyOf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, ID_BYTES).toString('latin1');

/** The item timestamp of a record (ms since the epoch, clamped to >= 0): the same rule as the log scan. */
export function itemTimestamp(r: ChatRecord): number {
  const ms = Date.parse(r.timestamp);
  return Number.isFinite(ms) && ms > 0 ? Math.floor(ms) : 0;
}

// ------------------------------------------------------------------ initiator

export interface InitiatorOptions {
  /** Fetch what we lack (default true). */
  pull?: boolean;
  /** Send what the peer lacks (default true). */
  push?: boolean;
  /** Only records with a timestamp >= since (ms; 0: all). */
  since?: number;
  roundTimeoutMs?: number;
  /** This sync's id on the session. */
  syncId?: number;
  /** New records, once stored (durable), in the order stored. A returned promise holds the sync back until it settles (a slow stdout). */
  onRecords?: (records: ChatRecord[]) => void | Promise<void>;
  /** After every reply: the counts so far. */
  onProgress?: (s: Readonly<SyncStats>) => void;
  /** A record refused, a page that did not decode: one line each (bounded by SYNC_MAX_BAD_RECORDS). */
  onWarning?: (e: P2pcatError) => void;
}

interface Pending {
  q: number;
  req: SyncRequest;
  resolve: (r: SyncResponse) => void;
  done: Promise<SyncResponse>;
  /** get: what we asked for, by latin1 key. */
  wanted?: Map<string, Need>;
  /** open/neg: the reply's chunks. */
  asm?: NegAssembler;
}

export class SyncInitiator {
  readonly stats = emptyStats();
  readonly syncId: number;
  #ch: SyncChannel;
  #store: SyncStore;
  #pull: boolean;
  #push: boolean;
  #since: number;
  #timeoutMs: number;
  #o: InitiatorOptions;
  #q = 0;
  #inflight: Pending[] = [];
  #slotWaiters: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;
  #failed: P2pcatError | undefined;
  #failWaiters = new Set<(e: P2pcatError) => void>();
  #toAppend: ChatRecord[] = [];
  #appending: Promise<void> = Promise.resolve();
  #appendQueued = 0;
  #started = false;

  constructor(channel: SyncChannel, store: SyncStore, opts: InitiatorOptions = {}) {
    this.#ch = channel;
    this.#store = store;
    this.#pull = opts.pull ?? true;
    this.#push = opts.push ?? true;
    this.#since = opts.since ?? 0;
    this.#timeoutMs = opts.roundTimeoutMs ?? SYNC_ROUND_TIMEOUT_MS;
    this.syncId = opts.syncId ?? 1;
    this.#o = opts;
    if (!Number.isSafeInteger(this.#since) || this.#since < 0) throw new RangeError('since must be a non-negative integer (ms)');
  }

  /** Run the sync to its end. Rejects with a P2pcatError; `stats` then holds what was done (and kept). */
  async run(): Promise<SyncStats> {
    if (this.#started) throw new Error('a SyncInitiator runs once');
    this.#started = true;
    const snap = await this.#store.snapshot();
    try {
      const storage = snap.items.range(this.#since);
      const neg = new Negentropy(storage, { frameSizeLimit: SYNC_NEG_MAX_BYTES });
      let msg: Uint8Array = neg.initiate();
      for (let learned = 0; ; ) {
        const budget = Math.min(SYNC_MAX_ROUNDS, SYNC_BASE_ROUNDS + Math.floor(learned / SYNC_IDS_PER_EXTRA_ROUND));
        if (this.stats.rounds >= budget) throw P2pcatError.protocol(`sync: no end after ${this.stats.rounds} rounds (the peer keeps the reconciliation going without progress)`);
        const req: SyncRequest = this.stats.rounds === 0 ? { op: 'open', sync: this.syncId, q: 0, neg: msg, since: this.#since } : { op: 'neg', sync: this.syncId, q: 0, neg: msg };
        const res = await this.#request(req);
        this.stats.rounds++;
        if (res.op !== 'neg') throw P2pcatError.protocol(`sync: expected a reconciliation reply, got ${res.op}`);
        const r = neg.reconcile(res.neg);
        learned += r.have.length + r.need.length;
        this.stats.needIds += r.need.length;
        this.stats.haveIds += r.have.length;
        if (this.#pull) {
          for (let i = 0; i < r.need.length; i += SYNC_GET_MAX_IDS) {
            // Not waited for here: replies are handled as they come, a failure ends the sync through fail().
            (await this.#get(r.need.slice(i, i + SYNC_GET_MAX_IDS))).reply.catch(() => undefined);
          }
        }
        if (this.#push && r.have.length > 0) await this.#putAll(snap, storage, r.have);
        this.#o.onProgress?.(this.stats);
        if (r.output === null) break;
        msg = r.output;
      }
      await this.#drainInflight();
      await this.#flushAppends();
      await this.#request({ op: 'end', sync: this.syncId, q: 0 });
      this.#o.onProgress?.(this.stats);
      return this.stats;
    } catch (e) {
      const err = isP2pcatError(e) ? e : undefined;
      if (!err) throw e;
      this.fail(err);
      // Keep what was valid: whatever was checked and queued is still appended.
      await this.#flushAppends().catch(() => undefined);
      throw this.#failed ?? err;
    } finally {
      clearTimeout(this.#timer);
      snap.release();
    }
  }

  /** Feed one SYNC_RESPONSE body (from the session). */
  onResponse(body: Record<string, unknown>): void {
    if (this.#failed) return;
    this.stats.bytesIn += wireBytes(body);
    let res: SyncResponse;
    try {
      res = decodeResponse(body);
    } catch (e) {
      if (isP2pcatError(e)) return this.fail(e);
      throw e;
    }
    if (res.sync !== this.syncId) return; // another sync on this session
    const head = this.#inflight[0];
    if (!head) return this.fail(P2pcatError.protocol(`sync: a reply (${res.op}) to nothing we asked`));
    if (res.q !== head.q) return this.fail(P2pcatError.protocol(`sync: reply ${res.q} out of order (expected ${head.q})`));
    this.#armTimer();
    if (res.op === 'error') {
      const err = new P2pcatError(res.code, `the peer refused the sync: ${res.message}`);
      return this.fail(err);
    }
    const expected = head.req.op === 'open' || head.req.op === 'neg' ? 'neg' : head.req.op === 'get' ? 'recs' : head.req.op;
    if (res.op !== expected) return this.fail(P2pcatError.protocol(`sync: expected ${expected} in reply to ${head.req.op}, got ${res.op}`));
    if (res.op === 'neg') {
      try {
        const whole = head.asm!.push(res.neg, res.more === true);
        if (!whole) return;
        res = { ...res, neg: whole, more: false };
      } catch (e) {
        if (isP2pcatError(e)) return this.fail(e);
        throw e;
      }
    }
    if (res.op === 'recs') {
      try {
        this.#onPage(head, res.recs);
      } catch (e) {
        if (isP2pcatError(e)) return this.fail(e);
        throw e;
      }
      if (res.more) return;
      for (const n of head.wanted!.values()) {
        this.stats.missing++;
        this.#warn(P2pcatError.badMessage(`the peer claimed message ${hexOf(n.id)} and did not send it`));
      }
      head.wanted!.clear();
      if (this.stats.missing + this.stats.rejected > SYNC_MAX_BAD_RECORDS) return this.fail(this.#liar());
      this.#scheduleAppend(true);
    }
    if (res.op === 'put') {
      this.stats.sent += res.stored;
      this.stats.peerDuplicates += res.dup;
      this.stats.peerRejected += res.rejected;
    }
    this.#inflight.shift();
    if (this.#inflight.length === 0) clearTimeout(this.#timer);
    this.#slotWaiters.shift()?.();
    // A page's bytes are done with: nothing that waits on the reply keeps them.
    head.resolve(res.op === 'recs' ? { ...res, recs: new Uint8Array(0) } : res);
    this.#o.onProgress?.(this.stats);
  }

  /** End the sync now (the session ended, or a violation): every wait rejects with `err`. */
  fail(err: P2pcatError): void {
    if (this.#failed) return;
    this.#failed = err;
    clearTimeout(this.#timer);
    for (const f of this.#failWaiters) f(err);
    this.#failWaiters.clear();
  }

  get failed(): P2pcatError | undefined {
    return this.#failed;
  }

  #liar(): P2pcatError {
    return P2pcatError.badMessage(`sync: the peer sent or claimed ${this.stats.rejected + this.stats.missing} invalid or missing messages; giving up on it`);
  }

  #warn(e: P2pcatError): void {
    if (this.stats.rejected + this.stats.missing <= SYNC_MAX_BAD_RECORDS) this.#o.onWarning?.(e);
  }

  /** Wait until `p` settles or the sync fails, whichever is first. */
  #race<T>(p: Promise<T>): Promise<T> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise<T>((resolve, reject) => {
      const onFail = (e: P2pcatError) => reject(e);
      this.#failWaiters.add(onFail);
      p.then(
        (v) => {
          this.#failWaiters.delete(onFail);
          resolve(v);
        },
        (e: unknown) => {
          this.#failWaiters.delete(onFail);
          reject(e);
        },
      );
    });
  }

  #armTimer(): void {
    clearTimeout(this.#timer);
    // Not unref'd: while a reply is awaited, this timer is what guarantees the wait ends.
    this.#timer = setTimeout(() => this.fail(P2pcatError.timeout(`sync: the peer did not answer within ${this.#timeoutMs / 1000} s`)), this.#timeoutMs);
  }

  /** Send a request once a window slot is free. Resolves when it is sent, with the promise of its (final) reply. */
  async #send(req: SyncRequest, wanted?: Map<string, Need>): Promise<{ reply: Promise<SyncResponse> }> {
    while (this.#inflight.length >= SYNC_WINDOW_REQUESTS) {
      await this.#race(new Promise<void>((r) => this.#slotWaiters.push(r)));
    }
    // Received records wait for their append before more are asked for (bounded memory).
    if (this.#appendQueued > 2 * SYNC_APPEND_BATCH_RECORDS) await this.#race(this.#appending);
    if (this.#failed) throw this.#failed;
    req.q = this.#q++;
    let resolve!: (r: SyncResponse) => void;
    const done = new Promise<SyncResponse>((r) => (resolve = r));
    const p: Pending = { q: req.q, req, resolve, done };
    if (wanted) p.wanted = wanted;
    const frames: SyncRequest[] = [req];
    if (req.op === 'open' || req.op === 'neg') {
      p.asm = new NegAssembler();
      const parts = negChunks(req.neg);
      frames.length = 0;
      parts.forEach((c, i) => frames.push({ ...req, neg: c, more: i < parts.length - 1 }));
    }
    this.#inflight.push(p);
    if (this.#inflight.length === 1) this.#armTimer();
    this.stats.requests++;
    for (const f of frames) {
      const body = encodeRequest(f);
      this.stats.bytesOut += wireBytes(body);
      if (!this.#ch.send('SYNC_REQUEST', body)) await this.#race(this.#ch.drained());
    }
    return { reply: this.#race(done) };
  }

  async #request(req: SyncRequest): Promise<SyncResponse> {
    return await (await this.#send(req)).reply;
  }

  async #drainInflight(): Promise<void> {
    await this.#race(Promise.all(this.#inflight.map((p) => p.done)));
  }

  /** Ask for these ids; resolves once sent, with a promise of the reply's end. */
  async #get(needs: Need[]): Promise<{ reply: Promise<unknown> }> {
    const wanted = new Map<string, Need>();
    for (const n of needs) wanted.set(keyOf(n.id), n);
    return this.#send({ op: 'get', sync: this.syncId, q: 0, ids: needs.map((n) => n.id) }, wanted);
  }

  async #putAll(snap: Snapshot, storage: ItemRange, have: number[]): Promise<void> {
    for (let i = 0; i < have.length; i += SYNC_GET_MAX_IDS) {
      const slices = await this.#race(snap.read(have.slice(i, i + SYNC_GET_MAX_IDS).map((k) => storage.index(k))));
      for (const page of pages(slices)) {
        const bytes = joinPage(page);
        if (!pageFitsFrame(bytes.length)) {
          this.#o.onWarning?.(P2pcatError.limit(`sync: a message of ${bytes.length} bytes is too large to send; skipped`));
          continue;
        }
        // The reply is not waited for here: it only carries counts.
        (await this.#send({ op: 'put', sync: this.syncId, q: 0, recs: bytes })).reply.catch(() => undefined);
      }
    }
  }

  /** One page of a get reply: every record must be asked for, in its range and window, and pass checkChat. */
  #onPage(p: Pending, bytes: Uint8Array): void {
    const recs = decodePage(bytes);
    const idBuf = Buffer.alloc(ID_BYTES);
    for (const r of recs) {
      const key = /^[0-9a-f]{64}$/.test(r.msg_id) ? (idBuf.write(r.msg_id, 'hex'), keyOf(idBuf)) : undefined;
      const need = key === undefined ? undefined : p.wanted!.get(key);
      if (!need) {
        this.#reject(`message ${r.msg_id.slice(0, 64)} was not asked for`);
        continue;
      }
      p.wanted!.delete(key!);
      const ts = itemTimestamp(r);
      if (ts < this.#since || !inRange(ts, need.id, need.lower, need.upper)) {
        this.#reject(`message ${r.msg_id} is outside the range the peer claimed it in`);
        continue;
      }
      const c = checkChat(r, { room: this.#store.room });
      if (!c.ok) {
        this.#reject(`message ${r.msg_id}: ${c.reason}`);
        continue;
      }
      this.#toAppend.push(c.record);
      this.#appendQueued++;
    }
    if (this.stats.missing + this.stats.rejected > SYNC_MAX_BAD_RECORDS) throw this.#liar();
    this.#scheduleAppend(false);
  }

  #reject(why: string): void {
    this.stats.rejected++;
    this.#warn(P2pcatError.badMessage(`sync: refused a message: ${why}`));
  }

  #scheduleAppend(force: boolean): void {
    if (this.#toAppend.length === 0 || (!force && this.#toAppend.length < SYNC_APPEND_BATCH_RECORDS)) return;
    const batch = this.#toAppend.splice(0);
    this.#appending = this.#appending.then(async () => {
      const fresh = await this.#store.add(batch);
      const stored: ChatRecord[] = [];
      fresh.forEach((isNew, i) => {
        if (isNew) stored.push(batch[i]!);
        else this.stats.duplicates++;
      });
      this.stats.received += stored.length;
      this.#appendQueued -= batch.length;
      if (stored.length > 0) await this.#o.onRecords?.(stored);
    });
    // An append error (disk full) ends the sync with that error.
    this.#appending.catch((e: unknown) => this.fail(isP2pcatError(e) ? e : P2pcatError.io(`sync: cannot append: ${(e as Error).message}`, e)));
  }

  async #flushAppends(): Promise<void> {
    this.#scheduleAppend(true);
    await this.#appending;
  }
}

// ------------------------------------------------------------------ responder

export interface ResponderOptions {
  /** New records a peer pushed to us, once stored. */
  onRecords?: (records: ChatRecord[]) => void;
  /** A peer's request we could not honour (bounded by the peer's behaviour; callers rate-limit). */
  onWarning?: (e: P2pcatError) => void;
  idleMs?: number;
}

interface RState {
  snap: Snapshot;
  storage: ItemRange;
  neg: Negentropy;
  since: number;
  rounds: number;
  lastActive: number;
}

/** Answers the sync requests of one session. */
export class SyncResponder {
  #ch: SyncChannel;
  #store: SyncStore | undefined;
  #o: ResponderOptions;
  #states = new Map<number, RState>();
  #queue: SyncRequest[] = [];
  #queuedBytes = 0;
  #assembling = new Map<string, NegAssembler>();
  #busy = false;
  #closed = false;
  #sweeper: NodeJS.Timeout | undefined;
  readonly stats = emptyStats();

  constructor(channel: SyncChannel, store: SyncStore | undefined, opts: ResponderOptions = {}) {
    this.#ch = channel;
    this.#store = store;
    this.#o = opts;
  }

  /** Feed one SYNC_REQUEST body. Requests are answered in order, one at a time. */
  onRequest(body: Record<string, unknown>): void {
    if (this.#closed) return;
    this.stats.bytesIn += wireBytes(body);
    let req: SyncRequest;
    try {
      req = decodeRequest(body);
      if (req.op === 'open' || req.op === 'neg') {
        // Chunks of one reconciliation message: put it together before it is queued.
        const k = `${req.sync}:${req.q}`;
        let asm = this.#assembling.get(k);
        if (!asm) {
          if (this.#assembling.size >= SYNC_RESPONDER_MAX_SYNCS) throw P2pcatError.limit(`more than ${SYNC_RESPONDER_MAX_SYNCS} reconciliation messages in flight at once`);
          this.#assembling.set(k, (asm = new NegAssembler()));
        }
        const whole = asm.push(req.neg, req.more === true);
        if (!whole) return;
        this.#assembling.delete(k);
        req = { ...req, neg: whole, more: false };
      }
    } catch (e) {
      if (!isP2pcatError(e)) throw e;
      this.#o.onWarning?.(e);
      this.#reply({ op: 'error', sync: counterOf(body.sync), q: counterOf(body.q), code: e.code, message: e.message });
      return;
    }
    const bytes = requestBytes(req);
    if (this.#queue.length >= SYNC_RESPONDER_QUEUE_MAX || this.#queuedBytes + bytes > SYNC_RESPONDER_QUEUE_MAX_BYTES) {
      // The initiator ignores its window: refuse, and forget its syncs.
      this.#queue.length = 0;
      this.#queuedBytes = 0;
      this.#dropAll();
      this.#reply({ op: 'error', sync: req.sync, q: req.q, code: 'P2PCAT_ERR_LIMIT', message: `more than ${SYNC_RESPONDER_QUEUE_MAX} sync requests or ${SYNC_RESPONDER_QUEUE_MAX_BYTES} bytes queued` });
      return;
    }
    this.#queue.push(req);
    this.#queuedBytes += bytes;
    if (!this.#busy) void this.#pump();
  }

  /** The session ended: free every snapshot. */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#assembling.clear();
    this.#dropAll();
  }

  get activeSyncs(): number {
    return this.#states.size;
  }

  #dropAll(): void {
    for (const s of this.#states.values()) s.snap.release();
    this.#states.clear();
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  async #pump(): Promise<void> {
    this.#busy = true;
    try {
      for (let guard = 0; this.#queue.length > 0 && !this.#closed && guard < 1_000_000; guard++) {
        const req = this.#queue.shift()!;
        this.#queuedBytes -= requestBytes(req);
        try {
          await this.#handle(req);
        } catch (e) {
          if (!isP2pcatError(e)) throw e;
          const st = this.#states.get(req.sync);
          if (st) {
            st.snap.release();
            this.#states.delete(req.sync);
          }
          this.#o.onWarning?.(e);
          this.#reply({ op: 'error', sync: req.sync, q: req.q, code: e.code, message: e.message });
        }
      }
    } finally {
      this.#busy = false;
    }
  }

  #reply(r: SyncResponse): boolean {
    if (this.#closed) return false;
    const body = encodeResponse(r);
    this.stats.bytesOut += wireBytes(body);
    return this.#ch.send('SYNC_RESPONSE', body);
  }

  async #replyPaced(r: SyncResponse): Promise<void> {
    if (!this.#reply(r) && !this.#closed) await this.#ch.drained();
  }

  #state(req: SyncRequest): RState {
    const st = this.#states.get(req.sync);
    if (!st) throw P2pcatError.protocol(`sync: ${req.op} for sync ${req.sync}, which is not open`);
    st.lastActive = Date.now();
    return st;
  }

  async #handle(req: SyncRequest): Promise<void> {
    switch (req.op) {
      case 'open': {
        if (!this.#store) throw P2pcatError.unavailable('this peer keeps no log (--no-log), so it cannot sync');
        if (this.#states.has(req.sync)) throw P2pcatError.protocol(`sync: sync ${req.sync} is already open`);
        if (this.#states.size >= SYNC_RESPONDER_MAX_SYNCS) throw P2pcatError.limit(`more than ${SYNC_RESPONDER_MAX_SYNCS} syncs at once on one session`);
        const snap = await this.#store.snapshot();
        if (this.#closed) {
          snap.release();
          return;
        }
        const storage = snap.items.range(req.since);
        const st: RState = { snap, storage, neg: new Negentropy(storage, { frameSizeLimit: SYNC_NEG_MAX_BYTES }), since: req.since, rounds: 0, lastActive: Date.now() };
        this.#states.set(req.sync, st);
        this.#armSweeper();
        return this.#round(st, req);
      }
      case 'neg':
        return this.#round(this.#state(req), req);
      case 'get': {
        const st = this.#state(req);
        const idx: number[] = [];
        for (const i of st.snap.items.findMany(req.ids)) if (i >= st.storage.begin && i < st.storage.end) idx.push(i);
        const slices = idx.length > 0 ? await st.snap.read(idx) : [];
        const all = [...pages(slices)].filter((p) => pageFitsFrame(joinPage(p).length));
        if (all.length === 0) all.push([]);
        for (let k = 0; k < all.length; k++) {
          if (this.#closed) return;
          this.stats.sent += all[k]!.length;
          await this.#replyPaced({ op: 'recs', sync: req.sync, q: req.q, recs: joinPage(all[k]!), more: k < all.length - 1 });
        }
        return;
      }
      case 'put': {
        const st = this.#state(req);
        const store = this.#store!;
        const good: ChatRecord[] = [];
        let rejected = 0;
        for (const r of decodePage(req.recs)) {
          const c = checkChat(r, { room: store.room });
          if (!c.ok || itemTimestamp(c.record) < st.since) rejected++;
          else good.push(c.record);
        }
        const fresh = good.length > 0 ? await store.add(good) : [];
        const stored = good.filter((_, i) => fresh[i]);
        this.stats.received += stored.length;
        this.stats.rejected += rejected;
        if (rejected > 0) this.#o.onWarning?.(P2pcatError.badMessage(`sync: refused ${rejected} pushed message(s) that failed their check`));
        if (stored.length > 0) this.#o.onRecords?.(stored);
        this.#reply({ op: 'put', sync: req.sync, q: req.q, stored: stored.length, dup: good.length - stored.length, rejected });
        return;
      }
      case 'end': {
        const st = this.#states.get(req.sync);
        if (st) {
          st.snap.release();
          this.#states.delete(req.sync);
        }
        if (this.#states.size === 0) {
          clearInterval(this.#sweeper);
          this.#sweeper = undefined;
        }
        this.#reply({ op: 'end', sync: req.sync, q: req.q });
        return;
      }
    }
  }

  async #round(st: RState, req: SyncRequest & { neg: Uint8Array }): Promise<void> {
    if (++st.rounds > SYNC_MAX_ROUNDS) throw P2pcatError.protocol(`sync: more than ${SYNC_MAX_ROUNDS} rounds`);
    this.stats.rounds++;
    const parts = negChunks(st.neg.reconcile(req.neg).output!);
    for (let i = 0; i < parts.length && !this.#closed; i++) await this.#replyPaced({ op: 'neg', sync: req.sync, q: req.q, neg: parts[i]!, more: i < parts.length - 1 });
  }

  #armSweeper(): void {
    if (this.#sweeper) return;
    const idle = this.#o.idleMs ?? SYNC_RESPONDER_IDLE_MS;
    this.#sweeper = setInterval(() => {
      const now = Date.now();
      for (const [id, st] of this.#states) {
        if (now - st.lastActive > idle) {
          st.snap.release();
          this.#states.delete(id);
        }
      }
      if (this.#states.size === 0) {
        clearInterval(this.#sweeper);
        this.#sweeper = undefined;
      }
    }, Math.max(50, idle / 2));
    this.#sweeper.unref?.();
  }
}

/** What a queued request holds in memory, roughly. */
function requestBytes(r: SyncRequest): number {
  switch (r.op) {
    case 'open':
    case 'neg':
      return 64 + r.neg.length;
    case 'get':
      return 64 + r.ids.length * ID_BYTES;
    case 'put':
      return 64 + r.recs.length;
    case 'end':
      return 64;
  }
}

function counterOf(v: unknown): number {
  return Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff ? (v as number) : 0;
}
