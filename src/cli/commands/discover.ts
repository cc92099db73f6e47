// `p2pcat discover`: print the peers found on the LAN, in a static list or on
// the BitTorrent DHT as NDJSON PEER records (docs/discovery.md). Also the
// options `listen --announce` and `connect --peers` share with it.
import type { CommandModule, Options } from 'yargs';
import { roomOptions } from '../options.js';
import { DISCOVER_TIMEOUT_DEFAULT_S } from '../../limits.js';
import type { DiscoverArgs } from '../run/discover.js';

const bootstrapOption = {
  type: 'string',
  describe: 'with the DHT: bootstrap from this node HOST:PORT instead of the public ones (repeatable)',
  requiresArg: true,
} satisfies Options;

/** `listen --announce` (and later `connect --listen`, `punch`). */
export const announceOptions = {
  announce: {
    type: 'string',
    describe: 'announce this listener while it runs: lan (mDNS and broadcast), mdns, broadcast, dht; comma-separated',
    requiresArg: true,
  },
  bootstrap: bootstrapOption,
} satisfies Record<string, Options>;

/** `connect --peers`. */
export const peersOptions = {
  peers: {
    type: 'string',
    describe: 'also dial the peers listed in FILE (- for stdin, which then carries no chat input): HOST:PORT lines, p2pcat:// links or PEER records',
    requiresArg: true,
  },
} satisfies Record<string, Options>;

export const discoverCommand: CommandModule<object, DiscoverArgs> = {
  command: 'discover',
  describe: 'find peers (LAN mDNS and broadcast, a static list, the BitTorrent DHT) and print one PEER record per peer; exit 69 if none',
  builder: (y) =>
    y
      .option('lan', { type: 'boolean', describe: 'look on the LAN: mDNS (_p2pcat._tcp) and broadcast beacons (the default when no source is named)' })
      .option('lan-via', { type: 'string', choices: ['mdns', 'broadcast', 'both'], describe: 'with --lan: use only mDNS or only broadcast beacons', requiresArg: true })
      .option('static', { type: 'string', describe: 'report the peers listed in FILE (- for stdin): HOST:PORT lines, p2pcat:// links, PEER records', requiresArg: true })
      .option('dht', { type: 'boolean', describe: 'look up the room on the BitTorrent mainline DHT' })
      .option('bootstrap', bootstrapOption)
      .options(roomOptions)
      .option('timeout', { type: 'number', describe: 'stop looking after S seconds', default: DISCOVER_TIMEOUT_DEFAULT_S, requiresArg: true })
      .option('once', { type: 'boolean', describe: 'exit at the first peer found' })
      .example('$0 discover --lan --timeout 3', 'list the lobby peers on this LAN')
      .example('$0 discover --lan --room ops --secret-file ~/.ops | $0 connect --peers - --room ops --secret-file ~/.ops --json', 'join whoever is in ops on this LAN (receive only: stdin is the list)')
      .example('$0 discover --dht --room ops --secret-file ~/.ops --timeout 20 --once', 'find one ops peer anywhere through the DHT')
      .example('$0 discover --static peers.txt --lan > found.ndjson && $0 connect --peers found.ndjson', 'a known list plus the LAN, then chat with all of them'),
  handler: async (argv) => (await import('../run/discover.js')).run(argv),
};
