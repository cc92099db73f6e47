// `p2pcat sync TARGET... | --peers FILE|-`: reconcile the local log with
// peers, print what was new, exit (docs/sync.md; for scripts and cron).
import type { CommandModule } from 'yargs';
import { chatIoOptions, identityOptions, roomOptions } from '../options.js';
import type { SyncArgs } from '../run/sync.js';

export const syncCommand: CommandModule<object, SyncArgs> = {
  command: 'sync [target..]',
  describe: 'reconcile the local log with peers: fetch what is missing here, send what is missing there, print each new message as a CHAT record, exit',
  builder: (y) =>
    y
      .positional('target', { type: 'string', array: true, describe: 'HOST:PORT, [IPV6]:PORT, or a join link p2pcat://HOST:PORT?room=…&secret=…&key=… (its key is pinned)' })
      .option('peers', { type: 'string', describe: 'also sync with the peers listed in FILE (- for stdin): HOST:PORT lines, p2pcat:// links, or PEER records from `p2pcat discover`', requiresArg: true })
      .options(roomOptions)
      .options(identityOptions)
      .option('json', { type: 'boolean', describe: 'also print one SYNC_DONE record per peer on stdout (the summary always goes to stderr)' })
      .option('pull', { type: 'boolean', describe: 'only fetch what is missing here (default: fetch and send)' })
      .option('push', { type: 'boolean', describe: 'only send what is missing there (default: fetch and send)' })
      .option('since', { type: 'string', describe: 'only messages from this time on: a duration (30m, 2h, 7d) or an ISO 8601 time', requiresArg: true })
      .option('timeout', { type: 'number', describe: 'seconds to wait for each reply before giving up on a peer (default 30)', requiresArg: true })
      .option('concurrency', { type: 'number', describe: 'peers synced at once (default 4)', requiresArg: true })
      .option('log', { type: 'string', describe: 'the log to sync (default: the room\'s log under $P2PCAT_HOME)', requiresArg: true })
      .option('handshake-timeout', chatIoOptions['handshake-timeout'])
      .example('$0 sync alice.lan:5050', 'fetch what alice has and this log lacks, and the reverse; print the new messages')
      .example('$0 sync alice.lan:5050 --pull --since 1d --json | jq -r \'select(.type=="CHAT") | .message\'', 'only fetch, only the last day')
      .example('$0 discover --lan --timeout 3 | $0 sync --peers -', 'sync with every peer found on the LAN')
      .example('*/10 * * * * p2pcat sync --peers ~/.config/p2pcat/peers --room ops --secret-file ~/.ops >>~/ops.ndjson 2>>~/ops.err', 'a cron job: every 10 minutes, keep the ops log complete (exit 75 when some peers were unreachable)')
      .example('$0 sync "p2pcat://10.0.0.5:5050?room=ops&secret=s3&key=…"', 'through a join link; a peer with another key is refused'),
  handler: async (argv) => (await import('../run/sync.js')).runSync(argv),
};
