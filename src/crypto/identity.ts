// The local identity: an Ed25519 key pair, a UUID derived from its public key,
// and a username. Created on first use under the config dir with mode 0600;
// like ssh, a key file that group or others can read is refused.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { P2pcatError } from '../errors.js';
import { USERNAME_MAX_BYTES } from '../limits.js';
import { IDENTITY_UUID_CONTEXT } from './labels.js';
import { generateSigningKey, publicKeyFromSeed } from './ed25519.js';
import { fromHex, toHex, utf8Length } from '../util.js';

export const IDENTITY_FILE_VERSION = 1;

export interface Identity {
  seed: Uint8Array;
  publicKey: Uint8Array;
  username: string;
  created: string;
}

/** UUID (RFC 9562 version 8) from the first 16 bytes of SHA-256(context || public key). */
export function uuidFromPublicKey(publicKey: Uint8Array): string {
  const h = crypto.createHash('sha256').update(IDENTITY_UUID_CONTEXT).update(publicKey).digest();
  h[6] = (h[6]! & 0x0f) | 0x80; // version 8
  h[8] = (h[8]! & 0x3f) | 0x80; // RFC variant
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** ssh-keygen -l style: "SHA256:" + unpadded base64 of SHA-256(public key). */
export function fingerprint(publicKey: Uint8Array): string {
  return 'SHA256:' + crypto.createHash('sha256').update(publicKey).digest('base64').replace(/=+$/, '');
}

/** A username is 1-64 bytes of UTF-8 with no control characters. */
export function checkUsername(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw P2pcatError.usage('username must not be empty');
  if (utf8Length(name) > USERNAME_MAX_BYTES) throw P2pcatError.usage(`username longer than ${USERNAME_MAX_BYTES} bytes`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) throw P2pcatError.usage('username must not contain control characters');
  return name;
}

export function defaultUsername(env: Record<string, string | undefined> = process.env): string {
  const u = env.USER || env.LOGNAME || 'anonymous';
  try {
    return checkUsername(u);
  } catch {
    return 'anonymous';
  }
}

export function identityRecord(id: Identity, file?: string): Record<string, unknown> {
  return {
    type: 'IDENTITY',
    public_key: toHex(id.publicKey),
    uuid: uuidFromPublicKey(id.publicKey),
    username: id.username,
    fingerprint: fingerprint(id.publicKey),
    created: id.created,
    ...(file ? { file } : {}),
  };
}

function serialize(id: Identity): string {
  return JSON.stringify({
    version: IDENTITY_FILE_VERSION,
    type: 'ed25519',
    seed: toHex(id.seed),
    public_key: toHex(id.publicKey),
    username: id.username,
    created: id.created,
  }) + '\n';
}

function parse(text: string, file: string): Identity {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw P2pcatError.identity(`${file}: not a p2pcat identity file (bad JSON)`);
  }
  if (typeof o !== 'object' || o === null) throw P2pcatError.identity(`${file}: not a p2pcat identity file`);
  const r = o as Record<string, unknown>;
  if (r.version !== IDENTITY_FILE_VERSION || r.type !== 'ed25519') {
    throw P2pcatError.identity(`${file}: unsupported identity file version ${String(r.version)}`);
  }
  const seed = fromHex(r.seed, 32);
  const pub = fromHex(r.public_key, 32);
  if (!seed || !pub) throw P2pcatError.identity(`${file}: malformed key`);
  if (toHex(publicKeyFromSeed(seed)) !== toHex(pub)) {
    throw P2pcatError.identity(`${file}: public key does not match the secret key`);
  }
  const username = typeof r.username === 'string' ? r.username : defaultUsername();
  return { seed, publicKey: pub, username, created: typeof r.created === 'string' ? r.created : '' };
}

/** Refuse a key file that group or others may read, as ssh does. */
function checkPermissions(file: string, fd: number): void {
  const st = fs.fstatSync(fd);
  if ((st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    throw P2pcatError.keyPerms(`${file} has mode ${mode}: the identity key must not be accessible by group or others; run: chmod 600 ${file}`);
  }
}

export function loadIdentity(file: string): Identity | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') return undefined;
    if (err.code === 'ELOOP') throw P2pcatError.identity(`${file} is a symbolic link; refusing to use it`);
    throw P2pcatError.identity(`cannot open ${file}: ${err.message}`, e);
  }
  try {
    checkPermissions(file, fd);
    return parse(fs.readFileSync(fd, 'utf8'), file);
  } finally {
    fs.closeSync(fd);
  }
}

/** Write the identity atomically with mode 0600, never replacing another process's new file. */
function writeNew(file: string, id: Identity, replace: boolean): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    fs.writeSync(fd, serialize(id));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    if (replace) fs.renameSync(tmp, file);
    else fs.linkSync(tmp, file); // EEXIST when another process won the race
  } finally {
    if (!replace) fs.rmSync(tmp, { force: true });
  }
}

/** Load the identity, creating it on first use. */
export function loadOrCreateIdentity(file: string, env: Record<string, string | undefined> = process.env): { identity: Identity; created: boolean } {
  const existing = loadIdentity(file);
  if (existing) return { identity: existing, created: false };
  const key = generateSigningKey();
  const identity: Identity = {
    seed: key.seed,
    publicKey: key.publicKey,
    username: defaultUsername(env),
    created: new Date().toISOString(),
  };
  try {
    writeNew(file, identity, false);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EEXIST') {
      const theirs = loadIdentity(file);
      if (theirs) return { identity: theirs, created: false };
    }
    throw P2pcatError.identity(`cannot create ${file}: ${err.message}`, e);
  }
  return { identity, created: true };
}

export function saveUsername(file: string, id: Identity, username: string): Identity {
  const next = { ...id, username: checkUsername(username) };
  writeNew(file, next, true);
  return next;
}
