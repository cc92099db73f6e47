// The Negentropy v1 engine (src/sync/negentropy.ts) against outside truth:
// traces generated with the reference implementation (hoytech/negentropy
// js/Negentropy.js, cross-checked with nostr-tools nip77), replayed byte for
// byte: fingerprints, every message of every scenario, the have/need sets.
// Then properties against a deliberately simple model, and hostile input.
import t from 'tap';
import fc from 'fast-check';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { VECTORS_DIR } from '../helpers/paths.js';
import { ItemBuilder, ItemSet, fingerprintOf, type ItemRange } from '../../src/sync/items.js';
import { Negentropy, inRange } from '../../src/sync/negentropy.js';
import { P2pcatError } from '../../src/errors.js';

interface VecItem {
  timestamp: number;
  id: string;
}
type ItemsSpec = VecItem[] | { index_runs: [number, number][] };
interface Scenario {
  name: string;
  frame_size_limit: number;
  client_items: ItemsSpec;
  server_items: ItemsSpec;
  rounds: number;
  messages: { from: 'client' | 'server'; hex: string }[];
  expected_have: string[];
  expected_need: string[];
}

const vec = JSON.parse(fs.readFileSync(path.join(VECTORS_DIR, 'negentropy', 'negentropy-v1-traces.json'), 'utf8')) as {
  fingerprints: { vectors: { item_indices: [number, number]; count: number; fingerprint_hex: string }[] };
  scenarios: Scenario[];
};

const ruleId = (i: number) => crypto.createHash('sha256').update(`p2pcat-negentropy-vector:${i}`, 'utf8').digest();
const ruleTs = (i: number) => 1700000000 + Math.floor(i / 3);

function itemsOf(spec: ItemsSpec): { ts: number; id: Uint8Array }[] {
  if (Array.isArray(spec)) return spec.map((x) => ({ ts: x.timestamp, id: Buffer.from(x.id, 'hex') }));
  const out: { ts: number; id: Uint8Array }[] = [];
  for (const [a, b] of spec.index_runs) for (let i = a; i < b; i++) out.push({ ts: ruleTs(i), id: ruleId(i) });
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

t.test('fingerprints of the first N rule items', async (t) => {
  for (const v of vec.fingerprints.vectors) {
    const [a, b] = v.item_indices;
    const items = [];
    for (let i = a; i < b; i++) items.push({ ts: ruleTs(i), id: ruleId(i) });
    const set = ItemSet.from(items);
    t.equal(hex(set.range().fingerprint(0, set.count)), v.fingerprint_hex, `N = ${v.count}`);
  }
});

t.test('every scenario, message by message, byte for byte', async (t) => {
  for (const s of vec.scenarios) {
    const client = new Negentropy(ItemSet.from(itemsOf(s.client_items)).range(), { frameSizeLimit: s.frame_size_limit });
    const server = new Negentropy(ItemSet.from(itemsOf(s.server_items)).range(), { frameSizeLimit: s.frame_size_limit });
    const have: string[] = [];
    const need: string[] = [];
    let msg: Uint8Array | null = client.initiate();
    let k = 0;
    let rounds = 0;
    for (let guard = 0; msg && guard < 100; guard++) {
      t.equal(hex(msg), s.messages[k]?.hex, `${s.name}: message ${k} (client)`);
      k++;
      const reply = server.reconcile(msg).output!;
      t.equal(hex(reply), s.messages[k]?.hex, `${s.name}: message ${k} (server)`);
      k++;
      rounds++;
      const r = client.reconcile(reply);
      for (const i of r.have) have.push(hex(client.storage.id(i)));
      for (const n of r.need) need.push(hex(n.id));
      msg = r.output;
    }
    t.equal(k, s.messages.length, `${s.name}: ${s.messages.length} messages`);
    t.equal(rounds, s.rounds, `${s.name}: ${s.rounds} rounds`);
    t.same(have.sort(), s.expected_have, `${s.name}: have`);
    t.same(need.sort(), s.expected_need, `${s.name}: need`);
    if (s.frame_size_limit > 0) for (const m of s.messages) t.ok(m.hex.length / 2 <= s.frame_size_limit, 'trace respects the frame limit');
  }
});

// ------------------------------------------------------------------ model

/** A deliberately simple reference: the fingerprint by BigInt arithmetic. */
function modelFingerprint(ids: Uint8Array[]): string {
  let sum = 0n;
  for (const id of ids) sum = (sum + BigInt('0x' + Buffer.from(id).reverse().toString('hex'))) % (1n << 256n);
  const le = Buffer.from(sum.toString(16).padStart(64, '0'), 'hex').reverse();
  return hex(fingerprintOf(le, ids.length));
}

const arbItem = fc.record({ ts: fc.integer({ min: 0, max: 50 }), id: fc.uint8Array({ minLength: 32, maxLength: 32 }) });

t.test('ItemSet sorts, dedupes and fingerprints like a simple model', async () => {
  fc.assert(
    fc.property(fc.array(arbItem, { maxLength: 200 }), fc.nat(), (items, cut) => {
      const set = ItemSet.from(items);
      const key = (x: { ts: number; id: Uint8Array }) => `${String(x.ts).padStart(20, '0')}:${hex(x.id)}`;
      const model = [...new Map(items.map((x) => [key(x), x])).values()].sort((a, b) => (key(a) < key(b) ? -1 : 1));
      if (set.count !== model.length) return false;
      for (let i = 0; i < model.length; i++) if (set.ts[i] !== model[i]!.ts || hex(set.id(i)) !== hex(model[i]!.id)) return false;
      const a = model.length ? cut % (model.length + 1) : 0;
      if (hex(set.range().fingerprint(a, model.length)) !== modelFingerprint(model.slice(a).map((x) => x.id))) return false;
      const many = set.findMany(model.map((x) => x.id));
      for (let i = 0; i < model.length; i++) if (set.find(model[i]!.id) !== i || many[i] !== i) return false;
      if (set.findMany([new Uint8Array(32).fill(9)])[0] !== -1 && !model.some((x) => x.id.every((b) => b === 9))) return false;
      return set.find(new Uint8Array(32).fill(7)) === -1 || model.some((x) => x.id.every((b) => b === 7));
    }),
  );
});

t.test('ItemBuilder: any order, runs of one location (frames, newest first), duplicates', async () => {
  fc.assert(
    fc.property(fc.array(fc.array(arbItem, { maxLength: 12 }), { maxLength: 20 }), (frames) => {
      const b = new ItemBuilder();
      frames.forEach((items, f) => items.forEach((x) => b.push(x.ts, x.id, 0, f)));
      const got = b.build();
      const want = ItemSet.from(frames.flat());
      return got.count === want.count && hex(got.ids) === hex(want.ids) && got.ts.every((x, i) => x === want.ts[i]);
    }),
  );
  // The common case: frames of a log appended in time order, scanned newest first.
  const b = new ItemBuilder();
  for (let f = 9; f >= 0; f--) for (let i = 0; i < 100; i++) b.push(f * 100 + i, crypto.createHash('sha256').update(`${f}/${i}`).digest(), 0, f);
  const set = b.build();
  fc.assert(fc.property(fc.nat(998), (i) => set.ts[i]! < set.ts[i + 1]! && set.loc[i] === Math.floor(set.ts[i]! / 100)));
});

t.test('the radix sort handles wide timestamps (days to centuries apart)', async (t) => {
  const items = Array.from({ length: 3000 }, (_, i) => ({ ts: (i * 2654435761) % 2 ** 48, id: crypto.createHash('sha256').update(String(i)).digest() }));
  const set = ItemSet.from(items);
  let ok = true;
  for (let i = 1; i < set.count; i++) if (set.ts[i]! < set.ts[i - 1]!) ok = false;
  t.ok(ok && set.count === 3000);
});

t.test('merge = building from the union', async () => {
  fc.assert(
    fc.property(fc.array(arbItem, { maxLength: 80 }), fc.array(arbItem, { maxLength: 80 }), (a, b) => {
      const m = ItemSet.from(a).merge(ItemSet.from(b));
      const u = ItemSet.from([...a, ...b]);
      return m.count === u.count && hex(m.ids) === hex(u.ids) && m.ts.every((x, i) => x === u.ts[i]);
    }),
  );
});

/** Run a whole reconciliation in memory; returns have/need as hex sets and the rounds. */
function reconcileAll(c: ItemRange, s: ItemRange, limit: number) {
  const client = new Negentropy(c, { frameSizeLimit: limit });
  const server = new Negentropy(s, { frameSizeLimit: limit });
  const have = new Set<string>();
  const need = new Set<string>();
  let msg: Uint8Array | null = client.initiate();
  let rounds = 0;
  let maxBytes = msg.length;
  for (; msg && rounds < 1000; rounds++) {
    const reply = server.reconcile(msg).output!;
    maxBytes = Math.max(maxBytes, reply.length);
    const r = client.reconcile(reply);
    for (const i of r.have) have.add(hex(c.id(i)));
    for (const n of r.need) {
      need.add(hex(n.id));
      const j = s.set.find(n.id);
      if (j < 0 || !inRange(s.set.ts[j]!, n.id, n.lower, n.upper)) throw new Error('need outside its claimed range');
    }
    msg = r.output;
    if (msg) maxBytes = Math.max(maxBytes, msg.length);
  }
  return { have, need, rounds, maxBytes };
}

t.test('property: have/need are exactly the set differences, frames within the limit', async () => {
  const shared = fc.array(arbItem, { maxLength: 300 });
  fc.assert(
    fc.property(shared, fc.array(arbItem, { maxLength: 60 }), fc.array(arbItem, { maxLength: 60 }), fc.constantFrom(0, 4096), (common, onlyC, onlyS, limit) => {
      const c = ItemSet.from([...common, ...onlyC]);
      const s = ItemSet.from([...common, ...onlyS]);
      const r = reconcileAll(c.range(), s.range(), limit);
      const ids = (x: ItemSet) => new Set(Array.from({ length: x.count }, (_, i) => hex(x.id(i))));
      const ci = ids(c);
      const si = ids(s);
      const wantHave = [...ci].filter((x) => !si.has(x)).sort();
      const wantNeed = [...si].filter((x) => !ci.has(x)).sort();
      return JSON.stringify([...r.have].sort()) === JSON.stringify(wantHave) && JSON.stringify([...r.need].sort()) === JSON.stringify(wantNeed) && (limit === 0 || r.maxBytes <= limit);
    }),
    { numRuns: 150 },
  );
});

t.test('windows: since narrows both sides to the same range', async (t) => {
  const mk = (n: number, salt: string) => Array.from({ length: n }, (_, i) => ({ ts: 1000 + i, id: crypto.createHash('sha256').update(salt + i).digest() }));
  const common = mk(500, 'c');
  const c = ItemSet.from([...common, ...mk(5, 'x')]);
  const s = ItemSet.from([...common, { ts: 1200, id: crypto.createHash('sha256').update('late').digest() }, { ts: 10, id: crypto.createHash('sha256').update('early').digest() }]);
  const r = reconcileAll(c.range(1100), s.range(1100), 4096);
  t.equal(r.have.size, 0, 'the client-only items are before the window');
  t.same([...r.need], [hex(crypto.createHash('sha256').update('late').digest())], 'only the server item inside the window');
});

t.test('cost grows with the difference, not the set size', async (t) => {
  const mk = (n: number) => Array.from({ length: n }, (_, i) => ({ ts: 1_700_000_000_000 + i * 1000, id: crypto.createHash('sha256').update('i' + i).digest() }));
  const base = mk(100_000);
  const extra = { ts: 1_700_000_000_000 + 777_777, id: crypto.createHash('sha256').update('extra').digest() };
  const c = ItemSet.from(base);
  const s = ItemSet.from([...base, extra]);
  const client = new Negentropy(c.range(), { frameSizeLimit: 48_000 });
  const server = new Negentropy(s.range(), { frameSizeLimit: 48_000 });
  let bytes = 0;
  let msg: Uint8Array | null = client.initiate();
  let rounds = 0;
  const need: string[] = [];
  while (msg && rounds < 20) {
    bytes += msg.length;
    const reply = server.reconcile(msg).output!;
    bytes += reply.length;
    rounds++;
    const r = client.reconcile(reply);
    need.push(...r.need.map((n) => hex(n.id)));
    msg = r.output;
  }
  t.same(need, [hex(extra.id)]);
  t.ok(bytes < 10_000, `one difference in 100,000 items: ${bytes} bytes in ${rounds} rounds`);
});

t.test('hostile messages: a P2pcatError, never another exception, never a hang', async (t) => {
  const set = ItemSet.from(Array.from({ length: 300 }, (_, i) => ({ ts: i, id: crypto.createHash('sha256').update('h' + i).digest() })));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, asClient) => {
      const n = new Negentropy(set.range(), { frameSizeLimit: 4096 });
      if (asClient) n.initiate();
      try {
        const r = n.reconcile(Uint8Array.from([0x61, ...bytes]));
        return r.output === null || r.output.length <= 4096;
      } catch (e) {
        return e instanceof P2pcatError;
      }
    }),
    { numRuns: 2000 },
  );
  const server = new Negentropy(set.range());
  t.same([...server.reconcile(Uint8Array.from([0x62, 0, 0, 0])).output!], [0x61], 'an unknown version is answered with ours');
  t.throws(() => server.reconcile(Uint8Array.from([0x10])), P2pcatError, 'not a negentropy message');
  t.throws(() => server.reconcile(Uint8Array.from([0x61, 0, 0, 2, 0xff, 0xff, 0x7f])), P2pcatError, 'an IdList longer than the message');
  t.throws(() => server.reconcile(Uint8Array.from([0x61, 0, 40])), P2pcatError, 'an id prefix longer than 32 bytes');
  t.throws(() => server.reconcile(Uint8Array.from([0x61, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])), P2pcatError, 'a varint beyond 2^53');
});
