// Peer lists: what `connect --peers`, `discover --static` and (later)
// `sync --peers` read (docs/discovery.md, "Peer lists"). One entry a line:
//
//   host:port  or  [v6addr]:port          (a trailing " # comment" is allowed)
//   p2pcat://host:port?room=...           (a join link: its host:port part is used)
//   {"type":"PEER","addrs":["h:p",...],"key":"<hex>",...}   (a `discover` record)
//   # comment, or a blank line            (skipped)
//
// The parser is sans-I/O (lines in, entries out) and bounded: line length,
// entries and bytes are limited (src/limits.ts). A bad line is one warning
// and is skipped; it never ends the list. readPeerList() is its thin driver
// over a Readable.
import type { Readable } from 'node:stream';
import { P2pcatError } from '../errors.js';
import { PEERLIST_MAX_ADDRS, PEERLIST_MAX_BYTES, PEERLIST_MAX_ENTRIES, PEERLIST_MAX_LINE_BYTES } from '../limits.js';
import { LineSplitter } from '../wire/lines.js';
import { parseTarget } from '../cli/target.js';

export interface PeerEntry {
  /** Canonical `host:port` / `[v6]:port` strings, at least one, in dial order. */
  addrs: string[];
  /** Hex Ed25519 identity key, when the source knew it. */
  key?: string | undefined;
  /** Where the entry came from, when it was a PEER record. */
  via?: string | undefined;
  /** The join link it was given as, if any. */
  link?: string | undefined;
  /** 1-based line number in its list. */
  line: number;
}

export type LineResult = { kind: 'entry'; entry: PeerEntry } | { kind: 'skip' } | { kind: 'error'; reason: string };

const KEY_RE = /^[0-9a-f]{64}$/;

/** `host:port` in canonical form, or a reason. */
export function canonicalAddr(text: string): { addr: string; host: string; port: number } | { error: string } {
  if (typeof text !== 'string' || text.length === 0 || text.length > 300) return { error: 'not a HOST:PORT string' };
  try {
    const t = parseTarget(text);
    const host = t.host.includes(':') ? `[${t.host}]` : t.host;
    return { addr: `${host}:${t.port}`, host: t.host, port: t.port };
  } catch (e) {
    if (e instanceof P2pcatError) return { error: e.message };
    throw e;
  }
}

function parseLink(text: string): LineResult {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { kind: 'error', reason: 'not a valid p2pcat:// link' };
  }
  if (url.port === '') return { kind: 'error', reason: 'the p2pcat:// link has no port' };
  const host = url.hostname; // IPv6 stays in brackets
  const a = canonicalAddr(`${host}:${url.port}`);
  if ('error' in a) return { kind: 'error', reason: a.error };
  return { kind: 'entry', entry: { addrs: [a.addr], link: text, line: 0 } };
}

function parseRecord(text: string): LineResult {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return { kind: 'error', reason: 'bad JSON' };
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return { kind: 'error', reason: 'a JSON line must be an object' };
  const r = o as Record<string, unknown>;
  if (r.type !== 'PEER') return { kind: 'error', reason: `a JSON line must be a PEER record, not ${JSON.stringify(String(r.type)).slice(0, 40)}` };
  if (!Array.isArray(r.addrs) || r.addrs.length === 0) return { kind: 'error', reason: 'PEER record has no "addrs" list' };
  if (r.addrs.length > PEERLIST_MAX_ADDRS) return { kind: 'error', reason: `PEER record has ${r.addrs.length} addresses (at most ${PEERLIST_MAX_ADDRS})` };
  const addrs: string[] = [];
  for (const x of r.addrs) {
    if (typeof x !== 'string') return { kind: 'error', reason: 'PEER "addrs" must hold strings' };
    const a = canonicalAddr(x);
    if ('error' in a) return { kind: 'error', reason: `PEER address: ${a.error}` };
    if (!addrs.includes(a.addr)) addrs.push(a.addr);
  }
  if (r.key !== undefined && (typeof r.key !== 'string' || !KEY_RE.test(r.key))) return { kind: 'error', reason: 'PEER "key" must be 64 lower-case hex digits' };
  const via = typeof r.via === 'string' && /^[a-z]{1,16}$/.test(r.via) ? r.via : undefined;
  return { kind: 'entry', entry: { addrs, line: 0, ...(r.key ? { key: r.key as string } : {}), ...(via ? { via } : {}) } };
}

/** Parse one line of a peer list. Never throws on input. */
export function parsePeerLine(line: string): LineResult {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return { kind: 'skip' };
  if (text.startsWith('{')) return parseRecord(text);
  if (/^p2pcat:\/\//i.test(text)) return parseLink(text.split(/\s+#/, 1)[0]!.trim());
  const word = text.split(/\s+#/, 1)[0]!.trim();
  if (/\s/.test(word)) return { kind: 'error', reason: 'one HOST:PORT per line' };
  const a = canonicalAddr(word);
  if ('error' in a) return { kind: 'error', reason: a.error };
  return { kind: 'entry', entry: { addrs: [a.addr], line: 0 } };
}

export interface ParserEvents {
  /** A line that could not be used: warn and go on. */
  warning: (err: P2pcatError, line: number) => void;
}

/**
 * Incremental peer-list parser: push chunks, get entries. Deduplicates (an
 * entry whose addresses were all seen before is dropped) and stops taking
 * entries at PEERLIST_MAX_ENTRIES or PEERLIST_MAX_BYTES.
 */
export class PeerListParser {
  #lines = new LineSplitter(PEERLIST_MAX_LINE_BYTES);
  #seen = new Set<string>();
  #bytes = 0;
  #count = 0;
  /** True once a limit was hit; further input is ignored. */
  full = false;
  readonly warnings: { line: number; error: P2pcatError }[] = [];

  constructor(readonly limits = { maxBytes: PEERLIST_MAX_BYTES, maxEntries: PEERLIST_MAX_ENTRIES }) {}

  push(chunk: Uint8Array): PeerEntry[] {
    if (this.full) return [];
    this.#bytes += chunk.length;
    if (this.#bytes > this.limits.maxBytes) {
      this.full = true;
      this.#warn(0, P2pcatError.limit(`peer list longer than ${this.limits.maxBytes} bytes; the rest is ignored`));
      return [];
    }
    return this.#take(this.#lines.push(chunk));
  }

  end(): PeerEntry[] {
    if (this.full) return [];
    return this.#take(this.#lines.end());
  }

  #warn(line: number, error: P2pcatError): void {
    // Bounded: a list of a million bad lines costs one warning each only up to a point.
    if (this.warnings.length < 100) this.warnings.push({ line, error });
  }

  #take(items: ReturnType<LineSplitter['push']>): PeerEntry[] {
    const out: PeerEntry[] = [];
    for (const it of items) {
      if (this.full) break;
      if ('tooLong' in it) {
        this.#warn(it.number, P2pcatError.badInput(`peer list line ${it.number} is longer than ${PEERLIST_MAX_LINE_BYTES} bytes`));
        continue;
      }
      if ('badUtf8' in it) {
        this.#warn(it.number, P2pcatError.badInput(`peer list line ${it.number} is not valid UTF-8`));
        continue;
      }
      const r = parsePeerLine(it.line);
      if (r.kind === 'skip') continue;
      if (r.kind === 'error') {
        this.#warn(it.number, P2pcatError.badInput(`peer list line ${it.number}: ${r.reason}`));
        continue;
      }
      const fresh = r.entry.addrs.filter((a) => !this.#seen.has(a));
      if (fresh.length === 0) continue;
      for (const a of r.entry.addrs) this.#seen.add(a);
      if (this.#count >= this.limits.maxEntries) {
        this.full = true;
        this.#warn(it.number, P2pcatError.limit(`peer list has more than ${this.limits.maxEntries} entries; the rest is ignored`));
        break;
      }
      this.#count++;
      out.push({ ...r.entry, addrs: fresh, line: it.number });
    }
    return out;
  }
}

/** Parse a whole list held in memory (tests, small files). */
export function parsePeerList(text: string | Uint8Array): { entries: PeerEntry[]; warnings: { line: number; error: P2pcatError }[] } {
  const p = new PeerListParser();
  const entries = [...p.push(typeof text === 'string' ? Buffer.from(text, 'utf8') : text), ...p.end()];
  return { entries, warnings: p.warnings };
}

/**
 * Read a peer list from a stream to its end (or until a limit or the
 * timeout). Warnings go to `onWarning` as they happen; a read error rejects
 * with P2PCAT_ERR_IO.
 */
export function readPeerList(
  stream: Readable,
  opts: { what: string; timeoutMs: number; onWarning: (err: P2pcatError, line: number) => void; onEntry?: (e: PeerEntry) => void },
): Promise<PeerEntry[]> {
  const parser = new PeerListParser();
  const entries: PeerEntry[] = [];
  let reported = 0;
  const flush = (got: PeerEntry[]) => {
    for (const e of got) {
      entries.push(e);
      opts.onEntry?.(e);
    }
    while (reported < parser.warnings.length) {
      const w = parser.warnings[reported++]!;
      opts.onWarning(w.error, w.line);
    }
  };
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err?: P2pcatError) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      if (err) return reject(err);
      resolve(entries);
    };
    const timer = setTimeout(() => {
      flush(parser.end());
      opts.onWarning(P2pcatError.timeout(`${opts.what}: no end of the peer list within ${opts.timeoutMs / 1000} s; using the ${entries.length} entries read so far`), 0);
      stream.pause();
      finish();
    }, opts.timeoutMs);
    const onData = (chunk: Buffer | string) => {
      flush(parser.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk));
      if (parser.full) {
        // Limits reached: stop reading, keep what we have.
        stream.pause();
        finish();
      }
    };
    const onEnd = () => {
      flush(parser.end());
      finish();
    };
    const onError = (e: Error) => finish(P2pcatError.io(`${opts.what}: ${e.message}`, e));
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}
