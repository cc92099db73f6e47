// `p2pcat invite`: print a join link for a room (docs/mesh.md, "Join links").
import type { CommandModule } from 'yargs';
import { roomOptions } from '../options.js';
import type { InviteArgs } from '../run/invite.js';

export const inviteCommand: CommandModule<object, InviteArgs> = {
  command: 'invite',
  describe: 'print a join link p2pcat://HOST:PORT?room=…&secret=…&key=… (your key, so the joiner can pin it)',
  builder: (y) =>
    y
      .options(roomOptions)
      .option('addr', { type: 'string', describe: 'HOST:PORT where you listen (default: a LAN address of this machine, port 5050)', requiresArg: true })
      .option('json', { type: 'boolean', describe: 'print an INVITE record instead of the bare link' })
      .example('$0 invite --room ops --secret-file ~/.ops --addr alice.lan:5050', 'a link to the private ops room through alice.lan')
      .example('$0 connect "$($0 invite --addr 10.0.0.5:5050)"', 'join through the link (the inviter\'s key is pinned)')
      .example('$0 invite --addr 10.0.0.5:5050 | qrencode -t ansiutf8', 'show it as a QR code'),
  handler: async (argv) => (await import('../run/invite.js')).runInvite(argv),
};
