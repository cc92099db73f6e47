// PEER records (src/discovery/collector.ts): deduplication and the bound.
import t from 'tap';
import { PeerCollector } from '../../src/discovery/collector.js';

t.test('dedupe by address and by key; first sighting wins', async (t) => {
  const c = new PeerCollector(10);
  const k = 'cd'.repeat(32);
  const a = c.add({ via: 'lan', addrs: ['10.0.0.1:5050', '10.0.1.1:5050'], key: k, room: 'ops', proto: 'mdns' });
  t.match(a, { kind: 'new', record: { type: 'PEER', via: 'lan', addrs: ['10.0.0.1:5050', '10.0.1.1:5050'], key: k, room: 'ops', proto: 'mdns' } });
  t.same(c.add({ via: 'lan', addrs: ['10.0.0.1:5050'], key: k, proto: 'broadcast' }), { kind: 'dup' }, 'same peer over broadcast');
  t.same(c.add({ via: 'dht', addrs: ['10.0.1.1:5050'] }), { kind: 'dup' }, 'same address via the DHT');
  t.same(c.add({ via: 'lan', addrs: ['192.168.9.9:1'], key: k }), { kind: 'dup' }, 'same key at another address');
  t.equal(c.add({ via: 'static', addrs: ['10.0.0.2:5050'], link: 'p2pcat://10.0.0.2:5050' }).kind, 'new');
  t.equal(c.count, 2);
});

t.test('a flood of distinct peers is bounded, reported once', async (t) => {
  const c = new PeerCollector(5);
  const kinds = Array.from({ length: 1000 }, (_, i) => c.add({ via: 'dht', addrs: [`10.0.${i >> 8}.${i & 255}:1`] }));
  t.equal(kinds.filter((k) => k.kind === 'new').length, 5);
  t.equal(kinds.filter((k) => k.kind === 'full' && k.first).length, 1);
  t.equal(c.count, 5);
});
