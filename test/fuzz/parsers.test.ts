// Fuzzing every parser of untrusted input p2pcat has: what a peer sends (frames,
// handshake and transport messages, CHAT records), what stdin carries (lines,
// requests), what the disk holds (identity, config, log records). Each must
// return or throw a coded P2pcatError: never crash, never hang, never throw a
// TypeError. A crash found here becomes a regression case below the properties.
import t from 'tap';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fuzzParams, onlyCoded } from './runs.js';
import { FrameDecoder, encodeFrame } from '../../src/wire/frame.js';
import { decodeMessage, encodeMessage, MSG } from '../../src/wire/messages.js';
import { LineSplitter } from '../../src/wire/lines.js';
import { parseRequest } from '../../src/chat/request.js';
import { checkChat, createChat } from '../../src/chat/record.js';
import { SecureChannel } from '../../src/transport/secure-channel.js';
import { deriveRoom } from '../../src/crypto/room.js';
import { Signer, generateSigningKey } from '../../src/crypto/ed25519.js';
import { loadIdentity } from '../../src/crypto/identity.js';
import { decodeRecords } from '../../src/store/records.js';
import { parseConfig } from '../../src/config/config.js';
import { parseAbort, parseAnswer, parseData, parseEnd, parseOffer, parseResult, safeName } from '../../src/files/protocol.js';
import { FILE_NAME_MAX_BYTES } from '../../src/limits.js';
import { utf8Length } from '../../src/util.js';

const room = deriveRoom('lobby');
const signer = new Signer(generateSigningKey().seed);

t.test('frame decoder: any bytes, any chunking', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 2000, size: 'max' }), { maxLength: 8 }), fc.integer({ min: 0, max: 70000 }), (chunks, max) => {
      const d = new FrameDecoder({ maxFrameBytes: max, minFrameBytes: 1 });
      return chunks.every((c) => onlyCoded(() => d.push(c)));
    }),
    fuzzParams,
  );
  t.pass('no uncoded throw');
});

t.test('protocol messages: arbitrary bodies and type bytes', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600, size: 'max' }), (b) => onlyCoded(() => decodeMessage(b))),
    fuzzParams,
  );
  fc.assert(
    fc.property(fc.constantFrom(...Object.keys(MSG)), fc.jsonValue(), (type, v) =>
      onlyCoded(() => decodeMessage(Buffer.concat([Buffer.from([MSG[type as keyof typeof MSG]]), Buffer.from(JSON.stringify(v) ?? '')]))),
    ),
    fuzzParams,
  );
  t.pass('no uncoded throw');
});

t.test('handshake: a responder fed garbage, and mutated real transcripts', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300, size: 'max' }), { maxLength: 5 }), (chunks) => {
      const b = new SecureChannel({ initiator: false, room, signer, username: 'b' });
      return chunks.every((c) => onlyCoded(() => b.receive(c)));
    }),
    { ...fuzzParams, numRuns: Math.max(20, Math.floor(fuzzParams.numRuns / 5)) },
  );
  // Mutations of a real conversation: flip bytes anywhere in the byte stream.
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (flips) => {
      const a = new SecureChannel({ initiator: true, room, signer, username: 'a' });
      const b = new SecureChannel({ initiator: false, room, signer, username: 'b' });
      const m1 = Buffer.concat(a.start());
      const r1 = b.receive(m1);
      const m2 = Buffer.concat(r1.send);
      const r2 = a.receive(m2);
      const toB = Buffer.concat([...r2.send, Buffer.alloc(0)]);
      const stream = Buffer.from(toB);
      for (const [pos, x] of flips) stream[pos % stream.length]! ^= x;
      return onlyCoded(() => b.receive(stream));
    }),
    { ...fuzzParams, numRuns: Math.max(20, Math.floor(fuzzParams.numRuns / 5)) },
  );
  t.pass('no uncoded throw');
});

t.test('stdin: lines and requests', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 500, size: 'max' }), { maxLength: 6 }), fc.boolean(), (chunks, strict) => {
      const s = new LineSplitter(200);
      for (const c of chunks) for (const it of s.push(c)) if ('line' in it) parseRequest(it.line, { strict, room: 'lobby' });
      for (const it of s.end()) if ('line' in it) parseRequest(it.line, { strict, room: 'lobby' });
      return true;
    }),
    fuzzParams,
  );
  fc.assert(
    fc.property(fc.jsonValue(), fc.boolean(), (v, strict) => {
      const r = parseRequest(JSON.stringify(v) ?? '', { strict, room: 'lobby' });
      return ['skip', 'chat', 'relay', 'error'].includes(r.kind);
    }),
    fuzzParams,
  );
  t.pass('parseRequest never throws');
});

t.test('CHAT records: mutated fields never pass as valid, never throw', async (t) => {
  const good = createChat(signer, { room: 'lobby', username: 'alice', message: 'hello', now: new Date() });
  const fields = ['room', 'uuid', 'username', 'timestamp', 'message', 'msg_id', 'from', 'sig'] as const;
  fc.assert(
    fc.property(fc.constantFrom(...fields), fc.oneof(fc.string(), fc.jsonValue()), (field, value) => {
      if (value === good[field]) return true;
      const r = checkChat({ ...good, [field]: value }, { room: 'lobby' });
      return r.ok === false;
    }),
    fuzzParams,
  );
  t.ok(checkChat(good, { room: 'lobby' }).ok, 'the unmutated record checks');
});

t.test('file transfer: any FILE_* body, any FILE_DATA bytes, any offered name', async (t) => {
  const anyBody = fc.dictionary(fc.constantFrom('id', 'name', 'size', 'sha256', 'offset', 'ok', 'code', 'reason', 'x'), fc.oneof(fc.jsonValue(), fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 32, maxLength: 32 }), fc.integer()));
  fc.assert(
    fc.property(anyBody, (b) => {
      for (const f of [() => parseOffer(b), () => parseAnswer(b, 'FILE_ACCEPT'), () => parseEnd(b), () => parseResult(b, 'p'), () => parseAbort(b, 'p')]) {
        const r = f(); // never throws: a value or a P2pcatError
        if (r instanceof Error && r.name !== 'P2pcatError') return false;
      }
      return true;
    }),
    fuzzParams,
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const r = parseData(Buffer.from(bytes));
      return r instanceof Error ? r.name === 'P2pcatError' : r.chunk.length === bytes.length - 24 && r.offset <= Number.MAX_SAFE_INTEGER;
    }),
    fuzzParams,
  );
  // A stored name is never a path, never hidden, never empty, never over the bound, never a control character.
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), fc.array(fc.constantFrom('..', '.', '/', '\\', 'a', '\u0000', '\n', ' ', '-', 'é', '\u202e'), { maxLength: 40 }).map((a) => a.join(''))), (name) => {
      const n = safeName(name);
      return n.length > 0 && !/[/\\]/.test(n) && !n.startsWith('.') && n !== '..' && utf8Length(n) <= FILE_NAME_MAX_BYTES && !/[\p{Cc}\p{Cf}]/u.test(n);
    }),
    fuzzParams,
  );
  t.pass('no FILE_* parser threw, and every stored name was safe');
});

t.test('files: identity, config, log records', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-fuzz-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const idFile = path.join(dir, 'identity.json');
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v) ?? '')), (text) => {
      fs.writeFileSync(idFile, text, { mode: 0o600 });
      return onlyCoded(() => loadIdentity(idFile));
    }),
    { ...fuzzParams, numRuns: Math.max(20, Math.floor(fuzzParams.numRuns / 3)) },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 400 }), (text) => onlyCoded(() => parseConfig(text, path.join(dir, 'config'), {}))),
    fuzzParams,
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 800, size: 'max' }), (b) => onlyCoded(() => decodeRecords(Buffer.from(b)))),
    fuzzParams,
  );
  t.pass('no uncoded throw');
});

t.test('regressions found by fuzzing', async (t) => {
  // A frame followed by a bad length: the good frame is handled before the error (found while writing hostile.test).
  const d = new FrameDecoder({ maxFrameBytes: 100 });
  const it = d.frames(Buffer.concat([encodeFrame(Buffer.from('ok')), Buffer.from([0xff, 0xff])]));
  t.equal(it.next().value?.toString(), 'ok');
  t.throws(() => it.next(), { code: 'P2PCAT_ERR_FRAME_TOO_LARGE' });
  t.throws(() => decodeMessage(encodeMessage('CHAT', {}).subarray(0, 1)), { code: 'P2PCAT_ERR_PROTOCOL' }, 'empty JSON body');
});
