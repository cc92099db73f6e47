// File transfer messages (docs/protocol.md, "File transfer"): their bodies,
// checked at the boundary, and the name a received file may be stored under.
// Sans-I/O: bodies in, values or P2pcatErrors out; never throws.
//
//   sender                                  receiver
//   FILE_OFFER {id,name,size,sha256}   ->
//                                      <-   FILE_ACCEPT {id,offset}     (offset > 0: resume)
//                                      <-   FILE_RESULT {id,ok:false,code,reason}  (refused)
//   FILE_DATA  id(16) offset(8) bytes  ->   (at most FILE_WINDOW_BYTES beyond the last progress)
//                                      <-   FILE_PROGRESS {id,offset}   (bytes written so far)
//   FILE_END   {id}                    ->
//                                      <-   FILE_RESULT {id,ok:true,name} | {id,ok:false,code,reason}
//   FILE_ABORT {id,code,reason}        ->   (the sender gives up)
import { ERROR_CODES, P2pcatError, type ErrorCode } from '../errors.js';
import { FILE_NAME_MAX_BYTES } from '../limits.js';
import { utf8Length } from '../util.js';

export const FILE_ID_BYTES = 16;
export const FILE_DATA_HEADER_BYTES = FILE_ID_BYTES + 8;

export interface Offer {
  id: string;
  /** The name as the sender gave it: for display only, never a path. */
  name: string;
  size: number;
  sha256: string;
}

export interface Answer {
  id: string;
  offset: number;
}

export type Result = { id: string; ok: true; name: string } | { id: string; ok: false; error: P2pcatError };

export interface FileData {
  id: string;
  offset: number;
  chunk: Buffer;
}

const ID_RE = /^[0-9a-f]{32}$/;
const SHA_RE = /^[0-9a-f]{64}$/;

function bad(what: string): P2pcatError {
  return P2pcatError.protocol(what);
}

function id(body: Record<string, unknown>, type: string): string | P2pcatError {
  return typeof body.id === 'string' && ID_RE.test(body.id) ? body.id : bad(`${type}: "id" must be 32 hex digits`);
}

function offset(v: unknown, type: string): number | P2pcatError {
  return Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : bad(`${type}: "offset" must be a whole number >= 0`);
}

export function parseOffer(body: Record<string, unknown>): Offer | P2pcatError {
  const i = id(body, 'FILE_OFFER');
  if (i instanceof P2pcatError) return i;
  if (typeof body.name !== 'string' || body.name.length === 0 || utf8Length(body.name) > 4 * FILE_NAME_MAX_BYTES) return bad('FILE_OFFER: "name" must be a non-empty string');
  if (!Number.isSafeInteger(body.size) || (body.size as number) < 0) return bad('FILE_OFFER: "size" must be a whole number >= 0');
  if (typeof body.sha256 !== 'string' || !SHA_RE.test(body.sha256)) return bad('FILE_OFFER: "sha256" must be 64 hex digits');
  return { id: i, name: body.name, size: body.size as number, sha256: body.sha256 };
}

/** FILE_ACCEPT and FILE_PROGRESS share a body: {id, offset}. */
export function parseAnswer(body: Record<string, unknown>, type: 'FILE_ACCEPT' | 'FILE_PROGRESS'): Answer | P2pcatError {
  const i = id(body, type);
  if (i instanceof P2pcatError) return i;
  const o = offset(body.offset, type);
  if (o instanceof P2pcatError) return o;
  return { id: i, offset: o };
}

export function parseEnd(body: Record<string, unknown>): string | P2pcatError {
  return id(body, 'FILE_END');
}

/** The error a peer reports (FILE_RESULT not ok, FILE_ABORT): a known code, or PROTOCOL. */
function peerError(body: Record<string, unknown>, who: string): P2pcatError {
  const code = typeof body.code === 'string' && Object.hasOwn(ERROR_CODES, body.code) ? (body.code as ErrorCode) : 'P2PCAT_ERR_PROTOCOL';
  const reason = typeof body.reason === 'string' ? body.reason.slice(0, 300).replace(/[\p{Cc}]/gu, ' ') : 'no reason given';
  return new P2pcatError(code, `${who}: ${reason}`);
}

export function parseResult(body: Record<string, unknown>, who: string): Result | P2pcatError {
  const i = id(body, 'FILE_RESULT');
  if (i instanceof P2pcatError) return i;
  if (body.ok === true) return { id: i, ok: true, name: typeof body.name === 'string' ? safeName(body.name) : '' };
  if (body.ok === false) return { id: i, ok: false, error: peerError(body, who) };
  return bad('FILE_RESULT: "ok" must be true or false');
}

export function parseAbort(body: Record<string, unknown>, who: string): { id: string; error: P2pcatError } | P2pcatError {
  const i = id(body, 'FILE_ABORT');
  if (i instanceof P2pcatError) return i;
  return { id: i, error: peerError(body, who) };
}

/** The body of a refusal or failure: what the other side learns (code and reason, never our paths). */
export function errorBody(fileId: string, e: P2pcatError): Record<string, unknown> {
  return { id: fileId, ok: false, code: e.code, reason: e.message.slice(0, 300) };
}

export function dataHeader(fileId: string, off: number): Buffer {
  const h = Buffer.allocUnsafe(FILE_DATA_HEADER_BYTES);
  h.write(fileId, 0, FILE_ID_BYTES, 'hex');
  h.writeBigUInt64BE(BigInt(off), FILE_ID_BYTES);
  return h;
}

export function parseData(data: Buffer): FileData | P2pcatError {
  if (data.length < FILE_DATA_HEADER_BYTES) return bad('FILE_DATA shorter than its header');
  const off = data.readBigUInt64BE(FILE_ID_BYTES);
  if (off > BigInt(Number.MAX_SAFE_INTEGER)) return bad('FILE_DATA offset out of range');
  return { id: data.toString('hex', 0, FILE_ID_BYTES), offset: Number(off), chunk: data.subarray(FILE_DATA_HEADER_BYTES) };
}

/**
 * The name a received file is stored under: the last path component of what
 * the sender said, with control characters, slashes and leading dots taken
 * out, shortened to FILE_NAME_MAX_BYTES. Never empty, never "." or "..",
 * never a path: `../../etc/passwd` becomes `passwd`.
 */
export function safeName(name: string): string {
  let n = name.normalize('NFC');
  // Either kind of slash ends a directory part, whatever the sender's system.
  n = n.split(/[/\\]/).filter((p) => p !== '' && p !== '.' && p !== '..').pop() ?? '';
  n = n.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, '').replace(/^[.\s-]+/, '').trimEnd();
  if (utf8Length(n) > FILE_NAME_MAX_BYTES) {
    // Keep the extension: "very-long-name….pdf".
    const m = /(\.[\p{L}\p{N}]{1,10})$/u.exec(n);
    const ext = m ? m[1]! : '';
    let stem = n.slice(0, n.length - ext.length);
    while (utf8Length(stem) + utf8Length(ext) > FILE_NAME_MAX_BYTES) stem = [...stem].slice(0, -1).join('');
    n = stem + ext;
  }
  return n === '' ? 'file' : n;
}

/** "name.ext", then "name (1).ext", "name (2).ext" ...: the n-th candidate for a name already taken. */
export function numberedName(name: string, n: number): string {
  if (n === 0) return name;
  const dot = name.lastIndexOf('.');
  return dot > 0 ? `${name.slice(0, dot)} (${n})${name.slice(dot)}` : `${name} (${n})`;
}

/** "--max-file-size 25M": bytes, with an optional K, M, G or T suffix (powers of 1024). */
export function parseSize(v: string | number): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(String(v));
  if (!m) return undefined;
  const n = Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
  return Number.isSafeInteger(Math.floor(n)) ? Math.floor(n) : undefined;
}

/** 31457280 -> "30.0 MiB". */
export function formatSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  let v = n;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}
