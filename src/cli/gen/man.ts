// The parts of the man pages that are facts about the code, rendered as mdoc
// from the code itself: ERRORS from ERROR_CODES (src/errors.ts), EXIT STATUS
// from the exit statuses those codes use, LIMITS from every bound in
// src/limits.ts (value from the module, meaning from its doc comment).
//
// A page marks each such region with two comment lines,
//   .\" BEGIN GENERATED <name> ...
//   .\" END GENERATED <name>
// and `npm run gen` (./run.ts) rewrites what lies between them; everything
// else in man/*.1 is written by hand and checked by test/docs/man.test.ts.
import { ERROR_CODES } from '../../errors.js';
import * as limits from '../../limits.js';

/** sysexits(3) names, for the exit statuses p2pcat uses. */
const SYSEXITS: Record<number, string> = {
  64: 'EX_USAGE',
  65: 'EX_DATAERR',
  66: 'EX_NOINPUT',
  67: 'EX_NOUSER',
  68: 'EX_NOHOST',
  69: 'EX_UNAVAILABLE',
  70: 'EX_SOFTWARE',
  71: 'EX_OSERR',
  72: 'EX_OSFILE',
  73: 'EX_CANTCREAT',
  74: 'EX_IOERR',
  75: 'EX_TEMPFAIL',
  76: 'EX_PROTOCOL',
  77: 'EX_NOPERM',
  78: 'EX_CONFIG',
};

/** Text made safe for roff: backslashes printed, non-ASCII as \\[uXXXX] (lines stay ASCII and short). */
export function roffEscape(s: string): string {
  return s.replace(/\\/g, '\\e').replace(/[^\x20-\x7e]/gu, (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`);
}

/** One line of escaped running text made safe as a roff text line: no leading dot or quote. */
export function roffLine(t: string): string {
  return /^[.']/.test(t) ? `\\&${t}` : t;
}

/** One line of running text made safe for roff. */
export function roffText(s: string): string {
  return roffLine(roffEscape(s));
}

/** Running text as roff lines: one sentence per line (mdoc style), first letter capital, final period. */
export function roffSentences(s: string): string[] {
  let t = s.replace(/\s+/g, ' ').trim();
  if (!t) return [];
  t = t[0]!.toUpperCase() + t.slice(1);
  if (!/[.!?]$/.test(t)) t += '.';
  return t.split(/(?<=[a-z0-9)][.!?])\s+(?=[A-Z(])/).flatMap((sentence) => wrap(roffEscape(sentence)).map(roffLine));
}

/** Break a line at spaces so that each piece fits `width` (mandoc's style limit is 80). */
export function wrap(line: string, width = 78): string[] {
  const out: string[] = [];
  let cur = '';
  for (const word of line.split(' ')) {
    // A roff text line must not begin with a dot or quote: keep such a word on the line before.
    if (cur && cur.length + 1 + word.length > width && !/^[.']/.test(word)) {
      out.push(cur);
      cur = word;
    } else cur = cur ? `${cur} ${word}` : word;
  }
  if (cur) out.push(cur);
  return out;
}

export function renderErrors(): string[] {
  const out = ['.Bl -tag -width Ds'];
  for (const [code, { exit, what }] of Object.entries(ERROR_CODES)) {
    out.push(`.It Er ${code}`, ...roffSentences(what), `Exit status ${exit}.`);
  }
  out.push('.El');
  return out;
}

export function renderExitStatus(): string[] {
  const byExit = new Map<number, string[]>();
  for (const [code, { exit }] of Object.entries(ERROR_CODES)) {
    if (!byExit.has(exit)) byExit.set(exit, []);
    byExit.get(exit)!.push(code);
  }
  const out = ['.Bl -tag -width Ds'];
  for (const exit of [...byExit.keys()].sort((a, b) => a - b)) {
    const codes = byExit.get(exit)!;
    out.push(`.It ${exit}`);
    if (SYSEXITS[exit]) out.push(`.Pq Dv ${SYSEXITS[exit]}`);
    codes.forEach((c, i) => out.push(`.Er ${c}${i < codes.length - 1 ? ' ,' : ''}`));
  }
  out.push('.El');
  return out;
}

export interface LimitDoc {
  name: string;
  value: number;
  doc: string;
}

/**
 * Every `export const NAME = ...;` in a limits source file with the doc comment
 * above it, and its value from the compiled module. A constant right below
 * another one without a comment of its own shares that one's comment (a pair
 * such as a rate and its burst). A bound with no doc comment, or a module
 * export the source does not show, is an error: the man page must be able to
 * say what each one is.
 */
export function parseLimits(source: string, values: Record<string, unknown> = limits): LimitDoc[] {
  const out: LimitDoc[] = [];
  let doc: string | undefined; // the comment just read, if nothing came between
  let inComment: string[] | undefined;
  let previousWasConst = false;
  for (const line of source.split('\n')) {
    const t = line.trim();
    if (inComment) {
      const end = t.indexOf('*/');
      inComment.push((end >= 0 ? t.slice(0, end) : t).replace(/^\*\s?/, ''));
      if (end >= 0) {
        doc = inComment.join(' ').replace(/\s+/g, ' ').trim();
        inComment = undefined;
      }
      continue;
    }
    if (t.startsWith('/**')) {
      const body = t.slice(3);
      const end = body.indexOf('*/');
      if (end >= 0) doc = body.slice(0, end).trim();
      else inComment = [body];
      previousWasConst = false;
      continue;
    }
    const m = /^export const ([A-Z0-9_]+)\s*=/.exec(t);
    if (m) {
      const name = m[1]!;
      const own = doc;
      const text = own ?? (previousWasConst ? out.at(-1)?.doc : undefined);
      if (!text) throw new TypeError(`${name} in the limits source has no /** doc comment */ to document it with`);
      const value = values[name];
      if (typeof value !== 'number') throw new TypeError(`${name} is not a number exported by the limits module`);
      out.push({ name, value, doc: text });
      doc = undefined;
      previousWasConst = true;
      continue;
    }
    if (t !== '') {
      doc = undefined;
      previousWasConst = false;
    }
  }
  const missing = Object.keys(values).filter((k) => !out.some((l) => l.name === k));
  if (missing.length) throw new TypeError(`exported by the limits module but not found in its source: ${missing.join(', ')}`);
  return out;
}

function bytes(value: number): string {
  const mib = 1024 * 1024;
  if (value >= mib && value % mib === 0) return ` (${value / mib} MiB)`;
  if (value >= 1024 && value % 1024 === 0) return ` (${value / 1024} KiB)`;
  return '';
}

/** A value with its unit (from the name's suffix) and a friendlier form when there is one. */
export function formatLimit(name: string, value: number): string {
  if (/_BYTES_PER_SEC$/.test(name)) return `${value} bytes per second${bytes(value)}`;
  if (/_PER_SEC$/.test(name)) return `${value} per second`;
  if (/_BYTES(_|$)/.test(name)) return `${value} bytes${bytes(value)}`;
  if (/_MS$/.test(name)) {
    const units: [number, string][] = [[3_600_000, 'h'], [60_000, 'min'], [1000, 's']];
    const u = units.find(([d]) => value >= d && value % d === 0);
    return u ? `${value} ms (${value / u[0]} ${u[1]})` : `${value} ms`;
  }
  if (value >= 2 ** 20 && Number.isInteger(Math.log2(value))) return `${value} (2^${Math.log2(value)})`;
  return String(value);
}

export function renderLimits(source: string): string[] {
  const out = ['.Bl -tag -width Ds'];
  for (const l of parseLimits(source)) out.push(`.It Dv ${l.name}`, ...roffSentences(l.doc), `Value: ${formatLimit(l.name, l.value)}.`);
  out.push('.El');
  return out;
}

const BEGIN = /^\.\\" BEGIN GENERATED ([a-z-]+)\b.*$/;
const END = /^\.\\" END GENERATED ([a-z-]+)\s*$/;

/** Replace every marked region of a page whose name has a renderer; other lines are kept byte for byte. */
export function rewriteRegions(page: string, renderers: Record<string, () => string[]>, file = 'page'): string {
  const lines = page.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    out.push(line);
    const b = BEGIN.exec(line);
    if (!b) continue;
    const name = b[1]!;
    const render = renderers[name];
    if (!render) throw new TypeError(`${file}:${i + 1}: no generator for region "${name}" (known: ${Object.keys(renderers).join(', ')})`);
    let j = i + 1;
    while (j < lines.length && !BEGIN.test(lines[j]!) && !END.test(lines[j]!)) j++;
    const e = j < lines.length ? END.exec(lines[j]!) : null;
    if (!e || e[1] !== name) throw new TypeError(`${file}:${i + 1}: region "${name}" has no matching END GENERATED ${name} line`);
    out.push(...render(), lines[j]!);
    i = j;
  }
  return out.join('\n');
}

/** Names of the regions a page marks. */
export function regionNames(page: string): string[] {
  return page.split('\n').flatMap((l) => {
    const b = BEGIN.exec(l);
    return b ? [b[1]!] : [];
  });
}
