// Black-box LAN discovery between real processes on a LAN made of network
// namespaces (test/discovery/lanlab.ts): `listen --announce lan` on one
// host, `discover --lan` on another, the PEER record piped into
// `connect --peers -`, goodbyes, and a hostile third host that holds no
// room key. Skips (with the reason) when namespaces are not available.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, REPO_ROOT } from '../helpers/paths.js';
import { tmpHome } from '../helpers/proc.js';
import { exitOf, labSkipReason, makeLan, nsListen, nsRun, nsSh, reap, type Proc } from '../discovery/lanlab.js';
import { deriveDiscoveryKeys } from '../../src/discovery/keys.js';
import { sealBeacon } from '../../src/discovery/beacon.js';
import { deriveRoom } from '../../src/crypto/room.js';
import { DISCOVERY_MAX_WARNINGS } from '../../src/limits.js';

const skip = labSkipReason();
if (skip) t.plan(0, `LAN tests skipped: ${skip}`);

const SECRET = 'lan-secret-1';
const ROOM = ['--room', 'ops', '--secret-file'];

function idOf(home: string): string {
  const r = spawnSync(process.execPath, [BIN, 'id'], { env: { ...process.env, P2PCAT_HOME: home }, encoding: 'utf8' });
  return JSON.parse(r.stdout).public_key;
}

function secretFile(secret = SECRET): string {
  const f = path.join(tmpHome('p2pcat-secret-'), 'secret');
  fs.writeFileSync(f, secret + '\n', { mode: 0o600 });
  return f;
}

const peers = (p: Proc) => p.records.filter((r) => r.type === 'PEER');
const errors = (p: Proc) => p.stderr.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

if (!skip) {
  t.test('two hosts: announce, discover over mDNS and broadcast, pipe into connect, goodbye', async (t) => {
    const lab = makeLan(2);
    const procs: Proc[] = [];
    t.teardown(() => {
      reap(procs);
      lab.close();
    });
    const [h1, h2] = lab.hosts as [string, string];
    const sec = secretFile();
    const home1 = tmpHome();
    const key1 = idOf(home1);
    const l = await nsListen(h1, ['--announce', 'lan', ...ROOM, sec], { home: home1 });
    procs.push(l);
    await l.waitFor(() => l.stderr.some((s) => /announcing room "ops" on port \d+ via mdns, broadcast/.test(s)), 'the announcing line');

    // At once: each transport alone (--once), both together (deduplicated), and a non-member.
    const [viaMdns, viaBroadcast] = ['mdns', 'broadcast'].map((via) => nsRun(h2, ['discover', '--lan', '--lan-via', via, ...ROOM, sec, '--once', '--timeout', '10']));
    const both = nsRun(h2, ['discover', '--lan', ...ROOM, sec, '--timeout', '1.5']);
    const wrong = nsRun(h2, ['discover', '--lan', ...ROOM, secretFile('not-the-secret'), '--timeout', '1.5']);
    procs.push(viaMdns!, viaBroadcast!, both, wrong);
    for (const [via, d] of [['mdns', viaMdns!], ['broadcast', viaBroadcast!]] as const) {
      t.equal((await exitOf(d)).code, 0, `discover --lan-via ${via} exits 0`);
      t.equal(peers(d).length, 1, 'one PEER record');
      t.match(peers(d)[0], { type: 'PEER', via: 'lan', proto: via, room: 'ops', key: key1, addrs: [`${lab.addr(0)}:${l.port}`] }, `found over ${via}, with the authenticated identity key`);
      t.same(d.stderr, [], 'nothing on stderr');
    }
    t.equal((await exitOf(both)).code, 0);
    t.equal(peers(both).length, 1, 'seen over mDNS and broadcast, reported once');
    t.equal((await exitOf(wrong)).code, 69, 'a non-member finds no peer: exit 69');
    t.same(wrong.stdout, []);
    t.match(wrong.stderr.join('\n'), /P2PCAT_ERR_UNAVAILABLE: no peers found within 1.5 s/);

    // discover's output saved to a file, then connect --peers FILE: send a message.
    const home2 = tmpHome();
    fs.writeFileSync(path.join(home2, 'found.ndjson'), both.stdout.join('\n') + '\n');
    const saved = nsRun(h2, ['connect', '--peers', path.join(home2, 'found.ndjson'), ...ROOM, sec, '--json'], { home: home2, env: { P2PCAT_NAME: 'bob' } });
    procs.push(saved);
    await saved.waitRecord((r) => r.type === 'PEER_UP', 'connect --peers FILE is up');
    saved.end('hello from h2\n');
    await l.waitRecord((r) => r.type === 'CHAT' && r.message === 'hello from h2', 'the message at the listener');
    t.equal((await exitOf(saved)).code, 0, 'connect --peers FILE: stdin EOF, exit 0');

    // The pipeline: discover | connect --peers - (receive only).
    const pipe = nsSh(h2, `$P2PCAT discover --lan --room ops --secret-file ${sec} --once | $P2PCAT connect --peers - --room ops --secret-file ${sec} --json`, {
      env: { P2PCAT_HOME: tmpHome(), P2PCAT_NAME: 'carol' },
    });
    procs.push(pipe);
    await pipe.waitRecord((r) => r.type === 'PEER_UP' && r.peer === key1, 'the pipeline reached the announced peer');
    l.write('hello from h1\n');
    await pipe.waitRecord((r) => r.type === 'CHAT' && r.message === 'hello from h1', 'the pipeline receives chat');

    // The listener leaves: BYE to the pipeline, goodbyes on the LAN.
    l.kill('SIGTERM');
    t.equal((await exitOf(l)).code, 0, 'listen exits 0 on SIGTERM');
    t.equal((await exitOf(pipe)).code, 0, 'the receive-only connect exits 0 when its peer says goodbye');
    const after = nsRun(h2, ['discover', '--lan', ...ROOM, sec, '--timeout', '1.5']);
    procs.push(after);
    t.equal((await exitOf(after)).code, 69, 'after it left, nothing is announced any more');
  });

  t.test('a hostile host without the room key: forged, stale, garbage and flooding packets are warnings; its listener fails the handshake', async (t) => {
    const lab = makeLan(3);
    const procs: Proc[] = [];
    t.teardown(() => {
      reap(procs);
      lab.close();
    });
    const [h1, h2, h3] = lab.hosts as [string, string, string];
    const sec = secretFile();
    // The member, and the attacker's own listener announced with a wrong secret for the same room name.
    const [l, evil] = await Promise.all([nsListen(h1, ['--announce', 'lan', ...ROOM, sec]), nsListen(h3, ['--announce', 'lan', ...ROOM, secretFile('guess')])]);
    procs.push(l!, evil!);

    // A beacon for the real room recorded ten minutes ago (as if captured then).
    const keys = deriveDiscoveryKeys(deriveRoom('ops', new TextEncoder().encode(SECRET)).key);
    const stale = sealBeacon(keys, { nowMs: Date.now() - 10 * 60_000, port: l.port, addrs: [lab.addr(0)] });

    // discover runs (no --once) while the hostile host attacks; once it has found the
    // real peer it is surely listening, and SIGTERM ends it after the attack.
    const d = nsRun(h2, ['discover', '--lan', ...ROOM, sec, '--timeout', '60']);
    procs.push(d);
    await d.waitRecord((r) => r.type === 'PEER', 'discover found the real member');
    const hostile = nsSh(h3, `exec ${process.execPath} ${path.join(REPO_ROOT, 'dist/test/discovery/hostile-lan.js')} ${lab.addr(0).replace(/\.1$/, '.255')} ${lab.addr(0)} ${evil.port} '${JSON.stringify([stale])}'`);
    procs.push(hostile);
    t.equal((await exitOf(hostile)).code, 0, 'the hostile script ran');
    const report = hostile.records[0]!;
    t.same(report.captured, { beacon: true, mdns: true }, 'it recorded a real beacon and a real mDNS response');
    await d.waitFor(() => d.stderr.some((l) => /more than \d+ datagrams a second|only counted/.test(l)), 'the flood to reach discover');
    d.kill('SIGTERM');
    t.equal((await exitOf(d)).code, 0, 'discover survives, and exits 0 on SIGTERM with a peer found');
    t.same(
      peers(d).map((p) => p.addrs),
      [[`${lab.addr(0)}:${l.port}`]],
      "only the real member is reported: not the attacker's listener, not the forged port",
    );
    const errs = errors(d);
    const text = errs.map((e) => e.message).join('\n');
    t.match(text, /forged or altered beacon/, 'the beacon with a changed port is refused as forged');
    t.match(text, /stale or replayed beacon/, 'the old recording is refused as stale');
    t.match(text, /SRV port \d+ is not the authenticated port/, 'the mDNS response with a changed SRV port is refused');
    t.ok(errs.every((e) => ['P2PCAT_ERR_DISCOVERY_PACKET', 'P2PCAT_ERR_LIMIT'].includes(e.code)), 'every warning is coded');
    t.ok(errs.length <= DISCOVERY_MAX_WARNINGS + 3, `a flood of ${report.sent} packets prints a bounded number of warnings (${errs.length})`);
    t.ok(
      errs.some((e) => /further ones are only counted|more bad discovery packets|datagrams a second/.test(e.message)),
      'the rest of the flood is counted, not printed',
    );

    // The listener on h1 took the flood too, and still serves.
    t.equal(l.exitInfo, undefined, 'the announcing listener is still running');
    const ok = nsRun(h2, ['connect', `${lab.addr(0)}:${l.port}`, ...ROOM, sec]);
    // Had a forged beacon been believed, the member would have dialled the attacker: the handshake refuses it.
    const dialEvil = nsSh(h2, `echo '{"type":"PEER","addrs":["${lab.addr(2)}:${evil.port}"],"via":"lan"}' > $P2PCAT_HOME/evil.ndjson; echo secret | $P2PCAT connect --peers $P2PCAT_HOME/evil.ndjson --room ops --secret-file ${sec}`, {
      env: { P2PCAT_HOME: tmpHome() },
    });
    procs.push(ok, dialEvil);
    ok.end('still here\n');
    t.equal((await exitOf(ok)).code, 0);
    await l.waitRecord((r) => r.type === 'CHAT' && r.message === 'still here', 'an honest message after the attack');
    t.equal((await exitOf(dialEvil)).code, 77, 'connect to the attacker fails: exit 77');
    t.match(dialEvil.stderr.join('\n'), /P2PCAT_ERR_AUTH/);
    t.notOk(evil.records.some((r) => r.type === 'CHAT'), 'no message reached the attacker');
  });
}
