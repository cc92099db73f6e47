// `p2pcat listen [PORT]`: accept peers, join the room, chat on stdin/stdout.
import type { CommandModule } from 'yargs';
import { chatIoOptions, identityOptions, roomOptions, type CommonArgs } from '../options.js';

export interface ListenArgs extends CommonArgs {
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
      .example('$0 listen 5050', 'accept peers on port 5050; type to chat')
      .example('$0 listen 0 --bind 127.0.0.1 --json', 'any free port on loopback, NDJSON records on stdout')
      .example('P2PCAT_SECRET=hunter2 $0 listen 5050 --room ops', 'a private room: only peers with the secret complete a handshake')
      .example("$0 listen 5050 --json | jq -r 'select(.type==\"CHAT\") | .message'", 'print only the message texts'),
  handler: async (argv) => {
    const { parsePort } = await import('../target.js');
    const { runChat } = await import('../run/chat.js');
    await runChat(argv, { listen: { host: argv.bind, port: parsePort(argv.port ?? '5050') } });
  },
};
