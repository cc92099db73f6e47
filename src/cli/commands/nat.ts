// `p2pcat nat --stun HOST:PORT`: RFC 5780 NAT behaviour discovery, one NDJSON record.
import type { CommandModule } from 'yargs';

export interface NatArgs {
  stun?: string | undefined;
  timeout?: number | undefined;
}

export const natCommand: CommandModule<object, NatArgs> = {
  command: 'nat',
  describe: "detect this host's NAT (public address, mapping and filtering behaviour, RFC 5780) and print one NAT record",
  builder: (y) =>
    y
      .option('stun', { type: 'string', describe: 'STUN server HOST:PORT with an alternate address (a `p2pcat rendezvous --alt-addr`, or coturn); default $P2PCAT_STUN', requiresArg: true })
      .option('timeout', { type: 'number', describe: 'seconds each test waits for an answer', default: 2, requiresArg: true })
      .example('$0 nat --stun rv.example.org:3478', 'print {"type":"NAT","mapping":...,"filtering":...,"kind":...}')
      .example("$0 nat --stun 203.0.113.10:3478 | jq -r .kind", 'just the classic name, e.g. "port-restricted cone"'),
  handler: async (argv) => {
    const { runNat } = await import('../run/nat.js');
    await runNat(argv);
  },
};
