// Driver of `p2pcat rendezvous`: binds up to four UDP sockets (primary and
// alternate IP x primary and alternate port, RFC 5780 section 4.1), feeds
// RendezvousCore, prints its events (PAIR, RELAY, RELAY_END) as NDJSON on
// stdout, and a STATS record when SIGINT/SIGTERM end it (with 0).
import { P2pcatError, EXIT } from '../../errors.js';
import { parseIp } from '../../nat/addr.js';
import { RendezvousCore, type Via } from '../../nat/rendezvous.js';
import { openDgram, type DatagramPort } from '../../transport/udp.js';
import { parsePort } from '../target.js';
import { say, RecordWriter } from '../io.js';
import type { RendezvousArgs } from '../commands/rendezvous.js';

const SWEEP_INTERVAL_MS = 1000;

export async function runRendezvous(argv: RendezvousArgs): Promise<void> {
  const port = parsePort(argv.port ?? '3478');
  const bind = argv.bind ?? '0.0.0.0';
  if (!parseIp(bind)) throw P2pcatError.usage(`--bind ${JSON.stringify(bind)} is not an IP address`);
  const altAddr = argv['alt-addr'];
  if (altAddr !== undefined && !parseIp(altAddr)) throw P2pcatError.usage(`--alt-addr ${JSON.stringify(altAddr)} is not an IP address`);
  if (altAddr !== undefined && bind === '0.0.0.0') throw P2pcatError.usage('--alt-addr needs --bind: RFC 5780 answers must come from two distinct addresses');
  const altPortArg = argv['alt-port'] !== undefined ? parsePort(argv['alt-port'], 'alt port') : undefined;

  const ports: Partial<Record<Via, DatagramPort>> = {};
  try {
    ports.pp = await openDgram({ address: bind, port });
    const p = ports.pp.local().port;
    const altPort = altPortArg ?? (altAddr !== undefined ? (port === 0 ? 0 : p + 1) : undefined);
    if (altPort !== undefined) {
      ports.pa = await openDgram({ address: bind, port: altPort });
      const ap = ports.pa.local().port;
      if (altAddr !== undefined) {
        ports.ap = await openDgram({ address: altAddr, port: p });
        ports.aa = await openDgram({ address: altAddr, port: ap });
      }
    }
  } catch (e) {
    await Promise.all(Object.values(ports).map((s) => s.close()));
    throw e;
  }
  const sockets: Partial<Record<Via, { address: string; port: number }>> = {};
  for (const [via, s] of Object.entries(ports) as [Via, DatagramPort][]) sockets[via] = s.local();
  // With one address and two ports, OTHER-ADDRESS names the second port on the same address.
  if (!sockets.aa && sockets.pa) sockets.aa = sockets.pa;
  const core = new RendezvousCore({ sockets, relay: argv.relay === true });
  const out = new RecordWriter();
  const flushEvents = () => {
    for (const ev of core.events.splice(0)) out.write(ev);
  };
  for (const [via, s] of Object.entries(ports) as [Via, DatagramPort][]) {
    s.onMessage((data, from) => {
      for (const d of core.receive(data, from, via, Date.now())) (ports[d.via] ?? ports.pp!).send(d.data, d.to);
      if (core.events.length) flushEvents();
    });
  }
  const sweep = setInterval(() => {
    core.sweep(Date.now());
    if (core.events.length) flushEvents();
  }, SWEEP_INTERVAL_MS);
  const fmt = (v?: { address: string; port: number }) => (v ? `${v.address}:${v.port}` : '-');
  say(
    `rendezvous listening on ${fmt(sockets.pp)}` +
      (sockets.pa ? ` (RFC 5780 alternate: ${sockets.ap ? fmt(sockets.aa) : `port ${sockets.pa.port} only`})` : '') +
      `; relay ${argv.relay ? 'on' : 'off'}`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  clearInterval(sweep);
  flushEvents();
  // What it did, for operators and tests (relayed_bytes stays 0 when every pair punched through).
  out.write({ type: 'STATS', registrations: core.registrations, relay_pairs: core.relayPairs, ...snake(core.counters) });
  await out.end();
  await Promise.all(Object.values(ports).map((s) => s.close()));
  process.exitCode = EXIT.OK;
}

function snake(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]));
}
