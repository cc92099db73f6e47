// STUN codec: the four RFC 5769 samples (outside truth, ../shared/vectors/stun),
// zlib's CRC-32 as a cross-check, fast-check round trips, and garbage that must
// only ever produce coded errors.
import t from 'tap';
import fc from 'fast-check';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { VECTORS_DIR } from '../helpers/paths.js';
import { P2pcatError } from '../../src/errors.js';
import {
  ATTR,
  METHOD,
  checkFingerprint,
  checkIntegrity,
  crc32,
  decodeAddressList,
  decodeChangeRequest,
  decodeErrorCode,
  decodeStun,
  decodeText,
  decodeXorAddress,
  encodeAddressList,
  encodeChangeRequest,
  encodeErrorCode,
  encodeStun,
  encodeXorAddress,
  getAttr,
  longTermKey,
  looksLikeStun,
  newTransactionId,
  shortTermKey,
  type StunClass,
} from '../../src/nat/stun.js';
import { formatIp, parseIp } from '../../src/nat/addr.js';

interface Vector {
  name: string;
  hex: string;
  length: number;
  expected: Record<string, any>;
  attributes: { type: string; name: string; length: number; value_hex: string; padding_hex: string }[];
}
const file = path.join(VECTORS_DIR, 'stun', 'rfc5769.json');
const vectors: Vector[] = JSON.parse(fs.readFileSync(file, 'utf8')).vectors;
const HEADER_OFF = 20;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

t.test('RFC 5769 samples decode, verify, and re-encode byte for byte', async (t) => {
  t.equal(vectors.length, 4, 'four samples');
  for (const v of vectors) {
    t.test(v.name, async (t) => {
      const raw = new Uint8Array(Buffer.from(v.hex, 'hex'));
      t.equal(raw.length, v.length);
      t.ok(looksLikeStun(raw), 'demux says STUN');
      const m = decodeStun(raw);
      const e = v.expected;
      t.equal(m.method, METHOD.BINDING, 'Binding');
      t.equal(m.cls, e.class === 'request' ? 'request' : 'success');
      t.equal(hex(m.transactionId), e.transaction_id);
      t.same(
        m.attributes.map((a) => ({ type: '0x' + a.type.toString(16).padStart(4, '0'), value: hex(a.value) })),
        v.attributes.map((a) => ({ type: a.type, value: a.value_hex })),
        'attributes in order, padding ignored',
      );
      if (e.software) t.equal(decodeText(getAttr(m, ATTR.SOFTWARE)!, 'SOFTWARE'), e.software);
      if (e.username) t.equal(decodeText(getAttr(m, ATTR.USERNAME)!, 'USERNAME'), e.username);
      if (e.realm) t.equal(decodeText(getAttr(m, ATTR.REALM)!, 'REALM'), e.realm);
      if (e.nonce) t.equal(decodeText(getAttr(m, ATTR.NONCE)!, 'NONCE'), e.nonce);
      if (e.xor_mapped_address) {
        const a = decodeXorAddress(getAttr(m, ATTR.XOR_MAPPED_ADDRESS)!, m.transactionId);
        t.same(a, { family: e.xor_mapped_address.family === 'IPv4' ? 4 : 6, address: e.xor_mapped_address.address, port: e.xor_mapped_address.port });
      }
      let key: Uint8Array;
      if (e.credentials.mechanism === 'short-term') key = shortTermKey(e.credentials.password);
      else {
        key = longTermKey(e.username, e.realm, e.credentials.password_as_given_in_rfc);
        t.equal(hex(key), e.credentials.hmac_key_hex, 'long-term key through SASLprep, as the RFC prints the password');
        t.equal(hex(longTermKey(e.username, e.realm, e.credentials.password_after_saslprep)), e.credentials.hmac_key_hex);
      }
      t.equal(checkIntegrity(m, key), true, 'MESSAGE-INTEGRITY valid');
      t.equal(checkIntegrity(m, new Uint8Array(Buffer.from('wrong password'))), false, 'a wrong key fails');
      if (e.fingerprint) {
        t.equal(checkFingerprint(m), true, 'FINGERPRINT valid');
        t.equal('0x' + hex(getAttr(m, ATTR.FINGERPRINT)!), e.fingerprint);
      } else t.equal(checkFingerprint(m), undefined, 'no FINGERPRINT');
      // Re-encode: the same attributes, the same padding byte, MI and FINGERPRINT recomputed.
      const pad = v.attributes.map((a) => a.padding_hex).find((p) => p.length > 0)?.slice(0, 2);
      const again = encodeStun(m, { integrityKey: key, fingerprint: !!e.fingerprint, paddingByte: pad ? parseInt(pad, 16) : 0 });
      t.equal(hex(again), v.hex, 're-encoded byte for byte');
      // One flipped bit anywhere before MI breaks MI; one after breaks FINGERPRINT.
      const flipped = raw.slice();
      flipped[HEADER_OFF + 6]! ^= 1;
      t.equal(checkIntegrity(decodeStun(flipped), key), false, 'a flipped bit breaks MESSAGE-INTEGRITY');
      if (e.fingerprint) t.equal(checkFingerprint(decodeStun(flipped)), false, 'and FINGERPRINT');
    });
  }
});
t.test('CRC-32 agrees with zlib', async (t) => {
  const zcrc = (zlib as unknown as { crc32?: (b: Uint8Array) => number }).crc32;
  if (!zcrc) {
    t.comment('zlib.crc32 needs Node >= 20.15; checked against the standard check value only');
  } else fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (b) => crc32(b) === zcrc(b)));
  t.equal(crc32(Buffer.from('123456789')), 0xcbf43926, 'the check value');
});

t.test('message type bits: every method and class round-trip', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xfff }), fc.constantFrom<StunClass>('request', 'indication', 'success', 'error'), (method, cls) => {
      const m = decodeStun(encodeStun({ method, cls, transactionId: newTransactionId(), attributes: [] }));
      return m.method === method && m.cls === cls;
    }),
  );
  // Binding success response is 0x0101, Binding error 0x0111, indication 0x0011 (RFC 8489 section 6).
  const ty = (cls: StunClass) => Buffer.from(encodeStun({ method: 1, cls, transactionId: new Uint8Array(12), attributes: [] })).readUInt16BE(0);
  t.same([ty('request'), ty('indication'), ty('success'), ty('error')], [0x0001, 0x0011, 0x0101, 0x0111]);
});

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.'));
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIp(b));
const endpointArb = fc.record({ address: fc.oneof(ipv4, ipv6), port: fc.integer({ min: 0, max: 65535 }) });

t.test('attribute codecs round-trip', async (t) => {
  fc.assert(
    fc.property(endpointArb, fc.uint8Array({ minLength: 12, maxLength: 12 }), (e, tid) => {
      const d = decodeXorAddress(encodeXorAddress(e, tid), tid);
      return d.address === e.address && d.port === e.port;
    }),
  );
  fc.assert(
    fc.property(fc.array(endpointArb, { maxLength: 8 }), (list) => {
      const d = decodeAddressList(encodeAddressList(list), 8);
      return d.length === list.length && d.every((x, i) => x.address === list[i]!.address && x.port === list[i]!.port);
    }),
  );
  fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => hex(parseIp(formatIp(b))!) === hex(b)));
  t.equal(formatIp(parseIp('2001:db8::1')!), '2001:db8::1');
  t.equal(formatIp(parseIp('2001:0db8:0:0:1:0:0:1')!), '2001:db8::1:0:0:1', 'RFC 5952: first longest zero run');
  t.equal(parseIp('1.2.3.256'), undefined);
  t.same(decodeErrorCode(encodeErrorCode(420, 'Unknown Attribute')), { code: 420, reason: 'Unknown Attribute' });
  t.same(decodeChangeRequest(encodeChangeRequest({ changeIp: true, changePort: false })), { changeIp: true, changePort: false });
  t.same([...encodeChangeRequest({ changeIp: true, changePort: true })], [0, 0, 0, 6], 'RFC 5780 flags A=0x04, B=0x02');
});

t.test('encode/decode round-trip with integrity and fingerprint', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ type: fc.integer({ min: 0, max: 0xffff }).filter((x) => x !== ATTR.MESSAGE_INTEGRITY && x !== ATTR.FINGERPRINT), value: fc.uint8Array({ maxLength: 40 }) }), { maxLength: 12 }),
      fc.uint8Array({ minLength: 1, maxLength: 32 }),
      fc.boolean(),
      fc.boolean(),
      (attributes, key, withMi, withFp) => {
        const msg = { method: METHOD.BINDING, cls: 'request' as const, transactionId: newTransactionId(), attributes };
        const m = decodeStun(encodeStun(msg, { integrityKey: withMi ? key : undefined, fingerprint: withFp }));
        const plain = m.attributes.filter((a) => a.type !== ATTR.MESSAGE_INTEGRITY && a.type !== ATTR.FINGERPRINT);
        return (
          plain.length === attributes.length &&
          plain.every((a, i) => a.type === attributes[i]!.type && hex(a.value) === hex(attributes[i]!.value)) &&
          checkIntegrity(m, key) === withMi &&
          checkFingerprint(m) === (withFp ? true : undefined)
        );
      },
    ),
  );
  t.pass('property held');
});

function onlyCodedErrors(b: Uint8Array): boolean {
  try {
    const m = decodeStun(b);
    // Whatever decodes must also survive the attribute decoders without an uncoded throw.
    for (const a of m.attributes) {
      for (const f of [
        () => decodeXorAddress(a.value, m.transactionId),
        () => decodeErrorCode(a.value),
        () => decodeChangeRequest(a.value),
        () => decodeAddressList(a.value, 8),
        () => decodeText(a.value, 'x'),
      ]) {
        try {
          f();
        } catch (e) {
          if (!(e instanceof P2pcatError) || e.code !== 'P2PCAT_ERR_PROTOCOL') throw e;
        }
      }
    }
    checkFingerprint(m);
    checkIntegrity(m, new Uint8Array(4));
    return true;
  } catch (e) {
    if (e instanceof P2pcatError && e.code === 'P2PCAT_ERR_PROTOCOL') return true;
    throw e;
  }
}

t.test('garbage never throws anything but a coded error', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), onlyCodedErrors), { numRuns: 2000 });
  // Garbage behind a plausible header reaches the attribute parser.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 0x3fff }), fc.boolean(), (body, type, rightLength) => {
      const h = Buffer.alloc(20);
      h.writeUInt16BE(type, 0);
      h.writeUInt16BE(rightLength ? body.length : (body.length + 4) & 0xffff, 2);
      h.writeUInt32BE(0x2112a442, 4);
      return onlyCodedErrors(new Uint8Array(Buffer.concat([h, body])));
    }),
    { numRuns: 3000 },
  );
  // Mutations of the real samples.
  const samples = vectors.map((v) => new Uint8Array(Buffer.from(v.hex, 'hex')));
  fc.assert(
    fc.property(fc.constantFrom(...samples), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 6 }), (s, muts) => {
      const b = s.slice();
      for (const [i, v] of muts) b[i % b.length] = v;
      return onlyCodedErrors(b);
    }),
    { numRuns: 3000 },
  );
  t.throws(() => decodeStun(new Uint8Array(10)), { code: 'P2PCAT_ERR_PROTOCOL' });
  t.throws(() => decodeStun(Buffer.from('000100002112a442000000000000000000000000', 'hex').subarray(0, 19)), { code: 'P2PCAT_ERR_PROTOCOL' });
});

t.test('attributes after MESSAGE-INTEGRITY are ignored, after FINGERPRINT refused', async (t) => {
  const key = shortTermKey('pw');
  const base = encodeStun({ method: 1, cls: 'request', transactionId: newTransactionId(), attributes: [{ type: ATTR.SOFTWARE, value: Buffer.from('x') }] }, { integrityKey: key });
  // Append a SOFTWARE after MI and fix the length: it must be ignored and MI still verify.
  const extra = Buffer.from('80220001790000', 'hex');
  const tail = Buffer.concat([Buffer.from(base), extra, Buffer.alloc(1)]);
  tail.writeUInt16BE(tail.length - 20, 2);
  const m = decodeStun(tail);
  t.equal(m.attributes.filter((a) => a.type === ATTR.SOFTWARE).length, 1, 'the late attribute is ignored');
  t.equal(checkIntegrity(m, key), true);
  const fp = Buffer.from(encodeStun({ method: 1, cls: 'request', transactionId: newTransactionId(), attributes: [] }, { fingerprint: true }));
  const after = Buffer.concat([fp, Buffer.from('8022000178000000', 'hex')]);
  after.writeUInt16BE(after.length - 20, 2);
  t.throws(() => decodeStun(after), { code: 'P2PCAT_ERR_PROTOCOL' }, 'nothing may follow FINGERPRINT');
});
