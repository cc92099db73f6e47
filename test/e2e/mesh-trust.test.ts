// Black-box: join links (invite, pinning), --allow lists, rooms that do not
// mix, and trust on first use (KEY_CHANGED).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { exitOf, reap, tmpHome, type Proc } from '../helpers/proc.js';
import { peer, errors, prun } from '../mesh/peers.js';

async function idOf(home: string): Promise<string> {
  const p = prun(['id'], { home, stdin: 'ignore' });
  await exitOf(p);
  return p.records[0]!.public_key;
}

// Real processes: allow for a CI box running every suite at once.
t.setTimeout(240_000);

t.test('invite prints a link; connect joins through it and pins the inviter\'s key', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const home = tmpHome();
  const host = await peer('host', ['--room', 'ops team'], { home, env: { P2PCAT_SECRET: 's3cr&t=yes' } });
  procs.push(host);
  const inv = prun(['invite', '--room', 'ops team', '--addr', `127.0.0.1:${host.port}`], { home, env: { P2PCAT_SECRET: 's3cr&t=yes' }, stdin: 'ignore' });
  t.equal((await exitOf(inv)).code, 0);
  const link = inv.stdout[0]!;
  t.match(link, new RegExp(`^p2pcat://127\\.0\\.0\\.1:${host.port}\\?room=ops%20team&secret=s3cr%26t%3Dyes&key=${await idOf(home)}$`));
  t.match(inv.stderr.join('\n'), /contains the room secret/, 'a warning that the link holds the secret');
  const joiner = prun(['connect', link, '--json'], { name: 'guest' });
  procs.push(joiner);
  joiner.end('hello via link\n');
  t.equal((await exitOf(joiner)).code, 0, 'room and secret come from the link');
  await host.waitRecord((r) => r.type === 'CHAT' && r.message === 'hello via link', 'the message at the host');

  // The same link pointed at another member's address: that peer has another key, so it is refused.
  const other = await peer('impostor', ['--room', 'ops team'], { env: { P2PCAT_SECRET: 's3cr&t=yes' } });
  procs.push(other);
  const forged = link.replace(`:${host.port}?`, `:${other.port}?`);
  const victim = prun(['connect', forged], { name: 'victim' });
  procs.push(victim);
  victim.end('secret plans\n');
  t.equal((await exitOf(victim)).code, 77, 'P2PCAT_ERR_AUTH: another key at that address');
  t.match(victim.stderr.join('\n'), /P2PCAT_ERR_AUTH: .*not the pinned one/);
  await other.waitFor(() => other.stderr.some((l) => l.includes('P2PCAT_ERR_AUTH')) || other.records.some((r) => r.type === 'PEER_DOWN' && r.reason === 'P2PCAT_ERR_AUTH'), 'the impostor sees the refusal');
  t.notOk(other.records.some((r) => r.type === 'CHAT'), 'and gets no message');
  const bad = prun(['connect', 'p2pcat://127.0.0.1:1?bogus=1'], { stdin: 'ignore' });
  t.equal((await exitOf(bad)).code, 64, 'a malformed link is a usage error');
});

t.test('--allow: only listed keys get in; everyone else is refused with P2PCAT_ERR_AUTH on both sides', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const friendHome = tmpHome();
  const friendKey = await idOf(friendHome);
  const dir = tmpHome();
  const allow = path.join(dir, 'allowed_keys');
  fs.writeFileSync(allow, `# the team\n${friendKey} friend's laptop\n`);
  const gate = await peer('gate', ['--allow', allow]);
  procs.push(gate);
  const friend = prun(['connect', `127.0.0.1:${gate.port}`], { home: friendHome, name: 'friend' });
  procs.push(friend);
  friend.end('let me in\n');
  t.equal((await exitOf(friend)).code, 0);
  await gate.waitRecord((r) => r.type === 'CHAT' && r.message === 'let me in', 'the friend\'s message');
  const stranger = prun(['connect', `127.0.0.1:${gate.port}`], { name: 'stranger' });
  procs.push(stranger);
  stranger.end('me too\n');
  t.equal((await exitOf(stranger)).code, 77, 'the stranger\'s connect exits 77');
  t.match(stranger.stderr.join('\n'), /P2PCAT_ERR_AUTH: .*refused the session: .*not in the --allow list/);
  await gate.waitFor(() => errors(gate).some((e) => e.code === 'P2PCAT_ERR_AUTH' && /--allow/.test(e.message)), 'AUTH on the gate');
  t.notOk(gate.records.some((r) => r.message === 'me too'), 'the stranger\'s message never shows');
  t.notOk(gate.records.some((r) => r.type === 'PEER_UP' && r.username === 'stranger'), 'nor a PEER_UP for it');
  const broken = prun(['listen', '0', '--allow', path.join(dir, 'missing')], { stdin: 'ignore' });
  t.not((await exitOf(broken)).code, 0, 'an unreadable allow file stops listen');
});

t.test('rooms do not mix, even through a peer in both', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const home = tmpHome();
  const ops = await peer('ops-host', ['--room', 'ops'], { home });
  const dev = await peer('dev-host', ['--room', 'dev'], { home });
  procs.push(ops, dev);
  const a = prun(['connect', `127.0.0.1:${ops.port}`, '--room', 'ops', '--json'], { name: 'a' });
  const b = prun(['connect', `127.0.0.1:${dev.port}`, '--room', 'dev', '--json'], { name: 'b' });
  procs.push(a, b);
  await a.waitRecord((r) => r.type === 'PEER_UP', 'a up');
  await b.waitRecord((r) => r.type === 'PEER_UP', 'b up');
  ops.write('for ops only\n');
  dev.write('for dev only\n');
  await a.waitRecord((r) => r.message === 'for ops only', 'ops message in ops');
  await b.waitRecord((r) => r.message === 'for dev only', 'dev message in dev');
  t.notOk(a.records.some((r) => r.message === 'for dev only'));
  t.notOk(b.records.some((r) => r.message === 'for ops only'));
  const wrong = prun(['connect', `127.0.0.1:${ops.port}`, '--room', 'dev'], { stdin: 'ignore' });
  t.equal((await exitOf(wrong)).code, 77, 'a dev member cannot even handshake with the ops room');
});

t.test('trust on first use: a known username with another key is KEY_CHANGED, loudly', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const me = tmpHome();
  const zed1 = await peer('zed');
  procs.push(zed1);
  const c1 = prun(['connect', `127.0.0.1:${zed1.port}`, '--json'], { home: me, name: 'me' });
  procs.push(c1);
  c1.end('hi zed\n');
  t.equal((await exitOf(c1)).code, 0);
  t.notOk(c1.records.some((r) => r.type === 'KEY_CHANGED'), 'first use: remembered, nothing said');
  const known = fs.readFileSync(path.join(me, 'known_peers'), 'utf8');
  t.match(known, new RegExp(`^name zed [0-9a-f]{64}$`, 'm'));
  t.match(known, new RegExp(`^addr 127\\.0\\.0\\.1:${zed1.port} [0-9a-f]{64}$`, 'm'));
  zed1.kill('SIGTERM');
  await exitOf(zed1);
  const zed2 = await peer('zed'); // another identity, same name
  procs.push(zed2);
  const c2 = prun(['connect', `127.0.0.1:${zed2.port}`, '--json'], { home: me, name: 'me' });
  procs.push(c2);
  const rec = await c2.waitRecord((r) => r.type === 'KEY_CHANGED', 'KEY_CHANGED');
  t.match(rec, { kind: 'name', username: 'zed', key: /^[0-9a-f]{64}$/, was: /^[0-9a-f]{64}$/, fingerprint: /^SHA256:/ });
  t.not(rec.key, rec.was);
  t.match(c2.stderr.join('\n'), /WARNING: PEER IDENTITY HAS CHANGED/);
  c2.end();
  t.equal((await exitOf(c2)).code, 0, 'reported, not refused');
});
