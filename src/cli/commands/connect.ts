// `p2pcat connect TARGET...`: dial peers, chat on stdin/stdout.
import type { CommandModule } from 'yargs';
import { chatIoOptions, fileOptions, identityOptions, logOptions, meshOptions, rawOptions, roomOptions, type CommonArgs, type FileArgs, type MeshArgs } from '../options.js';
import type { RawArgs } from '../run/raw.js';
import { peersOptions } from './discover.js';

export interface ConnectArgs extends CommonArgs, RawArgs, MeshArgs, FileArgs {
  target?: string[] | undefined;
  peers?: string | undefined;
}

export const connectCommand: CommandModule<object, ConnectArgs> = {
  command: 'connect [target..]',
  describe: 'dial HOST:PORT (one or more) and chat on stdin/stdout; stdin EOF says goodbye and exits',
  builder: (y) =>
    y
      .positional('target', { type: 'string', array: true, describe: 'HOST:PORT, [IPV6]:PORT, or a join link p2pcat://HOST:PORT?room=…&secret=…&key=… (its key is pinned)' })
      .options(roomOptions)
      .options(identityOptions)
      .options(chatIoOptions)
      .options(rawOptions)
      .options(fileOptions)
      .options(peersOptions)
      .option('listen', { type: 'string', describe: 'also accept peers, on PORT (default: any free port, printed on stderr): a full mesh peer' })
      .option('bind', { alias: 's', type: 'string', describe: 'with --listen: the local address to listen on (default: all)', requiresArg: true })
      .option('wait-ack', { type: 'string', describe: 'at stdin EOF, wait until N members (default: every member present when each message was sent) confirmed every message; exit 75 after --timeout' })
      .option('timeout', { type: 'number', describe: 'seconds --wait-ack waits after stdin EOF (default 30)', requiresArg: true })
      .options(logOptions)
      .options(meshOptions)
      .example('$0 connect alice.lan:5050', 'join the default room through alice')
      .example('echo "deploy done" | $0 connect host:5050', 'send one message and exit 0 once it is handed over')
      .example("$0 connect host:5050 --json | jq -r 'select(.type==\"CHAT\") | .message'", 'stream received message texts')
      .example('$0 connect host:5050 --room ops --secret-file /dev/fd/3 3<~/.ops', 'a private room without the secret in argv')
      .example('tar c dir | $0 connect --raw host:5050', 'send a directory as an encrypted byte stream')
      .example('$0 discover --lan --room ops | $0 connect --peers - --room ops --json', 'join the ops peers found on the LAN (receive only: stdin is the peer list)')
      .example('echo \'{"message":"deploy done"}\' | $0 connect host:5050 --wait-ack --timeout 10', 'exit 0 only once every member confirmed it (75 on timeout)')
      .example('$0 connect "p2pcat://10.0.0.5:5050?room=ops&secret=s3&key=…"', 'join through a link from `p2pcat invite`; a peer with another key is refused')
      .example('echo \'{"type":"FILE","path":"report.pdf"}\' | $0 connect host:5050', 'send a file; exit 0 once the peer stored it whole (an interrupted send resumes when run again)')
      .example('$0 connect host:5050 --listen 5051', 'a full mesh peer: dial host and accept others on 5051')
      .example('echo \'{"message":"psst","to":"bob"}\' | $0 connect host:5050', 'a direct message, sealed for bob alone'),
  handler: async (argv) => {
    const { parseTarget, parsePort } = await import('../target.js');
    const { runChat } = await import('../run/chat.js');
    if (argv.raw && argv.peers !== undefined) throw (await import('../../errors.js')).P2pcatError.usage('--peers is not available with --raw');
    if (argv.raw) {
      if ((argv.target ?? []).length !== 1) throw (await import('../../errors.js')).P2pcatError.usage('--raw takes exactly one target');
      if (argv['keep-open']) throw (await import('../../errors.js')).P2pcatError.usage('-k/--keep-open is for listen --raw');
      return (await import('../run/raw.js')).runRaw(argv, { tcp: parseTarget(argv.target![0]!) });
    }
    const { takeJoinLinks, pinDialers } = await import('../run/invite.js');
    // `--listen host:5050` or `--wait-ack host:5050`: the option took no value; that word is a target.
    const targets = [...(argv.target ?? [])];
    const isPort = (v: string) => /^\d{1,5}$/.test(v);
    if (argv.listen !== undefined && argv.listen !== '' && !isPort(argv.listen)) (targets.unshift(argv.listen), (argv.listen = ''));
    if (argv['wait-ack'] !== undefined && !/^(\d{1,6}|all|)$/.test(argv['wait-ack'])) (targets.unshift(argv['wait-ack']), (argv['wait-ack'] = ''));
    const links = takeJoinLinks(argv, targets);
    argv.target = links.texts;
    const dialers = pinDialers(await (await import('../run/discover.js')).connectDialers(argv), links.pins);
    const listen = argv.listen === undefined ? undefined : { host: argv.bind, port: argv.listen === '' ? 0 : parsePort(argv.listen) };
    await runChat(argv, { dialers, mode: 'connect', ...(listen ? { listen } : {}) });
  },
};
