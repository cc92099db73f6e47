// An advisory lock file next to a log (`<log>.lock`), for the writers of one
// host (docs/log-format.md, "Concurrency"). Node has no flock(2), so:
//   - take: write our owner line to a private temp file, then link(2) it to
//     the lock path: atomic, fails with EEXIST while another owner holds it,
//     and the lock file is never seen half-written.
//   - owner: pid, the process start time (/proc/PID/stat field 22) and the
//     boot id, so a lock left by a killed process, a reused pid or a previous
//     boot is recognised as stale.
//   - break a stale lock under a second lock (`<log>.lock.break`, O_EXCL), after
//     re-reading it, so two processes breaking at once cannot remove the lock
//     that a third has just taken.
// Waiting polls with backoff, bounded by a timeout. Not for network file
// systems shared between hosts (a lock from another host is never broken).
import fs from 'node:fs';
import os from 'node:os';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { P2pcatError } from '../errors.js';
import { LOG_LOCK_STALE_MS, LOG_LOCK_TIMEOUT_MS } from './format.js';

interface Owner {
  pid: number;
  start: string;
  boot: string;
  host: string;
}

function readFirstLine(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

function startTime(pid: number): string {
  const stat = readFirstLine(`/proc/${pid}/stat`);
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19] ?? '';
}

const BOOT_ID = readFirstLine('/proc/sys/kernel/random/boot_id');
let selfOwner: Owner | undefined;
function self(): Owner {
  selfOwner ??= { pid: process.pid, start: startTime(process.pid), boot: BOOT_ID, host: os.hostname() };
  return selfOwner;
}

function parseOwner(text: string): Owner | undefined {
  try {
    const o = JSON.parse(text) as Partial<Owner>;
    if (typeof o.pid === 'number' && Number.isInteger(o.pid) && o.pid > 0 && typeof o.start === 'string' && typeof o.boot === 'string' && typeof o.host === 'string') {
      return o as Owner;
    }
  } catch {
    /* not an owner line */
  }
  return undefined;
}

/** True when the owner named in a lock file certainly no longer runs. */
function ownerGone(o: Owner): boolean {
  if (o.host !== os.hostname()) return false;
  if (o.boot && BOOT_ID && o.boot !== BOOT_ID) return true;
  try {
    process.kill(o.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return true;
  }
  const st = startTime(o.pid);
  return o.start !== '' && st !== '' && st !== o.start;
}

function mtimeAge(file: string): number {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

export class LockFile {
  readonly path: string;
  #content: string | undefined;

  constructor(path: string) {
    this.path = path;
  }

  get held(): boolean {
    return this.#content !== undefined;
  }

  /** One attempt: true when we now hold the lock. */
  tryAcquire(): boolean {
    if (this.#content !== undefined) throw new Error('internal: lock already held');
    const content = JSON.stringify({ ...self(), nonce: crypto.randomBytes(6).toString('hex') }) + '\n';
    const tmp = `${this.path}.${process.pid}.${crypto.randomBytes(6).toString('hex')}`;
    try {
      fs.writeFileSync(tmp, content, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      throw P2pcatError.io(`cannot create a lock next to the log (${tmp}): ${(e as Error).message}`, e);
    }
    try {
      fs.linkSync(tmp, this.path);
      this.#content = content;
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw P2pcatError.io(`cannot take the log lock ${this.path}: ${(e as Error).message}`, e);
      return false;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  /** Who holds the lock, for messages. */
  holder(): string {
    const o = parseOwner(readFirstLine(this.path));
    return o ? `pid ${o.pid}` : 'an unknown process';
  }

  /** Remove the lock if its owner is gone. True when it was removed (or vanished). */
  breakIfStale(): boolean {
    const text = readFirstLine(this.path);
    if (text === '' && !fs.existsSync(this.path)) return true;
    const o = parseOwner(text);
    const stale = o ? ownerGone(o) : mtimeAge(this.path) > LOG_LOCK_STALE_MS;
    if (!stale) return false;
    const guard = `${this.path}.break`;
    let fd: number;
    try {
      fd = fs.openSync(guard, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return false;
      // A breaker that died holding the guard: the guard is only held for microseconds.
      if (mtimeAge(guard) > LOG_LOCK_STALE_MS) fs.rmSync(guard, { force: true });
      return false;
    }
    try {
      if (readFirstLine(this.path) === text) fs.rmSync(this.path, { force: true });
      return true;
    } finally {
      fs.closeSync(fd);
      fs.rmSync(guard, { force: true });
    }
  }

  /** Wait (polling, with backoff) until we hold the lock, or time out. */
  async acquire(timeoutMs = LOG_LOCK_TIMEOUT_MS): Promise<void> {
    const started = Date.now();
    let delay = 1;
    for (let attempt = 0; ; attempt++) {
      if (this.tryAcquire()) return;
      if (this.breakIfStale()) continue;
      if (Date.now() - started > timeoutMs) {
        throw P2pcatError.timeout(`the log is locked by ${this.holder()} (${this.path}); waited ${Math.round((Date.now() - started) / 1000)} s`);
      }
      await sleep(delay);
      delay = Math.min(50, delay * 2);
      if (attempt > 1_000_000) throw new Error('internal: lock loop bound');
    }
  }

  release(): void {
    if (this.#content === undefined) return;
    const mine = this.#content;
    this.#content = undefined;
    // Remove it only if it is still ours (a broken-and-retaken lock is someone else's).
    if (readFirstLine(this.path) === mine.trim()) fs.rmSync(this.path, { force: true });
  }
}
