// `p2pcat punch RENDEZVOUS --room NAME`: meet a room peer through a
// rendezvous, hole-punch UDP, then chat exactly as `connect` does, over a
// reliable udx stream on the punched path. With --raw: an encrypted byte
// stream instead of chat, as `connect --raw` (src/cli/run/raw.ts).
import type { CommandModule } from 'yargs';
import { chatIoOptions, fileOptions, identityOptions, rawOptions, roomOptions, type CommonArgs, type FileArgs } from '../options.js';
import type { RawArgs } from '../run/raw.js';

export interface PunchArgs extends CommonArgs, RawArgs, FileArgs {
  rendezvous?: string | undefined;
  port?: string | undefined;
  wait?: number | undefined;
  relay?: boolean | undefined;
  raw?: boolean | undefined;
}

// rawOptions minus what only a listener has: punch --raw meets exactly one peer.
const { 'keep-open': _keepOpen, 'max-conns': _maxConns, ...punchRawOptions } = rawOptions;

export const punchCommand: CommandModule<object, PunchArgs> = {
  command: 'punch <rendezvous>',
  describe: 'meet a peer of the room through a rendezvous, hole-punch UDP and chat on stdin/stdout; a PATH record says how',
  builder: (y) =>
    y
      .positional('rendezvous', { type: 'string', describe: 'HOST:PORT of a `p2pcat rendezvous`' })
      .option('port', { alias: 'p', type: 'string', describe: 'local UDP port (default: any)', requiresArg: true })
      .option('wait', { type: 'number', describe: 'seconds to wait for a peer at the rendezvous', default: 60, requiresArg: true })
      .option('relay', { type: 'boolean', describe: 'when no direct path is found, ask the rendezvous to relay ciphertext (--no-relay: fail instead)', default: true })
      .options(roomOptions)
      .options(identityOptions)
      .options(chatIoOptions)
      .options(punchRawOptions)
      .options(fileOptions)
      .example('$0 punch rv.example.org:3478 --room ops', 'meet the other member of "ops" behind any NAT and chat')
      .example('P2PCAT_SECRET=hunter2 $0 punch 203.0.113.10:3478 --room ops --json', 'a private room; NDJSON with a PATH record first')
      .example('tar c dir | $0 punch rv.example.org:3478 --room files --raw', 'send a directory through both NATs; the other member of "files" runs the same command with `| tar x`')
      .example('$0 punch rv.example.org:3478 --room ops --json --accept-files --download-dir ~/in', 'files the other member sends land in ~/in (FILE records on stdout)')
      .example('echo "deploy done" | $0 punch rv:3478 --room ops --no-relay', 'direct only: fails with P2PCAT_ERR_PUNCH_FAILED when both NATs are symmetric'),
  handler: async (argv) => {
    const { runPunch } = await import('../run/punch.js');
    await runPunch(argv);
  },
};
