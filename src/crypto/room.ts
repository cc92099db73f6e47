// Room keys. Every room has a 32-byte key; the Noise PSK (psk3) is that key,
// so only members complete a handshake.
//   open room (name only):  key = BLAKE2b-512(lp(context) || lp(room))[0..32]
//   private room (secret):  key = BLAKE2b-512(lp(context) || lp(room) || lp(scrypt(secret)))[0..32]
// where lp(x) = 4-byte big-endian length || x (docs/protocol.md, "Room keys").
// scrypt makes an offline guess at a weak secret from a recorded handshake
// costly (XXpsk3 lets a recorder test guesses against message 3).
import crypto from 'node:crypto';
import fs from 'node:fs';
import { P2pcatError } from '../errors.js';
import { ROOM_MAX_BYTES, SECRET_MAX_BYTES } from '../limits.js';
import { ROOM_PSK_CONTEXT } from './labels.js';
import { utf8Length } from '../util.js';

export const SCRYPT_PARAMS = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

export interface Room {
  name: string;
  /** true when a secret was given (a private room). */
  private: boolean;
  /** 32-byte room key, used as the Noise PSK. */
  key: Uint8Array;
}

function lp(b: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

export function checkRoomName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw P2pcatError.usage('room name must not be empty');
  if (utf8Length(name) > ROOM_MAX_BYTES) throw P2pcatError.usage(`room name longer than ${ROOM_MAX_BYTES} bytes`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw P2pcatError.usage('room name must not contain control characters');
  return name;
}

export function deriveRoom(name: string, secret?: Uint8Array): Room {
  checkRoomName(name);
  const h = crypto.createHash('blake2b512');
  h.update(lp(Buffer.from(ROOM_PSK_CONTEXT)));
  h.update(lp(Buffer.from(name, 'utf8')));
  if (secret) {
    const salt = Buffer.concat([Buffer.from(ROOM_PSK_CONTEXT), Buffer.from([0]), Buffer.from(name, 'utf8')]);
    h.update(lp(crypto.scryptSync(secret, salt, 32, SCRYPT_PARAMS)));
  }
  return { name, private: secret !== undefined, key: new Uint8Array(h.digest().subarray(0, 32)) };
}

/**
 * The room secret, from (in order) --secret-file, --secret, $P2PCAT_SECRET.
 * A file may be /dev/fd/N or a FIFO, so the secret never needs to be in argv.
 * One trailing newline is stripped, as `echo secret > file` adds it.
 */
export function readSecret(opts: { secretFile?: string | undefined; secret?: string | undefined }, env: Record<string, string | undefined> = process.env): Uint8Array | undefined {
  let raw: Buffer | undefined;
  if (opts.secretFile !== undefined) {
    try {
      const fd = fs.openSync(opts.secretFile, 'r');
      try {
        const buf = Buffer.alloc(SECRET_MAX_BYTES + 1);
        let n = 0;
        for (let i = 0; i < 1024 && n < buf.length; i++) {
          const got = fs.readSync(fd, buf, n, buf.length - n, null);
          if (got === 0) break;
          n += got;
        }
        if (n > SECRET_MAX_BYTES) throw P2pcatError.secret(`${opts.secretFile}: secret longer than ${SECRET_MAX_BYTES} bytes`);
        raw = buf.subarray(0, n);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      if (e instanceof P2pcatError) throw e;
      throw P2pcatError.secret(`cannot read secret file ${opts.secretFile}: ${(e as Error).message}`, e);
    }
  } else if (opts.secret !== undefined) {
    raw = Buffer.from(opts.secret, 'utf8');
  } else if (env.P2PCAT_SECRET !== undefined && env.P2PCAT_SECRET !== '') {
    raw = Buffer.from(env.P2PCAT_SECRET, 'utf8');
  }
  if (raw === undefined) return undefined;
  if (raw.length > 0 && raw[raw.length - 1] === 0x0a) raw = raw.subarray(0, raw.length - (raw[raw.length - 2] === 0x0d ? 2 : 1));
  if (raw.length === 0) throw P2pcatError.secret('the room secret is empty');
  if (raw.length > SECRET_MAX_BYTES) throw P2pcatError.secret(`secret longer than ${SECRET_MAX_BYTES} bytes`);
  return new Uint8Array(raw);
}
