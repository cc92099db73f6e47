// A hostile host on the test LAN (run inside a namespace by discover-lan's
// e2e test: `node hostile-lan.js BROADCAST VICTIM ATTACK_PORT STALE_TXT_JSON`). It
// holds no room key. It records a real beacon and mDNS response of VICTIM, then
// sends: the beacon with its port changed to the attacker's, the mDNS
// response with its SRV port changed, a recorded-long-ago (stale) beacon,
// garbage, truncated and oversize datagrams on both ports, and a flood. It
// prints one JSON line saying what it captured and sent.
import dgram from 'node:dgram';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { LAN_BEACON_PORT } from '../../src/crypto/labels.js';
import { decodeDatagram, encodeBeaconDatagram, encodeProbeDatagram } from '../../src/discovery/beacon.js';
import { SERVICE } from '../../src/discovery/mdns.js';

const packet: { encode(p: unknown): Buffer; decode(b: Buffer): any } = createRequire(import.meta.url)('dns-packet');
const [broadcast = '10.231.0.255', victim = '10.231.0.1', attackPort = '6666', staleJson = '[]'] = process.argv.slice(2);
const MDNS = { host: '224.0.0.251', port: 5353 };

function bound(port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  return new Promise((resolve) => s.bind(port, () => resolve(s)));
}

const b = await bound(LAN_BEACON_PORT);
b.setBroadcast(true);
const m = await bound(5353);
m.addMembership(MDNS.host);
const send = (s: dgram.Socket, msg: Uint8Array, port: number, host: string) => new Promise<void>((r) => s.send(msg, port, host, () => r()));

let beacon: string[] | undefined;
let mdns: any;
b.on('message', (msg, rinfo) => {
  if (rinfo.address !== victim) return;
  const d = decodeDatagram(msg);
  if (d.kind === 'beacon' && !beacon) beacon = d.strings.map((x) => Buffer.from(x).toString());
});
m.on('message', (msg, rinfo) => {
  if (rinfo.address !== victim) return;
  try {
    const p = packet.decode(msg);
    if (p.type === 'response' && !mdns && p.answers.some((r: any) => r.type === 'TXT' && String(r.name).endsWith(SERVICE) && r.ttl > 0)) mdns = p;
  } catch {
    /* not ours to care */
  }
});

// Make the real peer speak: a probe and an mDNS query, like any browser's.
const deadline = Date.now() + 8000;
while ((!beacon || !mdns) && Date.now() < deadline) {
  await send(b, encodeProbeDatagram(), LAN_BEACON_PORT, broadcast);
  await send(m, packet.encode({ type: 'query', questions: [{ name: SERVICE, type: 'PTR' }] }), MDNS.port, MDNS.host);
  await new Promise((r) => setTimeout(r, 300));
}

let sent = 0;
const toBeacon = async (msg: Uint8Array) => {
  sent++;
  await send(b, msg, LAN_BEACON_PORT, broadcast);
};
const toMdns = async (msg: Uint8Array) => {
  sent++;
  await send(m, msg, MDNS.port, MDNS.host);
};

if (beacon) {
  // The real beacon, pointed at the attacker's port: its MAC no longer fits.
  await toBeacon(encodeBeaconDatagram(beacon.map((s) => (s.startsWith('p=') ? `p=${attackPort}` : s))));
  // The real beacon again, unchanged: a replay inside the window (harmless, dropped).
  await toBeacon(encodeBeaconDatagram(beacon));
}
for (const strings of JSON.parse(staleJson) as string[][]) await toBeacon(encodeBeaconDatagram(strings));
if (mdns) {
  const forged = {
    ...mdns,
    answers: mdns.answers.map((r: any) => (r.type === 'SRV' ? { ...r, data: { ...r.data, port: Number(attackPort) } } : r)),
  };
  await toMdns(packet.encode(forged));
}
// Garbage on both ports.
await toBeacon(crypto.randomBytes(300));
await toBeacon(Buffer.concat([Buffer.from('P2B1'), Buffer.from([200, 1, 2, 3])]));
await toBeacon(Buffer.alloc(2000, 0x41));
await toMdns(crypto.randomBytes(300));
await toMdns(
  packet.encode({
    type: 'response',
    answers: [
      { name: SERVICE, type: 'PTR', ttl: 120, data: '_http._tcp.local' },
      { name: `evil.${SERVICE}`, type: 'SRV', ttl: 120, data: { port: 0, target: 'x.local' } },
      { name: `evil.${SERVICE}`, type: 'TXT', ttl: 120, data: Array.from({ length: 30 }, () => 'v=1') },
    ],
  }),
);
// A flood of junk beacons.
for (let i = 0; i < 3000; i++) {
  sent++;
  b.send(Buffer.concat([Buffer.from('P2B1'), crypto.randomBytes(40)]), LAN_BEACON_PORT, broadcast);
}
await new Promise((r) => setTimeout(r, 200));
process.stdout.write(JSON.stringify({ captured: { beacon: !!beacon, mdns: !!mdns }, sent }) + '\n');
b.close();
m.close();
