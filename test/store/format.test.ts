// The pure layers of the log format (src/store/format.ts, records.ts,
// frames.ts, aead.ts): XChaCha20-Poly1305 against @noble/ciphers, HKDF against
// @noble/hashes, fast-check round trips, and "any bytes decode to a result or
// a P2pcatError, never anything else".
import t from 'tap';
import fc from 'fast-check';
import crypto from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { createChat, type ChatRecord } from '../../src/chat/record.js';
import { Signer, generateSigningKey } from '../../src/crypto/ed25519.js';
import { isP2pcatError } from '../../src/errors.js';
import { FrameKey, deriveKeys } from '../../src/store/aead.js';
import {
  FILE_TYPE,
  FORMAT_VERSION,
  FRAME_KIND,
  HEADER_BYTES,
  LOG_CHECK_INFO,
  LOG_KEY_INFO,
  decodeHeader,
  encodeHeader,
} from '../../src/store/format.js';
import { MemorySource, encodeFrame, scanFrames, tailCut, viewFrames } from '../../src/store/frames.js';
import { decodeRecords, encodeRecords, joinRecords, walkRecords, type StoredRecord } from '../../src/store/records.js';
import { IdSet } from '../../src/store/idset.js';

const NUM_RUNS = 150;

t.test('XChaCha20-Poly1305: same bytes as @noble/ciphers, and opens only what it sealed', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 24, maxLength: 24 }), fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 3000 }), (key, nonce, aad, pt) => {
      const ours = new FrameKey(key).seal(nonce, aad, pt);
      const noble = xchacha20poly1305(key, nonce, aad).encrypt(pt);
      if (!Buffer.from(noble).equals(ours)) return false;
      const back = new FrameKey(key).open(nonce, aad, ours);
      if (!back || !back.equals(Buffer.from(pt))) return false;
      const bad = Buffer.from(ours);
      bad[crypto.randomInt(bad.length)]! ^= 1 << crypto.randomInt(8);
      return new FrameKey(key).open(nonce, aad, bad) === undefined;
    }),
    { numRuns: NUM_RUNS },
  );
  t.pass('matches noble on every case');
});

t.test('key derivation is HKDF-SHA256 with the file id as salt (cross-checked with @noble/hashes)', async (t) => {
  const ikm = crypto.randomBytes(32);
  const fileId = crypto.randomBytes(16);
  const { frameKey, kcv } = deriveKeys(ikm, fileId);
  t.same(Buffer.from(kcv), Buffer.from(hkdf(sha256, ikm, fileId, Buffer.from(LOG_CHECK_INFO), 16)));
  const key = hkdf(sha256, ikm, fileId, Buffer.from(LOG_KEY_INFO), 32);
  const nonce = crypto.randomBytes(24);
  t.same(frameKey.seal(nonce, Buffer.alloc(0), Buffer.from('x')), Buffer.from(xchacha20poly1305(key, nonce, new Uint8Array(0)).encrypt(Buffer.from('x'))));
});

// ---------------------------------------------------------------- records

const signer = new Signer(generateSigningKey().seed);
const validRecords: ChatRecord[] = Array.from({ length: 8 }, (_, i) => createChat(signer, { room: 'lobby', username: `u${i % 3}`, message: `hello ${i}`, now: new Date(1_700_000_000_000 + i * 7) }));

/** Any string fast-check makes that UTF-8 can carry (lone surrogates cannot: see records.ts). */
const wellFormed = (s: string) => Buffer.from(s, 'utf8').toString('utf8') === s;
const str = fc.string({ unit: 'binary', maxLength: 40 }).filter(wellFormed);
const hex = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('hex'));
const arbRecord: fc.Arbitrary<StoredRecord> = fc.record({
  record: fc.oneof(
    fc.constantFrom(...validRecords),
    // canonical forms with arbitrary content: the COMPACT path
    fc.record({
      type: fc.constant('CHAT' as const),
      room: str,
      uuid: hex(16).map((h) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`),
      username: str,
      timestamp: fc.integer({ min: -62_167_219_200_000, max: 253_402_300_799_999 }).map((ms) => new Date(ms).toISOString()),
      message: fc.string({ unit: 'grapheme', maxLength: 200 }),
      msg_id: hex(32),
      from: hex(32),
      sig: hex(64),
    }),
    // anything at all in every field: the string path
    fc.record({ type: fc.constant('CHAT' as const), room: str, uuid: str, username: str, timestamp: str, message: str, msg_id: str, from: str, sig: str }),
  ),
  checked: fc.boolean(),
});

t.test('records: encode -> decode is the identity, and walkRecords/joinRecords keep the bytes', async (t) => {
  fc.assert(
    fc.property(fc.array(arbRecord, { maxLength: 20 }), (recs) => {
      const enc = encodeRecords(recs);
      const dec = decodeRecords(enc);
      if (JSON.stringify(dec) !== JSON.stringify(recs)) return false;
      const slices: Buffer[] = [];
      walkRecords(enc, (a, b) => slices.push(enc.subarray(a, b)));
      return joinRecords(slices).equals(enc);
    }),
    { numRuns: NUM_RUNS },
  );
  t.pass('round trip holds');
});

function onlyP2pcatErrors(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    return isP2pcatError(e);
  }
}

t.test('decoding arbitrary bytes throws nothing but P2pcatError (records, header, whole files)', async (t) => {
  const key = new FrameKey(crypto.randomBytes(32));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      const b = Buffer.from(bytes);
      return (
        onlyP2pcatErrors(() => decodeRecords(b)) &&
        onlyP2pcatErrors(() => walkRecords(b, () => undefined)) &&
        onlyP2pcatErrors(() => decodeHeader(b)) &&
        onlyP2pcatErrors(() => {
          const src = new MemorySource(b);
          const scan = scanFrames(src, 0, b.length);
          const keep = tailCut(src, key, scan.frames);
          for (const ev of viewFrames(src, key, scan, keep, { checkSuperseded: true })) if (ev.type === 'payload') decodeRecords(ev.payload);
        })
      );
    }),
    { numRuns: 400 },
  );
  // Mutations of a real log are the harder case: valid heads, broken bodies.
  const recs = validRecords.map((record) => ({ record, checked: true }));
  const good = Buffer.concat([
    encodeFrame(key, FRAME_KIND.RECORDS, encodeRecords(recs.slice(0, 3))),
    encodeFrame(key, FRAME_KIND.RECORDS, encodeRecords(recs.slice(3, 5))),
    encodeFrame(key, FRAME_KIND.BLOCK, encodeRecords(recs.slice(0, 5)), { part: 0, parts: 1, covers: 0 }),
  ]);
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(), (flips, cut) => {
      const b = Buffer.from(good);
      for (const [i, x] of flips) b[i % b.length]! ^= x;
      const bytes = b.subarray(0, b.length - (cut % 40));
      return onlyP2pcatErrors(() => {
        const src = new MemorySource(bytes);
        const scan = scanFrames(src, 0, bytes.length);
        for (const ev of viewFrames(src, key, scan, tailCut(src, key, scan.frames))) if (ev.type === 'payload') decodeRecords(ev.payload);
      });
    }),
    { numRuns: 400 },
  );
  t.pass('only P2pcatError');
});

t.test('frames: encode -> scan -> view gives back every payload; a flipped byte costs one frame', async (t) => {
  const key = new FrameKey(crypto.randomBytes(32));
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 12 }), fc.nat(), (payloads, pick) => {
      const frames = payloads.map((p) => encodeFrame(key, FRAME_KIND.RECORDS, p));
      const bytes = Buffer.concat(frames);
      const src = new MemorySource(bytes);
      const scan = scanFrames(src, 0, bytes.length);
      if (scan.frames.count !== payloads.length || scan.damage.length !== 0) return false;
      const got = [...viewFrames(src, key, scan, scan.frames.count)].filter((e) => e.type === 'payload').map((e) => (e.type === 'payload' ? e.payload : Buffer.alloc(0)));
      if (JSON.stringify(got.reverse().map((b) => b.toString('hex'))) !== JSON.stringify(payloads.map((p) => Buffer.from(p).toString('hex')))) return false;
      // Flip one byte anywhere inside frame `victim` (not the last: that would be a torn tail).
      if (payloads.length < 2) return true;
      const victim = pick % (payloads.length - 1);
      const start = frames.slice(0, victim).reduce((n, f) => n + f.length, 0);
      const damaged = Buffer.from(bytes);
      damaged[start + (pick % frames[victim]!.length)]! ^= 0x40;
      const src2 = new MemorySource(damaged);
      const scan2 = scanFrames(src2, 0, damaged.length);
      const evs = [...viewFrames(src2, key, scan2, tailCut(src2, key, scan2.frames))];
      const ok = evs.filter((e) => e.type === 'payload').length;
      const bad = evs.filter((e) => e.type === 'bad-frame' || e.type === 'damage').length;
      return ok === payloads.length - 1 && bad === 1;
    }),
    { numRuns: NUM_RUNS },
  );
  t.pass('one frame lost per flipped byte, the rest read');
});

t.test('a sealed block group supersedes the frames before it; a damaged block falls back to them', async (t) => {
  const key = new FrameKey(crypto.randomBytes(32));
  const recs = validRecords.map((record) => ({ record, checked: true }));
  const live = [encodeFrame(key, FRAME_KIND.RECORDS, encodeRecords(recs.slice(0, 4))), encodeFrame(key, FRAME_KIND.RECORDS, encodeRecords(recs.slice(4, 8)))];
  const covers = live[0]!.length + live[1]!.length;
  const blocks = [
    encodeFrame(key, FRAME_KIND.BLOCK, encodeRecords(recs.slice(0, 5)), { part: 0, parts: 2, covers }),
    encodeFrame(key, FRAME_KIND.BLOCK, encodeRecords(recs.slice(5, 8)), { part: 1, parts: 2, covers }),
  ];
  const after = encodeFrame(key, FRAME_KIND.RECORDS, encodeRecords([])); // so the blocks are not the tail
  const file = Buffer.concat([...live, ...blocks, after]);
  const read = (b: Buffer) => {
    const src = new MemorySource(b);
    const scan = scanFrames(src, 0, b.length);
    const out: string[] = [];
    let problems = 0;
    const gen = viewFrames(src, key, scan, tailCut(src, key, scan.frames));
    let s = gen.next();
    for (; !s.done; s = gen.next()) {
      const ev = s.value;
      if (ev.type === 'payload') for (const r of decodeRecords(ev.payload)) out.push(r.record.msg_id);
      else if (ev.type !== 'superseded') problems++;
    }
    return { ids: new Set(out), n: out.length, problems, summary: s.value };
  };
  const clean = read(file);
  t.equal(clean.n, 8, 'only the blocks are read (8 records, no duplicates)');
  t.equal(clean.problems, 0);
  t.equal(clean.summary.supersededBytes, covers);
  const damaged = Buffer.from(file);
  damaged[covers + 100]! ^= 1; // inside block part 0
  const d = read(damaged);
  t.equal(d.ids.size, 8, 'every record still readable from the live frames');
  t.equal(d.problems, 1, 'the damaged block is reported');
});

t.test('header: round trip; not a log -> LOG_FORMAT; damaged -> LOG_CORRUPT; newer version -> LOG_FORMAT', async (t) => {
  const h = { version: FORMAT_VERSION, fileType: FILE_TYPE.LOG, scryptLogN: 0, scryptR: 0, scryptP: 0, fileId: crypto.randomBytes(16), kcv: crypto.randomBytes(16) };
  const b = encodeHeader(h);
  t.equal(b.length, HEADER_BYTES);
  t.same(Buffer.from(decodeHeader(b).fileId), Buffer.from(h.fileId));
  t.throws(() => decodeHeader(Buffer.from('{"hello":"world"}\n')), { code: 'P2PCAT_ERR_LOG_FORMAT' });
  t.throws(() => decodeHeader(Buffer.alloc(0)), { code: 'P2PCAT_ERR_LOG_FORMAT' });
  const flipped = Buffer.from(b);
  flipped[20]! ^= 1;
  t.throws(() => decodeHeader(flipped), { code: 'P2PCAT_ERR_LOG_CORRUPT' });
  const v2 = Buffer.from(b);
  v2.writeUInt16BE(2, 8);
  t.throws(() => decodeHeader(v2), { code: 'P2PCAT_ERR_LOG_FORMAT' });
});

t.test('IdSet behaves like a Set of msg_ids', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 300 }))), (ops) => {
      const ids = new IdSet(4);
      const model = new Set<string>();
      const idOf = (n: number) => crypto.createHash('sha256').update(String(n)).digest('hex');
      for (const [add, n] of ops) {
        const id = idOf(n);
        if (add) {
          if (ids.add(id) !== !model.has(id)) return false;
          model.add(id);
        } else if (ids.has(id) !== model.has(id)) return false;
      }
      return ids.size === model.size && !ids.has('not hex') && !ids.has(idOf(1).toUpperCase());
    }),
    { numRuns: 100 },
  );
  t.pass('model holds');
});
