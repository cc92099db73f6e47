// The sync protocol driver (src/sync/engine.ts) in process, over in-memory
// stores: the union after a sync, pull/push/since, cost that follows the
// difference, and peers that lie (claim records they do not send, send what
// was not asked, forged, out-of-range or oversize records, never answer,
// never finish) — none of which stores a bad record, loops, or hangs.
import t from 'tap';
import crypto from 'node:crypto';
import { SyncInitiator, SyncResponder, type SyncChannel } from '../../src/sync/engine.js';
import { MemoryStore } from '../../src/sync/memstore.js';
import { ItemSet } from '../../src/sync/items.js';
import { Negentropy } from '../../src/sync/negentropy.js';
import { decodeRequest, encodeRecord, encodeResponse, joinPage, type SyncResponse } from '../../src/sync/wire.js';
import { P2pcatError } from '../../src/errors.js';
import { SYNC_BASE_ROUNDS, SYNC_PAGE_ACCEPT_MAX_BYTES } from '../../src/limits.js';
import { ROOM, T0, chat, history, syncPair, wire } from './helpers.js';

const ids = (s: MemoryStore) => new Set(s.records.map((r) => r.msg_id));

t.test('two stores end with the union, each record once', async (t) => {
  const common = history(300, 0);
  const a = new MemoryStore(ROOM, [...common, ...history(7, 1, T0 + 5000, 'a-only')]);
  const b = new MemoryStore(ROOM, [...common, ...history(11, 2, T0 - 99_000, 'b-only')]);
  const pulled: string[] = [];
  const { stats, responder } = await syncPair(a, b, { onRecords: (r) => void pulled.push(...r.map((x) => x.msg_id)) });
  t.equal(a.size, 318);
  t.equal(b.size, 318);
  t.same(ids(a), ids(b));
  t.match(stats, { received: 11, sent: 7, rejected: 0, missing: 0, needIds: 11, haveIds: 7 });
  t.equal(pulled.length, 11, 'onRecords sees each new record once');
  t.equal(responder.activeSyncs, 0, 'the responder freed its state at end');
  const again = await syncPair(a, b);
  t.match(again.stats, { received: 0, sent: 0, needIds: 0, haveIds: 0, rounds: 1 }, 'a second sync finds nothing, in one round');
});

t.test('--pull only, --push only, and a window', async (t) => {
  const common = history(50, 0);
  const aOnly = history(3, 1, T0 + 100_000, 'a');
  const bOnly = history(4, 2, T0 + 100_000, 'b');
  let a = new MemoryStore(ROOM, [...common, ...aOnly]);
  let b = new MemoryStore(ROOM, [...common, ...bOnly]);
  await syncPair(a, b, { push: false });
  t.equal(a.size, 57, 'pull: a got b-only');
  t.equal(b.size, 54, 'pull: b got nothing');
  a = new MemoryStore(ROOM, [...common, ...aOnly]);
  b = new MemoryStore(ROOM, [...common, ...bOnly]);
  await syncPair(a, b, { pull: false });
  t.equal(a.size, 53, 'push: a got nothing');
  t.equal(b.size, 57, 'push: b got a-only');
  const old = chat(1, T0 - 3_600_000, 'old, outside the window');
  a = new MemoryStore(ROOM, [...common]);
  b = new MemoryStore(ROOM, [...common, old, ...bOnly]);
  const r = await syncPair(a, b, { since: T0 + 50_000 });
  t.equal(a.size, 54, 'since: only what is inside the window');
  t.notOk(a.has(old.msg_id));
  t.equal(r.stats.needIds, 4);
});

t.test('wire bytes follow the difference, not the history', async (t) => {
  const common = Array.from({ length: 20_000 }, (_, i) => chat(i % 3, T0 + i * 10, `c${i}`));
  const extra = chat(1, T0 + 77_777, 'the one difference');
  const a = new MemoryStore(ROOM, common);
  const b = new MemoryStore(ROOM, [...common, extra]);
  const { stats } = await syncPair(a, b);
  t.equal(stats.received, 1);
  t.ok(stats.bytesIn + stats.bytesOut < 12_000, `${stats.bytesIn + stats.bytesOut} bytes for 1 difference in 20,000`);
  t.ok(stats.rounds <= 4, `${stats.rounds} rounds`);
});

t.test('the records a responder refuses to store (pushed forgeries, wrong room)', async (t) => {
  const a = new MemoryStore(ROOM, history(5, 0));
  const forged = { ...chat(1, T0 + 1, 'forged'), message: 'changed after signing' };
  const other = chat(1, T0 + 2, 'for another room', 'elsewhere');
  a.write([forged, other]); // a's own store is broken; b must not take them
  const b = new MemoryStore(ROOM);
  const warnings: P2pcatError[] = [];
  const { stats } = await syncPair(a, b, {}, { onWarning: (e) => warnings.push(e) });
  t.equal(b.size, 5, 'only the valid records crossed');
  t.equal(stats.peerRejected, 2);
  t.ok(warnings.some((w) => w.code === 'P2PCAT_ERR_BAD_MESSAGE'));
});

// ------------------------------------------------------------------ lying responders

/** An initiator against a scripted responder: `answer` gets each request and returns response bodies. */
async function against(store: MemoryStore, answer: (req: ReturnType<typeof decodeRequest>, send: (r: SyncResponse | Record<string, unknown>) => void) => void, opts: ConstructorParameters<typeof SyncInitiator>[2] = {}) {
  let init!: SyncInitiator;
  const w = wire(
    (body) => init.onResponse(body),
    (body) => answer(decodeRequest(body), (r) => w.b.send('SYNC_RESPONSE', 'op' in r && typeof r.op === 'string' && !('v' in r) ? encodeResponse(r as SyncResponse) : (r as Record<string, unknown>))),
  );
  init = new SyncInitiator(w.a, store, { roundTimeoutMs: 2000, ...opts });
  try {
    return { stats: await init.run(), init };
  } catch (e) {
    return { error: e as P2pcatError, stats: init.stats, init };
  } finally {
    w.closed();
  }
}

/** A responder that answers rounds honestly from `serverItems` but serves records through `serve`. */
function honestRounds(server: MemoryStore, serve: (ids: Uint8Array[], send: (r: SyncResponse) => void, q: number, sync: number) => void) {
  let neg: Negentropy | undefined;
  return async (req: ReturnType<typeof decodeRequest>, send: (r: SyncResponse) => void) => {
    if (req.op === 'open' || req.op === 'neg') {
      if (!neg) neg = new Negentropy((await server.snapshot()).items.range(req.op === 'open' ? req.since : 0), { frameSizeLimit: 48_000 });
      send({ op: 'neg', sync: req.sync, q: req.q, neg: neg.reconcile(req.neg).output! });
    } else if (req.op === 'get') serve(req.ids, send, req.q, req.sync);
    else if (req.op === 'put') send({ op: 'put', sync: req.sync, q: req.q, stored: 0, dup: 0, rejected: 0 });
    else if (req.op === 'end') send({ op: 'end', sync: req.sync, q: req.q });
  };
}

t.test('a peer that claims records and does not send them', async (t) => {
  const a = new MemoryStore(ROOM, history(40, 0));
  const b = new MemoryStore(ROOM, [...history(40, 0), ...history(5, 1, T0 + 500_000, 'claimed')]);
  const r = await against(a, honestRounds(b, (_ids, send, q, sync) => send({ op: 'recs', sync, q, recs: joinPage([]), more: false })));
  t.notOk(r.error, 'the sync itself completes');
  t.match(r.stats, { missing: 5, received: 0 });
  t.equal(a.size, 40, 'nothing stored');
});

t.test('a peer that sends what was not asked, out of range, forged, or for another room', async (t) => {
  const base = history(40, 0);
  const a = new MemoryStore(ROOM, base);
  const wanted = history(4, 1, T0 + 500_000, 'wanted');
  const b = new MemoryStore(ROOM, [...base, ...wanted]);
  const unasked = chat(2, T0 + 600_000, 'never claimed');
  const forged = { ...wanted[1]!, username: 'mallory' };
  const r = await against(
    a,
    honestRounds(b, (_ids, send, q, sync) => {
      const recs = [wanted[0]!, forged, unasked, { ...wanted[2]!, room: 'elsewhere' }];
      send({ op: 'recs', sync, q, recs: joinPage(recs.map(encodeRecord)), more: false });
    }),
  );
  t.notOk(r.error);
  t.match(r.stats, { received: 1, rejected: 3, missing: 1 }, 'one good, three refused, one never sent');
  t.ok(a.has(wanted[0]!.msg_id));
  t.notOk(a.has(unasked.msg_id), 'an unasked record is not stored');
  t.equal(a.size, 41);
});

t.test('a record outside the range it was claimed in is refused', async (t) => {
  const base = history(40, 0);
  const a = new MemoryStore(ROOM, base);
  const old = chat(1, T0 - 5_000_000, 'really from long ago');
  // The liar's item set places old's id at another time, so it is claimed inside a later range.
  const baseItems = (await new MemoryStore(ROOM, base).snapshot()).items;
  const items = ItemSet.from([
    ...Array.from({ length: baseItems.count }, (_, i) => ({ ts: baseItems.ts[i]!, id: baseItems.id(i) })),
    { ts: T0 + 500_000, id: Buffer.from(old.msg_id, 'hex') },
  ]);
  let neg: Negentropy | undefined;
  const r = await against(a, (req, send) => {
    if (req.op === 'open' || req.op === 'neg') {
      neg ??= new Negentropy(items.range(), { frameSizeLimit: 48_000 });
      send({ op: 'neg', sync: req.sync, q: req.q, neg: neg.reconcile(req.neg).output! });
    } else if (req.op === 'get') send({ op: 'recs', sync: req.sync, q: req.q, recs: joinPage([encodeRecord(old)]), more: false });
    else if (req.op === 'end') send({ op: 'end', sync: req.sync, q: req.q });
  });
  t.notOk(r.error);
  t.match(r.stats, { received: 0, rejected: 1, needIds: 1 });
  t.equal(a.size, 40, 'a valid record, but not where it was claimed: not stored');
});

t.test('a peer that never answers: a timeout, and what was valid is kept', async (t) => {
  const a = new MemoryStore(ROOM, history(10, 0));
  const b = new MemoryStore(ROOM, [...history(10, 0), ...history(3, 1, T0 + 50_000, 'new')]);
  let gets = 0;
  const inner = honestRounds(b, (ids, send, q, sync) => {
    // Serve the first get, then go silent.
    if (gets++ === 0) {
      void b.snapshot().then((s) => {
        const idx = ids.map((id) => s.items.find(id)).filter((i) => i >= 0);
        void s.read(idx.slice(0, 2)).then((slices) => send({ op: 'recs', sync, q, recs: joinPage(slices), more: true }));
      });
    }
  });
  const r = await against(a, inner, { roundTimeoutMs: 300 });
  t.equal(r.error?.code, 'P2PCAT_ERR_TIMEOUT');
  t.match(r.error?.message, /did not answer within 0.3 s/);
  t.equal(a.size, 12, 'the two valid records that did arrive were stored');
});

t.test('a peer that never lets the reconciliation end: bounded rounds', async (t) => {
  const a = new MemoryStore(ROOM, history(100, 0));
  let rounds = 0;
  const r = await against(a, (req, send) => {
    if (req.op === 'open' || req.op === 'neg') {
      rounds++;
      // Always a fingerprint that cannot match, over the whole range.
      send({ op: 'neg', sync: req.sync, q: req.q, neg: Uint8Array.from([0x61, 0, 0, 1, ...crypto.randomBytes(16)]) });
    }
  });
  t.equal(r.error?.code, 'P2PCAT_ERR_PROTOCOL');
  t.match(r.error?.message, /no end after/);
  t.equal(rounds, SYNC_BASE_ROUNDS, `gave up after ${rounds} rounds`);
});

t.test('garbage, oversize and out-of-order replies end the sync with a protocol error', async (t) => {
  const a = new MemoryStore(ROOM, history(10, 0));
  const cases: [string, (req: ReturnType<typeof decodeRequest>) => Record<string, unknown>, string][] = [
    ['not base64', (req) => ({ v: 1, sync: req.sync, q: req.q, op: 'neg', neg: '!!!' }), 'P2PCAT_ERR_PROTOCOL'],
    ['wrong version', (req) => ({ v: 9, sync: req.sync, q: req.q, op: 'neg', neg: '' }), 'P2PCAT_ERR_VERSION'],
    ['wrong q', (req) => ({ v: 1, sync: req.sync, q: req.q + 5, op: 'neg', neg: 'YQ==' }), 'P2PCAT_ERR_PROTOCOL'],
    ['wrong op', (req) => ({ v: 1, sync: req.sync, q: req.q, op: 'put', stored: 1, dup: 0, rejected: 0 }), 'P2PCAT_ERR_PROTOCOL'],
    ['oversize page', (req) => ({ v: 1, sync: req.sync, q: req.q, op: 'recs', more: false, recs: Buffer.alloc(SYNC_PAGE_ACCEPT_MAX_BYTES + 3).toString('base64') }), 'P2PCAT_ERR_PROTOCOL'],
    ['bad negentropy', (req) => ({ v: 1, sync: req.sync, q: req.q, op: 'neg', neg: Buffer.from([0x61, 0, 0, 9]).toString('base64') }), 'P2PCAT_ERR_PROTOCOL'],
    ['refusal', (req) => ({ v: 1, sync: req.sync, q: req.q, op: 'error', code: 'P2PCAT_ERR_UNAVAILABLE', message: 'no log' }), 'P2PCAT_ERR_UNAVAILABLE'],
  ];
  for (const [what, mk, code] of cases) {
    const r = await against(a, (req, send) => send(mk(req)));
    t.equal(r.error?.code, code, what);
  }
  t.equal(a.size, 10, 'nothing stored');
});

t.test('a liar that claims a great many records is cut off', async (t) => {
  const a = new MemoryStore(ROOM, []);
  const fake = Array.from({ length: 1500 }, (_, i) => ({ ts: T0 + i, id: crypto.createHash('sha256').update(`fake${i}`).digest() }));
  const set = ItemSet.from(fake);
  let neg: Negentropy | undefined;
  const r = await against(a, (req, send) => {
    if (req.op === 'open' || req.op === 'neg') {
      neg ??= new Negentropy(set.range(), { frameSizeLimit: 48_000 });
      send({ op: 'neg', sync: req.sync, q: req.q, neg: neg.reconcile(req.neg).output! });
    } else if (req.op === 'get') send({ op: 'recs', sync: req.sync, q: req.q, recs: joinPage([]), more: false });
  });
  t.equal(r.error?.code, 'P2PCAT_ERR_BAD_MESSAGE');
  t.ok(r.stats.missing > 1000 && r.stats.missing <= 1500);
});

// ------------------------------------------------------------------ hostile initiators

t.test('the responder: garbage requests get an error reply and store nothing', async (t) => {
  const b = new MemoryStore(ROOM, history(20, 0));
  const replies: Record<string, unknown>[] = [];
  const ch: SyncChannel = { send: (_t, body) => (replies.push(body), true), drained: async () => undefined };
  const warnings: P2pcatError[] = [];
  const resp = new SyncResponder(ch, b, { onWarning: (e) => warnings.push(e) });
  const settle = () => new Promise((r) => setTimeout(r, 20));
  resp.onRequest({ v: 1, sync: 1, q: 0, op: 'neg', neg: 'YQ==' });
  resp.onRequest({ v: 1, sync: 1, q: 1, op: 'get', ids: Buffer.alloc(64).toString('base64') });
  resp.onRequest({ v: 1, sync: 2, q: 0, op: 'what' });
  resp.onRequest({ nonsense: true });
  await settle();
  t.equal(replies.length, 4);
  t.ok(replies.every((r) => r.op === 'error'), 'every bad request answered with an error');
  const forged = { ...chat(1, T0, 'x'), sig: '00'.repeat(64) };
  resp.onRequest({ v: 1, sync: 3, q: 0, op: 'open', neg: Buffer.from([0x61]).toString('base64') });
  resp.onRequest({ v: 1, sync: 3, q: 1, op: 'put', recs: Buffer.from(joinPage([encodeRecord(forged)])).toString('base64') });
  await settle();
  t.match(replies[replies.length - 1], { op: 'put', stored: 0, rejected: 1 });
  t.equal(b.size, 20);
  for (let i = 0; i < 40; i++) resp.onRequest({ v: 1, sync: 3, q: 2 + i, op: 'neg', neg: 'YQ==' });
  await settle();
  t.ok(replies.some((r) => r.code === 'P2PCAT_ERR_LIMIT'), 'a flood of requests past the queue bound is refused');
  resp.close();
});

t.test('the responder frees idle syncs and refuses a third at once', async (t) => {
  const b = new MemoryStore(ROOM, history(5, 0));
  const replies: Record<string, unknown>[] = [];
  const resp = new SyncResponder({ send: (_t, body) => (replies.push(body), true), drained: async () => undefined }, b, { idleMs: 100 });
  const open = (sync: number) => resp.onRequest({ v: 1, sync, q: 0, op: 'open', neg: Buffer.from([0x61]).toString('base64') });
  open(1);
  open(2);
  open(3);
  await new Promise((r) => setTimeout(r, 30));
  t.equal(resp.activeSyncs, 2);
  t.match(replies[2], { op: 'error', code: 'P2PCAT_ERR_LIMIT' });
  await new Promise((r) => setTimeout(r, 300));
  t.equal(resp.activeSyncs, 0, 'idle syncs were freed');
  resp.close();
});

t.test('a responder without a log refuses clearly', async (t) => {
  const a = new MemoryStore(ROOM, history(3, 0));
  let init!: SyncInitiator;
  let resp!: SyncResponder;
  const w = wire(
    (b) => init.onResponse(b),
    (b) => resp.onRequest(b),
  );
  resp = new SyncResponder(w.b, undefined);
  init = new SyncInitiator(w.a, a);
  await t.rejects(init.run(), { code: 'P2PCAT_ERR_UNAVAILABLE', message: /keeps no log/ });
});
