// Black-box DHT discovery on loopback: a 4-node bittorrent-dht network run
// by the test on 127.0.0.1 (test/discovery/dhtnet.ts) is the DHT; every
// p2pcat process gets --bootstrap, so nothing reaches the public DHT.
// Members of a room find each other; another room does not; an impostor
// announced under the sniffed info-hash is found but fails the handshake;
// a hostile node's garbage and peer flood are bounded warnings.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import DHT from 'bittorrent-dht';
import { listen, run, exitOf, reap, tmpHome, type Proc } from '../helpers/proc.js';
import { hostileDht, testDht } from '../discovery/dhtnet.js';
import { DISCOVER_MAX_PEERS } from '../../src/limits.js';

const peers = (p: Proc) => p.records.filter((r) => r.type === 'PEER');
const errors = (p: Proc) => p.stderr.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

t.test('two members find each other through a local DHT; another room does not', async (t) => {
  const net = await testDht(4);
  const procs: Proc[] = [];
  t.teardown(async () => {
    reap(procs);
    await net.close();
  });
  const secret = { P2PCAT_SECRET: 'dht-secret' };
  const l = await listen(['--room', 'ops', '--announce', 'dht', ...net.args], { env: secret, name: 'hub' });
  procs.push(l);
  await l.waitFor(() => l.stderr.some((s) => /announced on the DHT/.test(s)), 'the announce to be taken');
  const opsHash = net.announces.find((a) => a.port === l.port)?.infoHash;
  t.match(opsHash, /^[0-9a-f]{40}$/, 'the DHT stores the listener under a 20-byte info-hash');

  const [found, other] = [
    run(['discover', '--dht', ...net.args, '--room', 'ops', '--once', '--timeout', '20'], { env: secret }),
    run(['discover', '--dht', ...net.args, '--room', 'dev', '--timeout', '1.5'], { env: secret }),
  ];
  procs.push(found, other);
  t.equal((await exitOf(found)).code, 0);
  t.match(peers(found), [{ type: 'PEER', via: 'dht', room: 'ops', addrs: [`127.0.0.1:${l.port}`] }], 'the member is found');
  t.notOk('key' in peers(found)[0]!, 'the DHT authenticates nothing, so no key is claimed');
  t.equal((await exitOf(other)).code, 69, 'another room finds nobody: exit 69');

  // The PEER record straight into connect: a chat with the member.
  const f = path.join(tmpHome(), 'found.ndjson');
  fs.writeFileSync(f, found.stdout.join('\n') + '\n');
  const c = run(['connect', '--peers', f, '--room', 'ops'], { env: secret, name: 'frank' });
  procs.push(c);
  c.end('found you on the DHT\n');
  t.equal((await exitOf(c)).code, 0);
  await l.waitRecord((r) => r.type === 'CHAT' && r.message === 'found you on the DHT', 'the message arrived');

  // An impostor who saw the info-hash (any DHT node near it does) announces itself under it.
  const evil = await listen(['--room', 'ops'], { env: { P2PCAT_SECRET: 'a guess' }, name: 'mallory' });
  procs.push(evil);
  const spy = new DHT({ bootstrap: net.peers });
  t.teardown(() => new Promise<void>((r) => spy.destroy(() => r())));
  await new Promise<void>((resolve, reject) => spy.announce(opsHash!, evil.port, (err) => (err ? reject(err) : resolve())));
  const both = run(['discover', '--dht', ...net.args, '--room', 'ops', '--timeout', '20'], { env: secret });
  procs.push(both);
  await both.waitFor(() => peers(both).length >= 2, 'both the member and the impostor to be found');
  both.kill('SIGTERM');
  t.equal((await exitOf(both)).code, 0);
  t.same(peers(both).map((p) => p.addrs[0]).sort(), [`127.0.0.1:${evil.port}`, `127.0.0.1:${l.port}`].sort(), 'the DHT hands out the impostor too');
  fs.writeFileSync(f, both.stdout.join('\n') + '\n');
  const c2 = run(['connect', '--peers', f, '--room', 'ops'], { env: secret, name: 'grace' });
  const toEvil = path.join(tmpHome(), 'evil.ndjson');
  fs.writeFileSync(toEvil, JSON.stringify(peers(both).find((p) => p.addrs[0] === `127.0.0.1:${evil.port}`)) + '\n');
  const c3 = run(['connect', '--peers', toEvil, '--room', 'ops'], { env: secret, name: 'heidi' });
  procs.push(c2, c3);
  c2.end('members only\n');
  c3.end('members only\n');
  t.equal((await exitOf(c2)).code, 0, 'connect reaches the member');
  t.ok(errors(c2).some((e) => e.code === 'P2PCAT_ERR_AUTH'), '... and reports the impostor as P2PCAT_ERR_AUTH');
  t.equal((await exitOf(c3)).code, 77, 'the impostor alone: exit 77');
  t.notOk(evil.records.some((r) => r.type === 'CHAT'), 'nothing reached the impostor');

  l.kill('SIGTERM');
  t.equal((await exitOf(l)).code, 0, 'the announcing listener stops cleanly');
});

t.test('a hostile DHT node: garbage replies are warnings, a flood of fake peers is bounded', async (t) => {
  const evil = await hostileDht({ flood: 100 });
  t.teardown(() => evil.close());
  const d = run(['discover', '--dht', '--bootstrap', `127.0.0.1:${evil.port}`, '--room', 'ops', '--timeout', '3']);
  const code = (await exitOf(d, 30_000)).code;
  t.equal(code, 0, 'discover survives and exits 0 (it found "peers")');
  const n = peers(d).length;
  t.ok(n > 0 && n <= DISCOVER_MAX_PEERS, `${n} PEER records, at most ${DISCOVER_MAX_PEERS}`);
  t.ok(peers(d).every((p) => /^10\./.test(p.addrs[0])), 'unusable addresses (0.0.0.0, multicast, broadcast) are not reported');
  const e = errors(d);
  t.ok(e.every((x) => ['P2PCAT_ERR_DISCOVERY_PACKET', 'P2PCAT_ERR_LIMIT'].includes(x.code)), 'every warning is coded');
  t.match(e.map((x) => x.message).join('\n'), /not bencode|bytes/, 'garbage is named');
  const offered = 97 * (evil.queries.get('get_peers') ?? 0);
  if (offered > DISCOVER_MAX_PEERS + 50) t.ok(e.some((x) => x.code === 'P2PCAT_ERR_LIMIT' && /peers found/.test(x.message)), `${offered} fake peers offered: one LIMIT warning`);
});
