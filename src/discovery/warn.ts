// Warnings from discovery: untrusted packets become coded warnings, never
// crashes, and a flood of them is bounded: the first DISCOVERY_MAX_WARNINGS
// are printed, the rest only counted and summed up once at the end.
import { P2pcatError } from '../errors.js';
import { DISCOVERY_MAX_WARNINGS } from '../limits.js';

export type Warn = (err: P2pcatError, extra?: Record<string, unknown>) => void;

export class WarningBudget {
  #printed = 0;
  #suppressed = 0;
  #once = new Set<string>();

  constructor(readonly sink: Warn, readonly max = DISCOVERY_MAX_WARNINGS) {}

  warn: Warn = (err, extra) => {
    if (this.#printed >= this.max) {
      this.#suppressed++;
      return;
    }
    this.#printed++;
    this.sink(err, extra);
    if (this.#printed === this.max) this.sink(P2pcatError.limit(`${this.max} discovery warnings printed; further ones are only counted`));
  };

  /** A warning about our own situation (a socket option, a bind): print it once per text. */
  once(err: P2pcatError): void {
    if (this.#once.has(err.message) || this.#once.size > 64) return;
    this.#once.add(err.message);
    this.sink(err);
  }

  get suppressed(): number {
    return this.#suppressed;
  }

  /** Call at the end: one line for what was only counted. */
  summary(): void {
    if (this.#suppressed > 0) this.sink(P2pcatError.discoveryPacket(`${this.#suppressed} more bad discovery packets were ignored without a warning`));
    this.#suppressed = 0;
  }
}
