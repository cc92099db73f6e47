// Protocol messages carried in encrypted transport frames (docs/protocol.md):
// one type byte, then a body. Control messages have a UTF-8 JSON object body;
// DATA and EOF (raw mode) carry bytes. The codec validates at the boundary and
// never throws anything but P2pcatError.
import { P2pcatError } from '../errors.js';
import { decodeUtf8 } from '../util.js';

export const MSG = {
  HELLO: 0x01,
  CHAT: 0x02,
  ACK: 0x03,
  PING: 0x04,
  PONG: 0x05,
  BYE: 0x06,
  SYNC_REQUEST: 0x07,
  SYNC_RESPONSE: 0x08,
  PEERS: 0x09,
  IHAVE: 0x0a,
  IWANT: 0x0b,
  DM: 0x0c,
  DATA: 0x10,
  EOF: 0x11,
  // File transfer in chat mode (docs/protocol.md, "File transfer"; src/files/).
  FILE_OFFER: 0x12,
  FILE_ACCEPT: 0x13,
  FILE_DATA: 0x14,
  FILE_PROGRESS: 0x15,
  FILE_END: 0x16,
  FILE_RESULT: 0x17,
  FILE_ABORT: 0x18,
} as const;

/** Types whose body is raw bytes, not JSON. */
export const BINARY_TYPES: ReadonlySet<number> = new Set([MSG.DATA, MSG.EOF, MSG.FILE_DATA]);

export type MsgName = keyof typeof MSG;
const NAMES = new Map<number, MsgName>(Object.entries(MSG).map(([k, v]) => [v, k as MsgName]));

export interface Message {
  type: MsgName;
  body: Record<string, unknown>;
  /** The bytes of a binary message (DATA, EOF, FILE_DATA). */
  data?: Buffer;
}

export function encodeMessage(type: MsgName, body: Record<string, unknown> = {}): Buffer {
  const json = Buffer.from(JSON.stringify(body), 'utf8');
  const out = Buffer.allocUnsafe(1 + json.length);
  out[0] = MSG[type];
  json.copy(out, 1);
  return out;
}

/** One binary message (FILE_DATA): the type byte, then the bytes. */
export function encodeBinary(type: MsgName, parts: Uint8Array[]): Buffer {
  if (!BINARY_TYPES.has(MSG[type])) throw new Error(`${type} is not a binary message`);
  return Buffer.concat([Buffer.from([MSG[type]]), ...parts]);
}

export function decodeMessage(bytes: Uint8Array): Message {
  if (bytes.length < 1) throw P2pcatError.protocol('empty message');
  const type = NAMES.get(bytes[0]!);
  if (!type) throw P2pcatError.protocol(`unknown message type 0x${bytes[0]!.toString(16).padStart(2, '0')}`);
  if (BINARY_TYPES.has(bytes[0]!)) {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { type, body: {}, data: b.subarray(1) };
  }
  const text = decodeUtf8(bytes.subarray(1));
  if (text === undefined) throw P2pcatError.protocol(`${type} body is not UTF-8`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw P2pcatError.protocol(`${type} body is not JSON`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw P2pcatError.protocol(`${type} body is not an object`);
  return { type, body: body as Record<string, unknown> };
}
