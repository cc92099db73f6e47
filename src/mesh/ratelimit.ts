// A token bucket with debt, per neighbour (docs/mesh.md, "Bad input"): every
// message a neighbour sends takes a token; the bucket refills at `ratePerS`
// up to `burst`. When a message takes the balance below zero, take() says how
// long to stop reading that neighbour (its socket is paused; TCP pushes back
// on the sender), so a flooding peer slows down to the rate while everyone
// else keeps being served. Pure: the caller passes the time.
export class TokenBucket {
  readonly ratePerS: number;
  readonly burst: number;
  #tokens: number;
  #at: number;

  /** ratePerS 0 means no limit. */
  constructor(ratePerS: number, burst: number, now: number) {
    if (!(ratePerS >= 0) || !(burst >= 1)) throw new RangeError('rate must be >= 0 and burst >= 1');
    this.ratePerS = ratePerS;
    this.burst = burst;
    this.#tokens = burst;
    this.#at = now;
  }

  #refill(now: number): void {
    if (now > this.#at) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) * this.ratePerS) / 1000);
      this.#at = now;
    }
  }

  /** Tokens available now (negative while in debt). */
  balance(now: number): number {
    if (this.ratePerS === 0) return this.burst;
    this.#refill(now);
    return this.#tokens;
  }

  /** Take n tokens. Returns 0, or the milliseconds until the balance is back to zero (stop reading until then). */
  take(n: number, now: number): number {
    if (this.ratePerS === 0) return 0;
    this.#refill(now);
    this.#tokens -= n;
    if (this.#tokens >= 0) return 0;
    return Math.ceil((-this.#tokens * 1000) / this.ratePerS);
  }
}
