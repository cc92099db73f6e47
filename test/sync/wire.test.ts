// SYNC_REQUEST / SYNC_RESPONSE bodies (src/sync/wire.ts): round trips,
// bounds, chunked Negentropy messages, pages of records, and garbage that
// must come out as a P2pcatError and nothing else.
import t from 'tap';
import fc from 'fast-check';
import { P2pcatError } from '../../src/errors.js';
import { FRAME_MAX_PLAINTEXT_BYTES, SYNC_NEG_CHUNK_BYTES, SYNC_NEG_MAX_BYTES, SYNC_PAGE_ACCEPT_MAX_BYTES, SYNC_PAGE_MAX_BYTES } from '../../src/limits.js';
import { CHAT_MAX_MESSAGE_BYTES } from '../../src/limits.js';
import { MemoryStore } from '../../src/sync/memstore.js';
import { NegAssembler, decodePage, decodeRequest, decodeResponse, encodeRecord, encodeRequest, encodeResponse, joinPage, negChunks, pageFitsFrame, pages, type SyncRequest, type SyncResponse } from '../../src/sync/wire.js';
import { ROOM, T0, chat, history, syncPair } from './helpers.js';

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => new Uint8Array(b));
const counter = fc.integer({ min: 0, max: 0xffffffff });
const id32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

const arbReq: fc.Arbitrary<SyncRequest> = fc.oneof(
  fc.record({ op: fc.constant('open' as const), sync: counter, q: counter, neg: bytes(300), since: fc.nat(), more: fc.boolean() }),
  fc.record({ op: fc.constant('neg' as const), sync: counter, q: counter, neg: bytes(300), more: fc.boolean() }),
  fc.record({ op: fc.constant('get' as const), sync: counter, q: counter, ids: fc.array(id32, { maxLength: 20 }) }),
  fc.record({ op: fc.constant('put' as const), sync: counter, q: counter, recs: bytes(300) }),
  fc.record({ op: fc.constant('end' as const), sync: counter, q: counter }),
);
const arbRes: fc.Arbitrary<SyncResponse> = fc.oneof(
  fc.record({ op: fc.constant('neg' as const), sync: counter, q: counter, neg: bytes(300), more: fc.boolean() }),
  fc.record({ op: fc.constant('recs' as const), sync: counter, q: counter, recs: bytes(300), more: fc.boolean() }),
  fc.record({ op: fc.constant('put' as const), sync: counter, q: counter, stored: counter, dup: counter, rejected: counter }),
  fc.record({ op: fc.constant('end' as const), sync: counter, q: counter }),
  fc.record({ op: fc.constant('error' as const), sync: counter, q: counter, code: fc.constant('P2PCAT_ERR_LIMIT' as const), message: fc.string({ maxLength: 50 }) }),
);

const norm = (x: unknown) => JSON.parse(JSON.stringify(x, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)));

t.test('requests and responses round-trip through JSON text', async () => {
  fc.assert(
    fc.property(arbReq, (r) => {
      const back = decodeRequest(JSON.parse(JSON.stringify(encodeRequest(r))));
      const want = r.op === 'open' || r.op === 'neg' ? { ...r, more: r.more === true } : r;
      return JSON.stringify(norm(back)) === JSON.stringify(norm(want));
    }),
  );
  fc.assert(
    fc.property(arbRes, (r) => {
      const back = decodeResponse(JSON.parse(JSON.stringify(encodeResponse(r))));
      const want = r.op === 'neg' ? { ...r, more: r.more === true } : r;
      return JSON.stringify(norm(back)) === JSON.stringify(norm(want));
    }),
  );
});

t.test('any JSON object decodes to a message or a P2pcatError, nothing else', async () => {
  const junk = fc.dictionary(fc.constantFrom('v', 'sync', 'q', 'op', 'neg', 'ids', 'recs', 'more', 'since', 'stored', 'code'), fc.oneof(fc.jsonValue(), fc.constantFrom('open', 'neg', 'get', 'put', 'end', 'recs', 'error', 1, 'YQ==')));
  fc.assert(
    fc.property(junk, fc.boolean(), (body, asReq) => {
      try {
        if (asReq) decodeRequest(body as Record<string, unknown>);
        else decodeResponse(body as Record<string, unknown>);
        return true;
      } catch (e) {
        return e instanceof P2pcatError;
      }
    }),
    { numRuns: 1000 },
  );
});

t.test('bounds: chunks, ids, pages', async (t) => {
  const h = { v: 1, sync: 1, q: 0 };
  t.throws(() => decodeRequest({ ...h, op: 'neg', neg: Buffer.alloc(SYNC_NEG_CHUNK_BYTES + 3).toString('base64') }), { code: 'P2PCAT_ERR_PROTOCOL' }, 'a chunk larger than a frame may carry');
  t.throws(() => decodeRequest({ ...h, op: 'get', ids: Buffer.alloc(33).toString('base64') }), { code: 'P2PCAT_ERR_PROTOCOL' }, 'ids not a multiple of 32 bytes');
  t.throws(() => decodeRequest({ ...h, op: 'get', ids: Buffer.alloc(257 * 32).toString('base64') }), { code: 'P2PCAT_ERR_PROTOCOL' }, 'more than 256 ids');
  t.throws(() => decodeResponse({ ...h, op: 'recs', more: false, recs: Buffer.alloc(SYNC_PAGE_ACCEPT_MAX_BYTES + 1).toString('base64') }), { code: 'P2PCAT_ERR_PROTOCOL' });
  t.throws(() => decodeRequest({ ...h, op: 'open', neg: '', since: -5 }), { code: 'P2PCAT_ERR_PROTOCOL' });
  t.throws(() => decodeRequest({ ...h, v: 2, op: 'end' }), { code: 'P2PCAT_ERR_VERSION' });
  t.throws(() => decodePage(Uint8Array.from([0, 0, 0, 9, 1])), { code: 'P2PCAT_ERR_PROTOCOL' }, 'a page that does not decode');
  const asm = new NegAssembler();
  const big = new Uint8Array(SYNC_NEG_MAX_BYTES + 1);
  const parts = negChunks(big);
  t.equal(parts.length, Math.ceil(big.length / SYNC_NEG_CHUNK_BYTES));
  t.throws(() => parts.forEach((p, i) => asm.push(p, i < parts.length - 1)), { code: 'P2PCAT_ERR_PROTOCOL' }, 'a message past the limit is refused while it arrives');
  const msg = Uint8Array.from({ length: 100_000 }, (_, i) => i & 0xff);
  const asm2 = new NegAssembler();
  const cs = negChunks(msg);
  let whole: Uint8Array | undefined;
  cs.forEach((c, i) => (whole = asm2.push(c, i < cs.length - 1) ?? whole));
  t.same(Buffer.from(whole!), Buffer.from(msg), 'chunks put back together');
  t.same(negChunks(new Uint8Array(0)).length, 1, 'an empty message is one empty chunk');
});

t.test('pages: records fill pages up to the limit; the largest valid record still fits one frame', async (t) => {
  const recs = history(400, 0);
  const slices = recs.map(encodeRecord);
  const ps = [...pages(slices)];
  t.ok(ps.length > 1);
  t.ok(ps.every((p) => joinPage(p).length <= SYNC_PAGE_MAX_BYTES));
  t.same(ps.flat().length, 400);
  t.same(ps.flatMap((p) => decodePage(joinPage(p))), recs, 'pages decode to the records');
  const huge = chat(1, T0, 'x'.repeat(CHAT_MAX_MESSAGE_BYTES));
  const enc = encodeRecord({ ...huge, username: 'u'.repeat(64) });
  t.ok(pageFitsFrame(joinPage([enc]).length), `a ${enc.length}-byte record fits`);
  const body = encodeResponse({ op: 'recs', sync: 4294967295, q: 4294967295, recs: joinPage([enc]), more: false });
  t.ok(1 + Buffer.byteLength(JSON.stringify(body)) <= FRAME_MAX_PLAINTEXT_BYTES, 'its JSON body fits one transport frame');
});

t.test('a reconciliation message bigger than a frame travels in chunks', async (t) => {
  const b = new MemoryStore(ROOM, Array.from({ length: 1600 }, (_, i) => chat(i, T0 + i, `c${i}`)));
  const a = new MemoryStore(ROOM);
  const { stats } = await syncPair(a, b);
  t.equal(a.size, 1600);
  t.ok(stats.bytesIn > 64 * 1024, 'the server\'s IdList alone was more than a frame');
  t.equal(stats.rounds, 1);
});
