// Progress on a terminal's stderr: one line redrawn in place (sync, file
// transfers). Nothing at all when stderr is not a terminal.
import { SYNC_PROGRESS_INTERVAL_MS } from '../limits.js';
import { formatSize } from '../files/protocol.js';
import type { Progress as FileProgress } from '../files/transfers.js';

/** One line on a terminal's stderr, redrawn in place, at most every SYNC_PROGRESS_INTERVAL_MS. */
export class StatusLine {
  #on: boolean;
  #last = 0;
  #shown = false;
  constructor(on: boolean) {
    this.#on = on;
  }
  update(text: () => string, force = false): void {
    if (!this.#on) return;
    const now = Date.now();
    if (!force && now - this.#last < SYNC_PROGRESS_INTERVAL_MS) return;
    this.#last = now;
    this.#shown = true;
    process.stderr.write(`\r\x1b[Kp2pcat: ${text().slice(0, Math.max(20, (process.stderr.columns ?? 80) - 10))}`);
  }
  clear(): void {
    if (this.#shown) process.stderr.write('\r\x1b[K');
    this.#shown = false;
  }
  /** Leave the line as it is and move on to the next. */
  keep(): void {
    if (this.#shown) process.stderr.write('\n');
    this.#shown = false;
  }
}

/** "report.pdf -> alice [#########-----------]  45%  13.5 MiB of 30.0 MiB  21.0 MiB/s" */
export function fileProgressText(p: FileProgress, bytesPerSec: number | undefined): string {
  const frac = p.size === 0 ? 1 : Math.min(1, p.done / p.size);
  const width = 20;
  const full = Math.round(frac * width);
  const rate = bytesPerSec !== undefined && bytesPerSec > 0 ? `  ${formatSize(Math.round(bytesPerSec))}/s` : '';
  return `${p.name} ${p.direction === 'out' ? '->' : '<-'} ${p.username} [${'#'.repeat(full)}${'-'.repeat(width - full)}] ${String(Math.floor(frac * 100)).padStart(3)}%  ${formatSize(p.done)} of ${formatSize(p.size)}${rate}`;
}

/** File transfers' progress on one status line; the rate of each transfer from its first report. */
export class FileProgressLine {
  #line: StatusLine;
  #start = new Map<string, { at: number; done: number }>();
  constructor(on: boolean) {
    this.#line = new StatusLine(on);
  }
  update(p: FileProgress): void {
    const now = Date.now();
    const s = this.#start.get(p.id) ?? { at: now, done: p.done };
    this.#start.set(p.id, s);
    const secs = (now - s.at) / 1000;
    const rate = secs > 0.2 ? (p.done - s.done) / secs : undefined;
    this.#line.update(() => fileProgressText(p, rate), p.finished);
    if (p.finished) {
      this.#start.delete(p.id);
      this.#line.keep();
    }
  }
  clear(): void {
    this.#line.clear();
  }
}
