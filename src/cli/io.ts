// stdout and stderr for commands. stdout is data only: NDJSON records,
// batched per tick (one write per batch, see shared/PERF-FACTS.md), with
// backpressure reported to the caller. EPIPE on stdout (`| head -1`) ends
// the process quietly with status 0; see installStdoutGuards().
import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import { P2pcatError } from '../errors.js';

const BATCH_MAX_CHARS = 32 * 1024;

export class RecordWriter extends EventEmitter {
  #out: Writable;
  #pending: string[] = [];
  #pendingChars = 0;
  #scheduled = false;
  #blocked = false;

  constructor(out: Writable = process.stdout) {
    super();
    this.#out = out;
    out.on('drain', () => {
      if (this.#blocked) {
        this.#blocked = false;
        this.emit('drain');
      }
    });
  }

  /** Queue one record. Returns false when the reader is slow: pause your sources until 'drain'. */
  write(rec: object): boolean {
    return this.writeLine(JSON.stringify(rec));
  }

  writeLine(line: string): boolean {
    this.#pending.push(line, '\n');
    this.#pendingChars += line.length + 1;
    if (this.#pendingChars >= BATCH_MAX_CHARS) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
    return !this.#blocked;
  }

  get blocked(): boolean {
    return this.#blocked;
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0) return;
    const chunk = this.#pending.join('');
    this.#pending = [];
    this.#pendingChars = 0;
    if (!this.#out.write(chunk)) this.#blocked = true;
  }

  /** Flush and wait until the stream has taken everything. */
  async end(): Promise<void> {
    this.flush();
    if (this.#out.writableLength === 0) return;
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      this.#out.once('drain', done);
      this.#out.once('error', done);
      this.#out.once('close', done);
    });
  }
}

export function writeStdoutLine(line: string): Promise<void> {
  return new Promise((resolve) => {
    process.stdout.write(line + '\n', () => resolve());
  });
}

/** One diagnostic line on stderr, prefixed like every other p2pcat message. */
export function say(msg: string): void {
  process.stderr.write(`p2pcat: ${msg}\n`);
}

/** An error that does not end the command: an ERROR record (one JSON line) on stderr. */
export function warnRecord(err: P2pcatError, extra: Record<string, unknown> = {}): void {
  process.stderr.write(JSON.stringify(err.toRecord(extra)) + '\n');
}

let guarded = false;
/** stdout EPIPE (the reader went away) ends the process quietly, as nc does. */
export function installStdoutGuards(): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') process.exit(0);
    process.stderr.write(`p2pcat: P2PCAT_ERR_IO: stdout: ${e.message}\n`);
    process.exit(74);
  });
  process.stderr.on('error', () => {
    /* nowhere left to report it */
  });
}
