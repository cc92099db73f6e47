// How hard the fuzz properties try: a short run in `npm test`, a long one in
// `npm run fuzz` (FUZZ_RUNS=20000), or whatever FUZZ_RUNS says. FUZZ_SEED
// replays a failure that fast-check printed.
import fc from 'fast-check';

// fast-check keeps generated values small by default; parsers need big and odd inputs too.
fc.configureGlobal({ baseSize: 'medium' });

export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 300);
export const fuzzParams = {
  numRuns: FUZZ_RUNS,
  ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}),
};

/** Only P2pcatErrors may come out of a parser of untrusted input. */
export function onlyCoded(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if ((e as { name?: string }).name === 'P2pcatError') return true;
    throw e;
  }
}
