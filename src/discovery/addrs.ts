// Which addresses a LAN announcer announces, and where broadcast beacons go.
// Sans-I/O over the shape os.networkInterfaces() returns.
import type os from 'node:os';

export type Interfaces = NodeJS.Dict<os.NetworkInterfaceInfo[]>;

function isLinkLocal6(a: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(a);
}

/**
 * The addresses a listener bound to `bindAddress` can be reached at: that
 * address itself when it is a specific one; otherwise every non-loopback
 * IPv4 address (and, for `::`, every IPv6 one that is not link-local, whose
 * zone a peer could not use), IPv4 first.
 */
export function announceAddrs(ifaces: Interfaces, bindAddress: string): string[] {
  if (bindAddress !== '0.0.0.0' && bindAddress !== '::' && bindAddress !== '') return [bindAddress.replace(/^::ffff:(?=\d+\.)/, '')];
  const v4: string[] = [];
  const v6: string[] = [];
  for (const list of Object.values(ifaces)) {
    for (const i of list ?? []) {
      if (i.internal) continue;
      if (i.family === 'IPv4') v4.push(i.address);
      else if (i.family === 'IPv6' && bindAddress === '::' && !isLinkLocal6(i.address)) v6.push(i.address);
    }
  }
  return [...new Set([...v4, ...v6])];
}

/** Directed broadcast address of every non-loopback IPv4 network (skips /31 and /32). */
export function broadcastAddrs(ifaces: Interfaces): string[] {
  const out = new Set<string>();
  for (const list of Object.values(ifaces)) {
    for (const i of list ?? []) {
      if (i.internal || i.family !== 'IPv4') continue;
      const a = i.address.split('.').map(Number);
      const m = i.netmask.split('.').map(Number);
      if (a.length !== 4 || m.length !== 4) continue;
      const bits = m.reduce((n, x) => n + ((x >>> 0).toString(2).match(/1/g)?.length ?? 0), 0);
      if (bits >= 31) continue;
      out.add(a.map((x, k) => (x | (~m[k]! & 255)) & 255).join('.'));
    }
  }
  return [...out];
}

/** `ip:port` with IPv6 in brackets. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
