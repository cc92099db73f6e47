// `p2pcat rendezvous [PORT]`: the bootstrap peer for hole punching (UDP):
// a STUN server (RFC 8489; RFC 5780 with --alt-addr) that also pairs peers
// presenting the same opaque room token. It never sees chat content; with
// --relay it forwards ciphertext for pairs that cannot punch.
import type { CommandModule } from 'yargs';

export interface RendezvousArgs {
  port?: string | undefined;
  bind?: string | undefined;
  'alt-addr'?: string | undefined;
  'alt-port'?: string | undefined;
  relay?: boolean | undefined;
}

export const rendezvousCommand: CommandModule<object, RendezvousArgs> = {
  command: 'rendezvous [port]',
  describe: 'run the UDP bootstrap peer: STUN answers and room-token pairing for `punch`, no chat content',
  builder: (y) =>
    y
      .positional('port', { type: 'string', describe: 'UDP port (0: any free port, printed on stderr)', default: '3478' })
      .option('bind', { alias: 's', type: 'string', describe: 'local IP address to answer on (default: all IPv4)', requiresArg: true })
      .option('alt-addr', { type: 'string', describe: 'a second local IP address: enables RFC 5780 NAT behaviour discovery (`p2pcat nat`)', requiresArg: true })
      .option('alt-port', { type: 'string', describe: 'the second UDP port for RFC 5780 (default with --alt-addr: PORT+1)', requiresArg: true })
      .option('relay', { type: 'boolean', describe: 'relay ciphertext between paired peers that cannot punch through (limits: man p2pcat, LIMITS)' })
      .example('$0 rendezvous 3478', 'pair peers and answer STUN on UDP port 3478')
      .example('$0 rendezvous 3478 --bind 203.0.113.10 --alt-addr 203.0.113.11', 'a full RFC 5780 server on two addresses')
      .example('$0 rendezvous 3478 --relay', 'also relay for pairs behind two symmetric NATs'),
  handler: async (argv) => {
    const { runRendezvous } = await import('../run/rendezvous.js');
    await runRendezvous(argv);
  },
};
