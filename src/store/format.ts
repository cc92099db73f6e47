// The encrypted log file format, version 1 (docs/log-format.md is the spec):
// the 64-byte file header and the frame header, as pure functions over bytes.
// Every constant that fixes bytes on disk, every key-derivation label and
// every bound of the store lives here. No I/O.
//
//   file   := header(64) frame*
//   frame  := fixed(28) nonce(24) ciphertext(body_len - 16) tag(16)
//
// Limits and labels below belong in src/limits.ts and src/crypto/labels.ts;
// they stay here until the lead moves them (those files are shared).
import zlib from 'node:zlib';
import { P2pcatError } from '../errors.js';

// ------------------------------------------------------------------ labels

/** HKDF-SHA256 info for the 32-byte frame key (salt: the file id). */
export const LOG_KEY_INFO = 'p2pcat log v1 key';
/** HKDF-SHA256 info for the 16-byte key check value kept in the header. */
export const LOG_CHECK_INFO = 'p2pcat log v1 check';

// ------------------------------------------------------------------ limits

/** Largest frame body (ciphertext + tag) a reader accepts; larger is damage. */
export const LOG_FRAME_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** A writer starts a new frame once this much plaintext is in the current one. */
export const LOG_FRAME_TARGET_PLAINTEXT_BYTES = 1024 * 1024;
/** Records in one sealed block (fewer when the block reaches the target size). */
export const LOG_BLOCK_MAX_RECORDS = 1000;
/** Unsealed frames after which a writer seals the live tail into blocks. */
export const LOG_SEAL_AFTER_FRAMES = 1000;
/** A writer rewrites the file once superseded bytes pass this and the live bytes it had after its last rewrite. */
export const LOG_VACUUM_MIN_DEAD_BYTES = 8 * 1024 * 1024;
/** How long a writer waits for another process's lock before giving up. */
export const LOG_LOCK_TIMEOUT_MS = 30_000;
/** A lock file whose owner cannot be identified is stale after this long. */
export const LOG_LOCK_STALE_MS = 10_000;
/** `log cat --follow` polls the file this often. */
export const LOG_FOLLOW_POLL_MS = 250;
/** Bytes one read of the scanner asks for. */
export const LOG_SCAN_WINDOW_BYTES = 256 * 1024;
/** Frames the scanner accepts in one file (a bound, not a target: ~4 GiB of small frames). */
export const LOG_MAX_FRAMES = 16 * 1024 * 1024;
/** scrypt cost for export files: N = 2^17, r = 8, p = 1 (128 MiB, ~0.3 s here). */
export const EXPORT_SCRYPT_LOG_N = 17;
export const EXPORT_SCRYPT_R = 8;
export const EXPORT_SCRYPT_P = 1;
/** Largest scrypt cost an export file may ask a reader to pay (2^20 * 128 * 8 = 1 GiB). */
export const EXPORT_SCRYPT_MAX_LOG_N = 20;
/** Longest passphrase read from a file or the environment (bytes). */
export const PASSPHRASE_MAX_BYTES = 4096;

// ------------------------------------------------------------------ header

/** "\x89P2PLOG\n": the 0x89 and the newline catch text-mode mangling, as PNG does. */
export const FILE_MAGIC = Buffer.from([0x89, 0x50, 0x32, 0x50, 0x4c, 0x4f, 0x47, 0x0a]);
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 64;
export const FILE_ID_BYTES = 16;
export const KCV_BYTES = 16;

export const FILE_TYPE = { LOG: 1, EXPORT: 2 } as const;
export type FileType = (typeof FILE_TYPE)[keyof typeof FILE_TYPE];

export interface FileHeader {
  version: number;
  fileType: FileType;
  /** scrypt parameters (EXPORT only; zero in a LOG). */
  scryptLogN: number;
  scryptR: number;
  scryptP: number;
  fileId: Uint8Array;
  kcv: Uint8Array;
}

export function crc32(b: Uint8Array): number {
  return zlib.crc32(b) >>> 0;
}

export function encodeHeader(h: FileHeader): Buffer {
  if (h.fileId.length !== FILE_ID_BYTES || h.kcv.length !== KCV_BYTES) throw new RangeError('file id and kcv must be 16 bytes');
  const b = Buffer.alloc(HEADER_BYTES);
  FILE_MAGIC.copy(b, 0);
  b.writeUInt16BE(h.version, 8);
  b[10] = h.fileType;
  b[11] = h.scryptLogN;
  b[12] = h.scryptR;
  b[13] = h.scryptP;
  b.set(h.fileId, 16);
  b.set(h.kcv, 32);
  b.writeUInt32BE(crc32(b.subarray(0, 60)), 60);
  return b;
}

/**
 * Parse a file header. Throws P2PCAT_ERR_LOG_FORMAT when the bytes are not a
 * p2pcat log (or are a version this code does not read), P2PCAT_ERR_LOG_CORRUPT
 * when the magic is right but the header is damaged.
 */
export function decodeHeader(b: Uint8Array, what = 'file'): FileHeader {
  if (b.length < FILE_MAGIC.length || !Buffer.from(b.buffer, b.byteOffset, FILE_MAGIC.length).equals(FILE_MAGIC)) {
    throw P2pcatError.logFormat(`${what} is not a p2pcat log (no p2pcat magic at its start)`);
  }
  if (b.length < HEADER_BYTES) throw P2pcatError.logCorrupt(`${what}: header truncated (${b.length} of ${HEADER_BYTES} bytes)`);
  const buf = Buffer.from(b.buffer, b.byteOffset, HEADER_BYTES);
  const version = buf.readUInt16BE(8);
  if (crc32(buf.subarray(0, 60)) !== buf.readUInt32BE(60)) {
    // A newer version may lay the header out differently; say so rather than "damaged".
    if (version !== FORMAT_VERSION) throw P2pcatError.logFormat(`${what}: log format version ${version} is not supported (this p2pcat reads version ${FORMAT_VERSION})`);
    throw P2pcatError.logCorrupt(`${what}: the file header is damaged (checksum mismatch)`);
  }
  if (version !== FORMAT_VERSION) throw P2pcatError.logFormat(`${what}: log format version ${version} is not supported (this p2pcat reads version ${FORMAT_VERSION})`);
  const fileType = buf[10]!;
  if (fileType !== FILE_TYPE.LOG && fileType !== FILE_TYPE.EXPORT) throw P2pcatError.logFormat(`${what}: unknown file type ${fileType}`);
  const h: FileHeader = {
    version,
    fileType: fileType as FileType,
    scryptLogN: buf[11]!,
    scryptR: buf[12]!,
    scryptP: buf[13]!,
    fileId: new Uint8Array(buf.subarray(16, 32)),
    kcv: new Uint8Array(buf.subarray(32, 48)),
  };
  if (fileType === FILE_TYPE.EXPORT) {
    if (h.scryptLogN < 10 || h.scryptLogN > EXPORT_SCRYPT_MAX_LOG_N || h.scryptR < 1 || h.scryptR > 32 || h.scryptP < 1 || h.scryptP > 16) {
      throw P2pcatError.logFormat(`${what}: scrypt parameters out of range (logN ${h.scryptLogN}, r ${h.scryptR}, p ${h.scryptP})`);
    }
  }
  return h;
}

// ------------------------------------------------------------------ frames

/** Every frame starts with these 4 bytes, so a reader can resynchronise after damage. */
export const FRAME_MAGIC = Buffer.from([0xf0, 0x9f, 0x93, 0x9c]);
export const FRAME_FIXED_BYTES = 28;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
/** Bytes before the ciphertext: fixed part and nonce. */
export const FRAME_HEAD_BYTES = FRAME_FIXED_BYTES + NONCE_BYTES;
/** The part of the frame head that is authenticated as AEAD associated data. */
export const FRAME_AAD_BYTES = 24;

export const FRAME_KIND = {
  /** Records appended live (one append batch). */
  RECORDS: 1,
  /** One part of a sealed block group, which supersedes the `covers` bytes just before its part 0. */
  BLOCK: 2,
  /** Export files only: the last frame, holding the record count (a truncated export is detected). */
  END: 3,
} as const;
export type FrameKind = (typeof FRAME_KIND)[keyof typeof FRAME_KIND];

export interface FrameHead {
  kind: FrameKind;
  /** BLOCK: index of this part within its group, and the group's part count. */
  part: number;
  parts: number;
  /** Ciphertext + tag length. */
  bodyLen: number;
  /** BLOCK: bytes immediately before part 0 that the group supersedes. */
  covers: number;
}

/** Total bytes of a frame with this head. */
export function frameBytes(h: { bodyLen: number }): number {
  return FRAME_HEAD_BYTES + h.bodyLen;
}

/** The fixed 28 bytes of a frame head (the nonce follows). */
export function encodeFrameFixed(h: FrameHead): Buffer {
  if (h.bodyLen < TAG_BYTES || h.bodyLen > LOG_FRAME_MAX_BODY_BYTES) throw new RangeError(`frame body of ${h.bodyLen} bytes out of range`);
  if (!Number.isSafeInteger(h.covers) || h.covers < 0) throw new RangeError('covers must be a non-negative safe integer');
  const b = Buffer.alloc(FRAME_FIXED_BYTES);
  FRAME_MAGIC.copy(b, 0);
  b[4] = h.kind;
  b[5] = 0;
  b.writeUInt16BE(h.part, 6);
  b.writeUInt16BE(h.parts, 8);
  b.writeUInt16BE(0, 10);
  b.writeUInt32BE(h.bodyLen, 12);
  b.writeUInt32BE(Math.floor(h.covers / 2 ** 32), 16);
  b.writeUInt32BE(h.covers >>> 0, 20);
  b.writeUInt32BE(crc32(b.subarray(0, 24)), 24);
  return b;
}

/**
 * Parse the fixed part of a frame head at `off` in `b`. Returns undefined when
 * the bytes there are not a well-formed frame head (magic, checksum, kind,
 * ranges). Never throws on any input.
 */
export function decodeFrameFixed(b: Buffer, off: number): FrameHead | undefined {
  if (off < 0 || off + FRAME_FIXED_BYTES > b.length) return undefined;
  if (b[off] !== FRAME_MAGIC[0] || b[off + 1] !== FRAME_MAGIC[1] || b[off + 2] !== FRAME_MAGIC[2] || b[off + 3] !== FRAME_MAGIC[3]) return undefined;
  if (crc32(b.subarray(off, off + 24)) !== b.readUInt32BE(off + 24)) return undefined;
  const kind = b[off + 4]!;
  if (kind !== FRAME_KIND.RECORDS && kind !== FRAME_KIND.BLOCK && kind !== FRAME_KIND.END) return undefined;
  if (b[off + 5] !== 0 || b.readUInt16BE(off + 10) !== 0) return undefined;
  const part = b.readUInt16BE(off + 6);
  const parts = b.readUInt16BE(off + 8);
  const bodyLen = b.readUInt32BE(off + 12);
  const hi = b.readUInt32BE(off + 16);
  const covers = hi * 2 ** 32 + b.readUInt32BE(off + 20);
  if (bodyLen < TAG_BYTES || bodyLen > LOG_FRAME_MAX_BODY_BYTES) return undefined;
  if (hi >= 2 ** 21) return undefined; // beyond 2^53: not a real offset
  if (kind === FRAME_KIND.BLOCK) {
    if (parts === 0 || part >= parts) return undefined;
  } else if (part !== 0 || parts !== 0 || covers !== 0) return undefined;
  return { kind: kind as FrameKind, part, parts, bodyLen, covers };
}
