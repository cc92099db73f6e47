// File transfer in chat mode: both ends of every transfer on every neighbour
// session (docs/protocol.md, "File transfer"; message bodies in ./protocol.ts).
// It rides on the mesh like log sync does (a MeshExtension per session).
//
// Receiving: a file is written to a hidden partial file in the download
// directory, named after its SHA-256 and size (so an interrupted transfer of
// the same content resumes there, whoever offers it again), hashed as it
// arrives, and only after the size and SHA-256 match the offer is it linked
// under its final name (never replacing a file) and the partial file removed.
// Nothing half-written ever carries the final name.
//
// Sending: offer, wait for the answer, stream FILE_DATA from the offset the
// receiver asked for, at most FILE_WINDOW_BYTES beyond what it reported
// written, then FILE_END and wait for its verdict. A session cut mid-way
// leaves the transfer waiting for the same peer (key) to come back; the new
// offer resumes where the receiver's partial file ends.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { P2pcatError } from '../errors.js';
import {
  FILE_ANSWER_TIMEOUT_MS,
  FILE_CHUNK_BYTES,
  FILE_PROGRESS_EVERY_BYTES,
  FILE_STALL_TIMEOUT_MS,
  FILE_TRANSFERS_PER_PEER_MAX,
  FILE_WINDOW_BYTES,
} from '../limits.js';
import type { MeshExtension } from '../mesh/mesh.js';
import type { PeerInfo, Session } from '../transport/session.js';
import type { Message } from '../wire/messages.js';
import { dataHeader, errorBody, formatSize, numberedName, parseAbort, parseAnswer, parseData, parseEnd, parseOffer, parseResult, safeName, type Offer } from './protocol.js';

export type AcceptPolicy = 'yes' | 'no' | 'ask';

/** What a transfer needs of a session (a Session, or a test double). */
export type FileSession = Pick<Session, 'send' | 'sendBinary' | 'writableLength' | 'onceDrain' | 'isUp'>;

export interface FileOptions {
  policy: AcceptPolicy;
  /** Where received files land (must exist). */
  downloadDir: string;
  /** Offers larger than this are refused (P2PCAT_ERR_LIMIT). */
  maxBytes: number;
}

/** What FILE and FILE_SENT records share. */
interface FileFields {
  timestamp: string;
  id: string;
  username: string;
  name: string;
  path: string;
  size: number;
  sha256: string;
  resumed_from: number;
}

/** A FILE record: a file received, checked and stored. */
export interface FileRecord extends FileFields {
  type: 'FILE';
  from: string;
}

/** A FILE_SENT record: the receiver confirmed it stored the file whole. */
export interface FileSentRecord extends FileFields {
  type: 'FILE_SENT';
  to: string;
}

export interface OfferInfo {
  /** Small number for /accept N in the chat view. */
  n: number;
  id: string;
  from: string;
  username: string;
  name: string;
  size: number;
  sha256: string;
}

export interface Progress {
  direction: 'in' | 'out';
  id: string;
  name: string;
  username: string;
  done: number;
  size: number;
  finished: boolean;
}

export interface FileEvents {
  /** policy 'ask': someone offers a file; answer with decide(). */
  offered(o: OfferInfo): void;
  received(rec: FileRecord): void;
  sent(rec: FileSentRecord): void;
  progress(p: Progress): void;
  /** A transfer failed or was refused; `extra` names the file and the peer. */
  warn(e: P2pcatError, extra: Record<string, unknown>): void;
}

interface LocalFile {
  path: string;
  name: string;
  size: number;
  sha256: string;
}

interface Link {
  s: FileSession;
  peer: PeerInfo;
  outgoing: Set<Outgoing>;
  incoming: Map<string, Incoming>;
}

interface Outgoing {
  id: string;
  key: string;
  username: string;
  file: LocalFile;
  link: Link | undefined;
  state: 'offered' | 'sending' | 'finishing' | 'waiting' | 'done';
  startOffset: number;
  sent: number;
  acked: number;
  fh: fsp.FileHandle | undefined;
  /** Offered before: a new offer gets a new id. */
  reoffer: boolean;
  pumping: boolean;
  timer: NodeJS.Timeout | undefined;
  settle: (e: P2pcatError | undefined) => void;
}

interface Incoming {
  n: number;
  offer: Offer;
  link: Link;
  state: 'asking' | 'opening' | 'receiving' | 'done';
  part: string;
  fh: fsp.FileHandle | undefined;
  hash: crypto.Hash;
  startOffset: number;
  received: number;
  written: number;
  reported: number;
  writing: Promise<void>;
  timer: NodeJS.Timeout | undefined;
}

/** sha256 and size of a local file, streamed. */
export async function describeFile(p: string): Promise<LocalFile | P2pcatError> {
  let st: fs.Stats;
  try {
    st = await fsp.stat(p);
  } catch (e) {
    return P2pcatError.badInput(`cannot send ${p}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (!st.isFile()) return P2pcatError.badInput(`cannot send ${p}: not a regular file`);
  const hash = crypto.createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of fs.createReadStream(p, { highWaterMark: 1024 * 1024 })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } catch (e) {
    return P2pcatError.io(`cannot read ${p}: ${(e as Error).message}`, e);
  }
  return { path: path.resolve(p), name: safeName(path.basename(p)), size, sha256: hash.digest('hex') };
}

export class FileTransfers {
  #o: FileOptions;
  #ev: FileEvents;
  #links = new Map<string, Link>();
  #outgoing = new Set<Outgoing>();
  #incoming = new Set<Incoming>();
  /** Partial files being written now: one transfer per partial file. */
  #parts = new Set<string>();
  #nextN = 1;
  #hashing = 0;
  #idle: (() => void)[] = [];
  /** Outgoing transfers that failed (for the exit status of `connect`). */
  readonly failures: P2pcatError[] = [];
  closed = false;

  constructor(opts: FileOptions, events: FileEvents) {
    this.#o = { ...opts, downloadDir: path.resolve(opts.downloadDir) };
    this.#ev = events;
  }

  /** Transfers not yet settled, both ways (offers waiting for a person count too). */
  get active(): number {
    return this.#hashing + this.#outgoing.size + this.#incoming.size;
  }

  /** Resolves once no transfer is going on (at once if none is). */
  whenIdle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  #checkIdle(): void {
    if (this.active === 0) for (const f of this.#idle.splice(0)) f();
  }

  /** Offers waiting for /accept or /reject. */
  offers(): OfferInfo[] {
    return [...this.#incoming].filter((i) => i.state === 'asking').map((i) => this.#offerInfo(i));
  }

  #offerInfo(i: Incoming): OfferInfo {
    return { n: i.n, id: i.offer.id, from: i.link.peer.key, username: i.link.peer.username, name: safeName(i.offer.name), size: i.offer.size, sha256: i.offer.sha256 };
  }

  /** The extension for one neighbour session. */
  attach(s: FileSession): MeshExtension {
    let link: Link | undefined;
    return {
      up: (peer) => {
        link = { s, peer, outgoing: new Set(), incoming: new Map() };
        this.#links.set(peer.key, link);
        // Sends that were cut off resume on the new session.
        for (const o of this.#outgoing) if (o.state === 'waiting' && o.key === peer.key) this.#offer(o, link);
      },
      onMessage: (m) => (link ? this.#onMessage(link, m) : m.type.startsWith('FILE_')),
      end: () => {
        if (!link) return;
        if (this.#links.get(link.peer.key) === link) this.#links.delete(link.peer.key);
        for (const o of link.outgoing) this.#interrupt(o);
        for (const i of link.incoming.values()) this.#dropIncoming(i, P2pcatError.unavailable(`${link.peer.username} went away`), false);
      },
    };
  }

  /** Neighbours a file can go to. */
  neighbours(): PeerInfo[] {
    return [...this.#links.values()].map((l) => l.peer);
  }

  /**
   * Offer a file to these neighbours (keys). Resolves once each transfer has
   * settled: undefined when every receiver stored it, else the first error.
   */
  async send(file: string, keys: string[]): Promise<P2pcatError | undefined> {
    const links = keys.map((k) => this.#links.get(k)).filter((l): l is Link => l !== undefined);
    if (links.length === 0) return P2pcatError.unavailable(`cannot send ${file}: no peer to send it to`);
    // Counted as active from here, so `connect` waits for the hashing too.
    this.#hashing++;
    const local = await describeFile(file);
    this.#hashing--;
    if (local instanceof P2pcatError) {
      this.#checkIdle();
      return local;
    }
    const results = await Promise.all(
      links.map(
        (link) =>
          new Promise<P2pcatError | undefined>((settle) => {
            const o: Outgoing = {
              id: crypto.randomBytes(16).toString('hex'),
              key: link.peer.key,
              username: link.peer.username,
              file: local,
              link: undefined,
              state: 'offered',
              startOffset: 0,
              sent: 0,
              acked: 0,
              fh: undefined,
              reoffer: false,
              pumping: false,
              timer: undefined,
              settle,
            };
            this.#outgoing.add(o);
            if (link.s.isUp) this.#offer(o, link);
            else this.#interrupt(o);
          }),
      ),
    );
    return results.find((r) => r !== undefined);
  }

  /** /accept N or /reject N in the chat view (N: the offer's number; undefined: the latest offer). */
  decide(n: number | undefined, accept: boolean): OfferInfo | P2pcatError {
    const asking = [...this.#incoming].filter((i) => i.state === 'asking');
    const i = n === undefined ? asking[asking.length - 1] : asking.find((x) => x.n === n);
    if (!i) return P2pcatError.usage(n === undefined ? 'no file offer is waiting' : `no file offer number ${n} is waiting (see /files)`);
    const info = this.#offerInfo(i);
    clearTimeout(i.timer);
    if (accept) void this.#accept(i);
    else this.#refuse(i, P2pcatError.fileRefused(`${this.#who(i.link)}'s user declined ${info.name}`));
    return info;
  }

  close(): void {
    this.closed = true;
    for (const o of this.#outgoing) this.#finishOut(o, P2pcatError.unavailable(`${o.file.name} to ${o.username}: p2pcat is closing`));
    for (const i of this.#incoming) this.#dropIncoming(i, P2pcatError.unavailable('p2pcat is closing'), false);
  }

  // ---------------------------------------------------------------- messages

  #onMessage(link: Link, m: Message): boolean {
    switch (m.type) {
      case 'FILE_OFFER':
        this.#onOffer(link, m.body);
        return true;
      case 'FILE_ACCEPT':
      case 'FILE_PROGRESS':
        this.#onAnswer(link, m.type, m.body);
        return true;
      case 'FILE_DATA':
        this.#onData(link, m.data ?? Buffer.alloc(0));
        return true;
      case 'FILE_END':
        this.#onEnd(link, m.body);
        return true;
      case 'FILE_RESULT':
        this.#onResult(link, m.body);
        return true;
      case 'FILE_ABORT':
        this.#onAbort(link, m.body);
        return true;
      default:
        return false;
    }
  }

  #who(link: Link): string {
    return `${link.peer.username} (${link.peer.key.slice(0, 12)})`;
  }

  #protocolError(link: Link, e: P2pcatError, extra: Record<string, unknown> = {}): void {
    this.#ev.warn(e, { peer: link.peer.key, ...extra });
  }

  // ---------------------------------------------------------------- receiving

  #onOffer(link: Link, body: Record<string, unknown>): void {
    const offer = parseOffer(body);
    if (offer instanceof P2pcatError) return this.#protocolError(link, offer);
    const refuse = (e: P2pcatError) => {
      link.s.send('FILE_RESULT', errorBody(offer.id, e));
      this.#ev.warn(e, { file_id: offer.id, name: safeName(offer.name), peer: link.peer.key });
    };
    if (link.incoming.has(offer.id)) return this.#protocolError(link, P2pcatError.protocol(`${this.#who(link)} offered file ${offer.id} twice`));
    if (this.closed) return refuse(P2pcatError.unavailable('the receiver is closing'));
    if (link.incoming.size >= FILE_TRANSFERS_PER_PEER_MAX) return refuse(P2pcatError.limit(`${this.#who(link)} already has ${FILE_TRANSFERS_PER_PEER_MAX} files coming; refused ${safeName(offer.name)}`));
    if (offer.size > this.#o.maxBytes) return refuse(P2pcatError.limit(`${safeName(offer.name)} from ${this.#who(link)} is ${formatSize(offer.size)}, over the ${formatSize(this.#o.maxBytes)} limit (--max-file-size)`));
    if (this.#o.policy === 'no') return refuse(P2pcatError.fileRefused(`refused ${safeName(offer.name)} from ${this.#who(link)}: files are not accepted (--accept-files)`));
    const part = path.join(this.#o.downloadDir, `.p2pcat-${offer.sha256.slice(0, 32)}-${offer.size}.part`);
    if (this.#parts.has(part)) return refuse(P2pcatError.limit(`${safeName(offer.name)} is already being received from another peer`));
    const i: Incoming = {
      n: this.#nextN++,
      offer,
      link,
      state: 'asking',
      part,
      fh: undefined,
      hash: crypto.createHash('sha256'),
      startOffset: 0,
      received: 0,
      written: 0,
      reported: 0,
      writing: Promise.resolve(),
      timer: undefined,
    };
    this.#parts.add(part);
    link.incoming.set(offer.id, i);
    this.#incoming.add(i);
    if (this.#o.policy === 'yes') return void this.#accept(i);
    i.timer = setTimeout(() => this.#failIncoming(i, P2pcatError.fileRefused(`${safeName(offer.name)} from ${this.#who(link)}: not answered within ${FILE_ANSWER_TIMEOUT_MS / 1000} s`), true), FILE_ANSWER_TIMEOUT_MS);
    i.timer.unref();
    this.#ev.offered(this.#offerInfo(i));
  }

  #refuse(i: Incoming, e: P2pcatError): void {
    i.link.s.send('FILE_RESULT', errorBody(i.offer.id, e));
    this.#dropIncoming(i, e, false, true);
  }

  async #accept(i: Incoming): Promise<void> {
    i.state = 'opening';
    const { size } = i.offer;
    try {
      let have = 0;
      try {
        have = (await fsp.stat(i.part)).size;
      } catch {
        /* nothing kept from an earlier try */
      }
      if (have > size) have = 0;
      if (have > 0) {
        // Resume: the hash must cover what is already there.
        for await (const chunk of fs.createReadStream(i.part, { start: 0, end: have - 1, highWaterMark: 1024 * 1024 })) i.hash.update(chunk as Buffer);
      }
      i.fh = await fsp.open(i.part, have > 0 ? 'r+' : 'w', 0o600);
      if (have > 0) await i.fh.truncate(have);
      i.startOffset = i.received = i.written = i.reported = have;
    } catch (e) {
      return this.#failIncoming(i, P2pcatError.io(`cannot write to ${this.#o.downloadDir}: ${(e as Error).message}`, e), true);
    }
    if (i.state !== 'opening') {
      // The session went away while we opened the file.
      await i.fh.close().catch(() => undefined);
      return;
    }
    i.state = 'receiving';
    this.#stall(i);
    i.link.s.send('FILE_ACCEPT', { id: i.offer.id, offset: i.startOffset });
    this.#progress(i);
  }

  #stall(i: Incoming): void {
    clearTimeout(i.timer);
    i.timer = setTimeout(() => {
      const e = P2pcatError.timeout(`${safeName(i.offer.name)} from ${this.#who(i.link)}: no data for ${FILE_STALL_TIMEOUT_MS / 1000} s; kept ${formatSize(i.written)} of ${formatSize(i.offer.size)} to resume`);
      i.link.s.send('FILE_RESULT', errorBody(i.offer.id, e));
      this.#dropIncoming(i, e, false);
    }, FILE_STALL_TIMEOUT_MS);
    i.timer.unref();
  }

  #onData(link: Link, data: Buffer): void {
    const d = parseData(data);
    if (d instanceof P2pcatError) return this.#protocolError(link, d);
    const i = link.incoming.get(d.id);
    if (!i || i.state !== 'receiving') return; // a transfer already given up: what was in flight is dropped
    if (d.offset !== i.received) return this.#failIncoming(i, P2pcatError.protocol(`${this.#who(link)} sent bytes at ${d.offset} of ${safeName(i.offer.name)}, expected ${i.received}`), true);
    if (i.received + d.chunk.length > i.offer.size) return this.#failIncoming(i, P2pcatError.file(`${this.#who(link)} sent more than the ${i.offer.size} bytes it offered for ${safeName(i.offer.name)}; discarded`), true, true);
    if (i.received - i.written > 2 * FILE_WINDOW_BYTES) return this.#failIncoming(i, P2pcatError.protocol(`${this.#who(link)} ignores the transfer window of ${safeName(i.offer.name)}`), true);
    this.#stall(i);
    i.hash.update(d.chunk);
    i.received += d.chunk.length;
    const chunk = d.chunk;
    const at = i.received - chunk.length;
    i.writing = i.writing.then(async () => {
      if (i.state !== 'receiving' || !i.fh) return;
      try {
        await i.fh.write(chunk, 0, chunk.length, at);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const why = code === 'ENOSPC' ? 'the disk is full' : code === 'EFBIG' ? 'the file size limit (ulimit -f) was reached' : (e as Error).message;
        // Sender told; the partial file goes (it is what filled the disk).
        return this.#failIncoming(i, P2pcatError.io(`cannot store ${safeName(i.offer.name)} from ${this.#who(link)}: ${why}`, e), true, true);
      }
      i.written += chunk.length;
      if (i.written - i.reported >= FILE_PROGRESS_EVERY_BYTES) {
        i.reported = i.written;
        link.s.send('FILE_PROGRESS', { id: i.offer.id, offset: i.written });
        this.#progress(i);
      }
    });
  }

  #onEnd(link: Link, body: Record<string, unknown>): void {
    const fileId = parseEnd(body);
    if (fileId instanceof P2pcatError) return this.#protocolError(link, fileId);
    const i = link.incoming.get(fileId);
    if (!i || i.state !== 'receiving') return;
    clearTimeout(i.timer);
    void i.writing.then(() => this.#complete(i));
  }

  async #complete(i: Incoming): Promise<void> {
    if (i.state !== 'receiving' || !i.fh) return;
    const name = safeName(i.offer.name);
    if (i.received !== i.offer.size) {
      return this.#failIncoming(i, P2pcatError.file(`${this.#who(i.link)} ended ${name} after ${i.received} of the ${i.offer.size} bytes it offered; kept the partial file to resume`), true);
    }
    const digest = i.hash.digest('hex');
    if (digest !== i.offer.sha256) {
      return this.#failIncoming(i, P2pcatError.file(`${name} from ${this.#who(i.link)} has SHA-256 ${digest.slice(0, 16)}…, not the ${i.offer.sha256.slice(0, 16)}… offered; discarded`), true, true);
    }
    i.state = 'done';
    let final: string;
    try {
      await i.fh.sync();
      await i.fh.close();
      i.fh = undefined;
      final = await linkUnique(i.part, this.#o.downloadDir, name);
      await fsp.unlink(i.part);
    } catch (e) {
      i.state = 'receiving';
      return this.#failIncoming(i, P2pcatError.io(`cannot store ${name}: ${(e as Error).message}`, e), true);
    }
    i.link.s.send('FILE_RESULT', { id: i.offer.id, ok: true, name: path.basename(final) });
    this.#progress(i, true);
    this.#ev.received({
      type: 'FILE',
      timestamp: new Date().toISOString(),
      id: i.offer.id,
      from: i.link.peer.key,
      username: i.link.peer.username,
      name: path.basename(final),
      path: final,
      size: i.offer.size,
      sha256: i.offer.sha256,
      resumed_from: i.startOffset,
    });
    this.#forget(i);
  }

  /** A receiving transfer failed: tell the sender (tell), drop the partial file (discard), report. */
  #failIncoming(i: Incoming, e: P2pcatError, tell: boolean, discard = false): void {
    if (tell) i.link.s.send('FILE_RESULT', errorBody(i.offer.id, e));
    this.#dropIncoming(i, e, discard);
  }

  #dropIncoming(i: Incoming, e: P2pcatError, discard: boolean, quietly = false): void {
    if (i.state === 'done' && !i.fh) return;
    const wasReceiving = i.state === 'receiving';
    i.state = 'done';
    clearTimeout(i.timer);
    const fh = i.fh;
    i.fh = undefined;
    void (async () => {
      await fh?.close().catch(() => undefined);
      if (discard) await fsp.unlink(i.part).catch(() => undefined);
    })();
    if (wasReceiving || !quietly) {
      const kept = wasReceiving && !discard && i.written > 0 ? ` (kept ${formatSize(i.written)} of ${formatSize(i.offer.size)}; it resumes when offered again)` : '';
      this.#ev.warn(kept ? new P2pcatError(e.code, e.message + kept) : e, { file_id: i.offer.id, name: safeName(i.offer.name), peer: i.link.peer.key });
    }
    this.#forget(i);
  }

  #forget(i: Incoming): void {
    clearTimeout(i.timer);
    this.#parts.delete(i.part);
    i.link.incoming.delete(i.offer.id);
    this.#incoming.delete(i);
    this.#checkIdle();
  }

  #progress(x: Incoming | Outgoing, finished = false): void {
    if ('offer' in x) this.#ev.progress({ direction: 'in', id: x.offer.id, name: safeName(x.offer.name), username: x.link.peer.username, done: x.written, size: x.offer.size, finished });
    else this.#ev.progress({ direction: 'out', id: x.id, name: x.file.name, username: x.username, done: x.acked, size: x.file.size, finished });
  }

  // ---------------------------------------------------------------- sending

  #offer(o: Outgoing, link: Link): void {
    o.link = link;
    o.state = 'offered';
    link.outgoing.add(o);
    if (o.reoffer) o.id = crypto.randomBytes(16).toString('hex'); // a resumed send is a new offer
    o.reoffer = true;
    link.s.send('FILE_OFFER', { id: o.id, name: o.file.name, size: o.file.size, sha256: o.file.sha256 });
    this.#timeout(o, FILE_ANSWER_TIMEOUT_MS, `${o.username} did not answer the offer of ${o.file.name} within ${FILE_ANSWER_TIMEOUT_MS / 1000} s`);
  }

  #timeout(o: Outgoing, ms: number, why: string): void {
    clearTimeout(o.timer);
    o.timer = setTimeout(() => {
      o.link?.s.send('FILE_ABORT', errorBody(o.id, P2pcatError.timeout(why)));
      this.#finishOut(o, P2pcatError.timeout(why));
    }, ms);
    o.timer.unref();
  }

  #find(link: Link, body: Record<string, unknown>): Outgoing | undefined {
    for (const o of link.outgoing) if (o.id === body.id) return o;
    return undefined;
  }

  #onAnswer(link: Link, type: 'FILE_ACCEPT' | 'FILE_PROGRESS', body: Record<string, unknown>): void {
    const a = parseAnswer(body, type);
    if (a instanceof P2pcatError) return this.#protocolError(link, a);
    const o = this.#find(link, body);
    if (!o) return;
    if (type === 'FILE_ACCEPT') {
      if (o.state !== 'offered') return;
      if (a.offset > o.file.size) return this.#abort(o, P2pcatError.protocol(`${o.username} asked for ${o.file.name} from byte ${a.offset}, past its end`));
      o.state = 'sending';
      o.startOffset = o.sent = o.acked = a.offset;
      void this.#pump(o);
      return;
    }
    if (o.state !== 'sending' && o.state !== 'finishing') return;
    if (a.offset < o.acked || a.offset > o.sent) return this.#abort(o, P2pcatError.protocol(`${o.username} reported progress ${a.offset} of ${o.file.name} outside what was sent`));
    o.acked = a.offset;
    this.#progress(o);
    if (o.state === 'finishing') this.#timeout(o, FILE_STALL_TIMEOUT_MS, `${o.username} did not confirm ${o.file.name} within ${FILE_STALL_TIMEOUT_MS / 1000} s`);
    void this.#pump(o);
  }

  async #pump(o: Outgoing): Promise<void> {
    if (o.pumping) return;
    o.pumping = true;
    try {
      if (!o.fh) o.fh = await fsp.open(o.file.path, 'r');
      while (o.state === 'sending' && o.link) {
        this.#timeout(o, FILE_STALL_TIMEOUT_MS, `${o.file.name} to ${o.username}: no progress for ${FILE_STALL_TIMEOUT_MS / 1000} s`);
        if (o.sent === o.file.size) {
          o.link.s.send('FILE_END', { id: o.id });
          o.state = 'finishing';
          break;
        }
        const room = Math.min(FILE_WINDOW_BYTES - (o.sent - o.acked), o.file.size - o.sent, 16 * FILE_CHUNK_BYTES);
        if (room <= 0) break; // FILE_PROGRESS opens the window again
        const s = o.link.s;
        if (s.writableLength > FILE_WINDOW_BYTES / 2) {
          s.onceDrain(() => void this.#pump(o));
          break;
        }
        const buf = Buffer.allocUnsafe(room);
        const { bytesRead } = await o.fh.read(buf, 0, room, o.sent);
        if (o.state !== 'sending' || o.link?.s !== s) break;
        if (bytesRead < room) return this.#abort(o, P2pcatError.io(`${o.file.path} shrank while it was being sent`));
        for (let off = 0; off < room; off += FILE_CHUNK_BYTES) {
          const chunk = buf.subarray(off, Math.min(room, off + FILE_CHUNK_BYTES));
          s.sendBinary('FILE_DATA', [dataHeader(o.id, o.sent), chunk]);
          o.sent += chunk.length;
        }
      }
    } catch (e) {
      this.#abort(o, P2pcatError.io(`cannot read ${o.file.path}: ${(e as Error).message}`, e));
    } finally {
      o.pumping = false;
    }
  }

  #abort(o: Outgoing, e: P2pcatError): void {
    o.link?.s.send('FILE_ABORT', errorBody(o.id, e));
    this.#finishOut(o, e);
  }

  #onResult(link: Link, body: Record<string, unknown>): void {
    const r = parseResult(body, `${link.peer.username}`);
    if (r instanceof P2pcatError) return this.#protocolError(link, r);
    const o = this.#find(link, body);
    if (!o) return;
    if (!r.ok) return this.#finishOut(o, r.error);
    if (o.state !== 'finishing') return this.#finishOut(o, P2pcatError.protocol(`${o.username} confirmed ${o.file.name} before it was sent whole`));
    o.acked = o.file.size;
    this.#progress(o, true);
    this.#ev.sent({
      type: 'FILE_SENT',
      timestamp: new Date().toISOString(),
      id: o.id,
      to: o.key,
      username: o.username,
      name: r.name || o.file.name,
      path: o.file.path,
      size: o.file.size,
      sha256: o.file.sha256,
      resumed_from: o.startOffset,
    });
    this.#finishOut(o, undefined);
  }

  #onAbort(link: Link, body: Record<string, unknown>): void {
    const a = parseAbort(body, `${link.peer.username} gave up`);
    if (a instanceof P2pcatError) return this.#protocolError(link, a);
    const i = link.incoming.get(a.id);
    if (i) this.#dropIncoming(i, a.error, false);
  }

  /** The session under a send ended: wait for the peer to come back, then offer again (it resumes). */
  #interrupt(o: Outgoing): void {
    if (o.state === 'done') return;
    o.link?.outgoing.delete(o);
    o.link = undefined;
    o.state = 'waiting';
    void o.fh?.close().catch(() => undefined);
    o.fh = undefined;
    this.#timeout(o, FILE_ANSWER_TIMEOUT_MS, `${o.file.name} to ${o.username}: the peer went away and did not come back within ${FILE_ANSWER_TIMEOUT_MS / 1000} s`);
    if (this.closed) return this.#finishOut(o, P2pcatError.unavailable(`${o.file.name} to ${o.username}: the session ended before the transfer did`));
    // Another session to the same member may already be up (a duplicate that the mesh kept).
    const other = this.#links.get(o.key);
    if (other && other.s.isUp) this.#offer(o, other);
  }

  #finishOut(o: Outgoing, e: P2pcatError | undefined): void {
    if (o.state === 'done') return;
    o.state = 'done';
    clearTimeout(o.timer);
    void o.fh?.close().catch(() => undefined);
    o.fh = undefined;
    o.link?.outgoing.delete(o);
    this.#outgoing.delete(o);
    if (e) {
      this.failures.push(e);
      this.#ev.warn(e, { file: o.file.path, to: o.key });
    }
    o.settle(e);
    this.#checkIdle();
  }
}

/** Link `part` into `dir` under `name`, or "name (1)", ...: never replacing a file that is there. */
async function linkUnique(part: string, dir: string, name: string): Promise<string> {
  for (let n = 0; n < 1000; n++) {
    const target = path.join(dir, numberedName(name, n));
    // The name was made safe; this is the belt to those braces.
    if (path.dirname(target) !== path.resolve(dir)) throw new Error(`refusing to write outside ${dir}`);
    try {
      await fsp.link(part, target);
      return target;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new Error(`${name}: 1000 files of that name already exist`);
}
