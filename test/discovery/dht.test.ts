// DHT drivers in-process (src/discovery/dht.ts) on a 4-node bittorrent-dht
// network on 127.0.0.1: members of a room find each other, another room
// finds nothing, and a hostile node's replies are warnings, not crashes.
import t from 'tap';
import { deriveDiscoveryKeys } from '../../src/discovery/keys.js';
import { DhtAnnouncer, DhtBrowser, type DhtFound } from '../../src/discovery/dht.js';
import { WarningBudget } from '../../src/discovery/warn.js';
import { deriveRoom } from '../../src/crypto/room.js';
import type { P2pcatError } from '../../src/errors.js';
import { hostileDht, testDht } from './dhtnet.js';

const keysOf = (room: string) => deriveDiscoveryKeys(deriveRoom(room).key);
const budget = (into: P2pcatError[]) => new WarningBudget((e) => into.push(e), 1000);

t.test('announce and look up through a local DHT; another room sees nothing', async (t) => {
  const net = await testDht(4);
  t.teardown(() => net.close());
  const warns: P2pcatError[] = [];
  const announced = new Promise<number>((resolve) => {
    const a = new DhtAnnouncer({ keys: keysOf('ops'), port: 4242, bootstrap: net.peers, warnings: budget(warns), onAnnounced: (ok) => resolve(ok) });
    a.start();
    t.teardown(() => a.stop());
  });
  t.ok((await announced) >= 1, 'some node took the announce');
  t.ok(net.announces.some((a) => a.port === 4242 && a.host === '127.0.0.1'), 'the network stores 127.0.0.1:4242');

  const found: DhtFound[] = [];
  await new Promise<void>((resolve) => {
    const b = new DhtBrowser({ keys: keysOf('ops'), bootstrap: net.peers, warnings: budget(warns), onPeer: (p) => found.push(p), onRound: () => resolve() });
    b.start();
    t.teardown(() => b.close());
  });
  t.ok(found.some((p) => p.host === '127.0.0.1' && p.port === 4242), 'the room member is found');

  const other: DhtFound[] = [];
  let oDone!: () => void;
  const oRound = new Promise<void>((r) => (oDone = r));
  const o = new DhtBrowser({ keys: keysOf('dev'), bootstrap: net.peers, warnings: budget(warns), onPeer: (p) => other.push(p), onRound: () => oDone() });
  o.start();
  t.teardown(() => o.close());
  await oRound;
  t.same(other, [], 'a completed lookup for another room finds nobody');
  t.same(warns.map((w) => w.message), [], 'no warnings on an honest network');
});

t.test('a hostile node: garbage, oversize, malformed and unusable replies become warnings', async (t) => {
  const evil = await hostileDht({ flood: 20 });
  t.teardown(() => evil.close());
  const warns: P2pcatError[] = [];
  const found: DhtFound[] = [];
  let done!: () => void;
  const round = new Promise<void>((r) => (done = r));
  const b = new DhtBrowser({ keys: keysOf('ops'), bootstrap: [{ host: '127.0.0.1', port: evil.port }], warnings: budget(warns), onPeer: (p) => found.push(p), onRound: () => done() });
  b.start();
  t.teardown(() => b.close());
  await round;
  t.ok((evil.queries.get('get_peers') ?? 0) >= 1, 'the hostile node was asked');
  const text = warns.map((w) => w.message).join('\n');
  t.ok(warns.every((w) => w.code === 'P2PCAT_ERR_DISCOVERY_PACKET'), 'every problem is a coded discovery warning');
  t.match(text, /not bencode/, 'random bytes');
  t.match(text, /3000 bytes/, 'oversize datagram');
  t.match(text, /peer value/, 'values that are not 6-byte peers');
  t.ok(found.length > 0 && found.every((p) => p.host.startsWith('10.')), 'only usable addresses are reported (0.0.0.0, multicast, broadcast dropped)');
});
