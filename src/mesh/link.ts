// Join links (docs/mesh.md, "Join links"):
//   p2pcat://HOST:PORT?room=ROOM&secret=SECRET&key=INVITER_KEY
// every value percent-encoded (RFC 3986); `room`, `secret` and `key` are each
// optional. `connect LINK` dials HOST:PORT, joins ROOM with SECRET and pins
// KEY: a peer at that address presenting another identity is refused with
// P2PCAT_ERR_AUTH. The link holds the room secret: whoever sees it can join.
// Pure functions.
import { P2pcatError } from '../errors.js';
import { JOIN_LINK_SCHEME } from '../crypto/labels.js';
import { ROOM_MAX_BYTES, SECRET_MAX_BYTES } from '../limits.js';
import { fromHex, utf8Length } from '../util.js';

export interface JoinLink {
  host: string;
  port: number;
  room?: string;
  secret?: string;
  /** Inviter's Ed25519 public key, hex. */
  key?: string;
  /** host:port as a target text. */
  text: string;
}

export function isJoinLink(s: string): boolean {
  return s.toLowerCase().startsWith(`${JOIN_LINK_SCHEME}//`);
}

export function formatJoinLink(l: { host: string; port: number; room?: string | undefined; secret?: string | undefined; key?: string | undefined }): string {
  const host = l.host.includes(':') && !l.host.startsWith('[') ? `[${l.host}]` : l.host;
  const q: string[] = [];
  if (l.room !== undefined) q.push(`room=${encodeURIComponent(l.room)}`);
  if (l.secret !== undefined) q.push(`secret=${encodeURIComponent(l.secret)}`);
  if (l.key !== undefined) q.push(`key=${l.key}`);
  return `${JOIN_LINK_SCHEME}//${host}:${l.port}${q.length ? '?' + q.join('&') : ''}`;
}

export function parseJoinLink(text: string): JoinLink {
  const bad = (why: string) => P2pcatError.usage(`join link ${JSON.stringify(text.replace(/secret=[^&]*/, 'secret=…'))}: ${why}`);
  if (!isJoinLink(text)) throw bad(`it does not start with ${JOIN_LINK_SCHEME}//`);
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw bad('not a URL');
  }
  if ((u.pathname !== '' && u.pathname !== '/') || u.hash !== '' || u.username !== '' || u.password !== '') throw bad('only HOST:PORT and ?room=&secret=&key= are allowed');
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (!host) throw bad('no host');
  if (!/^\d{1,5}$/.test(u.port) || Number(u.port) === 0 || Number(u.port) > 65535) throw bad('it needs a port from 1 to 65535');
  const port = Number(u.port);
  const link: JoinLink = { host, port, text: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}` };
  const seen = new Set<string>();
  for (const [k, v] of u.searchParams) {
    if (seen.has(k)) throw bad(`${k} appears twice`);
    seen.add(k);
    if (k === 'room') {
      if (v === '' || utf8Length(v) > ROOM_MAX_BYTES) throw bad(`room must be 1-${ROOM_MAX_BYTES} bytes`);
      link.room = v;
    } else if (k === 'secret') {
      if (v === '' || utf8Length(v) > SECRET_MAX_BYTES) throw bad(`secret must be 1-${SECRET_MAX_BYTES} bytes`);
      link.secret = v;
    } else if (k === 'key') {
      if (!fromHex(v, 32)) throw bad('key must be 64 lower-case hex digits (an Ed25519 public key)');
      link.key = v;
    } else throw bad(`unknown parameter ${JSON.stringify(k)}`);
  }
  return link;
}
