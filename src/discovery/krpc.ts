// A gate in front of bittorrent-dht: a strict, bounded bencode decoder and a
// shape check of KRPC messages (BEP 5), so that only well-formed mainline
// DHT traffic reaches the library (docs/discovery.md, "Hostile input").
// bittorrent-dht calls Buffer methods on fields it never type-checks
// (`info_hash.toString('hex')`, `token.equals(...)`), so a query whose
// info_hash is an integer would throw out of its socket handler; this check
// refuses such datagrams first. Sans-I/O.
import { DHT_MAX_BENCODE_DEPTH, DHT_MAX_PACKET_BYTES, DHT_MAX_VALUES_PER_REPLY } from '../limits.js';

export type BValue = number | Uint8Array | BValue[] | BDict;
export type BDict = Map<string, BValue>;

export class BencodeError extends Error {
  constructor(msg: string, readonly offset: number) {
    super(`${msg} at byte ${offset}`);
    this.name = 'BencodeError';
  }
}

const D0 = 0x30;
const D9 = 0x39;

/** Decode one bencoded value that fills `buf` exactly. Throws BencodeError. */
export function decodeBencode(buf: Uint8Array, maxDepth = DHT_MAX_BENCODE_DEPTH): BValue {
  let i = 0;
  const num = (end: number, allowNeg: boolean): number => {
    const start = i;
    let neg = false;
    if (allowNeg && buf[i] === 0x2d) {
      neg = true;
      i++;
    }
    const ds = i;
    while (i < buf.length && buf[i]! >= D0 && buf[i]! <= D9) i++;
    if (i === ds) throw new BencodeError('expected a digit', i);
    if (i - ds > 15) throw new BencodeError('number too long', start);
    if (buf[ds] === D0 && i - ds > 1) throw new BencodeError('leading zero', start);
    if (neg && buf[ds] === D0) throw new BencodeError('negative zero', start);
    if (buf[i] !== end) throw new BencodeError(`expected ${String.fromCharCode(end)}`, i);
    const v = Number(Buffer.from(buf.subarray(ds, i)).toString('latin1'));
    i++;
    return neg ? -v : v;
  };
  const bytes = (): Uint8Array => {
    const len = num(0x3a, false);
    if (len > buf.length - i) throw new BencodeError('string runs past the end', i);
    const s = buf.subarray(i, i + len);
    i += len;
    return s;
  };
  const value = (depth: number): BValue => {
    if (i >= buf.length) throw new BencodeError('unexpected end', i);
    const c = buf[i]!;
    if (c === 0x69) {
      i++;
      return num(0x65, true);
    }
    if (c >= D0 && c <= D9) return bytes();
    if (depth >= maxDepth) throw new BencodeError('nested too deep', i);
    if (c === 0x6c) {
      i++;
      const out: BValue[] = [];
      while (buf[i] !== 0x65) out.push(value(depth + 1));
      i++;
      return out;
    }
    if (c === 0x64) {
      i++;
      const out: BDict = new Map();
      while (buf[i] !== 0x65) {
        if (i >= buf.length) throw new BencodeError('unexpected end', i);
        const k = Buffer.from(bytes()).toString('latin1');
        if (out.has(k)) throw new BencodeError('duplicate key', i);
        out.set(k, value(depth + 1));
      }
      i++;
      return out;
    }
    throw new BencodeError(`unexpected byte 0x${c.toString(16)}`, i);
  };
  const v = value(0);
  if (i !== buf.length) throw new BencodeError('trailing bytes', i);
  return v;
}

const isBytes = (v: BValue | undefined, min = 0, max = Infinity): v is Uint8Array => v instanceof Uint8Array && v.length >= min && v.length <= max;
const isDict = (v: BValue | undefined): v is BDict => v instanceof Map;
const isInt = (v: BValue | undefined, min: number, max: number): v is number => typeof v === 'number' && v >= min && v <= max;
const str = (v: Uint8Array) => Buffer.from(v).toString('latin1');

const ID = 20;
const NODE_INFO = 26;
const PEER_INFO = 6;

/**
 * Why a datagram is not a KRPC message bittorrent-dht can safely handle, or
 * undefined when it is. Fields the library does not read are not checked.
 */
export function checkKrpc(buf: Uint8Array): string | undefined {
  if (buf.length > DHT_MAX_PACKET_BYTES) return `DHT datagram of ${buf.length} bytes (at most ${DHT_MAX_PACKET_BYTES})`;
  let m: BValue;
  try {
    m = decodeBencode(buf);
  } catch (e) {
    if (e instanceof BencodeError) return `DHT datagram is not bencode: ${e.message}`;
    throw e;
  }
  if (!isDict(m)) return 'DHT datagram is not a dictionary';
  const t = m.get('t');
  const y = m.get('y');
  if (!isBytes(t, 1, 32)) return 'DHT message has no valid transaction id';
  if (!isBytes(y, 1, 1)) return 'DHT message has no valid type';
  const type = str(y);
  if (type === 'q') {
    const q = m.get('q');
    const a = m.get('a');
    if (!isBytes(q, 1, 32)) return 'DHT query has no method name';
    if (!isDict(a)) return 'DHT query has no arguments';
    if (!isBytes(a.get('id'), ID, ID)) return 'DHT query has no valid node id';
    switch (str(q)) {
      case 'ping':
        return undefined;
      case 'find_node':
      case 'get':
        return isBytes(a.get('target'), ID, ID) ? undefined : `DHT ${str(q)} has no valid target`;
      case 'get_peers':
        return isBytes(a.get('info_hash'), ID, ID) ? undefined : 'DHT get_peers has no valid info_hash';
      case 'announce_peer': {
        if (!isBytes(a.get('info_hash'), ID, ID)) return 'DHT announce_peer has no valid info_hash';
        if (!isBytes(a.get('token'), 1, 64)) return 'DHT announce_peer has no valid token';
        const port = a.get('port');
        const implied = a.get('implied_port');
        if (port !== undefined && !isInt(port, 0, 65535)) return 'DHT announce_peer has a bad port';
        if (implied !== undefined && !isInt(implied, 0, 1)) return 'DHT announce_peer has a bad implied_port';
        return undefined;
      }
      case 'put':
        // BEP 44 storage is not something a p2pcat node offers.
        return 'DHT put is not served';
      default:
        return undefined;
    }
  }
  if (type === 'r') {
    if (t.length < 2) return 'DHT response has a short transaction id';
    const r = m.get('r');
    if (!isDict(r)) return 'DHT response has no body';
    if (!isBytes(r.get('id'), ID, ID)) return 'DHT response has no valid node id';
    const nodes = r.get('nodes');
    if (nodes !== undefined && (!isBytes(nodes, 0, NODE_INFO * 64) || nodes.length % NODE_INFO !== 0)) return 'DHT response has malformed nodes';
    const token = r.get('token');
    if (token !== undefined && !isBytes(token, 1, 64)) return 'DHT response has a bad token';
    const values = r.get('values');
    if (values !== undefined) {
      if (!Array.isArray(values)) return 'DHT response values is not a list';
      if (values.length > DHT_MAX_VALUES_PER_REPLY) return `DHT response carries ${values.length} peers (at most ${DHT_MAX_VALUES_PER_REPLY})`;
      if (!values.every((v) => isBytes(v, PEER_INFO, PEER_INFO))) return 'DHT response has a malformed peer value';
    }
    const v = r.get('v');
    if (v !== undefined && !isBytes(v, 0, 1000)) return 'DHT response has a bad value';
    return undefined;
  }
  if (type === 'e') {
    if (t.length < 2) return 'DHT error has a short transaction id';
    return Array.isArray(m.get('e')) ? undefined : 'DHT error has no error list';
  }
  return `DHT message of unknown type ${JSON.stringify(type)}`;
}
