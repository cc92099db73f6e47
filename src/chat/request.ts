// What a stdin line asks for (DESIGN.md, "Records on stdin and stdout"):
//   a JSON object      a request: {"message":"hi"}; missing fields are filled in;
//                      {"message":"hi","to":"bob"} is a direct message (to a key, key prefix or username)
//                      {"type":"FILE","path":"./a.pdf"} offers a file to every neighbour ("to": one of them)
//   a signed CHAT      a record from `log cat` or another peer's stdout: relayed as is if it checks
//   anything else      plain text, sent as a message (refused with --strict)
//   an empty line      ignored
// Sans-I/O: a line in, a decision out. Never throws.
import { P2pcatError } from '../errors.js';
import { CHAT_MAX_MESSAGE_BYTES } from '../limits.js';
import { checkChat, type ChatRecord } from './record.js';
import { checkUsername } from '../crypto/identity.js';
import { utf8Length } from '../util.js';

export type Request =
  | { kind: 'skip' }
  | { kind: 'chat'; message: string; username?: string }
  | { kind: 'dm'; message: string; to: string }
  | { kind: 'relay'; record: ChatRecord }
  | { kind: 'file'; path: string; to?: string }
  | { kind: 'error'; error: P2pcatError };

const ALLOWED = new Set(['type', 'message', 'username', 'room', 'to']);
const SIGNED = ['uuid', 'timestamp', 'msg_id', 'from', 'sig'];

function bad(msg: string): Request {
  return { kind: 'error', error: P2pcatError.badInput(msg) };
}

export function parseRequest(line: string, opts: { strict: boolean; room: string }): Request {
  if (line.trim() === '') return { kind: 'skip' };
  const first = line.trimStart()[0];
  if (first !== '{') {
    if (opts.strict) return bad('not a JSON object (--strict is on)');
    return message(line);
  }
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch (e) {
    return bad(`malformed JSON: ${(e as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return bad('not a JSON object');
  const r = o as Record<string, unknown>;
  if (r.type === 'FILE') return fileRequest(r);
  if (r.type !== undefined && r.type !== 'CHAT') {
    return bad(`unsupported request type ${JSON.stringify(r.type)}`);
  }
  if (SIGNED.some((k) => k in r)) {
    const check = checkChat(r, { room: opts.room, now: Date.now() });
    if (!check.ok) return bad(`signed record does not check: ${check.reason}`);
    return { kind: 'relay', record: check.record };
  }
  for (const k of Object.keys(r)) {
    if (!ALLOWED.has(k)) return bad(`unknown field ${JSON.stringify(k)}`);
  }
  if (typeof r.message !== 'string') return bad('"message" must be a string');
  if (r.room !== undefined && r.room !== opts.room) return bad(`"room" is ${JSON.stringify(r.room)} but this session is in room ${JSON.stringify(opts.room)}`);
  const req = message(r.message);
  if (req.kind !== 'chat') return req;
  if (r.to !== undefined) {
    const to = checkTo(r.to);
    if (typeof to !== 'string') return to;
    if (r.username !== undefined) return bad('"username" cannot be set on a direct message');
    return { kind: 'dm', message: req.message, to };
  }
  if (r.username !== undefined) {
    try {
      req.username = checkUsername(r.username);
    } catch (e) {
      return { kind: 'error', error: P2pcatError.badInput((e as P2pcatError).message) };
    }
  }
  return req;
}

function checkTo(to: unknown): string | Request {
  if (typeof to !== 'string' || to.length === 0 || utf8Length(to) > 64) return bad('"to" must be a member\'s public key (hex), a key prefix, or a username');
  return to;
}

function fileRequest(r: Record<string, unknown>): Request {
  for (const k of Object.keys(r)) {
    if (k !== 'type' && k !== 'path' && k !== 'to') return bad(`unknown field ${JSON.stringify(k)} in a FILE request (it takes "path" and "to")`);
  }
  if (typeof r.path !== 'string' || r.path.length === 0 || r.path.includes('\0')) return bad('"path" must name a local file');
  if (r.to === undefined) return { kind: 'file', path: r.path };
  const to = checkTo(r.to);
  return typeof to === 'string' ? { kind: 'file', path: r.path, to } : to;
}

function message(text: string): Request {
  if (text.length === 0) return bad('"message" is empty');
  if (utf8Length(text) > CHAT_MAX_MESSAGE_BYTES) return bad(`message longer than ${CHAT_MAX_MESSAGE_BYTES} bytes`);
  return { kind: 'chat', message: text };
}
