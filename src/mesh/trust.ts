// Who may be in the room, and who we have seen before (docs/mesh.md,
// "Membership control"):
//   --allow FILE   authorized keys: one hex Ed25519 public key per line
//                  (anything after it on the line is a comment, as is a line
//                  starting with #). Everyone else is refused right after HELLO.
//   known_peers    trust on first use, as ssh's known_hosts: lines
//                      name <username> <key>
//                      addr <host:port> <key>
//                  written the first time a username or dialled address is
//                  seen; a later different key is KEY_CHANGED (reported, the
//                  line is kept: delete it to accept the new key).
// Parsing and decisions are pure; loadKnownPeers/appendKnownPeer are the file driver.
import fs from 'node:fs';
import path from 'node:path';
import { P2pcatError } from '../errors.js';
import { KEY_FILE_MAX_BYTES } from '../limits.js';
import { fromHex } from '../util.js';

function readBounded(file: string, what: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw P2pcatError.io(`cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, e);
  }
  try {
    const buf = Buffer.alloc(KEY_FILE_MAX_BYTES + 1);
    let n = 0;
    for (let i = 0; i < 1024 && n < buf.length; i++) {
      const got = fs.readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    if (n > KEY_FILE_MAX_BYTES) throw P2pcatError.io(`${what} ${file} is larger than ${KEY_FILE_MAX_BYTES} bytes`);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** Parse an authorized-keys list. Throws a usage error naming the line of a bad entry. */
export function parseAllowList(text: string, file = 'allow list'): Set<string> {
  const keys = new Set<string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const word = line.split(/\s+/)[0]!.toLowerCase();
    if (!fromHex(word, 32)) throw P2pcatError.usage(`${file}:${i + 1}: ${JSON.stringify(word.slice(0, 80))} is not a public key (64 hex digits, as \`p2pcat id\` prints)`);
    keys.add(word);
  }
  return keys;
}

export function loadAllowList(file: string): Set<string> {
  return parseAllowList(readBounded(file, '--allow file'), file);
}

export type KnownKind = 'name' | 'addr';

export type KnownVerdict = { kind: 'new' } | { kind: 'same' } | { kind: 'changed'; was: string };

/** The known_peers table: what we saw first for each username and dialled address. */
export class KnownPeers {
  #map = new Map<string, string>();

  static parse(text: string): KnownPeers {
    const k = new KnownPeers();
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const parts = line.split(/\s+/);
      if (parts.length !== 3) continue; // unreadable lines are skipped, never fatal
      const [kind, id, key] = parts as [string, string, string];
      if ((kind !== 'name' && kind !== 'addr') || !fromHex(key, 32)) continue;
      const slot = `${kind} ${decodeId(id)}`;
      if (!k.#map.has(slot)) k.#map.set(slot, key);
    }
    return k;
  }

  /** Look up (kind, id) and, when new, remember `key` for it. */
  check(kind: KnownKind, id: string, key: string): KnownVerdict {
    const slot = `${kind} ${id}`;
    const was = this.#map.get(slot);
    if (was === undefined) {
      this.#map.set(slot, key);
      return { kind: 'new' };
    }
    return was === key ? { kind: 'same' } : { kind: 'changed', was };
  }

  get size(): number {
    return this.#map.size;
  }
}

// Usernames may hold spaces: they are stored percent-encoded.
function encodeId(s: string): string {
  return s.replace(/[%\s#]/g, (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

function decodeId(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function knownPeerLine(kind: KnownKind, id: string, key: string): string {
  return `${kind} ${encodeId(id)} ${key}\n`;
}

export function knownPeersPath(configDir: string): string {
  return path.join(configDir, 'known_peers');
}

/** Read known_peers (missing: empty). A file too large or unreadable is an error. */
export function loadKnownPeers(file: string): KnownPeers {
  if (!fs.existsSync(file)) return new KnownPeers();
  return KnownPeers.parse(readBounded(file, 'known_peers'));
}

/** Append one line (O_APPEND: lines from concurrent processes do not interleave). */
export function appendKnownPeer(file: string, kind: KnownKind, id: string, key: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.appendFileSync(file, knownPeerLine(kind, id, key), { mode: 0o600 });
}
