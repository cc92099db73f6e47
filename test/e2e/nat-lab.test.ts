// NAT lab (test/helpers/netns.ts): `p2pcat nat` behind each kind of Linux
// NAT reports the mapping and filtering that NATLAB.md measured, against
// `p2pcat rendezvous --alt-addr`; and against coturn's turnserver (an
// independent RFC 5780 server) it agrees with coturn's own
// turnutils_natdiscovery.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ADDR, createLab, labUnavailable, type Lab, type Role } from '../helpers/netns.js';

const skip = labUnavailable();
const hasCoturn = spawnSync('sh', ['-c', 'command -v turnserver && command -v turnutils_natdiscovery']).status === 0;

t.test('nat in the lab', { skip }, async (t) => {
  const lab: Lab = createLab({ ra: 'eim', rb: 'random' });
  t.teardown(() => lab.teardown());
  const rv = lab.p2pcat('rv', ['rendezvous', '3478', '--bind', ADDR.rv, '--alt-addr', ADDR.rvAlt]);
  await rv.waitFor(() => rv.stderr.find((l) => /rendezvous listening on /.test(l)), 'the rendezvous');

  const nat = async (host: Role, server: string) => {
    const p = lab.p2pcat(host, ['nat', '--stun', server, '--timeout', '1']);
    const ex = await p.exited;
    if (!t.equal(ex.code, 0, `nat on ${host} exits 0`)) t.comment(p.stderr.join('\n'));
    t.equal(p.stdout.length, 1, 'exactly one record on stdout');
    return p.records[0]!;
  };

  t.test('behind port-preserving MASQUERADE: endpoint-independent mapping, address-and-port-dependent filtering', async (t) => {
    const r = await nat('a1', `${ADDR.rv}:3478`);
    t.match(r, {
      type: 'NAT',
      server: `${ADDR.rv}:3478`,
      other: `${ADDR.rvAlt}:3479`,
      nat: true,
      mapping: 'endpoint-independent',
      filtering: 'address-and-port-dependent',
      kind: 'port-restricted cone',
    });
    t.match(r.public, new RegExp(`^${ADDR.raWan.replace(/\./g, '\\.')}:\\d+$`), "the router's public address");
    t.equal(r.public.split(':')[1], r.local.split(':')[1], 'the port is preserved');
    t.equal(r.local.split(':')[0], ADDR.a1);
  });

  t.test('behind MASQUERADE --random-fully: symmetric', async (t) => {
    const r = await nat('b1', `${ADDR.rv}:3478`);
    t.match(r, { nat: true, mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent', kind: 'symmetric' });
    t.match(r.public, new RegExp(`^${ADDR.rbWan.replace(/\./g, '\\.')}:`));
  });

  t.test('no NAT: open', async (t) => {
    const r = await nat('pub', `${ADDR.rv}:3478`);
    t.match(r, { nat: false, mapping: 'endpoint-independent', filtering: 'endpoint-independent', kind: 'open internet', public: new RegExp(`^${ADDR.pub.replace(/\./g, '\\.')}:`) });
    t.equal(r.public, r.local);
  });

  t.test('switching a router to random ports changes the verdict', async (t) => {
    lab.setNat('ra', 'random');
    const r = await nat('a2', `${ADDR.rv}:3478`);
    t.equal(r.kind, 'symmetric');
    lab.setNat('ra', 'eim');
    t.equal((await nat('a2', `${ADDR.rv}:3478`)).kind, 'port-restricted cone');
  });

  t.test('agrees with coturn: turnserver + turnutils_natdiscovery', { skip: hasCoturn ? false : 'coturn is not installed (apt-get install coturn)' }, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-coturn-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    // Debian's /etc/turnserver.conf says no-rfc5780: read an empty config instead.
    const conf = path.join(dir, 'turnserver.conf');
    fs.writeFileSync(conf, '');
    const ts = lab.spawn('rv', 'turnserver', ['-c', conf, '--stun-only', '-L', ADDR.rv, '-L', ADDR.rvAlt, '--listening-port', '3490', '--alt-listening-port', '3491', '--userdb', path.join(dir, 'db'), '--no-cli', '--no-tls', '--no-dtls', '--log-file', path.join(dir, 'log'), '--pidfile', path.join(dir, 'pid')]);
    t.teardown(() => ts.kill('SIGKILL'));
    // Wait until coturn answers a Binding request with OTHER-ADDRESS.
    const ready = async () => {
      for (let i = 0; i < 50; i++) {
        const p = lab.p2pcat('pub', ['nat', '--stun', `${ADDR.rv}:3490`, '--timeout', '0.3']);
        await p.exited;
        if (p.records[0]?.other) return true;
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    };
    t.ok(await ready(), 'coturn is up with RFC 5780');
    const words = (s: string) =>
      s.includes('Endpoint Independent') ? 'endpoint-independent' : s.includes('Address and Port Dependent') ? 'address-and-port-dependent' : s.includes('Address Dependent') ? 'address-dependent' : `? ${s}`;
    for (const host of ['a1', 'b1'] as Role[]) {
      const ours = await nat(host, `${ADDR.rv}:3490`);
      const out = lab.exec(host, ['timeout', '20', 'turnutils_natdiscovery', '-m', '-f', '-p', '3490', ADDR.rv], { allowFail: true });
      const mapping = /NAT with (.*) Mapping!/.exec(out)?.[1];
      const filtering = /NAT with (.*) Filtering!/.exec(out)?.[1];
      if (!t.ok(mapping && filtering, `natdiscovery gave a verdict on ${host}`)) t.comment(out);
      t.equal(ours.mapping, words(mapping ?? ''), `${host}: mapping agrees with coturn (${mapping})`);
      t.equal(ours.filtering, words(filtering ?? ''), `${host}: filtering agrees with coturn (${filtering})`);
    }
  });
});
