// `p2pcat log ...` implementation: cat, verify, stats, export, import over
// src/store (docs/log-format.md). stdout carries NDJSON records only;
// problems go to stderr as `p2pcat: CODE: ...` lines.
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkChat, msgId, type ChatRecord } from '../../chat/record.js';
import { identityPath } from '../../config/paths.js';
import { loadOrCreateIdentity, uuidFromPublicKey } from '../../crypto/identity.js';
import { DEFAULT_ROOM } from '../../crypto/labels.js';
import { P2pcatError, isP2pcatError } from '../../errors.js';
import { ROOM_MAX_BYTES } from '../../limits.js';
import { fromHex, utf8Length } from '../../util.js';
import { exportLog, readExport } from '../../store/export.js';
import { FILE_TYPE, HEADER_BYTES, LOG_FOLLOW_POLL_MS, PASSPHRASE_MAX_BYTES } from '../../store/format.js';
import { IdSet } from '../../store/idset.js';
import { LockFile } from '../../store/lock.js';
import { ChatLog, closeContainer, defaultLogPath, describeProblem, openContainer, readLog, readView, type Container, type LogProblem } from '../../store/log.js';
import { decodeRecords, type StoredRecord } from '../../store/records.js';
import { RecordWriter, say } from '../io.js';
import type { LogArgs } from '../commands/log.js';

type Sub = 'cat' | 'verify' | 'stats' | 'export' | 'import';

export async function run(sub: Sub, argv: LogArgs): Promise<void> {
  const file = logPath(argv);
  switch (sub) {
    case 'cat':
      return cat(file, argv);
    case 'verify':
      return verify(file);
    case 'stats':
      return stats(file);
    case 'export':
      return exportCmd(file, argv);
    case 'import':
      return importCmd(file, argv);
  }
}

function logPath(argv: LogArgs): string {
  if (argv.log !== undefined) {
    if (argv.log === '') throw P2pcatError.usage('--log needs a path');
    return path.resolve(argv.log);
  }
  const room = argv.room ?? process.env.P2PCAT_ROOM ?? DEFAULT_ROOM;
  if (room === '' || utf8Length(room) > ROOM_MAX_BYTES) throw P2pcatError.usage(`room name must be 1-${ROOM_MAX_BYTES} bytes`);
  return defaultLogPath(room);
}

function identitySeed(): Uint8Array {
  const file = identityPath();
  const { identity, created } = loadOrCreateIdentity(file);
  if (created) say(`created a new identity in ${file}`);
  return identity.seed;
}

function needLog(file: string): void {
  if (!fs.existsSync(file)) throw P2pcatError.io(`no log at ${file} (nothing has been logged in this room yet)`);
}

// ------------------------------------------------------------------ cat

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** A time bound: "90s", "15m", "1h", "2d", "1w" ago, or an ISO 8601 date/time. */
export function parseTimeBound(s: string, flag: string, now = Date.now()): number {
  const m = DURATION_RE.exec(s.trim());
  if (m) return now - Number(m[1]) * UNIT_MS[m[2]!]!;
  if (/^\d{4}-\d{2}-\d{2}/.test(s)) {
    const t = Date.parse(s);
    if (!Number.isNaN(t)) return t;
  }
  throw P2pcatError.usage(`${flag} ${JSON.stringify(s)}: use a duration such as 30s, 15m, 1h, 2d, 1w, or an ISO 8601 time such as 2025-04-29T14:00:00Z`);
}

interface Entry {
  rec: ChatRecord;
  ms: number;
  sub: number;
  checked: boolean;
  /** undefined: not checked yet; '': valid; else why not. */
  invalid?: string;
}

/** Sort key of an ISO timestamp: milliseconds, then the digits below a millisecond. */
function timeKey(ts: string): [number, number] {
  const ms = Date.parse(ts);
  if (ts.length === 24) return [Number.isNaN(ms) ? -Infinity : ms, 0];
  const frac = /\.(\d+)Z$/.exec(ts)?.[1] ?? '';
  return [Number.isNaN(ms) ? -Infinity : ms, frac.length > 3 ? Number(frac.slice(3, 9).padEnd(6, '0')) : 0];
}

function compareEntries(a: Entry, b: Entry): number {
  return a.ms - b.ms || a.sub - b.sub || (a.rec.msg_id < b.rec.msg_id ? -1 : a.rec.msg_id > b.rec.msg_id ? 1 : 0);
}

interface Filter {
  since: number;
  until: number;
  from?: string;
  re?: RegExp;
  all: boolean;
}

function makeFilter(argv: LogArgs): Filter {
  const now = Date.now();
  const f: Filter = {
    since: argv.since !== undefined ? parseTimeBound(argv.since, '--since', now) : -Infinity,
    until: argv.until !== undefined ? parseTimeBound(argv.until, '--until', now) : Infinity,
    all: argv.all === true,
  };
  if (argv.from !== undefined) f.from = argv.from;
  if (argv.grep !== undefined) {
    try {
      f.re = new RegExp(argv.grep);
    } catch (e) {
      throw P2pcatError.usage(`--grep: ${(e as Error).message}`);
    }
  }
  if (argv.limit !== undefined && (!Number.isInteger(argv.limit) || argv.limit < 0)) throw P2pcatError.usage('--limit must be a whole number');
  return f;
}

const uuidCache = new Map<string, string | undefined>();
/**
 * The cheap part of checkChat, for records whose writer verified them (the
 * flag is inside the authenticated frame): uuid bound to the key, msg_id
 * matches. The signature itself is left to `log verify`.
 */
function quickCheck(r: ChatRecord): string | undefined {
  let uuid = uuidCache.get(r.from);
  if (!uuidCache.has(r.from)) {
    const pub = fromHex(r.from, 32);
    uuid = pub ? uuidFromPublicKey(pub) : undefined;
    if (uuidCache.size > 10_000) uuidCache.clear();
    uuidCache.set(r.from, uuid);
  }
  if (uuid === undefined) return 'bad key or signature encoding';
  if (uuid !== r.uuid) return 'uuid does not belong to the author key';
  if (msgId(r.uuid, r.timestamp, r.message) !== r.msg_id) return 'msg_id does not match';
  return undefined;
}

/** The entry for a record that passes the cheap filters (time, author, --grep), or undefined. */
function select(s: StoredRecord, f: Filter): Entry | undefined {
  const r = s.record;
  const [ms, sub] = timeKey(r.timestamp);
  if (ms < f.since || ms > f.until) return undefined;
  if (f.from !== undefined && r.username !== f.from && r.uuid !== f.from && r.from !== f.from) return undefined;
  if (f.re && !f.re.test(r.message)) return undefined;
  return { rec: r, ms, sub, checked: s.checked };
}

/**
 * Check an entry once; true when it may be printed. Every record printed is
 * checked: fully (checkChat) when its writer did not verify it, with
 * quickCheck when it did. Invalid ones are printed only with --all.
 */
function validate(e: Entry, all: boolean): boolean {
  if (e.invalid === undefined) {
    if (e.checked) e.invalid = quickCheck(e.rec) ?? '';
    else {
      const c = checkChat(e.rec);
      e.invalid = c.ok ? '' : c.reason;
    }
  }
  return e.invalid === '' || all;
}

function outputOf(e: Entry): object {
  const r = e.rec;
  const o = { type: 'CHAT', room: r.room, uuid: r.uuid, username: r.username, timestamp: r.timestamp, message: r.message, msg_id: r.msg_id, from: r.from, sig: r.sig };
  return e.invalid ? { ...o, invalid: e.invalid } : o;
}

async function emit(w: RecordWriter, rec: object): Promise<void> {
  if (!w.write(rec)) await once(w, 'drain');
}

async function cat(file: string, argv: LogArgs): Promise<void> {
  const filter = makeFilter(argv);
  const seed = identitySeed();
  needLog(file);
  // Verified records are deduplicated by readLog on their binary msg_id (before
  // they are decoded); records without the flag go through `unverified`, and
  // lose to a valid record with the same msg_id.
  const seen = new IdSet();
  const valid = new IdSet();
  let entries: Entry[] = [];
  const unverified = new Map<string, Entry>();
  const limit = argv.limit;
  let cutoff = -Infinity;
  const onProblem = (p: LogProblem) => {
    if (p.kind !== 'torn-tail' && !p.superseded) say(`P2PCAT_ERR_LOG_CORRUPT: ${file}: ${describeProblem(p)} (run: p2pcat log verify)`);
  };
  const gen = readLog(file, seed, { onProblem, seen });
  let step = await gen.next();
  for (; !step.done; step = await gen.next()) {
    for (const s of step.value) {
      const e = select(s, filter);
      if (!e) continue;
      if (e.ms < cutoff) continue; // older than the oldest of the newest 2N+1000 kept so far
      if (s.checked) {
        entries.push(e);
        valid.add(e.rec.msg_id);
        continue;
      }
      // Without the flag: check now, so that a valid copy wins over an invalid one.
      validate(e, true);
      const prev = unverified.get(e.rec.msg_id);
      if (prev && (prev.invalid === '' || e.invalid !== '')) continue;
      unverified.set(e.rec.msg_id, e);
    }
    // --limit N: only the newest N (plus those that fail their check) can be printed; keep memory bounded.
    if (limit !== undefined && entries.length > 4 * limit + 10_000) {
      entries = entries.sort(compareEntries).slice(-(2 * limit + 1000));
      cutoff = entries[0]!.ms;
    }
  }
  for (const e of unverified.values()) if (!valid.has(e.rec.msg_id)) entries.push(e);
  unverified.clear();
  entries.sort(compareEntries);
  if (limit !== undefined) {
    // Walk back from the newest until N printable ones are found.
    const picked: Entry[] = [];
    for (let i = entries.length - 1; i >= 0 && picked.length < limit; i--) if (validate(entries[i]!, filter.all)) picked.push(entries[i]!);
    entries = picked.reverse();
  }
  const w = new RecordWriter();
  for (const e of entries) if (validate(e, filter.all)) await emit(w, outputOf(e));
  entries = [];
  if (argv.follow) await follow(file, seed, filter, seen, w, step.value.end);
  await w.end();
}

/** Print records appended after `end`, as they come, until killed. Reopens the file when a writer rewrites it. */
async function follow(file: string, seed: Uint8Array, filter: Filter, seen: IdSet, w: RecordWriter, end: number): Promise<void> {
  let c: Container = await openContainer(file, FILE_TYPE.LOG, () => seed);
  let lastEnd = end;
  const printedInvalid = new Set<string>();
  for (;;) {
    await w.end();
    await sleep(LOG_FOLLOW_POLL_MS);
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      continue; // being replaced: look again
    }
    if (st.ino !== c.ino || st.dev !== c.dev) {
      closeContainer(c);
      c = await openContainer(file, FILE_TYPE.LOG, () => seed);
      lastEnd = HEADER_BYTES;
    }
    const size = fs.fstatSync(c.fd).size;
    if (size <= lastEnd) continue;
    const payloads: Buffer[] = [];
    const v = readView(c, { from: lastEnd, to: size });
    let s = v.next();
    for (; !s.done; s = v.next()) payloads.push(s.value.payload);
    lastEnd = s.value.end;
    for (const p of payloads.reverse()) {
      let batch: StoredRecord[];
      try {
        batch = decodeRecords(p);
      } catch (e) {
        if (!isP2pcatError(e)) throw e;
        continue;
      }
      for (const r of batch) {
        if (r.checked) {
          if (!seen.add(r.record.msg_id)) continue;
        } else {
          const k = r.record.msg_id + r.record.sig;
          if (seen.has(r.record.msg_id) || printedInvalid.has(k)) continue;
          if (printedInvalid.size < 100_000) printedInvalid.add(k);
        }
        const e = select(r, filter);
        if (e && validate(e, filter.all)) await emit(w, outputOf(e));
      }
    }
  }
}

// ------------------------------------------------------------------ verify

/** The file size at a moment no writer is mid-write (taking the lock briefly), or the current size when the lock cannot be taken. */
async function stableSize(file: string, fd: number): Promise<number> {
  const lock = new LockFile(`${file}.lock`);
  try {
    await lock.acquire(5_000);
  } catch {
    return fs.fstatSync(fd).size;
  }
  try {
    return fs.fstatSync(fd).size;
  } finally {
    lock.release();
  }
}

async function verify(file: string): Promise<void> {
  const seed = identitySeed();
  needLog(file);
  const c = await openContainer(file, FILE_TYPE.LOG, () => seed);
  const problems: string[] = [];
  const counts = { bad_frames: 0, damaged_bytes: 0, torn_tail_bytes: 0, superseded_damage: 0, records: 0, valid: 0, invalid: 0, duplicates: 0 };
  const report = (msg: string) => {
    problems.push(msg);
    if (problems.length <= 1000) say(`P2PCAT_ERR_LOG_CORRUPT: ${file}: ${msg}`);
  };
  const onProblem = (p: LogProblem) => {
    if (p.superseded) counts.superseded_damage++;
    if (p.kind === 'torn-tail') counts.torn_tail_bytes += p.length;
    else if (p.kind === 'damage') counts.damaged_bytes += p.length;
    else counts.bad_frames++;
    report(describeProblem(p));
  };
  const ids = new IdSet();
  let result;
  try {
    const size = await stableSize(file, c.fd);
    const view = readView(c, { to: size, checkSuperseded: true, onProblem });
    let step = view.next();
    for (; !step.done; step = view.next()) {
      const { offset, payload } = step.value;
      let batch: StoredRecord[];
      try {
        batch = decodeRecords(payload);
      } catch (e) {
        if (!isP2pcatError(e)) throw e;
        counts.bad_frames++;
        report(`the frame at offset ${offset} authenticates but does not decode: ${e.message}`);
        continue;
      }
      for (const s of batch) {
        counts.records++;
        const ck = checkChat(s.record);
        if (ck.ok) {
          counts.valid++;
          if (!ids.add(s.record.msg_id)) counts.duplicates++;
        } else {
          counts.invalid++;
          report(`record msg_id=${JSON.stringify(s.record.msg_id.slice(0, 80))} in the frame at offset ${offset}: ${ck.reason}${s.checked ? ' (its writer had marked it verified)' : ''}`);
        }
      }
    }
    result = step.value;
  } finally {
    closeContainer(c);
  }
  if (problems.length > 1000) say(`P2PCAT_ERR_LOG_CORRUPT: ${file}: ... and ${problems.length - 1000} more problems`);
  const ok = problems.length === 0;
  const w = new RecordWriter();
  w.write({ type: 'LOG_VERIFY', file, ok, size: result.size, frames: result.frames, unique: ids.size, ...counts, problems: problems.length });
  await w.end();
  if (!ok) {
    const e = P2pcatError.logCorrupt(`${file}: ${problems.length} problem(s) found (listed above)`);
    throw e;
  }
}

// ------------------------------------------------------------------ stats

async function stats(file: string): Promise<void> {
  const seed = identitySeed();
  needLog(file);
  const ids = new IdSet();
  const authors = new Map<string, { uuid: string; username: string; from: string; records: number }>();
  let stored = 0;
  let unverified = 0;
  let duplicates = 0;
  let first: string | undefined;
  let last: string | undefined;
  let firstKey = Infinity;
  let lastKey = -Infinity;
  let problems = 0;
  const gen = readLog(file, seed, { onProblem: (p) => (p.superseded || p.kind === 'torn-tail' ? undefined : problems++) });
  let step = await gen.next();
  for (; !step.done; step = await gen.next()) {
    for (const s of step.value) {
      stored++;
      const r = s.record;
      if (!s.checked) {
        unverified++;
        continue;
      }
      if (!ids.add(r.msg_id)) {
        duplicates++;
        continue;
      }
      const t = Date.parse(r.timestamp);
      if (t < firstKey || first === undefined) (firstKey = t), (first = r.timestamp);
      if (t > lastKey || last === undefined) (lastKey = t), (last = r.timestamp);
      let a = authors.get(r.from);
      if (!a) authors.set(r.from, (a = { uuid: r.uuid, username: r.username, from: r.from, records: 0 }));
      a.records++;
      a.username = r.username;
    }
  }
  const res = step.value;
  const top = [...authors.values()].sort((a, b) => b.records - a.records).slice(0, 20);
  const w = new RecordWriter();
  w.write({
    type: 'LOG_STATS',
    file,
    size: fs.statSync(file).size,
    frames: res.frames,
    records: ids.size,
    stored,
    duplicates,
    unverified,
    first: first ?? null,
    last: last ?? null,
    authors: authors.size,
    top_authors: top,
    superseded_bytes: res.supersededBytes,
    unsealed_frames: res.unsealedFrames,
    damaged: problems,
  });
  await w.end();
}

// ------------------------------------------------------------------ export / import

function readPassphrase(argv: LogArgs): Uint8Array {
  let b: Buffer;
  const pf = argv['passphrase-file'];
  if (pf !== undefined) {
    let fd: number;
    try {
      fd = fs.openSync(pf, 'r');
    } catch (e) {
      throw P2pcatError.passphrase(`cannot read --passphrase-file ${pf}: ${(e as Error).message}`);
    }
    try {
      const buf = Buffer.alloc(PASSPHRASE_MAX_BYTES + 2);
      let n = 0;
      for (let guard = 0; n < buf.length && guard < 10_000; guard++) {
        const r = fs.readSync(fd, buf, n, buf.length - n, null);
        if (r === 0) break;
        n += r;
      }
      b = buf.subarray(0, n);
    } finally {
      fs.closeSync(fd);
    }
    if (b.length > 0 && b[b.length - 1] === 0x0a) b = b.subarray(0, b.length - (b.length > 1 && b[b.length - 2] === 0x0d ? 2 : 1));
  } else {
    const env = process.env.P2PCAT_PASSPHRASE;
    if (env === undefined) throw P2pcatError.passphrase('no passphrase: set P2PCAT_PASSPHRASE or use --passphrase-file FILE');
    b = Buffer.from(env, 'utf8');
  }
  if (b.length === 0) throw P2pcatError.passphrase('the passphrase is empty');
  if (b.length > PASSPHRASE_MAX_BYTES) throw P2pcatError.passphrase(`the passphrase is longer than ${PASSPHRASE_MAX_BYTES} bytes`);
  return new Uint8Array(b);
}

async function exportCmd(file: string, argv: LogArgs): Promise<void> {
  const out = path.resolve(argv.file ?? '');
  const pass = readPassphrase(argv);
  const seed = identitySeed();
  needLog(file);
  const r = await exportLog(file, seed, out, pass, {
    replace: argv.force === true,
    onProblem: (p) => {
      if (p.kind !== 'torn-tail' && !p.superseded) say(`P2PCAT_ERR_LOG_CORRUPT: ${file}: ${describeProblem(p)}; exported the rest`);
    },
  });
  const w = new RecordWriter();
  w.write({ type: 'LOG_EXPORT', log: file, file: out, records: r.records, bytes: r.bytes });
  await w.end();
}

const IMPORT_BATCH = 1000;

async function importCmd(file: string, argv: LogArgs): Promise<void> {
  const src = path.resolve(argv.file ?? '');
  const pass = readPassphrase(argv);
  const seed = identitySeed();
  const exp = await readExport(src, pass);
  const log = await ChatLog.open(file, seed, { onWarning: (m) => say(m) });
  let added = 0;
  let duplicates = 0;
  try {
    for (const batch of exp.batches()) {
      for (let i = 0; i < batch.length; i += IMPORT_BATCH) {
        const r = await log.append(batch.slice(i, i + IMPORT_BATCH).map((s) => s.record));
        added += r.appended;
        duplicates += r.duplicates;
      }
    }
  } finally {
    await log.close();
  }
  const w = new RecordWriter();
  w.write({ type: 'LOG_IMPORT', file: src, log: file, records: exp.records, added, duplicates });
  await w.end();
}
