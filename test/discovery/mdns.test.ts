// DNS-SD records (src/discovery/mdns.ts) through dns-packet's encoder and
// decoder (the wire format multicast-dns and avahi speak), and hostile
// packets: anything decodes to warnings, never a throw.
import t from 'tap';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { deriveDiscoveryKeys } from '../../src/discovery/keys.js';
import { readBeacon, sealBeacon } from '../../src/discovery/beacon.js';
import { META_SERVICE, SERVICE, extractInstances, instanceName, queryWants, serviceQuery, serviceRecords } from '../../src/discovery/mdns.js';
import { MDNS_MAX_RECORDS } from '../../src/limits.js';

const packet: { encode(p: unknown): Buffer; decode(b: Buffer): any } = createRequire(import.meta.url)('dns-packet');
const KEY = deriveDiscoveryKeys(new Uint8Array(32).fill(7));
const NOW = 1_750_000_000_000;
const ann = () => ({
  instance: 'p2pcat-0123456789ab',
  host: 'p2pcat-ba9876543210',
  port: 5050,
  txt: sealBeacon(KEY, { nowMs: NOW, port: 5050, addrs: ['10.0.0.7'] }),
  addrs: ['10.0.0.7', '2001:db8::7'],
  ttl: 120,
});

t.test('records survive the DNS wire format and read back as a beacon', async (t) => {
  const a = ann();
  const wire = packet.encode({ type: 'response', answers: serviceRecords(a, true) });
  const decoded = packet.decode(wire);
  t.same(decoded.answers.map((r: any) => r.type), ['PTR', 'SRV', 'TXT', 'A', 'AAAA', 'PTR']);
  const ex = extractInstances(decoded);
  t.same(ex.problems, []);
  t.equal(ex.instances.length, 1);
  const inst = ex.instances[0]!;
  t.equal(inst.name, instanceName(a.instance).toLowerCase());
  t.equal(inst.pointed, true);
  t.equal(inst.port, 5050);
  t.equal(inst.goodbye, false);
  t.equal(readBeacon(KEY, inst.txt!, NOW).kind, 'peer');
  const bye = extractInstances(packet.decode(packet.encode({ type: 'response', answers: serviceRecords({ ...a, ttl: 0 }) })));
  t.equal(bye.instances[0]!.goodbye, true, 'TTL 0 is a goodbye');
});

t.test('which queries an announcer answers', async (t) => {
  const a = ann();
  const q = (name: string, type: string) => packet.decode(packet.encode({ type: 'query', questions: [{ name, type }] }));
  t.same(queryWants(packet.decode(packet.encode({ type: 'query', ...serviceQuery() })), a), { service: true, meta: false });
  t.same(queryWants(q(SERVICE.toUpperCase(), 'ANY'), a), { service: true, meta: false }, 'names are case-insensitive');
  t.same(queryWants(q(META_SERVICE, 'PTR'), a), { service: false, meta: true });
  t.same(queryWants(q(instanceName(a.instance), 'TXT'), a), { service: true, meta: false });
  t.same(queryWants(q(`${a.host}.local`, 'A'), a), { service: true, meta: false });
  t.same(queryWants(q('_http._tcp.local', 'PTR'), a), { service: false, meta: false });
  t.same(queryWants(q('p2pcat-other._p2pcat._tcp.local', 'SRV'), a), { service: false, meta: false }, "another peer's instance");
  t.same(queryWants(null, a), { service: false, meta: false });
});

t.test('hostile responses: malformed records are problems, floods are bounded', async (t) => {
  const inst = `evil.${SERVICE}`;
  const ex = extractInstances({
    answers: [
      { name: SERVICE, type: 'PTR', data: '_http._tcp.local' },
      { name: SERVICE, type: 'PTR', data: 42 },
      { name: inst, type: 'SRV', data: { port: 0 } },
      { name: inst, type: 'SRV', data: { port: '80' } },
      { name: inst, type: 'SRV', data: null },
      { name: inst, type: 'TXT', data: ['not bytes'] },
      { name: 'x'.repeat(10_000), type: 'TXT', data: [] },
      null,
      7,
      { name: { toLowerCase: 'boom' }, type: 'PTR' },
    ],
    additionals: 'not a list',
  });
  t.equal(ex.problems.length, 6);
  t.same(ex.instances, []);
  const flood = Array.from({ length: 5000 }, (_, i) => ({ name: SERVICE, type: 'PTR', ttl: 120, data: `p${i}.${SERVICE}` }));
  const fx = extractInstances({ answers: flood });
  t.ok(fx.instances.length <= MDNS_MAX_RECORDS, 'at most MDNS_MAX_RECORDS instances from one packet');
  t.match(fx.problems[0], /looked at the first/);
  t.same(extractInstances(undefined).problems, ['not a DNS message']);
});

t.test('any decoded object, and any bytes dns-packet accepts: no throw', async (t) => {
  fc.assert(fc.property(fc.anything({ maxDepth: 3, maxKeys: 6 }), (x) => Array.isArray(extractInstances(x).instances) && typeof queryWants(x, ann()).service === 'boolean'), { numRuns: 1000 });
  const rec = fc.record({
    name: fc.oneof(fc.constant(SERVICE), fc.constant(`a.${SERVICE}`), fc.string({ maxLength: 40 })),
    type: fc.constantFrom('PTR', 'SRV', 'TXT', 'A', 'AAAA', 'ANY', 'NSEC'),
    ttl: fc.nat({ max: 5000 }),
    data: fc.anything({ maxDepth: 2, maxKeys: 4 }),
  });
  fc.assert(fc.property(fc.array(rec, { maxLength: 80 }), (answers) => Array.isArray(extractInstances({ answers }).problems)), { numRuns: 300 });
  let decoded = 0;
  const real = packet.encode({ type: 'response', answers: serviceRecords(ann(), true) });
  const bytes = fc.oneof(
    fc.uint8Array({ minLength: 12, maxLength: 600 }),
    // A real response with a few bytes changed: decodes more often, into stranger records.
    fc.array(fc.tuple(fc.nat(real.length - 1), fc.nat(255)), { minLength: 1, maxLength: 8 }).map((edits) => {
      const b = Buffer.from(real);
      for (const [i, v] of edits) b[i] = v;
      return new Uint8Array(b);
    }),
  );
  fc.assert(
    fc.property(bytes, (b) => {
      let p: unknown;
      try {
        p = packet.decode(Buffer.from(b));
      } catch {
        return true; // multicast-dns turns this into a 'warning' event
      }
      decoded++;
      extractInstances(p);
      queryWants(p, ann());
      return true;
    }),
    { numRuns: 800 },
  );
  t.pass(`random packets handled (${decoded} of them decodable)`);
});
