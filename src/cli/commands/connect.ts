// `p2pcat connect TARGET...`: dial peers, chat on stdin/stdout.
import type { CommandModule } from 'yargs';
import { chatIoOptions, identityOptions, roomOptions, type CommonArgs } from '../options.js';

export interface ConnectArgs extends CommonArgs {
  target?: string[] | undefined;
}

export const connectCommand: CommandModule<object, ConnectArgs> = {
  command: 'connect <target..>',
  describe: 'dial HOST:PORT (one or more) and chat on stdin/stdout; stdin EOF says goodbye and exits',
  builder: (y) =>
    y
      .positional('target', { type: 'string', array: true, describe: 'HOST:PORT or [IPV6]:PORT of a peer' })
      .options(roomOptions)
      .options(identityOptions)
      .options(chatIoOptions)
      .example('$0 connect alice.lan:5050', 'join the default room through alice')
      .example('echo "deploy done" | $0 connect host:5050', 'send one message and exit 0 once it is handed over')
      .example("$0 connect host:5050 --json | jq -r 'select(.type==\"CHAT\") | .message'", 'stream received message texts')
      .example('$0 connect host:5050 --room ops --secret-file /dev/fd/3 3<~/.ops', 'a private room without the secret in argv'),
  handler: async (argv) => {
    const { parseTarget } = await import('../target.js');
    const { runChat, tcpDialer } = await import('../run/chat.js');
    await runChat(argv, { dialers: (argv.target ?? []).map((t) => tcpDialer(parseTarget(t))) });
  },
};
