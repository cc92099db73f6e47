// IP addresses and UDP endpoints as the NAT code needs them: bytes <-> text
// (RFC 791 dotted quad; RFC 4291 section 2.2 for IPv6 input, RFC 5952 for
// IPv6 output), and "HOST:PORT" / "[V6]:PORT" endpoints. Pure functions.
import { P2pcatError } from '../errors.js';

export interface Endpoint {
  /** 4 or 6 */
  family: 4 | 6;
  /** Canonical text form (RFC 5952 for IPv6). */
  address: string;
  port: number;
}

/** Address bytes (4 or 16) from text, or undefined when it is not an IP literal. */
export function parseIp(text: string): Uint8Array | undefined {
  const v4 = parseIpv4(text);
  if (v4) return v4;
  return parseIpv6(text);
}

function parseIpv4(text: string): Uint8Array | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const b = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const s = m[i + 1]!;
    if (s.length > 1 && s[0] === '0') return undefined; // no octal-looking forms
    const n = Number(s);
    if (n > 255) return undefined;
    b[i] = n;
  }
  return b;
}

function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length > 45 || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const fill = 8 - head.length - tail.length;
    if (fill < 1) return undefined;
    groups = [...head, ...new Array<number>(fill).fill(0), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return undefined;
  const b = new Uint8Array(16);
  groups.forEach((g, i) => {
    b[2 * i] = g >> 8;
    b[2 * i + 1] = g & 0xff;
  });
  return b;
}

/** Text form of 4 or 16 address bytes (RFC 5952: lower case, longest zero run compressed). */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, not ${b.length}`);
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function endpoint(address: string, port: number): Endpoint {
  const b = parseIp(address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address);
  if (!b) throw P2pcatError.usage(`${JSON.stringify(address)} is not an IP address`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`bad port ${port}`);
  return { family: b.length === 4 ? 4 : 6, address: formatIp(b), port };
}

export function formatEndpoint(e: { address: string; port: number }): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/** "IP:PORT" or "[IPV6]:PORT" (IP literals only: there is no DNS in a NAT lab, and STUN answers in addresses). */
export function parseEndpoint(text: string, what = 'endpoint'): Endpoint {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([0-9.]+):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535 || Number(m[2]) === 0) throw P2pcatError.usage(`${what} ${JSON.stringify(text)} is not IP:PORT (use [IPV6]:PORT for IPv6)`);
  const b = parseIp(m[1]!);
  if (!b) throw P2pcatError.usage(`${what} ${JSON.stringify(text)}: ${JSON.stringify(m[1])} is not an IP address`);
  return { family: b.length === 4 ? 4 : 6, address: formatIp(b), port: Number(m[2]) };
}

export function sameEndpoint(a: { address: string; port: number } | undefined, b: { address: string; port: number } | undefined): boolean {
  return a !== undefined && b !== undefined && a.address === b.address && a.port === b.port;
}
