// Small statistics helpers: medians of rounds, percentiles of samples.

export function sorted(xs) {
  return [...xs].filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
}

export function median(xs) {
  const s = sorted(xs);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs, p) {
  const s = sorted(xs);
  if (s.length === 0) return null;
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1];
}

export function ratio(a, b) {
  return typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : null;
}

/** Rounded for display: 3 significant figures below 100, integers above. */
export function fmt(x, unit = '') {
  if (x === null || x === undefined || Number.isNaN(x)) return 'n/a';
  let s;
  if (Number.isInteger(x) || Math.abs(x) >= 100) s = Math.round(x).toLocaleString('en-US');
  else if (Math.abs(x) >= 10) s = x.toFixed(1);
  else if (Math.abs(x) >= 1) s = x.toFixed(2);
  else s = x.toPrecision(2);
  return unit ? `${s} ${unit}` : s;
}
