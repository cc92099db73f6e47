// The dial policy: what a peer may be made to dial.
import t from 'tap';
import { classifyIp, dialRefusal, parseDialPolicy, parseHint } from '../../src/mesh/addr.js';

t.test('classification', async (t) => {
  const scope = (a: string) => {
    const c = classifyIp(a);
    return 'refused' in c ? 'refused' : `${c.family}/${c.scope}`;
  };
  t.same(
    ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.5', '100.64.0.1', '169.254.9.9', '8.8.8.8', '::1', 'fe80::1', 'fd00::5', '2001:db8::1', '::ffff:10.0.0.1'].map(scope),
    ['4/loopback', '4/private', '4/private', '4/private', '4/private', '4/link-local', '4/global', '6/loopback', '6/link-local', '6/private', '6/global', '4/private'],
  );
  for (const bad of ['0.0.0.0', '0.1.2.3', '224.0.0.1', '239.255.255.250', '255.255.255.255', '240.0.0.1', '::', 'ff02::1', 'fe80::1%eth0', 'example.com', '1.2.3', '::ffff:224.0.0.1']) {
    t.equal(scope(bad), 'refused', bad);
  }
});

t.test('hints from peers: IP:PORT only, no port 0, no names', async (t) => {
  for (const bad of ['1.2.3.4:0', '1.2.3.4:65536', 'host.lan:5050', '1.2.3.4', '[::1]', '[::]:5', '224.0.0.1:5353', 42, null, 'x'.repeat(100)]) {
    t.ok('refused' in parseHint(bad), String(bad));
  }
  t.match(parseHint('[2001:db8::5]:5050'), { host: '2001:db8::5', port: 5050, scope: 'global' });
});

t.test('same-scope (the default): family and scope of the peer that told us', async (t) => {
  const p = parseDialPolicy(undefined);
  const ok = (c: string, teller: string) => {
    const h = parseHint(c);
    if ('refused' in h) return false;
    return dialRefusal(p, h, teller) === undefined;
  };
  t.ok(ok('127.0.0.1:5050', '127.0.0.1'), 'loopback from loopback');
  t.notOk(ok('127.0.0.1:22', '192.168.1.5'), 'never loopback from a LAN peer');
  t.notOk(ok('127.0.0.1:22', '8.8.8.8'), 'never loopback from the internet');
  t.ok(ok('192.168.1.7:5050', '192.168.1.5'), 'LAN from LAN');
  t.ok(ok('8.8.4.4:5050', '192.168.1.5'), 'global from LAN');
  t.notOk(ok('10.0.0.1:5050', '8.8.8.8'), 'no private addresses from a global peer');
  t.notOk(ok('[2001:db8::1]:5050', '8.8.8.8'), 'no IPv6 learned over IPv4');
  t.notOk(ok('169.254.1.1:5050', '192.168.1.5'), 'link-local only from link-local');
  t.notOk(dialRefusal(p, { host: '1.2.3.4', port: 1 }, undefined) === undefined, 'nobody told us: no');
});

t.test('any, none, CIDR lists', async (t) => {
  t.equal(dialRefusal(parseDialPolicy('any'), { host: '10.0.0.1', port: 80 }, '8.8.8.8'), undefined);
  t.match(dialRefusal(parseDialPolicy('any'), { host: '255.255.255.255', port: 80 }, '8.8.8.8'), /broadcast/);
  t.match(dialRefusal(parseDialPolicy('none'), { host: '10.0.0.1', port: 80 }, '10.0.0.2'), /none/);
  const c = parseDialPolicy('10.0.0.0/8, fd00::/8');
  t.equal(dialRefusal(c, { host: '10.9.9.9', port: 5050 }, '8.8.8.8'), undefined);
  t.match(dialRefusal(c, { host: '192.168.1.1', port: 5050 }, '8.8.8.8'), /outside/);
  t.equal(dialRefusal(c, { host: 'fd00::1', port: 5050 }, '8.8.8.8'), undefined);
  for (const bad of ['10.0.0.0', '10.0.0.0/33', 'lan', '::/129']) t.throws(() => parseDialPolicy(bad), { code: 'P2PCAT_ERR_USAGE' }, bad);
});
