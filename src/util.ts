// Small helpers shared by every layer: hex, UTF-8, constant-time compare.
import crypto from 'node:crypto';

const HEX_RE = /^(?:[0-9a-f]{2})*$/;

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Lower-case hex of exactly `bytes` bytes, or undefined. */
export function fromHex(s: unknown, bytes?: number): Uint8Array | undefined {
  if (typeof s !== 'string' || !HEX_RE.test(s)) return undefined;
  if (bytes !== undefined && s.length !== bytes * 2) return undefined;
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Decode UTF-8, or undefined when the bytes are not valid UTF-8. */
export function decodeUtf8(b: Uint8Array): string | undefined {
  try {
    return utf8Strict.decode(b);
  } catch {
    return undefined;
  }
}

export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}
