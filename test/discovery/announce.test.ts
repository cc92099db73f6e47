// Option parsing for --announce and --bootstrap (src/discovery/announce.ts),
// and the dialer that races a peer's addresses (src/cli/run/discover.ts).
import t from 'tap';
import { parseAnnounceList, parseBootstrap } from '../../src/discovery/announce.js';
import { multiDialer } from '../../src/cli/run/discover.js';
import { P2pcatError } from '../../src/errors.js';
import { DHT_MAX_BOOTSTRAP } from '../../src/limits.js';
import type { Dialer } from '../../src/cli/run/chat.js';

t.test('--announce lists', async (t) => {
  t.same(parseAnnounceList('lan'), ['mdns', 'broadcast']);
  t.same(parseAnnounceList('lan,dht'), ['mdns', 'broadcast', 'dht']);
  t.same(parseAnnounceList(['mdns', 'DHT', ' broadcast ,mdns']), ['mdns', 'dht', 'broadcast'], 'repeated, spaced, any case, deduplicated');
  t.same(parseAnnounceList(''), []);
  t.throws(() => parseAnnounceList('lan,carrier-pigeon'), { code: 'P2PCAT_ERR_USAGE', message: /carrier-pigeon/ });
});

t.test('--bootstrap nodes', async (t) => {
  t.equal(parseBootstrap(undefined), undefined, 'absent: the public nodes');
  t.same(parseBootstrap(['127.0.0.1:6881', 'dht.example:1,[::1]:2']), [
    { host: '127.0.0.1', port: 6881 },
    { host: 'dht.example', port: 1 },
    { host: '::1', port: 2 },
  ]);
  t.throws(() => parseBootstrap('nope'), { code: 'P2PCAT_ERR_USAGE' });
  t.throws(() => parseBootstrap(Array.from({ length: DHT_MAX_BOOTSTRAP + 1 }, (_, i) => `h:${i + 1}`)), { code: 'P2PCAT_ERR_USAGE' });
});

t.test('a peer with several addresses: all are tried at once, the first to connect wins', async (t) => {
  const destroyed: string[] = [];
  const fake = (outcome: Record<string, { ms: number; ok: boolean }>) => (target: { host: string; port: number; text: string }): Dialer => ({
    text: target.text,
    dial: () =>
      new Promise((resolve, reject) => {
        const o = outcome[target.text]!;
        setTimeout(() => (o.ok ? resolve({ stream: { destroy: () => destroyed.push(target.text) } as never }) : reject(P2pcatError.unavailable(`${target.text}: refused`))), o.ms);
      }),
  });
  const d = multiDialer({ addrs: ['10.0.0.1:1', '10.0.0.2:1', '10.0.0.3:1'] }, fake({ '10.0.0.1:1': { ms: 1, ok: false }, '10.0.0.2:1': { ms: 5, ok: true }, '10.0.0.3:1': { ms: 30, ok: true } }));
  t.match(d.text, /10\.0\.0\.1:1 \(or 2 more addresses\)/);
  const c = await d.dial();
  t.equal(c.addr, '10.0.0.2:1', 'the first address to connect');
  await new Promise((r) => setTimeout(r, 60));
  t.same(destroyed, ['10.0.0.3:1'], 'a later connection is closed');
  const none = multiDialer({ addrs: ['10.0.0.1:1', '10.0.0.2:1'] }, fake({ '10.0.0.1:1': { ms: 1, ok: false }, '10.0.0.2:1': { ms: 2, ok: false } }));
  await t.rejects(none.dial(), { code: 'P2PCAT_ERR_UNAVAILABLE' }, 'all refused: unavailable');
  const one = multiDialer({ addrs: ['10.0.0.9:1'] }, fake({ '10.0.0.9:1': { ms: 1, ok: true } }));
  t.equal(one.text, '10.0.0.9:1', 'one address: the plain dialer');
});
