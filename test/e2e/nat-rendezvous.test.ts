// Black-box: the built `p2pcat rendezvous` on loopback. Two UDP clients made
// here register with one room token and are paired; coturn's
// turnutils_stunclient (an independent STUN client, when installed) gets a
// correct RFC 5780 answer from it.
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { run, exitOf, reap, type Proc } from '../helpers/proc.js';
import { openDgram, stunTransaction } from '../../src/transport/udp.js';
import { registerRequest, readAnswer } from '../../src/nat/register.js';
import { roomTokens, newPeerId } from '../../src/nat/token.js';
import { deriveRoom } from '../../src/crypto/room.js';
import { decodeStun } from '../../src/nat/stun.js';

async function startRendezvous(args: string[] = [], procs: Proc[] = []): Promise<Proc & { port: number }> {
  const p = run(['rendezvous', '0', '--bind', '127.0.0.1', ...args]);
  procs.push(p);
  const line = await p.waitFor(() => p.stderr.find((l) => /rendezvous listening on /.test(l)), 'the listening line');
  return Object.assign(p, { port: Number(/127\.0\.0\.1:(\d+)/.exec(line)![1]) });
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

t.test('two peers presenting one room token are paired; the rendezvous prints PAIR', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const rv = await startRendezvous([], procs);
  const room = deriveRoom('ops');
  const a = await openDgram({ address: '127.0.0.1' });
  const b = await openDgram({ address: '127.0.0.1' });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const server = { address: '127.0.0.1', port: rv.port };
  const now = Date.now();
  const ida = newPeerId();
  const idb = newPeerId();
  const ra = await stunTransaction(a, server, registerRequest({ tokens: roomTokens(room.key, now), id: ida, candidates: [{ address: '10.9.9.9', port: 1234 }], nat: 'none' }));
  t.ok(ra, 'a got an answer');
  const ansA = readAnswer(ra!.msg);
  t.same(ansA.public, a.local(), "a's public endpoint is its loopback endpoint");
  t.equal(ansA.peer, undefined, 'nobody to pair with yet');
  // a waits for the indication while b registers.
  const indication = new Promise<ReturnType<typeof readAnswer>>((resolve) => {
    const off = a.onMessage((data) => {
      try {
        const m = decodeStun(data);
        if (m.cls === 'indication') {
          off();
          resolve(readAnswer(m));
        }
      } catch {
        /* not for us */
      }
    });
  });
  const rb = await stunTransaction(b, server, registerRequest({ tokens: roomTokens(room.key, now), id: idb, candidates: [{ address: '10.8.8.8', port: 4321 }], nat: 'none' }));
  const ansB = readAnswer(rb!.msg);
  t.same(ansB.peer?.public, a.local(), "b learns a's endpoint");
  t.same(ansB.peer?.candidates, [{ family: 4, address: '10.9.9.9', port: 1234 }], "and a's local candidates");
  const ind = await indication;
  t.same(ind.peer?.public, b.local(), "a is told b's endpoint at once");
  await rv.waitRecord((r) => r.type === 'PAIR', 'a PAIR record');
  const rec = rv.records.find((r) => r.type === 'PAIR')!;
  t.same(Object.keys(rec).sort(), ['a', 'b', 'type'], 'PAIR shows endpoints only: no token, no room');
  rv.kill('SIGTERM');
  t.equal((await exitOf(rv)).code, 0, 'SIGTERM ends it with 0');
});

t.test("coturn's turnutils_stunclient gets a correct RFC 5780 answer", { skip: which('turnutils_stunclient') ? false : 'turnutils_stunclient is not installed (apt-get install coturn)' }, async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const rv = await startRendezvous(['--alt-addr', '127.0.0.2'], procs);
  const alt = Number(/alternate: 127\.0\.0\.2:(\d+)/.exec(rv.stderr.join('\n'))![1]);
  const out = await new Promise<string>((resolve) =>
    execFile('turnutils_stunclient', ['-p', String(rv.port), '127.0.0.1'], { timeout: 10_000 }, (_e, stdout, stderr) => resolve(stdout + stderr)),
  );
  const reflexive = [...out.matchAll(/UDP reflexive addr: 127\.0\.0\.1:(\d+)/g)];
  t.ok(reflexive.length >= 2, `stunclient printed its reflexive address for each request:\n${out}`);
  t.match(out, new RegExp(`Other addr: : 127\\.0\\.0\\.2:${alt}`), 'OTHER-ADDRESS: the alternate address and port');
  t.match(out, new RegExp(`Response origin: : 127\\.0\\.0\\.2:${alt}`), 'a CHANGE-REQUEST answered from the alternate address');
  t.match(out, new RegExp(`Response origin: : 127\\.0\\.0\\.1:${rv.port}`), 'a plain request answered from the primary');
});

t.test('nat on loopback against the rendezvous: no NAT, open', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const rv = await startRendezvous(['--alt-addr', '127.0.0.2'], procs);
  const p = run(['nat', '--stun', `127.0.0.1:${rv.port}`, '--timeout', '1']);
  procs.push(p);
  t.equal((await exitOf(p)).code, 0);
  t.equal(p.stdout.length, 1, 'one record');
  t.match(p.records[0], { type: 'NAT', nat: false, mapping: 'endpoint-independent', filtering: 'endpoint-independent', kind: 'open internet', other: /^127\.0\.0\.2:\d+$/ });
  const u = run(['nat']);
  procs.push(u);
  t.equal((await exitOf(u)).code, 64, 'no --stun: usage error');
  t.match(u.stderr.join('\n'), /P2PCAT_ERR_USAGE: name a STUN server/);
  const dead = run(['nat', '--stun', '127.0.0.1:9', '--timeout', '0.5']);
  procs.push(dead);
  t.equal((await exitOf(dead)).code, 69, 'no answer: unavailable');
});

t.test('punch on loopback: two peers meet through the rendezvous and chat over udx', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const rv = await startRendezvous([], procs);
  const args = ['punch', `127.0.0.1:${rv.port}`, '--room', 'loop', '--json', '--wait', '10'];
  const a = run(args, { name: 'ann' });
  const b = run(args, { name: 'bob' });
  procs.push(a, b);
  await a.waitRecord((r) => r.type === 'PEER_UP', 'PEER_UP at ann');
  await b.waitRecord((r) => r.type === 'PEER_UP', 'PEER_UP at bob');
  t.match(a.records[0], { type: 'PATH', path: 'direct', via: 'public', remote: /^127\.0\.0\.1:\d+$/ }, 'PATH is the first record');
  a.write('over udx\n');
  t.equal((await b.waitRecord((r) => r.type === 'CHAT', 'the chat at bob')).message, 'over udx');
  a.end();
  t.equal((await exitOf(a)).code, 0);
  t.equal((await exitOf(b)).code, 0);
});
