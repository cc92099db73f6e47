// Announcing a listening peer (`--announce lan,dht`), reusable by every
// command that accepts peers: `listen` now, `connect --listen` and `punch`
// later. startAnnouncing() starts the requested methods and returns the
// stop() that says goodbye (mDNS TTL 0, a goodbye beacon) and stops
// re-announcing on the DHT. docs/discovery.md, "Announcing".
import { P2pcatError } from '../errors.js';
import { DHT_MAX_BOOTSTRAP } from '../limits.js';
import type { Room } from '../crypto/room.js';
import { parseTarget } from '../cli/target.js';
import { deriveDiscoveryKeys } from './keys.js';
import { LanAnnouncer, type LanProto } from './lan.js';
import { DhtAnnouncer } from './dht.js';
import { WarningBudget, type Warn } from './warn.js';
import type { Interfaces } from './addrs.js';

export type AnnounceMethod = LanProto | 'dht';

const NAMES: Record<string, AnnounceMethod[]> = {
  lan: ['mdns', 'broadcast'],
  mdns: ['mdns'],
  broadcast: ['broadcast'],
  dht: ['dht'],
};

/** `lan,dht` (or repeated options) to a set of methods; `lan` is mDNS and broadcast. */
export function parseAnnounceList(v: string | string[] | undefined): AnnounceMethod[] {
  const out = new Set<AnnounceMethod>();
  for (const part of ([] as string[]).concat(v ?? []).flatMap((s) => String(s).split(','))) {
    const w = part.trim().toLowerCase();
    if (w === '') continue;
    const m = NAMES[w];
    if (!m) throw P2pcatError.usage(`--announce: unknown method ${JSON.stringify(part)} (use lan, mdns, broadcast or dht, comma-separated)`);
    for (const x of m) out.add(x);
  }
  return [...out];
}

/** --bootstrap HOST:PORT values (repeatable, or comma-separated). */
export function parseBootstrap(v: string | string[] | undefined): { host: string; port: number }[] | undefined {
  if (v === undefined) return undefined;
  const list = ([] as string[]).concat(v).flatMap((s) => String(s).split(',')).map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw P2pcatError.usage('--bootstrap needs HOST:PORT');
  if (list.length > DHT_MAX_BOOTSTRAP) throw P2pcatError.usage(`--bootstrap: at most ${DHT_MAX_BOOTSTRAP} nodes`);
  return list.map((s) => {
    const t = parseTarget(s);
    return { host: t.host, port: t.port };
  });
}

export interface AnnounceOptions {
  methods: AnnounceMethod[];
  room: Room;
  /** The identity key LAN beacons carry (encrypted) so members can report it. */
  publicKey?: Uint8Array | undefined;
  /** The listener's TCP port and bound address. */
  port: number;
  bindAddress: string;
  bootstrap?: { host: string; port: number }[] | undefined;
  warn: Warn;
  /** One human line on stderr. */
  say: (text: string) => void;
  now?: () => number;
  interfaces?: () => Interfaces;
}

export interface Announcer {
  stop(): Promise<void>;
}

export async function startAnnouncing(o: AnnounceOptions): Promise<Announcer> {
  const keys = deriveDiscoveryKeys(o.room.key);
  const warnings = new WarningBudget(o.warn);
  const stops: (() => Promise<void>)[] = [];
  const lan = o.methods.filter((m): m is LanProto => m === 'mdns' || m === 'broadcast');
  if (lan.length > 0) {
    if (/^127\.|^::1$/.test(o.bindAddress)) warnings.once(P2pcatError.usage(`--announce ${lan.join(',')}: the listener is bound to ${o.bindAddress}, which no other host can reach`));
    const a = new LanAnnouncer({ keys, protos: lan, warnings, port: o.port, bindAddress: o.bindAddress, publicKey: o.publicKey, ...(o.now ? { now: o.now } : {}), ...(o.interfaces ? { interfaces: o.interfaces } : {}) });
    await a.start();
    stops.push(() => a.stop());
  }
  if (o.methods.includes('dht')) {
    let first = true;
    const d = new DhtAnnouncer({
      keys,
      port: o.port,
      bootstrap: o.bootstrap,
      warnings,
      ...(o.now ? { now: o.now } : {}),
      onAnnounced: (ok, of) => {
        if (ok > 0 && first) {
          first = false;
          o.say(`announced on the DHT (${ok} of ${of} info-hashes taken)`);
        }
      },
    });
    d.start();
    stops.push(() => d.stop());
  }
  o.say(`announcing room "${o.room.name}" on port ${o.port} via ${o.methods.join(', ')}`);
  let stopped: Promise<void> | undefined;
  return {
    stop: () =>
      (stopped ??= Promise.allSettled(stops.map((s) => s())).then(() => {
        warnings.summary();
      })),
  };
}
