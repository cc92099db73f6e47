// LAN discovery drivers (docs/discovery.md, "LAN"): an announcer that
// answers mDNS queries for `_p2pcat._tcp.local` and broadcasts UDP beacons,
// and a browser that asks and listens for both. The protocol logic lives in
// ./beacon.ts and ./mdns.ts; this file is sockets and timers.
//
// Both run on the usual ports with SO_REUSEADDR (5353 is shared with avahi
// or mDNSResponder; the beacon port with other p2pcat processes), so any
// number of announcers and browsers can share one host. Every datagram
// passes a GuardedSocket (size and rate limits, library exceptions caught)
// before a library or parser sees it.
import crypto from 'node:crypto';
import os from 'node:os';
import type dgram from 'node:dgram';
import multicastDns from 'multicast-dns';
import { P2pcatError } from '../errors.js';
import { LAN_BEACON_PORT } from '../crypto/labels.js';
import {
  ANNOUNCE_STOP_TIMEOUT_MS,
  DISCOVERY_MAX_PACKETS_PER_SEC,
  LAN_ANNOUNCE_MIN_INTERVAL_MS,
  LAN_BEACON_INTERVAL_MS,
  LAN_BEACON_MAX_BYTES,
  LAN_QUERY_MAX_TRIES,
  LAN_REPLAY_CACHE_MAX,
  MDNS_MAX_PACKET_BYTES,
  MDNS_MAX_PENDING_INSTANCES,
  MDNS_RECORD_TTL_S,
} from '../limits.js';
import { ReplayCache, decodeDatagram, encodeBeaconDatagram, encodeProbeDatagram, readBeacon, sealBeacon, type Beacon } from './beacon.js';
import { LAN_EPOCH_MS, epochOf, type DiscoveryKeys } from './keys.js';
import { META_SERVICE, extractInstances, instanceQuery, queryWants, serviceQuery, serviceRecords, type ServiceAnnouncement } from './mdns.js';
import { announceAddrs, broadcastAddrs, joinHostPort, type Interfaces } from './addrs.js';
import { GuardedSocket } from './udp.js';
import type { WarningBudget } from './warn.js';

export type LanProto = 'mdns' | 'broadcast';

export interface LanCommon {
  keys: DiscoveryKeys;
  protos: LanProto[];
  warnings: WarningBudget;
  now?: () => number;
  interfaces?: () => Interfaces;
}

function socketWarning(w: WarningBudget, what: string, e: Error & { code?: string }): void {
  if (typeof e.code === 'string') w.once(P2pcatError.io(`${what}: ${e.message}`, e));
  else w.warn(P2pcatError.discoveryPacket(`${what}: ${e.message}`));
}

function guarded(w: WarningBudget, what: string, maxBytes: number): GuardedSocket {
  return new GuardedSocket({
    type: 'udp4',
    reuseAddr: true,
    maxBytes,
    maxPerSecond: DISCOVERY_MAX_PACKETS_PER_SEC,
    onBad: (reason) => w.warn(P2pcatError.discoveryPacket(`${what}: ${reason}`)),
    onRateLimited: (n) => w.once(P2pcatError.limit(`${what}: more than ${DISCOVERY_MAX_PACKETS_PER_SEC} datagrams a second; dropping the excess (${n} so far)`)),
  });
}

function bindSocket(s: GuardedSocket, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onErr = (e: Error) => reject(e);
    s.once('error', onErr);
    s.bind(port, () => {
      s.off('error', onErr);
      resolve();
    });
  });
}

function sendTo(s: GuardedSocket, msg: Uint8Array, port: number, host: string): Promise<Error | undefined> {
  return new Promise((resolve) => s.send(msg, 0, msg.length, port, host, (e: Error | null) => resolve(e ?? undefined)));
}

function closeQuietly(s: GuardedSocket | undefined): void {
  try {
    s?.close();
  } catch {
    /* already closed */
  }
}

/** A bounded wait for a callback-style operation. */
function within<T>(ms: number, p: Promise<T>): Promise<T | undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    t.unref();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      () => {
        clearTimeout(t);
        resolve(undefined);
      },
    );
  });
}

// ------------------------------------------------------------------ announcer

export interface LanAnnouncerOptions extends LanCommon {
  port: number;
  /** The listener's bound address ('0.0.0.0' / '::' for all). */
  bindAddress: string;
  publicKey?: Uint8Array | undefined;
}

export class LanAnnouncer {
  #o: LanAnnouncerOptions;
  #now: () => number;
  #mdns: multicastDns.Instance | undefined;
  #mdnsSock: GuardedSocket | undefined;
  #udp: GuardedSocket | undefined;
  #timers = new Set<NodeJS.Timeout>();
  #stopped = false;
  #epoch = -1;
  #labels = { instance: '', host: '' };
  #lastMdns = 0;
  #mdnsPending: NodeJS.Timeout | undefined;
  #want = { service: false, meta: false };
  #lastBeacon = 0;
  #beaconPending: NodeJS.Timeout | undefined;

  constructor(o: LanAnnouncerOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  #addrs(): string[] {
    return announceAddrs((this.#o.interfaces ?? os.networkInterfaces)(), this.#o.bindAddress);
  }

  #timer(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#stopped) fn();
    }, ms);
    t.unref();
    this.#timers.add(t);
    return t;
  }

  /** Fresh random names each epoch, so names do not link one epoch to the next. */
  #rotate(): boolean {
    const e = epochOf(this.#now(), LAN_EPOCH_MS);
    if (e === this.#epoch) return false;
    this.#epoch = e;
    this.#labels = { instance: 'p2pcat-' + crypto.randomBytes(6).toString('hex'), host: 'p2pcat-' + crypto.randomBytes(6).toString('hex') };
    return true;
  }

  #announcement(ttl: number, goodbye = false): ServiceAnnouncement | undefined {
    const addrs = this.#addrs();
    if (addrs.length === 0) return undefined;
    const txt = sealBeacon(this.#o.keys, { nowMs: this.#now(), port: this.#o.port, addrs, publicKey: this.#o.publicKey, goodbye });
    return { ...this.#labels, port: this.#o.port, txt, addrs, ttl };
  }

  async start(): Promise<void> {
    this.#rotate();
    if (this.#addrs().length === 0) this.#o.warnings.once(P2pcatError.unavailable('LAN announce: this host has no non-loopback IPv4 address to announce (yet)'));
    if (this.#o.protos.includes('mdns')) {
      this.#mdnsSock = guarded(this.#o.warnings, 'mDNS', MDNS_MAX_PACKET_BYTES);
      this.#mdns = multicastDns({ socket: this.#mdnsSock });
      this.#mdns.on('warning', (e) => socketWarning(this.#o.warnings, 'mDNS', e));
      this.#mdns.on('error', (e) => this.#o.warnings.once(P2pcatError.unavailable(`mDNS: ${e.message}`, e)));
      this.#mdns.on('query', (q) => {
        const wants = queryWants(q, this.#labels);
        if (wants.service || wants.meta) this.#respondMdns(wants.service, wants.meta);
      });
      // RFC 6762 section 8.3: announce twice, one second apart.
      this.#respondMdns(true, false);
      this.#timer(LAN_ANNOUNCE_MIN_INTERVAL_MS, () => this.#respondMdns(true, false));
    }
    if (this.#o.protos.includes('broadcast')) {
      const s = guarded(this.#o.warnings, 'LAN beacon', LAN_BEACON_MAX_BYTES);
      s.on('error', (e: Error) => socketWarning(this.#o.warnings, 'LAN beacon socket', e));
      try {
        await bindSocket(s, LAN_BEACON_PORT);
        s.setBroadcast(true);
        this.#udp = s;
      } catch (e) {
        closeQuietly(s);
        this.#o.warnings.once(P2pcatError.unavailable(`LAN beacon: cannot bind UDP port ${LAN_BEACON_PORT}: ${(e as Error).message}`, e));
      }
      s.on('message', (msg: Buffer) => {
        const d = decodeDatagram(msg);
        if (d.kind === 'probe') this.#scheduleBeacon();
        else if (d.kind === 'bad') this.#o.warnings.warn(P2pcatError.discoveryPacket(`LAN beacon port: ${d.reason}`));
        // Beacons of others (and our own, looped back) are not an announcer's business.
      });
      void this.#sendBeacon(false);
      this.#timer(LAN_ANNOUNCE_MIN_INTERVAL_MS, () => void this.#sendBeacon(false));
    }
    const periodic = setInterval(() => this.#tick(), LAN_BEACON_INTERVAL_MS);
    periodic.unref();
    this.#timers.add(periodic as unknown as NodeJS.Timeout);
  }

  #tick(): void {
    if (this.#stopped) return;
    const old = { ...this.#labels };
    if (this.#rotate() && this.#mdns) {
      // A new epoch: say goodbye under the old names, announce the new ones.
      const gone = this.#announcement(0);
      if (gone) this.#mdns.respond({ answers: serviceRecords({ ...gone, ...old }) });
      this.#lastMdns = 0;
      this.#respondMdns(true, false);
    }
    this.#scheduleBeacon();
  }

  /** Multicast our records (and/or the meta PTR), at most once per second (RFC 6762 section 6). */
  #respondMdns(service: boolean, meta: boolean): void {
    if (!this.#mdns || this.#stopped) return;
    this.#want.service ||= service;
    this.#want.meta ||= meta;
    const wait = this.#lastMdns + LAN_ANNOUNCE_MIN_INTERVAL_MS - this.#now();
    if (wait > 0) {
      this.#mdnsPending ??= this.#timer(wait, () => {
        this.#mdnsPending = undefined;
        this.#respondMdns(false, false);
      });
      return;
    }
    const want = this.#want;
    this.#want = { service: false, meta: false };
    if (!want.service && !want.meta) return;
    const a = this.#announcement(MDNS_RECORD_TTL_S);
    if (!a) return;
    this.#lastMdns = this.#now();
    const all = serviceRecords(a, want.meta);
    this.#mdns.respond({ answers: want.service ? all : all.filter((r) => r.name === META_SERVICE) });
  }

  #scheduleBeacon(): void {
    if (!this.#udp || this.#stopped) return;
    const wait = this.#lastBeacon + LAN_ANNOUNCE_MIN_INTERVAL_MS - this.#now();
    if (wait > 0) {
      this.#beaconPending ??= this.#timer(wait, () => {
        this.#beaconPending = undefined;
        void this.#sendBeacon(false);
      });
      return;
    }
    void this.#sendBeacon(false);
  }

  async #sendBeacon(goodbye: boolean): Promise<void> {
    const s = this.#udp;
    if (!s || s.closed) return;
    this.#lastBeacon = this.#now();
    const ifaces = (this.#o.interfaces ?? os.networkInterfaces)();
    const addrs = this.#addrs();
    if (addrs.length === 0) return;
    const msg = encodeBeaconDatagram(sealBeacon(this.#o.keys, { nowMs: this.#now(), port: this.#o.port, addrs, publicKey: this.#o.publicKey, goodbye }));
    for (const b of broadcastAddrs(ifaces)) {
      const e = await sendTo(s, msg, LAN_BEACON_PORT, b);
      if (e) socketWarning(this.#o.warnings, `LAN beacon to ${b}`, e as Error & { code?: string });
    }
  }

  /** Stop announcing: goodbyes (mDNS TTL 0, a `g=1` beacon), then close. Bounded. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const waits: Promise<unknown>[] = [];
    if (this.#mdns) {
      const m = this.#mdns;
      const a = this.#announcement(0);
      if (a) waits.push(new Promise<void>((r) => m.respond({ answers: serviceRecords(a) }, () => r())));
    }
    if (this.#udp) waits.push(this.#sendBeacon(true));
    this.#stopped = true;
    await within(ANNOUNCE_STOP_TIMEOUT_MS, Promise.all(waits));
    const m = this.#mdns;
    if (m) await within(ANNOUNCE_STOP_TIMEOUT_MS, new Promise<void>((r) => m.destroy(() => r())));
    closeQuietly(this.#mdnsSock);
    closeQuietly(this.#udp);
  }
}

// ------------------------------------------------------------------ browser

export interface LanPeer {
  beacon: Beacon;
  /** Addresses as `host:port`, the one the packet came from first. */
  addrs: string[];
  proto: LanProto;
}

export interface LanBrowserOptions extends LanCommon {
  onPeer: (p: LanPeer) => void;
}

export class LanBrowser {
  #o: LanBrowserOptions;
  #now: () => number;
  #mdns: multicastDns.Instance | undefined;
  #mdnsSock: GuardedSocket | undefined;
  #udp: GuardedSocket | undefined;
  #timers = new Set<NodeJS.Timeout>();
  #closed = false;
  #replays = new ReplayCache(LAN_REPLAY_CACHE_MAX);
  /** Instances seen in a PTR whose SRV/TXT we asked for, with when we asked. */
  #asked = new Map<string, number>();
  /** SRV ports and TXT seen apart, until both are in. */
  #partial = new Map<string, { port?: number; txt?: Uint8Array[] }>();

  constructor(o: LanBrowserOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  #timer(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#closed) fn();
    }, ms);
    this.#timers.add(t);
  }

  async start(): Promise<void> {
    if (this.#o.protos.includes('mdns')) {
      this.#mdnsSock = guarded(this.#o.warnings, 'mDNS', MDNS_MAX_PACKET_BYTES);
      this.#mdns = multicastDns({ socket: this.#mdnsSock });
      this.#mdns.on('warning', (e) => socketWarning(this.#o.warnings, 'mDNS', e));
      this.#mdns.on('error', (e) => this.#o.warnings.once(P2pcatError.unavailable(`mDNS: ${e.message}`, e)));
      this.#mdns.on('response', (p, rinfo) => this.#onMdns(p, rinfo));
    }
    if (this.#o.protos.includes('broadcast')) {
      const s = guarded(this.#o.warnings, 'LAN beacon', LAN_BEACON_MAX_BYTES);
      s.on('error', (e: Error) => socketWarning(this.#o.warnings, 'LAN beacon socket', e));
      try {
        await bindSocket(s, LAN_BEACON_PORT);
        s.setBroadcast(true);
        this.#udp = s;
        s.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => this.#onDatagram(msg, rinfo));
      } catch (e) {
        closeQuietly(s);
        this.#o.warnings.once(P2pcatError.unavailable(`LAN beacon: cannot bind UDP port ${LAN_BEACON_PORT}: ${(e as Error).message}`, e));
      }
    }
    // Ask at 0, 1, 3, 7 ... s (RFC 6762 section 5.2: intervals at least double).
    let delay = 0;
    for (let i = 0; i < LAN_QUERY_MAX_TRIES; i++) {
      this.#timer(delay, () => this.#ask());
      delay = delay * 2 + 1000;
    }
  }

  #ask(): void {
    this.#mdns?.query(serviceQuery());
    const s = this.#udp;
    if (s && !s.closed) {
      const probe = encodeProbeDatagram();
      for (const b of broadcastAddrs((this.#o.interfaces ?? os.networkInterfaces)())) {
        void sendTo(s, probe, LAN_BEACON_PORT, b).then((e) => e && socketWarning(this.#o.warnings, `LAN probe to ${b}`, e as Error & { code?: string }));
      }
    }
  }

  #onDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const d = decodeDatagram(msg);
    if (d.kind === 'probe') return; // another browser's (or our own) probe
    if (d.kind === 'bad') return this.#o.warnings.warn(P2pcatError.discoveryPacket(`LAN beacon from ${rinfo.address}: ${d.reason}`));
    this.#consider(d.strings, undefined, rinfo.address, 'broadcast');
  }

  #onMdns(packet: unknown, rinfo: dgram.RemoteInfo): void {
    const ex = extractInstances(packet);
    for (const p of ex.problems) this.#o.warnings.warn(P2pcatError.discoveryPacket(`mDNS response from ${rinfo.address}: ${p}`));
    for (const inst of ex.instances) {
      let port = inst.port;
      let txt = inst.txt;
      if (port === undefined || txt === undefined) {
        const prev = this.#partial.get(inst.name);
        port ??= prev?.port;
        txt ??= prev?.txt;
      }
      if (port !== undefined && txt !== undefined) {
        this.#partial.delete(inst.name);
        this.#consider(txt, port, rinfo.address, 'mdns');
        continue;
      }
      if (this.#partial.size < MDNS_MAX_PENDING_INSTANCES || this.#partial.has(inst.name)) {
        this.#partial.set(inst.name, { ...(port !== undefined ? { port } : {}), ...(txt ? { txt } : {}) });
      }
      // Pointed at but incomplete: ask for its SRV and TXT, once per instance.
      if (inst.pointed && !inst.goodbye && !this.#asked.has(inst.name) && this.#asked.size < MDNS_MAX_PENDING_INSTANCES) {
        this.#asked.set(inst.name, this.#now());
        this.#mdns?.query(instanceQuery(inst.name));
      }
    }
  }

  #consider(txt: readonly Uint8Array[], srvPort: number | undefined, from: string, proto: LanProto): void {
    const r = readBeacon(this.#o.keys, txt, this.#now());
    if (r.kind === 'foreign') return;
    if (r.kind === 'bad') return this.#o.warnings.warn(P2pcatError.discoveryPacket(`${proto === 'mdns' ? 'mDNS service' : 'LAN beacon'} from ${from}: ${r.reason}`));
    const b = r.beacon;
    if (srvPort !== undefined && srvPort !== b.port) {
      return this.#o.warnings.warn(P2pcatError.discoveryPacket(`mDNS service from ${from}: SRV port ${srvPort} is not the authenticated port ${b.port}`));
    }
    if (this.#replays.check(b.nonce)) return; // the same beacon again: nothing new
    if (b.goodbye) return;
    const ordered = b.addrs.includes(from) ? [from, ...b.addrs.filter((a) => a !== from)] : b.addrs;
    this.#o.onPeer({ beacon: b, addrs: ordered.map((a) => joinHostPort(a, b.port)), proto });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const m = this.#mdns;
    if (m) await within(ANNOUNCE_STOP_TIMEOUT_MS, new Promise<void>((r) => m.destroy(() => r())));
    closeQuietly(this.#mdnsSock);
    closeQuietly(this.#udp);
  }
}
