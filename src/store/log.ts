// The encrypted chat log on disk: the I/O driver around the sans-I/O format
// (./format.ts, ./records.ts, ./frames.ts). docs/log-format.md is the spec;
// DESIGN.md "The log" and issue 3 are the requirements.
//
//   ChatLog      a writer: appends with group commit (durable when append()
//                resolves: one write + fdatasync per batch), keeps a msg_id
//                index for has(), cuts a torn tail, seals the live tail into
//                blocks and rewrites the file when most of it is superseded.
//   readLog      a reader: the records of the view, frame by frame.
//   openContainer / readView   the pieces `p2pcat log` builds its subcommands on.
//
// Every writer operation on the file (append, tail cut, seal, rewrite) runs
// under the lock file `<log>.lock` (./lock.ts); readers take no lock.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { checkChat, type ChatRecord } from '../chat/record.js';
import { logDir } from '../config/paths.js';
import { P2pcatError, isP2pcatError } from '../errors.js';
import { equalBytes } from '../util.js';
import { deriveKeys, type FrameKey } from './aead.js';
import {
  FILE_ID_BYTES,
  FILE_TYPE,
  FORMAT_VERSION,
  FRAME_KIND,
  HEADER_BYTES,
  LOG_BLOCK_MAX_RECORDS,
  LOG_FRAME_MAX_BODY_BYTES,
  LOG_FRAME_TARGET_PLAINTEXT_BYTES,
  LOG_LOCK_TIMEOUT_MS,
  LOG_SEAL_AFTER_FRAMES,
  LOG_VACUUM_MIN_DEAD_BYTES,
  TAG_BYTES,
  decodeHeader,
  encodeHeader,
  type FileHeader,
  type FileType,
} from './format.js';
import { encodeFrame, readFrame, scanFrames, tailBytes, tailCut, viewFrames, type ByteSource, type ViewEvent, type ViewSummary } from './frames.js';
import { IdSet } from './idset.js';
import { LockFile } from './lock.js';
import { COMPACT_ID_OFFSET, RECORD_FLAG, decodeRecords, encodeRecords, joinRecords, recordBytes, scanRecordIds, walkRecords, type StoredRecord } from './records.js';

export type { StoredRecord } from './records.js';

function fsWrite(fd: number, b: Buffer, off: number, len: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, b, off, len, null, (err, n) => (err ? reject(err) : resolve(n))));
}
const fsFdatasync = promisify(fs.fdatasync);
const fsFsync = promisify(fs.fsync);

/** Largest encoded record a frame can carry. */
export const LOG_RECORD_MAX_BYTES = LOG_FRAME_MAX_BODY_BYTES - TAG_BYTES - 4;

// ------------------------------------------------------------------ paths

/** File name for a room: a readable slug plus 16 hex digits of SHA-256(room), so no name can escape logDir() or collide. */
export function logFileName(room: string): string {
  const slug = room.toLowerCase().replace(/[^a-z0-9_-]+/g, '_').replace(/^[_-]+|_+$/g, '').slice(0, 48) || 'room';
  const h = crypto.createHash('sha256').update(room, 'utf8').digest('hex').slice(0, 16);
  return `${slug}-${h}.p2plog`;
}

export function defaultLogPath(room: string, env: Record<string, string | undefined> = process.env): string {
  return path.join(logDir(env), logFileName(room));
}

// ------------------------------------------------------------------ containers

export class FileSource implements ByteSource {
  constructor(
    readonly fd: number,
    public size: number,
  ) {}
  read(offset: number, length: number): Buffer {
    const n = Math.max(0, Math.min(length, this.size - offset));
    const b = Buffer.allocUnsafe(n);
    let got = 0;
    for (let guard = 0; got < n && guard < 1_000_000; guard++) {
      const r = fs.readSync(this.fd, b, got, n - got, offset + got);
      if (r === 0) break;
      got += r;
    }
    return got < n ? b.subarray(0, got) : b;
  }
}

/** An open log or export file whose header and key have been checked. */
export interface Container {
  file: string;
  fd: number;
  header: FileHeader;
  headerBytes: Buffer;
  key: FrameKey;
  ino: number;
  dev: number;
}

/** Key material for a file: the identity seed (a log) or a passphrase-derived secret (an export). */
export type IkmFor = (h: FileHeader) => Uint8Array | Promise<Uint8Array>;

function ioError(what: string, e: unknown): P2pcatError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOSPC' ? 'no space left on device' : err.code === 'EDQUOT' ? 'disk quota exceeded' : err.message;
  return P2pcatError.io(`${what}: ${why}`, e);
}

/**
 * Open `file` and check it is a p2pcat file of `type` that `ikm` opens.
 * Nothing is written: a file that is not a p2pcat log is left untouched.
 */
export async function openContainer(file: string, type: FileType, ikm: IkmFor, opts: { write?: boolean; wrongKey?: () => P2pcatError } = {}): Promise<Container> {
  let fd: number;
  try {
    fd = fs.openSync(file, opts.write ? fs.constants.O_RDWR | fs.constants.O_APPEND : fs.constants.O_RDONLY);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw P2pcatError.io(`no log at ${file}`, e);
    if (err.code === 'EISDIR') throw P2pcatError.logFormat(`${file} is a directory, not a p2pcat log`);
    throw ioError(`cannot open ${file}`, e);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw P2pcatError.logFormat(`${file} is not a regular file, so not a p2pcat log`);
    const headerBytes = Buffer.alloc(Math.min(HEADER_BYTES, st.size));
    if (headerBytes.length > 0) fs.readSync(fd, headerBytes, 0, headerBytes.length, 0);
    const header = decodeHeader(headerBytes, file);
    if (header.fileType !== type) {
      throw P2pcatError.logFormat(type === FILE_TYPE.LOG ? `${file} is a p2pcat export, not a log (use: p2pcat log import ${file})` : `${file} is a p2pcat log, not an export`);
    }
    const material = await ikm(header);
    const { frameKey, kcv } = deriveKeys(material, header.fileId);
    if (!equalBytes(kcv, header.kcv)) {
      throw opts.wrongKey ? opts.wrongKey() : P2pcatError.logKey(`${file} cannot be opened with this identity (another identity's log, or the wrong key)`);
    }
    return { file, fd, header, headerBytes, key: frameKey, ino: st.ino, dev: st.dev };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

export function closeContainer(c: Container): void {
  try {
    fs.closeSync(c.fd);
  } catch {
    /* already closed */
  }
}

/** Create a new, empty log (header only), atomically: it appears whole or not at all. Never replaces a file. */
export async function createLogFile(file: string, seed: Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fileId = crypto.randomBytes(FILE_ID_BYTES);
  const { kcv } = deriveKeys(seed, fileId);
  const header = encodeHeader({ version: FORMAT_VERSION, fileType: FILE_TYPE.LOG, scryptLogN: 0, scryptR: 0, scryptP: 0, fileId, kcv });
  await writeNewFile(file, [header], false);
}

/** Write `chunks` to a temp file next to `file`, fsync it, then link (or rename, when replacing) it into place and fsync the directory. */
export async function writeNewFile(file: string, chunks: Iterable<Buffer>, replace: boolean): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  } catch (e) {
    throw ioError(`cannot create ${tmp}`, e);
  }
  try {
    try {
      for (const c of chunks) await writeAll(fd, c);
      await fsFsync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (replace) fs.renameSync(tmp, file);
    else {
      try {
        fs.linkSync(tmp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // another process created it first: use theirs
      }
    }
  } catch (e) {
    throw isP2pcatError(e) ? e : ioError(`cannot write ${file}`, e);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  fsyncDir(dir);
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* some file systems refuse fsync on a directory; the rename is still atomic */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

async function writeAll(fd: number, b: Buffer): Promise<void> {
  let off = 0;
  for (let guard = 0; off < b.length; guard++) {
    if (guard > 10_000) throw P2pcatError.io('write made no progress');
    const n = await fsWrite(fd, b, off, b.length - off);
    if (n <= 0) throw P2pcatError.io('write returned 0 bytes');
    off += n;
  }
}

// ------------------------------------------------------------------ reading

export interface LogProblem {
  /** bad-frame: a frame whose tag fails; damage: bytes that are no frame; bad-payload: a frame that authenticates but does not decode; torn-tail: an interrupted write at the end. */
  kind: 'bad-frame' | 'damage' | 'bad-payload' | 'torn-tail';
  offset: number;
  length: number;
  /** A later sealed block holds the records of this range: nothing is lost. */
  superseded: boolean;
  message: string;
}

export function describeProblem(p: LogProblem): string {
  const where = `offset ${p.offset}, ${p.length} bytes`;
  const loss = p.superseded ? ' (superseded by a sealed block: no record lost)' : '';
  return `${p.message} at ${where}${loss}`;
}

/** Turn view events into problems, in the reader's words. */
export function problemOf(ev: ViewEvent): LogProblem | undefined {
  switch (ev.type) {
    case 'bad-frame':
      return {
        kind: 'bad-frame',
        offset: ev.offset,
        length: ev.length,
        superseded: ev.superseded,
        message: ev.kind === FRAME_KIND.BLOCK ? 'a sealed block failed authentication (its records are unreadable unless superseded)' : 'a frame failed authentication (its records are unreadable)',
      };
    case 'damage':
      return { kind: 'damage', offset: ev.offset, length: ev.length, superseded: ev.superseded, message: `damaged bytes (${ev.reason})` };
    default:
      return undefined;
  }
}

export interface ViewOptions {
  from?: number;
  to?: number;
  /** Also authenticate frames superseded by sealed blocks (verify). */
  checkSuperseded?: boolean;
  onProblem?: (p: LogProblem) => void;
}

export interface ViewResult extends ViewSummary {
  /** Where the next reader of new frames starts (end of the last whole frame). */
  end: number;
  frames: number;
  size: number;
}

/**
 * The view of a container, newest frame first: yields each authenticated
 * payload (undecoded). A torn tail is reported, not read. Returns a summary.
 */
export function* readView(c: Container, opts: ViewOptions = {}): Generator<{ offset: number; kind: number; payload: Buffer }, ViewResult> {
  const size = opts.to ?? fs.fstatSync(c.fd).size;
  const src = new FileSource(c.fd, size);
  const from = opts.from ?? HEADER_BYTES;
  const scan = scanFrames(src, from, size);
  const keep = tailCut(src, c.key, scan.frames);
  const tail = tailBytes(scan, keep);
  if (tail.length > 0) {
    opts.onProblem?.({ kind: 'torn-tail', offset: tail.offset, length: tail.length, superseded: false, message: 'a torn tail (an interrupted write, cut by the next writer)' });
  }
  const gen = viewFrames(src, c.key, scan, keep, { checkSuperseded: opts.checkSuperseded ?? false });
  let step = gen.next();
  for (let guard = 0; !step.done; guard++) {
    const ev = step.value;
    if (ev.type === 'payload') yield { offset: ev.offset, kind: ev.kind, payload: ev.payload };
    else {
      const p = problemOf(ev);
      if (p) opts.onProblem?.(p);
    }
    step = gen.next();
  }
  return { ...step.value, end: tail.offset, frames: keep, size };
}

export interface ReadLogOptions {
  onProblem?: (p: LogProblem) => void;
  checkSuperseded?: boolean;
  /**
   * Dedupe verified records by msg_id: a verified record whose msg_id is
   * already in this set is skipped (before it is decoded), and new ones are
   * added. Unverified records always come through.
   */
  seen?: IdSet;
}

/**
 * Every record of a log's view, one batch per frame (newest frame first;
 * within a frame, in append order). Records are not re-verified: `checked`
 * says whether their writer verified them. Deduplicated only with `seen`.
 */
export async function* readLog(file: string, seed: Uint8Array, opts: ReadLogOptions = {}): AsyncGenerator<StoredRecord[], ViewResult> {
  const c = await openContainer(file, FILE_TYPE.LOG, () => seed);
  try {
    const view = readView(c, opts);
    let step = view.next();
    while (!step.done) {
      const { offset, payload } = step.value;
      let batch: StoredRecord[] | undefined;
      try {
        const seen = opts.seen;
        batch = seen ? decodeRecords(payload, (b, o) => seen.addBytes(b, o)) : decodeRecords(payload);
      } catch (e) {
        if (!isP2pcatError(e)) throw e;
        opts.onProblem?.({ kind: 'bad-payload', offset, length: payload.length, superseded: false, message: `a frame that authenticates but does not decode (${e.message})` });
      }
      if (batch) yield batch;
      step = view.next();
    }
    return step.value;
  } finally {
    closeContainer(c);
  }
}

// ------------------------------------------------------------------ writer

export interface ChatLogOptions {
  /** Called with one line (no "p2pcat: " prefix) for each warning: a torn tail cut, damage found. Default: stderr. */
  onWarning?: (msg: string) => void;
  /** Create the log when missing (default true). */
  create?: boolean;
  /** Seal the live tail once it has this many frames (default LOG_SEAL_AFTER_FRAMES). */
  sealAfterFrames?: number;
  /** Rewrite the file once superseded bytes pass this and the live bytes left by the last rewrite (default LOG_VACUUM_MIN_DEAD_BYTES; Infinity: never). */
  vacuumMinDeadBytes?: number;
  lockTimeoutMs?: number;
}

export interface AppendOptions {
  /** The caller has run checkChat on every record and each passed: do not verify again. */
  checked?: boolean;
}

export interface AppendResult {
  appended: number;
  duplicates: number;
}

interface Pending {
  items: StoredRecord[];
  bytes: number;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

const APPEND_BATCH_MAX_BYTES = 8 * LOG_FRAME_TARGET_PLAINTEXT_BYTES;

export class ChatLog {
  readonly file: string;
  #c: Container;
  readonly #seed: Uint8Array;
  readonly #lock: LockFile;
  readonly #warn: (msg: string) => void;
  readonly #sealAfter: number;
  readonly #vacuumMin: number;
  readonly #lockTimeout: number;
  #index = new IdSet();
  #knownEnd = HEADER_BYTES;
  #liveStart = HEADER_BYTES;
  #unsealed = 0;
  #unsealedRecords = 0;
  #dead = 0;
  /** Live bytes after the last rewrite (or at open): the yardstick for the next one. */
  #baseline = 0;
  #damaged = false;
  #queue: Pending[] = [];
  #serial: Promise<void> = Promise.resolve();
  #draining = false;
  #closed = false;

  private constructor(file: string, c: Container, seed: Uint8Array, opts: ChatLogOptions) {
    this.file = file;
    this.#c = c;
    this.#seed = new Uint8Array(seed);
    this.#lock = new LockFile(`${file}.lock`);
    this.#warn = opts.onWarning ?? ((m) => process.stderr.write(`p2pcat: ${m}\n`));
    this.#sealAfter = Math.max(1, opts.sealAfterFrames ?? LOG_SEAL_AFTER_FRAMES);
    this.#vacuumMin = opts.vacuumMinDeadBytes ?? LOG_VACUUM_MIN_DEAD_BYTES;
    this.#lockTimeout = opts.lockTimeoutMs ?? LOG_LOCK_TIMEOUT_MS;
  }

  /** Open (creating when missing, unless create: false) the log at `file` for appending. */
  static async open(file: string, identitySeed: Uint8Array, opts: ChatLogOptions = {}): Promise<ChatLog> {
    if (identitySeed.length !== 32) throw new RangeError('identity seed must be 32 bytes');
    const abs = path.resolve(file);
    if (!fs.existsSync(abs)) {
      if (opts.create === false) throw P2pcatError.io(`no log at ${abs}`);
      await createLogFile(abs, identitySeed);
    }
    const c = await openContainer(abs, FILE_TYPE.LOG, () => identitySeed, { write: true });
    const log = new ChatLog(abs, c, identitySeed, opts);
    try {
      await log.#locked(() => log.#rescan());
    } catch (e) {
      closeContainer(c);
      throw e;
    }
    return log;
  }

  /** Has a verified record with this msg_id been logged (by any writer, as of this process's last look at the file)? */
  has(msgId: string): boolean {
    return this.#index.has(msgId);
  }

  /** Distinct verified msg_ids in the log. */
  get size(): number {
    return this.#index.size;
  }

  /**
   * Append records; resolves when they are durable (written and fdatasync'ed).
   * Records whose verified msg_id is already logged are skipped (counted as
   * duplicates). Unless `checked`, each new record is verified with checkChat;
   * one that fails is still stored, marked unverified (cat hides it, verify reports it).
   */
  append(records: readonly ChatRecord[], opts: AppendOptions = {}): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(P2pcatError.io(`log ${this.file} is closed`));
    const items: StoredRecord[] = [];
    let bytes = 0;
    for (const r of records) {
      const known = this.#index.has(r.msg_id);
      const s: StoredRecord = { record: r, checked: known || opts.checked === true || checkChat(r).ok };
      const n = recordBytes(s);
      if (n > LOG_RECORD_MAX_BYTES) return Promise.reject(P2pcatError.limit(`a record of ${n} bytes is larger than the log's ${LOG_RECORD_MAX_BYTES}-byte limit`));
      bytes += n;
      items.push(s);
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ items, bytes, resolve, reject });
      if (!this.#draining) {
        this.#draining = true;
        this.#serial = this.#serial
          .then(() => this.#drain())
          .catch((e) => {
            // A bug, not an I/O error (those reject their batch): fail what waits, stay usable.
            this.#draining = false;
            for (const p of this.#queue.splice(0)) p.reject(e);
          });
      }
    });
  }

  /** Seal the live tail into blocks now (normally automatic). */
  seal(): Promise<void> {
    return this.#exclusive(() => this.#locked(() => this.#seal(true)));
  }

  /** Rewrite the file as sealed blocks only, dropping superseded frames and duplicates. */
  compact(): Promise<void> {
    return this.#exclusive(() => this.#locked(() => this.#vacuum()));
  }

  /** Wait for pending appends and housekeeping, then close. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#serial;
    this.#closed = true;
    closeContainer(this.#c);
  }

  // ---------------------------------------------------------------- internals

  #exclusive(fn: () => Promise<void>): Promise<void> {
    if (this.#closed) return Promise.reject(P2pcatError.io(`log ${this.file} is closed`));
    const p = this.#serial.then(fn);
    this.#serial = p.catch(() => undefined);
    return p;
  }

  async #locked<T>(fn: () => Promise<T> | T): Promise<T> {
    await this.#lock.acquire(this.#lockTimeout);
    try {
      return await fn();
    } finally {
      this.#lock.release();
    }
  }

  async #drain(): Promise<void> {
    for (let guard = 0; this.#queue.length > 0 && guard < 1_000_000; guard++) {
      const batch: Pending[] = [];
      let bytes = 0;
      while (this.#queue.length > 0 && (batch.length === 0 || bytes + this.#queue[0]!.bytes <= APPEND_BATCH_MAX_BYTES)) {
        const p = this.#queue.shift()!;
        bytes += p.bytes;
        batch.push(p);
      }
      try {
        const results = await this.#locked(() => this.#writeBatch(batch));
        batch.forEach((p, i) => p.resolve(results[i]!));
      } catch (e) {
        for (const p of batch) p.reject(e);
      }
      if (this.#unsealed >= this.#sealAfter) {
        try {
          await this.#locked(() => this.#seal(false));
        } catch (e) {
          this.#warn(`could not seal ${this.file}: ${(e as Error).message}`);
        }
      }
    }
    this.#draining = false;
  }

  #size(): number {
    return fs.fstatSync(this.#c.fd).size;
  }

  /** Under the lock: truncate to `end` after a failed write, so the file ends on a whole frame. */
  async #undo(end: number): Promise<void> {
    try {
      fs.ftruncateSync(this.#c.fd, end);
      await fsFdatasync(this.#c.fd);
    } catch (e) {
      this.#warn(`could not cut ${this.file} back to ${end} bytes after a failed write: ${(e as Error).message}; the next writer will`);
    }
  }

  /** Under the lock: append `buf` (whole frames) at the end, durably. */
  async #appendBytes(buf: Buffer, what: string): Promise<void> {
    const before = this.#knownEnd;
    try {
      await writeAll(this.#c.fd, buf);
      await fsFdatasync(this.#c.fd);
    } catch (e) {
      await this.#undo(before);
      throw isP2pcatError(e) ? e : ioError(`cannot ${what} ${this.file}`, e);
    }
    this.#knownEnd = before + buf.length;
  }

  /** Under the lock: cut a torn tail found at `offset`. */
  async #cutTail(offset: number, length: number): Promise<void> {
    try {
      fs.ftruncateSync(this.#c.fd, offset);
      await fsFdatasync(this.#c.fd);
    } catch (e) {
      throw ioError(`cannot cut the torn tail of ${this.file}`, e);
    }
    this.#warn(`${this.file}: cut a torn tail of ${length} bytes at offset ${offset} (an interrupted write; every acknowledged record is intact)`);
  }

  /** Under the lock: read [from, size) into the index, cutting a torn tail. Returns the view summary. */
  async #ingest(from: number): Promise<ViewSummary & { frames: number; liveRecords: number }> {
    const size = this.#size();
    const src = new FileSource(this.#c.fd, size);
    const scan = scanFrames(src, from, size);
    const keep = tailCut(src, this.#c.key, scan.frames);
    const tail = tailBytes(scan, keep);
    if (tail.length > 0) await this.#cutTail(tail.offset, tail.length);
    const problems: string[] = [];
    let liveRecords = 0;
    const gen = viewFrames(src, this.#c.key, scan, keep);
    let step = gen.next();
    while (!step.done) {
      const ev = step.value;
      if (ev.type === 'payload') {
        try {
          const n = scanRecordIds(ev.payload, (b, o) => this.#index.addBytes(b, o));
          if (ev.live) liveRecords += n;
        } catch (e) {
          if (!isP2pcatError(e)) throw e;
          problems.push(`offset ${ev.offset}: ${e.message}`);
        }
      } else {
        const p = problemOf(ev);
        if (p && !p.superseded) problems.push(`offset ${p.offset}: ${p.message}`);
      }
      step = gen.next();
    }
    if (problems.length > 0) {
      this.#damaged = true;
      this.#warn(`${this.file}: ${problems.length} damaged range(s), first ${problems.slice(0, 3).join('; ')}; run: p2pcat log verify --log ${this.file}`);
    }
    this.#knownEnd = tail.offset;
    return { ...step.value, frames: keep, liveRecords };
  }

  /** Under the lock: rebuild everything from the file. */
  async #rescan(): Promise<void> {
    this.#index = new IdSet();
    this.#damaged = false;
    const s = await this.#ingest(HEADER_BYTES);
    this.#liveStart = s.liveStart;
    this.#unsealed = s.unsealedFrames;
    this.#unsealedRecords = s.liveRecords;
    this.#dead = s.supersededBytes;
    this.#baseline = this.#knownEnd - this.#dead;
  }

  /** Under the lock: take in what other writers appended since we last looked; follow a rewritten file. */
  async #catchUp(): Promise<void> {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.file);
    } catch (e) {
      throw ioError(`the log ${this.file} is gone`, e);
    }
    if (st.ino !== this.#c.ino || st.dev !== this.#c.dev) {
      const c = await openContainer(this.file, FILE_TYPE.LOG, () => this.#seed, { write: true });
      closeContainer(this.#c);
      this.#c = c;
      await this.#rescan();
      return;
    }
    const size = this.#size();
    if (size === this.#knownEnd) return;
    if (size < this.#knownEnd) {
      await this.#rescan();
      return;
    }
    const from = this.#knownEnd;
    const s = await this.#ingest(from);
    if (s.sealed) {
      this.#liveStart = s.liveStart;
      this.#unsealed = s.unsealedFrames;
      this.#unsealedRecords = s.liveRecords;
    } else {
      this.#unsealed += s.unsealedFrames;
      this.#unsealedRecords += s.liveRecords;
    }
    this.#dead += s.supersededBytes;
  }

  async #writeBatch(batch: Pending[]): Promise<AppendResult[]> {
    await this.#catchUp();
    const results: AppendResult[] = [];
    const keep: StoredRecord[] = [];
    const sizes: number[] = [];
    const fresh = new Set<string>();
    for (const p of batch) {
      const r: AppendResult = { appended: 0, duplicates: 0 };
      for (const s of p.items) {
        if (s.checked && (this.#index.has(s.record.msg_id) || fresh.has(s.record.msg_id))) {
          r.duplicates++;
          continue;
        }
        if (s.checked) fresh.add(s.record.msg_id);
        keep.push(s);
        sizes.push(recordBytes(s));
        r.appended++;
      }
      results.push(r);
    }
    if (keep.length === 0) return results;
    const frames: Buffer[] = [];
    for (let i = 0; i < keep.length; ) {
      let j = i;
      let bytes = 0;
      while (j < keep.length && (j === i || bytes + sizes[j]! <= LOG_FRAME_TARGET_PLAINTEXT_BYTES)) bytes += sizes[j++]!;
      frames.push(encodeFrame(this.#c.key, FRAME_KIND.RECORDS, encodeRecords(keep.slice(i, j), sizes.slice(i, j))));
      i = j;
    }
    await this.#appendBytes(Buffer.concat(frames), 'append to');
    for (const s of keep) if (s.checked) this.#index.add(s.record.msg_id);
    this.#unsealed += frames.length;
    this.#unsealedRecords += keep.length;
    return results;
  }

  /**
   * Under the lock: seal frames [liveStart, end) into one block group that
   * supersedes them. When the live frames are already about block-sized
   * (big append batches, a sync), copying them gains nothing: an empty group
   * that covers nothing is written instead, as a checkpoint that moves
   * liveStart on.
   */
  async #seal(force: boolean): Promise<void> {
    await this.#catchUp();
    if (this.#unsealed === 0 || (!force && this.#unsealed < this.#sealAfter)) return;
    const from = this.#liveStart;
    const to = this.#knownEnd;
    const blocks: Buffer[] = [];
    let covers = 0;
    if (this.#unsealed >= 2 * Math.ceil(this.#unsealedRecords / LOG_BLOCK_MAX_RECORDS)) {
      covers = to - from;
      const src = new FileSource(this.#c.fd, to);
      const scan = scanFrames(src, from, to);
      const builder = new BlockBuilder();
      for (let i = 0; i < scan.frames.count; i++) {
        const payload = readFrame(src, this.#c.key, scan.frames, i);
        if (!payload) continue; // damage: reported when it was read; its records are gone
        try {
          walkRecords(payload, (a, b) => {
            const done = builder.add(payload.subarray(a, b));
            if (done) blocks.push(done);
          });
        } catch (e) {
          if (!isP2pcatError(e)) throw e;
        }
      }
      const last = builder.finish();
      if (last) blocks.push(last);
    }
    if (blocks.length === 0) blocks.push(joinRecords([]));
    if (blocks.length > 0xffff) {
      this.#warn(`${this.file}: live tail too large to seal in one group (${blocks.length} blocks); left unsealed`);
      return;
    }
    const parts = blocks.map((b, k) => encodeFrame(this.#c.key, FRAME_KIND.BLOCK, b, { part: k, parts: blocks.length, covers }));
    await this.#appendBytes(Buffer.concat(parts), 'seal');
    this.#liveStart = this.#knownEnd;
    this.#unsealed = 0;
    this.#unsealedRecords = 0;
    this.#dead += covers;
    if (this.#dead >= Math.max(this.#vacuumMin, this.#baseline) && !this.#damaged) await this.#vacuum();
  }

  /** Under the lock: rewrite the file as blocks of the view (minus duplicate verified ids), then rename it into place. */
  async #vacuum(): Promise<void> {
    await this.#catchUp();
    if (this.#damaged) {
      this.#warn(`${this.file}: not compacting a damaged log (run p2pcat log verify first)`);
      return;
    }
    const seen = new IdSet(this.#index.size);
    const both = RECORD_FLAG.CHECKED | RECORD_FLAG.COMPACT;
    const key = this.#c.key;
    const header = this.#c.headerBytes;
    const view = readView(this.#c, { to: this.#knownEnd });
    // Streams: one block in memory at a time, plus the id set.
    function* chunks(): Generator<Buffer> {
      yield header;
      const builder = new BlockBuilder();
      const ready: Buffer[] = [];
      for (let step = view.next(); !step.done; step = view.next()) {
        const payload = step.value.payload;
        walkRecords(payload, (a, b, flags) => {
          if ((flags & both) === both && !seen.addBytes(payload, a + COMPACT_ID_OFFSET)) return;
          const done = builder.add(payload.subarray(a, b));
          if (done) ready.push(done);
        });
        for (const b of ready.splice(0)) yield encodeFrame(key, FRAME_KIND.BLOCK, b, { part: 0, parts: 1, covers: 0 });
      }
      const last = builder.finish();
      if (last) yield encodeFrame(key, FRAME_KIND.BLOCK, last, { part: 0, parts: 1, covers: 0 });
    }
    await writeNewFile(this.file, chunks(), true);
    const c = await openContainer(this.file, FILE_TYPE.LOG, () => this.#seed, { write: true });
    closeContainer(this.#c);
    this.#c = c;
    this.#knownEnd = this.#size();
    this.#liveStart = this.#knownEnd;
    this.#unsealed = 0;
    this.#unsealedRecords = 0;
    this.#dead = 0;
    this.#baseline = this.#knownEnd;
  }
}

/** Groups encoded records into block payloads of at most LOG_BLOCK_MAX_RECORDS records and about the target size. */
class BlockBuilder {
  #slices: Buffer[] = [];
  #bytes = 0;
  /** Add one encoded record; returns a finished block payload when this one no longer fits. */
  add(slice: Buffer): Buffer | undefined {
    let done: Buffer | undefined;
    if (this.#slices.length > 0 && (this.#slices.length >= LOG_BLOCK_MAX_RECORDS || this.#bytes + slice.length > LOG_FRAME_TARGET_PLAINTEXT_BYTES)) done = this.finish();
    this.#slices.push(slice);
    this.#bytes += slice.length;
    return done;
  }
  finish(): Buffer | undefined {
    if (this.#slices.length === 0) return undefined;
    const b = joinRecords(this.#slices);
    this.#slices = [];
    this.#bytes = 0;
    return b;
  }
}
