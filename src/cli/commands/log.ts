// `p2pcat log cat|verify|stats|export|import`: read, check, back up and
// restore the encrypted log (issue 3; the format is docs/log-format.md).
// Each subcommand loads its implementation (src/cli/run/log.ts) only when it runs.
import type { Argv, CommandModule, Options } from 'yargs';

export interface LogArgs {
  room?: string | undefined;
  log?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  from?: string | undefined;
  grep?: string | undefined;
  limit?: number | undefined;
  follow?: boolean | undefined;
  all?: boolean | undefined;
  file?: string | undefined;
  'passphrase-file'?: string | undefined;
  force?: boolean | undefined;
}

const whichLog = {
  room: { type: 'string', describe: 'the room whose log to use (default: $P2PCAT_ROOM, then "lobby")', requiresArg: true },
  log: { type: 'string', describe: 'use the log file at PATH instead of the room\'s default', requiresArg: true, conflicts: 'room' },
} satisfies Record<string, Options>;

const passphrase = {
  'passphrase-file': {
    type: 'string',
    describe: 'read the backup passphrase from FILE (one trailing newline stripped); default: $P2PCAT_PASSPHRASE',
    requiresArg: true,
  },
} satisfies Record<string, Options>;

const run = (sub: 'cat' | 'verify' | 'stats' | 'export' | 'import') => async (argv: LogArgs) => (await import('../run/log.js')).run(sub, argv);

const cat: CommandModule<object, LogArgs> = {
  command: 'cat',
  describe: 'print the decrypted log as NDJSON CHAT records in (timestamp, msg_id) order, each msg_id once',
  builder: (y: Argv) =>
    y
      .options(whichLog)
      .option('since', { type: 'string', describe: 'only records at or after this time: a duration ago (30s, 15m, 1h, 2d, 1w) or an ISO 8601 date', requiresArg: true })
      .option('until', { type: 'string', describe: 'only records at or before this time (same forms as --since)', requiresArg: true })
      .option('from', { type: 'string', describe: 'only records by this author: username, uuid or public key (hex)', requiresArg: true })
      .option('grep', { type: 'string', describe: 'only records whose message matches this JavaScript regular expression', requiresArg: true })
      .option('limit', { type: 'number', describe: 'only the N most recent matching records (like tail -n)', requiresArg: true })
      .option('follow', { alias: 'f', type: 'boolean', describe: 'keep running and print new records as they are appended (like tail -f)' })
      .option('all', { type: 'boolean', describe: 'also print records that fail their check (signature, msg_id), marked with an "invalid" field' })
      .example('$0 log cat --since 1h | jq -r .message', 'the last hour of the lobby, messages only')
      .example('$0 log cat --room ops --from alice --grep "deploy|rollback" --limit 20', "alice's last 20 messages in ops about deploys")
      .example('$0 log cat -f --room ops', 'follow the ops log as new messages arrive'),
  handler: run('cat'),
};

const verify: CommandModule<object, LogArgs> = {
  command: 'verify',
  describe: 'check every frame (tag) and record (signature, msg_id); print one LOG_VERIFY record; exit 65 when anything is wrong',
  builder: (y: Argv) =>
    y
      .options(whichLog)
      .example('$0 log verify', 'check the lobby log; problems are named on stderr with their offsets')
      .example('$0 log verify --log ./ops.p2plog || echo damaged', 'check a log file in a script'),
  handler: run('verify'),
};

const stats: CommandModule<object, LogArgs> = {
  command: 'stats',
  describe: 'print counts, first and last timestamps, authors and size as one LOG_STATS record',
  builder: (y: Argv) =>
    y
      .options(whichLog)
      .example('$0 log stats --room ops', 'how many messages the ops log holds, and by whom')
      .example("$0 log stats | jq '.records, .last'", 'message count and the newest timestamp'),
  handler: run('stats'),
};

const exportCmd: CommandModule<object, LogArgs> = {
  command: 'export <file>',
  describe: 'write a portable backup of the log to FILE, encrypted under a passphrase (not the identity key)',
  builder: (y: Argv) =>
    y
      .positional('file', { type: 'string', describe: 'the backup file to create' })
      .options(whichLog)
      .options(passphrase)
      .option('force', { type: 'boolean', describe: 'replace FILE if it exists' })
      .example('P2PCAT_PASSPHRASE=... $0 log export lobby.p2pexp', 'back up the lobby log')
      .example('$0 log export --room ops ops.p2pexp --passphrase-file ~/.backup-pass', 'back up the ops log, passphrase from a file'),
  handler: run('export'),
};

const importCmd: CommandModule<object, LogArgs> = {
  command: 'import <file>',
  describe: 'merge a backup made by `log export` into the log (duplicates are skipped); prints one LOG_IMPORT record',
  builder: (y: Argv) =>
    y
      .positional('file', { type: 'string', describe: 'the backup file to read' })
      .options(whichLog)
      .options(passphrase)
      .example('P2PCAT_PASSPHRASE=... $0 log import lobby.p2pexp', 'restore the lobby log on a new machine')
      .example('$0 log import ops.p2pexp --room ops --passphrase-file /dev/fd/3 3<pass.txt', 'merge a backup into the ops log'),
  handler: run('import'),
};

export const logCommand: CommandModule<object, LogArgs> = {
  command: 'log <command>',
  describe: 'read, check, back up and restore the encrypted local log',
  builder: (y: Argv) =>
    y
      .command(cat as CommandModule<object, object>)
      .command(verify as CommandModule<object, object>)
      .command(stats as CommandModule<object, object>)
      .command(exportCmd as CommandModule<object, object>)
      .command(importCmd as CommandModule<object, object>)
      .demandCommand(1, 'p2pcat: P2PCAT_ERR_USAGE: name a log subcommand: cat, verify, stats, export or import')
      .example('$0 log cat --since 1h | grep -i error', 'search the last hour')
      .example('$0 log verify && $0 log export backup.p2pexp', 'check, then back up') as Argv<LogArgs>,
  handler: () => {
    /* a subcommand always runs */
  },
};
