// `p2pcat punch`: a Dialer for runChat whose stream is a udx stream on a
// hole-punched (or relayed) UDP path (src/transport/udp-punch.ts). The
// rendezvous-assigned role decides who is the Noise initiator: the peer with
// the smaller punch id dials ('out'), the other answers ('in'). Before the
// chat starts, a PATH record goes to stdout (or a line to stderr in the chat view).
// With --raw the same dialer feeds runRaw; stdout is then the peer's bytes
// only, so the path is told on stderr.
import { P2pcatError } from '../../errors.js';
import { PUNCH_WAIT_PEER_MS } from '../../limits.js';
import { formatEndpoint } from '../../nat/addr.js';
import { deriveRoom, readSecret, checkRoomName } from '../../crypto/room.js';
import { DEFAULT_ROOM } from '../../crypto/labels.js';
import { punch } from '../../transport/udp-punch.js';
import { runChat, type Dialer } from './chat.js';
import { resolveServer, localIpv4Addresses } from './nat.js';
import { parsePort } from '../target.js';
import { say, writeStdoutLine } from '../io.js';
import type { PunchArgs } from '../commands/punch.js';

export async function runPunch(argv: PunchArgs): Promise<void> {
  if (!argv.rendezvous) throw P2pcatError.usage('name the rendezvous: p2pcat punch HOST:PORT');
  const rendezvous = await resolveServer(argv.rendezvous, 'rendezvous');
  const wait = argv.wait ?? PUNCH_WAIT_PEER_MS / 1000;
  if (!(wait > 0 && wait <= 3600)) throw P2pcatError.usage('--wait must be between 0 and 3600 seconds');
  const port = argv.port !== undefined ? parsePort(argv.port, 'local port') : 0;
  // The same room derivation runChat does; the punch needs the key first (for tokens and probe keys).
  const room = deriveRoom(checkRoomName(argv.room ?? process.env.P2PCAT_ROOM ?? DEFAULT_ROOM), readSecret({ secretFile: argv['secret-file'], secret: argv.secret }));
  // In raw mode process.stdin is never touched: runRaw reads fd 0 itself.
  const pathOnStderr = argv.raw === true || (!argv.json && process.stdin.isTTY === true && process.stdout.isTTY === true);
  const dialer: Dialer = {
    text: `punch via ${formatEndpoint(rendezvous)}`,
    dial: async () => {
      const r = await punch({
        rendezvous,
        roomKey: room.key,
        port,
        waitMs: wait * 1000,
        relay: argv.relay !== false,
        // A rendezvous on loopback means both peers are on this host: their loopback endpoints are all they need.
        localAddresses: rendezvous.address.startsWith('127.') ? [] : localIpv4Addresses().filter((a) => !a.startsWith('127.')),
        log: (m) => say(m),
      });
      if (pathOnStderr) say(`path: ${r.path.path} via ${r.path.via}, ${r.path.local} <-> ${r.path.remote}`);
      else await writeStdoutLine(JSON.stringify(r.path));
      return { stream: r.stream, addr: r.addr, direction: r.direction };
    },
  };
  if (argv.raw) return (await import('./raw.js')).runRaw(argv, { dialer });
  await runChat(argv, { dialers: [dialer] });
}
