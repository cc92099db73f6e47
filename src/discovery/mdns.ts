// DNS-SD over mDNS for p2pcat (RFC 6762, RFC 6763; docs/discovery.md, "mDNS").
// Sans-I/O: builds the records an announcer sends and reads the records a
// browser receives, from already-decoded dns-packet objects (multicast-dns
// does the wire decoding). Every field of a received packet is checked here,
// because anything on the LAN may send anything.
//
// An announcer owns three names, fresh random labels each epoch:
//   _p2pcat._tcp.local             PTR  <inst>._p2pcat._tcp.local   (shared)
//   <inst>._p2pcat._tcp.local      SRV  0 0 <port> <host>.local     (unique)
//   <inst>._p2pcat._tcp.local      TXT  the beacon strings (./beacon.ts)
//   <host>.local                   A / AAAA  each announced address
// and answers `_services._dns-sd._udp.local` PTR (RFC 6763 section 9) so
// `avahi-browse -a` lists the type. A goodbye is the same records, TTL 0.
import net from 'node:net';
import { MDNS_SERVICE_TYPE } from '../crypto/labels.js';
import { MDNS_MAX_RECORDS } from '../limits.js';

export const SERVICE = MDNS_SERVICE_TYPE;
export const META_SERVICE = '_services._dns-sd._udp.local';

/** The subset of a dns-packet record p2pcat reads and writes. */
export interface DnsRecord {
  name: string;
  type: string;
  ttl?: number;
  class?: string;
  flush?: boolean;
  data?: unknown;
}

export interface DnsQuestion {
  name: string;
  type: string;
  class?: string;
}

export interface ServiceAnnouncement {
  /** Instance label (without the service type). */
  instance: string;
  /** Host label (without `.local`). */
  host: string;
  port: number;
  txt: string[];
  addrs: string[];
  ttl: number;
}

export function instanceName(label: string): string {
  return `${label}.${SERVICE}`;
}

export function hostName(label: string): string {
  return `${label}.local`;
}

/** The PTR, SRV, TXT and address records of one announcement. */
export function serviceRecords(a: ServiceAnnouncement, meta = false): DnsRecord[] {
  const inst = instanceName(a.instance);
  const host = hostName(a.host);
  const out: DnsRecord[] = [
    { name: SERVICE, type: 'PTR', ttl: a.ttl, data: inst },
    { name: inst, type: 'SRV', ttl: a.ttl, flush: true, data: { priority: 0, weight: 0, port: a.port, target: host } },
    { name: inst, type: 'TXT', ttl: a.ttl, flush: true, data: a.txt.map((s) => Buffer.from(s, 'utf8')) },
  ];
  for (const addr of a.addrs) {
    const fam = net.isIP(addr);
    if (fam === 4) out.push({ name: host, type: 'A', ttl: a.ttl, flush: true, data: addr });
    else if (fam === 6) out.push({ name: host, type: 'AAAA', ttl: a.ttl, flush: true, data: addr });
  }
  if (meta) out.push({ name: META_SERVICE, type: 'PTR', ttl: a.ttl, data: SERVICE });
  return out;
}

/** The query a browser multicasts. */
export function serviceQuery(): { questions: DnsQuestion[] } {
  return { questions: [{ name: SERVICE, type: 'PTR' }] };
}

/** A query for one instance's SRV and TXT (when a PTR came without them). */
export function instanceQuery(inst: string): { questions: DnsQuestion[] } {
  return { questions: [{ name: inst, type: 'SRV' }, { name: inst, type: 'TXT' }] };
}

function lower(s: unknown): string | undefined {
  return typeof s === 'string' && s.length <= 255 ? s.toLowerCase() : undefined;
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** What a query asks of an announcer: nothing, our service, and/or the meta listing. */
export function queryWants(packet: unknown, a: Pick<ServiceAnnouncement, 'instance' | 'host'>): { service: boolean; meta: boolean } {
  const out = { service: false, meta: false };
  if (typeof packet !== 'object' || packet === null) return out;
  const inst = instanceName(a.instance).toLowerCase();
  const host = hostName(a.host).toLowerCase();
  const qs = list((packet as { questions?: unknown }).questions).slice(0, MDNS_MAX_RECORDS);
  for (const q of qs) {
    if (typeof q !== 'object' || q === null) continue;
    const name = lower((q as DnsQuestion).name);
    const type = (q as DnsQuestion).type;
    if (name === undefined || typeof type !== 'string') continue;
    const any = type === 'ANY';
    if (name === SERVICE && (type === 'PTR' || any)) out.service = true;
    else if (name === META_SERVICE && (type === 'PTR' || any)) out.meta = true;
    else if (name === inst && (type === 'SRV' || type === 'TXT' || any)) out.service = true;
    else if (name === host && (type === 'A' || type === 'AAAA' || any)) out.service = true;
  }
  return out;
}

/** One `_p2pcat._tcp` service instance as far as one packet tells. */
export interface FoundInstance {
  /** Full instance name, lower-cased. */
  name: string;
  /** Pointed to by a PTR for the service type in this packet. */
  pointed: boolean;
  /** SRV port, when the packet had the SRV. */
  port?: number;
  /** TXT strings, when the packet had the TXT. */
  txt?: Uint8Array[];
  /** A record of it had TTL 0: the instance is leaving. */
  goodbye: boolean;
}

export interface Extracted {
  instances: FoundInstance[];
  /** Problems worth a warning (records that claim to be ours but are malformed). */
  problems: string[];
}

/**
 * Read the `_p2pcat._tcp` instances out of a decoded mDNS response. Looks at
 * answers and additionals together, at most MDNS_MAX_RECORDS of them.
 */
export function extractInstances(packet: unknown): Extracted {
  const out: Extracted = { instances: [], problems: [] };
  if (typeof packet !== 'object' || packet === null) {
    out.problems.push('not a DNS message');
    return out;
  }
  const all = [...list((packet as { answers?: unknown }).answers), ...list((packet as { additionals?: unknown }).additionals)];
  if (all.length > MDNS_MAX_RECORDS) out.problems.push(`response has ${all.length} records; looked at the first ${MDNS_MAX_RECORDS}`);
  const byName = new Map<string, FoundInstance>();
  const get = (name: string): FoundInstance | undefined => {
    let f = byName.get(name);
    if (!f) {
      if (byName.size >= MDNS_MAX_RECORDS) return undefined;
      f = { name, pointed: false, goodbye: false };
      byName.set(name, f);
    }
    return f;
  };
  const suffix = '.' + SERVICE;
  for (const r of all.slice(0, MDNS_MAX_RECORDS)) {
    if (typeof r !== 'object' || r === null) continue;
    const rec = r as DnsRecord;
    const name = lower(rec.name);
    if (name === undefined || typeof rec.type !== 'string') continue;
    const ttl = rec.ttl;
    const goodbye = ttl === 0;
    if (rec.type === 'PTR' && name === SERVICE) {
      const target = lower(rec.data);
      if (target === undefined || !target.endsWith(suffix) || target.length === suffix.length) {
        out.problems.push('a _p2pcat._tcp PTR record does not point at a _p2pcat._tcp instance');
        continue;
      }
      const f = get(target);
      if (!f) continue;
      f.pointed = true;
      if (goodbye) f.goodbye = true;
      continue;
    }
    if (!name.endsWith(suffix) || name.length === suffix.length) continue;
    if (rec.type === 'SRV') {
      const d = rec.data as { port?: unknown } | undefined;
      const port = typeof d === 'object' && d !== null ? d.port : undefined;
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
        out.problems.push(`SRV record of ${name.slice(0, 80)} has no valid port`);
        continue;
      }
      const f = get(name);
      if (!f) continue;
      f.port = port;
      if (goodbye) f.goodbye = true;
    } else if (rec.type === 'TXT') {
      const d = rec.data;
      const strings = Array.isArray(d) ? d : [d];
      if (!strings.every((s) => s instanceof Uint8Array)) {
        out.problems.push(`TXT record of ${name.slice(0, 80)} is not a list of strings`);
        continue;
      }
      const f = get(name);
      if (!f) continue;
      f.txt = strings as Uint8Array[];
      if (goodbye) f.goodbye = true;
    }
  }
  out.instances = [...byName.values()];
  return out;
}
