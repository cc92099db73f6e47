// Driver of `p2pcat nat`: resolves the server, opens UDP sockets, runs the
// RFC 5780 tests (src/nat/behaviour.ts) and prints one NAT record on stdout.
import dns from 'node:dns/promises';
import os from 'node:os';
import { P2pcatError } from '../../errors.js';
import { endpoint, type Endpoint } from '../../nat/addr.js';
import { discoverNat } from '../../nat/behaviour.js';
import { localAddressFor, openDgram } from '../../transport/udp.js';
import { parseTarget } from '../target.js';
import { writeStdoutLine } from '../io.js';
import type { NatArgs } from '../commands/nat.js';

export async function resolveServer(text: string, what: string): Promise<Endpoint> {
  const t = parseTarget(text);
  try {
    const a = await dns.lookup(t.host.replace(/^\[|\]$/g, ''), { family: 4 });
    return endpoint(a.address, t.port);
  } catch (e) {
    throw P2pcatError.unavailable(`${what} ${text}: host not found`, e);
  }
}

export function localIpv4Addresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((i): i is os.NetworkInterfaceInfo => !!i && i.family === 'IPv4')
    .map((i) => i.address);
}

export async function runNat(argv: NatArgs): Promise<void> {
  const text = argv.stun ?? process.env.P2PCAT_STUN;
  if (!text) throw P2pcatError.usage('name a STUN server: --stun HOST:PORT (a `p2pcat rendezvous --alt-addr ...`, or $P2PCAT_STUN)');
  const timeout = argv.timeout ?? 2;
  if (!(timeout > 0 && timeout <= 60)) throw P2pcatError.usage('--timeout must be between 0 and 60 seconds');
  const server = await resolveServer(text, 'STUN server');
  const report = await discoverNat({
    server,
    open: () => openDgram({ address: '0.0.0.0' }),
    localAddresses: localIpv4Addresses(),
    localAddress: await localAddressFor(server),
    timeoutMs: timeout * 1000,
  });
  await writeStdoutLine(JSON.stringify(report));
}
