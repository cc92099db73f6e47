// `p2pcat listen [PORT]`: accept peers, join the room, chat on stdin/stdout.
import type { CommandModule } from 'yargs';
import { chatIoOptions, fileOptions, identityOptions, logOptions, meshOptions, rawOptions, roomOptions, type CommonArgs, type FileArgs, type MeshArgs } from '../options.js';
import type { RawArgs } from '../run/raw.js';
import { announceOptions } from './discover.js';
import type { AnnounceArgs } from '../run/discover.js';

export interface ListenArgs extends CommonArgs, RawArgs, AnnounceArgs, MeshArgs, FileArgs {
  port?: number | string | undefined;
  bind?: string | undefined;
}

export const listenCommand: CommandModule<object, ListenArgs> = {
  command: 'listen [port]',
  describe: 'accept peers on PORT (0: any free port, printed on stderr) and chat on stdin/stdout',
  builder: (y) =>
    y
      .positional('port', { type: 'string', describe: 'TCP port to listen on', default: '5050' })
      .option('bind', { alias: 's', type: 'string', describe: 'local address to listen on (default: all)', requiresArg: true })
      .options(roomOptions)
      .options(identityOptions)
      .options(chatIoOptions)
      .options(rawOptions)
      .options(fileOptions)
      .options(announceOptions)
      .option('peer', { type: 'string', describe: 'also dial this member, HOST:PORT or a join link, and redial it with backoff when cut (repeatable)', requiresArg: true })
      .options(logOptions)
      .options(meshOptions)
      .example('$0 listen 5050', 'accept peers on port 5050; type to chat')
      .example('$0 listen 0 --bind 127.0.0.1 --json', 'any free port on loopback, NDJSON records on stdout')
      .example('P2PCAT_SECRET=hunter2 $0 listen 5050 --room ops', 'a private room: only peers with the secret complete a handshake')
      .example("$0 listen 5050 --json | jq -r 'select(.type==\"CHAT\") | .message'", 'print only the message texts')
      .example('$0 listen --raw 5050 | tar x', 'receive a directory, encrypted; exit 0 only if it arrived whole')
      .example("$0 listen --raw -k 5050 --exec 'wc -c'", 'a tiny service: every peer gets its own wc')
      .example('$0 listen 5050 --exec ./echo-bot.sh', 'a bot: the program reads the room\'s NDJSON records and each line it prints is sent')
      .example('$0 listen 5050 --json --accept-files --download-dir ~/in', 'store files peers send (checked by SHA-256) in ~/in; FILE records on stdout')
      .example('$0 listen 5050 --room ops --announce lan,dht', 'be findable by `discover` on the LAN and the DHT while listening')
      .example('$0 listen 5051 --peer alice.lan:5050 --peer bob.lan:5050', 'a mesh peer: accept peers and keep links to two others')
      .example('$0 listen 5050 --allow ~/.config/p2pcat/ops.keys --room ops', 'admit only the keys listed in the file')
      .example('$0 listen 5050 --no-log --dial-policy none', 'keep no history and dial nobody on its own'),
  handler: async (argv) => {
    const { parsePort } = await import('../target.js');
    const listen = { host: argv.bind, port: parsePort(argv.port ?? '5050') };
    if (argv.raw && argv.announce !== undefined) throw (await import('../../errors.js')).P2pcatError.usage('--announce is not available with --raw');
    if (argv.raw) return (await import('../run/raw.js')).runRaw(argv, { listen });
    const { runChat } = await import('../run/chat.js');
    const onListening = (await import('../run/discover.js')).announceHook(argv);
    const peers = argv.peer === undefined ? [] : Array.isArray(argv.peer) ? argv.peer : [argv.peer];
    const dialers = peers.length ? await (await import('../run/invite.js')).targetDialers(argv, peers) : undefined;
    await runChat(argv, { listen, mode: 'listen', ...(dialers ? { dialers } : {}), ...(onListening ? { onListening } : {}) });
  },
};
