// Outside truth for mDNS: Avahi (an independent DNS-SD/mDNS implementation)
// on the namespace LAN, with its own D-Bus. avahi-browse sees a p2pcat
// peer's `_p2pcat._tcp` service, resolves it, reads a TXT record that opens
// as a valid beacon, and sees its goodbye; `p2pcat discover` reports a
// service that avahi-publish announces, and connect reaches it.
// Skips with the reason when namespaces or avahi are not available.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN } from '../helpers/paths.js';
import { tmpHome } from '../helpers/proc.js';
import { avahiSkipReason, exitOf, labSkipReason, makeLan, nsListen, nsRun, procOf, reap, startAvahi, type Proc } from '../discovery/lanlab.js';
import { deriveDiscoveryKeys } from '../../src/discovery/keys.js';
import { readBeacon, sealBeacon } from '../../src/discovery/beacon.js';
import { deriveRoom } from '../../src/crypto/room.js';

const skip = labSkipReason() ?? avahiSkipReason();
if (skip) t.plan(0, `avahi tests skipped: ${skip}`);

const KEYS = deriveDiscoveryKeys(deriveRoom('ops').key);

/** avahi-browse -p resolved lines: =;iface;proto;name;type;domain;host;address;port;"txt" "txt" */
function resolved(lines: string[]): { name: string; address: string; port: number; txt: string[] }[] {
  return lines
    .filter((l) => l.startsWith('=;'))
    .map((l) => {
      const f = l.split(';');
      return { name: f[3]!, address: f[7]!, port: Number(f[8]), txt: [...f.slice(9).join(';').matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!) };
    });
}

function idOf(home: string): string {
  return JSON.parse(spawnSync(process.execPath, [BIN, 'id'], { env: { ...process.env, P2PCAT_HOME: home }, encoding: 'utf8' }).stdout).public_key;
}

if (!skip) {
  t.test('avahi and p2pcat see each other', async (t) => {
    const lab = makeLan(2);
    const procs: Proc[] = [];
    let avahi: Awaited<ReturnType<typeof startAvahi>> | undefined;
    t.teardown(() => {
      reap(procs);
      avahi?.close();
      lab.close();
    });
    const [h1, h2] = lab.hosts as [string, string];
    avahi = await startAvahi(h1, `${lab.id}v1`);
    const env = { ...(process.env as Record<string, string>), ...avahi.env };

    // 1. p2pcat announces; avahi-browse (in h1) finds and resolves it.
    const home = tmpHome();
    const l = await nsListen(h2, ['--announce', 'mdns', '--room', 'ops'], { home });
    procs.push(l);
    const watch = procOf(spawn('avahi-browse', ['-rpk', '_p2pcat._tcp'], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    procs.push(watch);
    const [svc] = await watch.waitFor(() => {
      const r = resolved(watch.stdout).filter((s) => s.port === l.port);
      return r.length ? r : undefined;
    }, 'avahi-browse to resolve the p2pcat service');
    t.equal(svc!.address, lab.addr(1), 'avahi resolves the SRV target to the announcer address (its A record)');
    t.match(svc!.name, /^p2pcat-[0-9a-f]{12}$/, 'the instance name is a random label, not the room');
    t.notOk(svc!.txt.some((s) => s.includes('ops')), 'no TXT string names the room');
    const r = readBeacon(KEYS, svc!.txt.map((s) => new Uint8Array(Buffer.from(s))), Date.now());
    t.equal(r.kind, 'peer', "the TXT strings avahi read are a valid beacon for the room");
    t.equal(r.kind === 'peer' && Buffer.from(r.beacon.publicKey!).toString('hex'), idOf(home), 'carrying the identity key (sealed)');

    // Its goodbye (records with TTL 0) makes avahi drop the service at once.
    l.kill('SIGTERM');
    t.equal((await exitOf(l)).code, 0);
    await watch.waitFor(() => watch.stdout.some((s) => s.startsWith('-;') && s.includes(svc!.name)), 'avahi-browse to see the service go');
    t.pass('avahi saw the goodbye');
    watch.kill('SIGTERM');

    // 2. avahi-publish announces a p2pcat service (beacon TXT made by the test); p2pcat discover finds it, and connect reaches it.
    const home1 = tmpHome();
    const target = await nsListen(h1, ['--room', 'ops'], { home: home1 });
    procs.push(target);
    const txt = sealBeacon(KEYS, { nowMs: Date.now(), port: target.port, addrs: [lab.addr(0)], publicKey: new Uint8Array(Buffer.from(idOf(home1), 'hex')) });
    const pub = procOf(spawn('avahi-publish', ['-s', 'published-by-avahi', '_p2pcat._tcp', String(target.port), ...txt], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    procs.push(pub);
    await pub.waitFor(() => [...pub.stdout, ...pub.stderr].some((s) => /Established under name/.test(s)), 'avahi-publish to establish the service');
    const d = nsRun(h2, ['discover', '--lan', '--lan-via', 'mdns', '--room', 'ops', '--once', '--timeout', '10']);
    procs.push(d);
    t.equal((await exitOf(d)).code, 0, 'discover found it');
    t.match(d.records.filter((x) => x.type === 'PEER'), [{ via: 'lan', proto: 'mdns', addrs: [`${lab.addr(0)}:${target.port}`], key: idOf(home1) }]);
    const f = path.join(tmpHome(), 'found.ndjson');
    fs.writeFileSync(f, d.stdout.join('\n') + '\n');
    const c = nsRun(h2, ['connect', '--peers', f, '--room', 'ops'], { env: { P2PCAT_NAME: 'ivan' } });
    procs.push(c);
    c.end('hello through avahi\n');
    t.equal((await exitOf(c)).code, 0);
    await target.waitRecord((x) => x.type === 'CHAT' && x.message === 'hello through avahi', 'the message arrived');
  });
}
