// `p2pcat connect TARGET...`: dial peers, chat on stdin/stdout.
import type { CommandModule } from 'yargs';
import { chatIoOptions, identityOptions, rawOptions, roomOptions, type CommonArgs } from '../options.js';
import type { RawArgs } from '../run/raw.js';

export interface ConnectArgs extends CommonArgs, RawArgs {
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
      .options(rawOptions)
      .example('$0 connect alice.lan:5050', 'join the default room through alice')
      .example('echo "deploy done" | $0 connect host:5050', 'send one message and exit 0 once it is handed over')
      .example("$0 connect host:5050 --json | jq -r 'select(.type==\"CHAT\") | .message'", 'stream received message texts')
      .example('$0 connect host:5050 --room ops --secret-file /dev/fd/3 3<~/.ops', 'a private room without the secret in argv')
      .example('tar c dir | $0 connect --raw host:5050', 'send a directory as an encrypted byte stream'),
  handler: async (argv) => {
    const { parseTarget } = await import('../target.js');
    const { runChat, tcpDialer } = await import('../run/chat.js');
    if (argv.raw) {
      if ((argv.target ?? []).length !== 1) throw (await import('../../errors.js')).P2pcatError.usage('--raw takes exactly one target');
      if (argv['keep-open']) throw (await import('../../errors.js')).P2pcatError.usage('-k/--keep-open is for listen --raw');
      return (await import('../run/raw.js')).runRaw(argv, { dialer: tcpDialer(parseTarget(argv.target![0]!)) });
    }
    await runChat(argv, { dialers: (argv.target ?? []).map((t) => tcpDialer(parseTarget(t))) });
  },
};
