// Addresses a peer may learn from others, and which of them it may dial
// (docs/mesh.md, "Dial policy"). Members tell each other where to reach
// members (PEERS `addr` hints, HELLO `port`); none of that is trusted to
// point anywhere the user did not allow. Pure functions.
//
//   always refused   not an IP literal (no DNS names from peers), port 0,
//                    unspecified (0.0.0.0, ::), multicast, broadcast,
//                    IPv4 "this network" 0/8, IPv6 documentation/discard oddities
//   same-scope       (the default) the address has the family and scope of the
//                    neighbour that told us: loopback only from a loopback
//                    neighbour, link-local only from a link-local one, private
//                    (RFC 1918, ULA, CGNAT) from a private neighbour, global
//                    from a private or global one
//   any              every address not always refused
//   none             never dial a learned address: only targets the user gave
//   CIDR,CIDR...     only learned addresses inside these ranges
// Addresses the user gives (connect TARGET, --peer) are always dialled.
import net from 'node:net';
import { P2pcatError } from '../errors.js';

export type Scope = 'loopback' | 'link-local' | 'private' | 'global';

export interface IpInfo {
  /** Canonical text (IPv4-mapped IPv6 becomes IPv4). */
  address: string;
  family: 4 | 6;
  scope: Scope;
}

export interface HostPort {
  host: string;
  port: number;
}

function v4Bytes(a: string): number[] {
  return a.split('.').map(Number);
}

/** Classify an IP literal; undefined (with the reason) when it can never be dialled. */
export function classifyIp(text: string): IpInfo | { refused: string } {
  let a = text;
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1);
  if (a.includes('%')) return { refused: 'zone ids are not accepted' };
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) a = mapped[1]!;
  const fam = net.isIP(a);
  if (fam === 4) {
    const [b0, b1, b2, b3] = v4Bytes(a) as [number, number, number, number];
    if (b0 === 0) return { refused: 'unspecified or "this network" address' };
    if (b0 >= 224 && b0 <= 239) return { refused: 'multicast address' };
    if (b0 >= 240) return { refused: b0 === 255 && b1 === 255 && b2 === 255 && b3 === 255 ? 'broadcast address' : 'reserved address' };
    const scope: Scope =
      b0 === 127 ? 'loopback'
      : b0 === 169 && b1 === 254 ? 'link-local'
      : b0 === 10 || (b0 === 172 && b1 >= 16 && b1 <= 31) || (b0 === 192 && b1 === 168) || (b0 === 100 && b1 >= 64 && b1 <= 127) ? 'private'
      : 'global';
    return { address: a, family: 4, scope };
  }
  if (fam === 6) {
    const lower = a.toLowerCase();
    const blocks = new net.BlockList();
    blocks.addAddress('::', 'ipv6');
    if (blocks.check(lower, 'ipv6')) return { refused: 'unspecified address' };
    const first = parseInt(expandFirstGroup(lower), 16);
    if ((first & 0xff00) === 0xff00) return { refused: 'multicast address' };
    const loop = new net.BlockList();
    loop.addAddress('::1', 'ipv6');
    if (loop.check(lower, 'ipv6')) return { address: lower, family: 6, scope: 'loopback' };
    if ((first & 0xffc0) === 0xfe80) return { address: lower, family: 6, scope: 'link-local' };
    if ((first & 0xfe00) === 0xfc00) return { address: lower, family: 6, scope: 'private' };
    if ((first & 0xe000) !== 0x2000) return { refused: 'not a global unicast, ULA, link-local or loopback IPv6 address' };
    return { address: lower, family: 6, scope: 'global' };
  }
  return { refused: 'not an IP address' };
}

function expandFirstGroup(a: string): string {
  if (a.startsWith('::')) return '0';
  return a.split(':')[0] || '0';
}

/** "IP:PORT" or "[IPV6]:PORT" from a peer: parsed and checked, or the reason it is refused. */
export function parseHint(text: unknown): (HostPort & IpInfo) | { refused: string } {
  if (typeof text !== 'string' || text.length > 64) return { refused: 'not a short string' };
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([0-9.]+):(\d{1,5})$/.exec(text);
  if (!m) return { refused: 'not IP:PORT' };
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return { refused: 'port out of range' };
  const ip = classifyIp(m[1]!);
  if ('refused' in ip) return ip;
  return { ...ip, host: ip.address, port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Split a session address ("1.2.3.4:5", "[::1]:5") into host and port. */
export function splitAddr(addr: string): HostPort | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr);
  if (!m) return undefined;
  return { host: m[1]!, port: Number(m[2]) };
}

export type DialPolicy =
  | { kind: 'same-scope' }
  | { kind: 'any' }
  | { kind: 'none' }
  | { kind: 'cidr'; text: string; list: net.BlockList };

/** Parse --dial-policy: same-scope (default), any, none, or a comma-separated list of CIDR ranges. */
export function parseDialPolicy(text: string | undefined): DialPolicy {
  const t = (text ?? 'same-scope').trim();
  if (t === 'same-scope' || t === '') return { kind: 'same-scope' };
  if (t === 'any') return { kind: 'any' };
  if (t === 'none') return { kind: 'none' };
  const list = new net.BlockList();
  for (const part of t.split(',')) {
    const m = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(part.trim());
    const fam = m ? net.isIP(m[1]!) : 0;
    const bits = m ? Number(m[2]) : -1;
    if (!m || fam === 0 || bits > (fam === 4 ? 32 : 128)) {
      throw P2pcatError.usage(`--dial-policy: ${JSON.stringify(part)} is not same-scope, any, none or a CIDR range such as 10.0.0.0/8`);
    }
    list.addSubnet(m[1]!, bits, fam === 4 ? 'ipv4' : 'ipv6');
  }
  return { kind: 'cidr', text: t, list };
}

const SCOPES_FROM: Record<Scope, Scope[]> = {
  loopback: ['loopback'],
  'link-local': ['link-local'],
  private: ['private', 'global'],
  global: ['global'],
};

/**
 * May we dial `candidate`, learned from a neighbour at `teller` (its IP)?
 * Returns undefined when allowed, or the reason it is not.
 */
export function dialRefusal(policy: DialPolicy, candidate: HostPort, teller: string | undefined): string | undefined {
  const c = parseHint(formatHostPort(candidate.host, candidate.port));
  if ('refused' in c) return c.refused;
  switch (policy.kind) {
    case 'none':
      return 'the dial policy is none';
    case 'any':
      return undefined;
    case 'cidr':
      return policy.list.check(c.address, c.family === 4 ? 'ipv4' : 'ipv6') ? undefined : `outside ${policy.text}`;
    case 'same-scope': {
      if (teller === undefined) return 'nobody we know told us';
      const t = classifyIp(teller);
      if ('refused' in t) return `the neighbour's own address is unusable (${t.refused})`;
      if (t.family !== c.family) return `IPv${c.family} address learned over IPv${t.family}`;
      if (!SCOPES_FROM[t.scope].includes(c.scope)) return `${c.scope} address learned from a ${t.scope} neighbour`;
      return undefined;
    }
  }
}
