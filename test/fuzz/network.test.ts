// Fuzzing the parsers of what the network (and a pasted link) hands p2pcat,
// beyond the transport and stdin ones in parsers.test.ts: STUN messages (seeded
// with the RFC 5769 vectors, ../shared/vectors/stun), the rendezvous fed any
// datagram, rendezvous answers as a puncher reads them, LAN beacons (UDP and
// mDNS TXT), mDNS packets as multicast-dns decodes them, the DHT's bencode and
// KRPC gate, peer lists (`--peers FILE|-`), join links and dial targets.
// Each must return (or return its documented error value) or throw a coded
// P2pcatError; never hang, never throw anything else; where an encoder exists,
// decode(encode(x)) gives x back. Run counts: test/fuzz/runs.ts.
import t from 'tap';
import fc from 'fast-check';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fuzzParams, onlyCoded } from './runs.js';
import { VECTORS_DIR } from '../helpers/paths.js';
import { STUN_MAX_MESSAGE_BYTES } from '../../src/limits.js';
import { endpoint, formatIp } from '../../src/nat/addr.js';
import {
  ATTR,
  METHOD,
  MAGIC_COOKIE,
  checkFingerprint,
  checkIntegrity,
  decodeAddress,
  decodeAddressList,
  decodeChangeRequest,
  decodeErrorCode,
  decodeStun,
  decodeText,
  decodeXorAddress,
  encodeStun,
  encodeAddressList,
  looksLikeStun,
  type StunClass,
} from '../../src/nat/stun.js';
import { RendezvousCore, type Via } from '../../src/nat/rendezvous.js';
import { readAnswer, registerRequest } from '../../src/nat/register.js';
import { roomTokens } from '../../src/nat/token.js';
import { deriveRoom } from '../../src/crypto/room.js';
import { deriveDiscoveryKeys } from '../../src/discovery/keys.js';
import { decodeDatagram, encodeBeaconDatagram, readBeacon, sealBeacon } from '../../src/discovery/beacon.js';
import { extractInstances, queryWants } from '../../src/discovery/mdns.js';
import { BencodeError, checkKrpc, decodeBencode, type BValue } from '../../src/discovery/krpc.js';
import { PeerListParser, canonicalAddr, parsePeerLine } from '../../src/discovery/peerlist.js';
import { formatJoinLink, parseJoinLink } from '../../src/mesh/link.js';
import { parseTarget } from '../../src/cli/target.js';

const anything = fc.anything({ maxDepth: 2, maxKeys: 4 });
const few = { ...fuzzParams, numRuns: Math.max(20, Math.floor(fuzzParams.numRuns / 3)) };
const room = deriveRoom('ops');
const keys = deriveDiscoveryKeys(room.key);

// ------------------------------------------------------------------ inputs

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.'));
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIp(b));
const endpointArb = fc.record({ address: fc.oneof(ipv4, ipv6), port: fc.integer({ min: 1, max: 65535 }) });
const fromArb = endpointArb.map((e) => endpoint(e.address, e.port));
/** No lone surrogates (String.prototype.isWellFormed is ES2024; the build targets less). */
const wellFormed = (s: string | undefined) => s === undefined || !/[\uD800-\uDFFF]/.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''));
const classes: StunClass[] = ['request', 'indication', 'success', 'error'];

/** Attribute values: random bytes, or a well-formed value of a type that has one. */
const attrArb = fc.oneof(
  fc.record({ type: fc.integer({ min: 0, max: 0xffff }), value: fc.uint8Array({ maxLength: 80 }) }),
  fc.record({ type: fc.constantFrom(...Object.values(ATTR)), value: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ type: fc.constantFrom(ATTR.P2P_CANDIDATES), value: fc.array(endpointArb, { maxLength: 4 }).map((l) => encodeAddressList(l)) }),
);

/** Bytes that pass the STUN header checks (cookie, length), with a body of TLVs whose lengths may lie. */
const stunish = fc
  .tuple(
    fc.integer({ min: 0, max: 0x3fff }),
    fc.uint8Array({ minLength: 12, maxLength: 12 }),
    fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 60 }), fc.boolean()), { maxLength: 12 }),
  )
  .map(([type, tid, tlvs]) => {
    const parts = tlvs.map(([ty, len, v, honest]) => {
      const h = Buffer.alloc(4);
      h.writeUInt16BE(ty, 0);
      h.writeUInt16BE(honest ? v.length : len, 2);
      return Buffer.concat([h, v, Buffer.alloc(((v.length + 3) & ~3) - v.length)]);
    });
    const body = Buffer.concat(parts);
    const head = Buffer.alloc(20);
    head.writeUInt16BE(type, 0);
    head.writeUInt16BE(body.length, 2);
    head.writeUInt32BE(MAGIC_COOKIE, 4);
    Buffer.from(tid).copy(head, 8);
    return new Uint8Array(Buffer.concat([head, body]).subarray(0, STUN_MAX_MESSAGE_BYTES));
  });

interface Vector {
  name: string;
  hex: string;
  expected: { credentials: { mechanism: string; password?: string; hmac_key_hex?: string } };
}
const vectors = (JSON.parse(fs.readFileSync(path.join(VECTORS_DIR, 'stun', 'rfc5769.json'), 'utf8')) as { vectors: Vector[] }).vectors;
const samples = vectors.map((v) => ({ name: v.name, bytes: new Uint8Array(Buffer.from(v.hex, 'hex')) }));

// ------------------------------------------------------------------ STUN

t.test('STUN: any bytes, STUN-shaped bytes, and the RFC 5769 samples mutated', async (t) => {
  const probe = (b: Uint8Array) =>
    onlyCoded(() => {
      looksLikeStun(b);
      const m = decodeStun(b);
      // The checks of a decoded message never throw either, whatever the key.
      checkIntegrity(m, new Uint8Array(16));
      checkFingerprint(m);
      // Round trip: what was decoded (MESSAGE-INTEGRITY and FINGERPRINT aside, which the encoder computes) encodes and decodes back to the same.
      const attrs = m.attributes.filter((a) => a.type !== ATTR.MESSAGE_INTEGRITY && a.type !== ATTR.FINGERPRINT);
      const again = decodeStun(encodeStun({ ...m, attributes: attrs }));
      if (again.method !== m.method || again.cls !== m.cls || Buffer.compare(again.transactionId, m.transactionId) !== 0) throw new Error('header changed in a round trip');
      if (JSON.stringify(again.attributes.map((a) => [a.type, Buffer.from(a.value).toString('hex')])) !== JSON.stringify(attrs.map((a) => [a.type, Buffer.from(a.value).toString('hex')]))) {
        throw new Error('attributes changed in a round trip');
      }
    });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 2100, size: 'max' }), probe), fuzzParams);
  fc.assert(fc.property(stunish, probe), fuzzParams);
  // Mutated samples: flip, truncate or extend. A flip inside what MESSAGE-INTEGRITY covers (or the MAC itself) must fail it.
  fc.assert(
    fc.property(
      fc.constantFrom(...samples),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
      fc.integer({ min: -8, max: 8 }),
      (s, flips, resize) => {
        const b = Buffer.from(s.bytes);
        for (const [pos, x] of flips) b[pos % b.length]! ^= x;
        const cut = resize < 0 ? b.subarray(0, b.length + resize) : Buffer.concat([b, Buffer.alloc(resize)]);
        if (!probe(new Uint8Array(cut))) return false;
        if (resize !== 0 || flips.length === 0) return true;
        let m;
        try {
          m = decodeStun(new Uint8Array(cut));
        } catch {
          return true;
        }
        const v = vectors.find((x) => x.name === s.name)!;
        const c = v.expected.credentials;
        const key = c.hmac_key_hex ? new Uint8Array(Buffer.from(c.hmac_key_hex, 'hex')) : new Uint8Array(Buffer.from(c.password!, 'utf8'));
        const original = decodeStun(s.bytes);
        if (m.integrityOffset !== original.integrityOffset) return true;
        const changed = flips.map(([pos]) => pos % b.length).filter((p) => b[p] !== s.bytes[p]);
        if (changed.some((p) => p < original.integrityOffset! + 24)) return checkIntegrity(m, key) === false;
        return true;
      },
    ),
    fuzzParams,
  );
  // Attribute value decoders, on any value.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 12, maxLength: 12 }), (v, tid) =>
      [() => decodeAddress(v), () => decodeXorAddress(v, tid), () => decodeErrorCode(v), () => decodeChangeRequest(v), () => decodeText(v, 'fuzz'), () => decodeAddressList(v, 8)].every(onlyCoded),
    ),
    fuzzParams,
  );
  t.pass('decodeStun and the attribute decoders: coded errors only, round trips hold, mutations never pass the integrity check');
});

t.test('STUN: any message p2pcat can encode decodes to itself', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xfff }), fc.constantFrom(...classes), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.array(attrArb, { maxLength: 10 }), fc.boolean(), (method, cls, tid, attrs, fp) => {
      const plain = attrs.filter((a) => a.type !== ATTR.MESSAGE_INTEGRITY && a.type !== ATTR.FINGERPRINT);
      const m = decodeStun(encodeStun({ method, cls, transactionId: tid, attributes: plain }, { fingerprint: fp, integrityKey: new Uint8Array([1, 2, 3]) }));
      return (
        m.method === method &&
        m.cls === cls &&
        checkIntegrity(m, new Uint8Array([1, 2, 3])) &&
        checkFingerprint(m) === (fp ? true : undefined) &&
        m.attributes.filter((a) => a.type !== ATTR.MESSAGE_INTEGRITY && a.type !== ATTR.FINGERPRINT).every((a, i) => a.type === plain[i]!.type && Buffer.compare(a.value, plain[i]!.value) === 0)
      );
    }),
    fuzzParams,
  );
  t.pass('decode(encode(m)) = m');
});

// ------------------------------------------------------------------ the rendezvous

/** A rendezvous request: a real registration, or a Binding request with random known and unknown attributes. */
const rvRequest = fc.oneof(
  fc.tuple(fc.array(endpointArb, { maxLength: 4 }), fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.boolean()).map(([candidates, id, relay]) =>
    encodeStun(registerRequest({ tokens: roomTokens(room.key, Date.now()), id, candidates, nat: 'endpoint-independent', relay }), { fingerprint: true }),
  ),
  fc
    .tuple(
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.array(
        fc.oneof(
          attrArb,
          // Near the size limit too: answers are padded to about the request's size.
          fc.record({ type: fc.constant(ATTR.PADDING), value: fc.oneof(fc.integer({ min: 0, max: 2024 }), fc.integer({ min: 1900, max: 2024 })).map((n) => new Uint8Array(n)) }),
          fc.record({ type: fc.constant(ATTR.RESPONSE_PORT), value: fc.uint8Array({ minLength: 4, maxLength: 4 }) }),
          fc.record({ type: fc.constant(ATTR.CHANGE_REQUEST), value: fc.uint8Array({ minLength: 4, maxLength: 4 }) }),
        ),
        { maxLength: 6 },
      ),
      fc.boolean(),
    )
    .map(([tid, attrs, fp]) => {
      // Too long to encode: drop attributes from the front until it fits.
      for (let i = 0; ; i++) {
        try {
          return encodeStun({ method: METHOD.BINDING, cls: 'request', transactionId: tid, attributes: attrs.slice(i) }, { fingerprint: fp && i === 0 });
        } catch {
          /* next */
        }
      }
    }),
);

t.test('rendezvous: any sequence of datagrams from anywhere', async (t) => {
  const vias: Via[] = ['pp', 'pa', 'ap', 'aa'];
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.oneof(fc.uint8Array({ maxLength: 600 }), stunish, rvRequest), fromArb, fc.constantFrom(...vias), fc.integer({ min: 0, max: 120_000 })), { minLength: 1, maxLength: 10 }),
      fc.boolean(),
      (dgrams, relay) => {
        const core = new RendezvousCore({
          sockets: { pp: { address: '203.0.113.10', port: 3478 }, pa: { address: '203.0.113.10', port: 3479 }, ap: { address: '203.0.113.11', port: 3478 }, aa: { address: '203.0.113.11', port: 3479 } },
          relay,
        });
        let now = 1_700_000_000_000;
        for (const [data, from, via, dt] of dgrams) {
          now += dt;
          const out = core.receive(data, from, via, now);
          if (out.length > 4) throw new Error(`${out.length} datagrams in answer to one`);
          for (const d of out) {
            if (d.data.length > Math.max(STUN_MAX_MESSAGE_BYTES, data.length)) throw new Error('an answer longer than the limit');
            if (looksLikeStun(d.data)) decodeStun(d.data); // every STUN answer is well-formed
          }
          core.sweep(now);
        }
        return true;
      },
    ),
    fuzzParams,
  );
  t.pass('RendezvousCore.receive never throws; answers are bounded and well-formed');
});

t.test('rendezvous answers as the puncher reads them', async (t) => {
  fc.assert(
    fc.property(fc.oneof(stunish, fc.uint8Array({ maxLength: 300 })), (b) => onlyCoded(() => readAnswer(decodeStun(b)))),
    fuzzParams,
  );
  fc.assert(
    fc.property(fc.constantFrom(...classes), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.array(attrArb, { maxLength: 8 }), (cls, tid, attributes) =>
      onlyCoded(() => readAnswer({ method: METHOD.BINDING, cls, transactionId: tid, attributes })),
    ),
    fuzzParams,
  );
  t.pass('readAnswer: coded errors only');
});

// ------------------------------------------------------------------ LAN beacons and mDNS

const beaconInput = fc.record({
  nowMs: fc.integer({ min: 1_600_000_000_000, max: 2_000_000_000_000 }),
  port: fc.integer({ min: 1, max: 65535 }),
  addrs: fc.uniqueArray(ipv4, { minLength: 1, maxLength: 4 }),
  publicKey: fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }), { nil: undefined }),
  goodbye: fc.boolean(),
});

t.test('LAN beacons: round trip, and any datagram or mutation is refused without a throw', async (t) => {
  fc.assert(
    fc.property(beaconInput, (input) => {
      const d = decodeDatagram(encodeBeaconDatagram(sealBeacon(keys, input)));
      if (d.kind !== 'beacon') return false;
      const r = readBeacon(keys, d.strings, input.nowMs);
      return (
        r.kind === 'peer' &&
        r.beacon.port === input.port &&
        JSON.stringify(r.beacon.addrs) === JSON.stringify(input.addrs) &&
        r.beacon.goodbye === input.goodbye &&
        Buffer.compare(r.beacon.publicKey ?? new Uint8Array(0), input.publicKey ?? new Uint8Array(0)) === 0
      );
    }),
    few,
  );
  fc.assert(
    fc.property(beaconInput, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }), (input, flips) => {
      const dg = Buffer.from(encodeBeaconDatagram(sealBeacon(keys, input)));
      for (const [pos, x] of flips) dg[pos % dg.length]! ^= x;
      const d = decodeDatagram(new Uint8Array(dg));
      if (d.kind !== 'beacon') return true;
      const r = readBeacon(keys, d.strings, input.nowMs);
      // A mutation may only survive where it changes nothing that was sealed (the case of a TXT key, a repeated key ...).
      return r.kind !== 'peer' || (r.beacon.port === input.port && JSON.stringify(r.beacon.addrs) === JSON.stringify(input.addrs) && r.beacon.goodbye === input.goodbye);
    }),
    few,
  );
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 1400 }), fc.array(fc.uint8Array({ maxLength: 255 }), { maxLength: 12 }).map((ss) => new Uint8Array(Buffer.concat([Buffer.from('P2PB'), ...ss.map((s) => Buffer.concat([Buffer.from([s.length]), s]))])))), fc.nat(), (b, now) => {
      const d = decodeDatagram(b);
      if (d.kind === 'beacon') readBeacon(keys, d.strings, now);
      return ['bad', 'beacon', 'probe'].includes(d.kind);
    }),
    fuzzParams,
  );
  t.pass('beacons: sealed ones open to what was sealed; anything else is refused, never thrown');
});

const require = createRequire(import.meta.url);
let dnsPacket: { decode(b: Buffer): unknown; encode(p: unknown): Buffer } | undefined;
try {
  // What multicast-dns decodes packets with (its dependency): the objects extractInstances sees.
  dnsPacket = require(require.resolve('dns-packet', { paths: [path.dirname(require.resolve('multicast-dns'))] }));
} catch {
  dnsPacket = undefined;
}

t.test('mDNS: decoded packets of any shape, and packets from any bytes', async (t) => {
  const name = fc.oneof(fc.constantFrom('_p2pcat._tcp.local', 'x._p2pcat._tcp.local', '_services._dns-sd._udp.local', ''), fc.string({ maxLength: 40 }), fc.string({ maxLength: 20 }).map((s) => `${s}._p2pcat._tcp.local`));
  const record = fc.record(
    {
      name: fc.oneof(name, anything),
      type: fc.oneof(fc.constantFrom('PTR', 'SRV', 'TXT', 'A', 'AAAA', 'ANY'), anything),
      ttl: fc.oneof(fc.constantFrom(0, 120), anything),
      data: fc.oneof(name, fc.record({ port: fc.oneof(fc.integer({ min: -1, max: 70000 }), anything), target: name }), fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), anything), { maxLength: 4 }), anything),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.oneof(anything, fc.record({ answers: fc.array(record, { maxLength: 8 }), additionals: fc.array(record, { maxLength: 8 }), questions: fc.array(record, { maxLength: 8 }) })), (p) => {
      const e = extractInstances(p);
      queryWants(p, { instance: 'x', host: 'h' });
      return Array.isArray(e.instances) && e.instances.every((i) => typeof i.name === 'string' && (i.port === undefined || (i.port >= 1 && i.port <= 65535)));
    }),
    fuzzParams,
  );
  if (dnsPacket) {
    const dp = dnsPacket;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        let p: unknown;
        try {
          p = dp.decode(Buffer.from(b));
        } catch {
          return true; // multicast-dns turns a decode error into a 'warning' event
        }
        extractInstances(p);
        queryWants(p, { instance: 'x', host: 'h' });
        return true;
      }),
      fuzzParams,
    );
  } else t.comment('dns-packet not found next to multicast-dns: the bytes-level mDNS property was not run');
  t.pass('extractInstances and queryWants never throw');
});

// ------------------------------------------------------------------ the DHT's bencode and KRPC gate

function bencode(v: BValue): Buffer {
  if (typeof v === 'number') return Buffer.from(`i${v}e`);
  if (v instanceof Uint8Array) return Buffer.concat([Buffer.from(`${v.length}:`), v]);
  if (Array.isArray(v)) return Buffer.concat([Buffer.from('l'), ...v.map(bencode), Buffer.from('e')]);
  const ks = [...v.keys()].sort();
  return Buffer.concat([Buffer.from('d'), ...ks.flatMap((k) => [bencode(Buffer.from(k, 'latin1')), bencode(v.get(k)!)]), Buffer.from('e')]);
}
const { bvalue } = fc.letrec<{ bvalue: BValue }>((tie) => ({
  bvalue: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: -(10 ** 14), max: 10 ** 14 }),
    fc.uint8Array({ maxLength: 30 }),
    fc.array(tie('bvalue'), { maxLength: 4 }),
    fc.uniqueArray(fc.tuple(fc.string({ maxLength: 6 }).map((s) => Buffer.from(s, 'utf8').toString('latin1')), tie('bvalue')), { maxLength: 4, selector: (e) => e[0] }).map((es) => new Map(es)),
  ),
}));
const bsame = (a: BValue, b: BValue): boolean => Buffer.from(bencode(a)).equals(bencode(b));

t.test('DHT: bencode round trip; any bytes give a BencodeError or a reason, never a throw', async (t) => {
  fc.assert(fc.property(bvalue, (v) => bsame(decodeBencode(bencode(v), 64), v)), fuzzParams);
  const krpcish = fc.tuple(fc.constantFrom('q', 'r', 'e', 'x'), fc.constantFrom('ping', 'find_node', 'get_peers', 'announce_peer', 'get', 'put', 'vote'), fc.array(fc.tuple(fc.constantFrom('id', 'target', 'info_hash', 'token', 'port', 'nodes', 'values', 'implied_port', 'v'), bvalue), { maxLength: 6 }), fc.uint8Array({ minLength: 20, maxLength: 20 })).map(([y, q, args, id]) => {
    const a = new Map<string, BValue>([['id', id], ...args]);
    return bencode(new Map<string, BValue>([['t', Buffer.from('aa')], ['y', Buffer.from(y)], ['q', Buffer.from(q)], ['a', a], ['r', a], ['e', [201, Buffer.from('x')]]]));
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), bvalue.map((v) => new Uint8Array(bencode(v))), krpcish), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 2 }), (b0, flips) => {
      const b = Buffer.from(b0);
      for (const [pos, x] of flips) if (b.length) b[pos % b.length]! ^= x;
      try {
        decodeBencode(b);
      } catch (e) {
        if (!(e instanceof BencodeError)) throw e;
      }
      const why = checkKrpc(b);
      return why === undefined || typeof why === 'string';
    }),
    fuzzParams,
  );
  t.pass('decodeBencode throws only BencodeError; checkKrpc only returns');
});

// ------------------------------------------------------------------ peer lists, join links, targets

const hostArb = fc.oneof(ipv4, ipv6, fc.constantFrom('localhost', 'alice.lan', 'xn--bcher-kva.example'));
const linkArb = fc.record(
  {
    host: hostArb,
    port: fc.integer({ min: 1, max: 65535 }),
    room: fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }),
    secret: fc.string({ minLength: 1, maxLength: 60, unit: 'binary' }),
    key: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')),
  },
  { requiredKeys: ['host', 'port'] },
);

t.test('join links: any text; and parse(format(link)) = link', async (t) => {
  const same = (a: ReturnType<typeof parseJoinLink>, b: ReturnType<typeof parseJoinLink>) => JSON.stringify(a) === JSON.stringify(b);
  fc.assert(
    fc.property(linkArb, (l) => {
      // Lone surrogates cannot be percent-encoded: formatJoinLink is given only well-formed text by the CLI.
      if (![l.room, l.secret].every(wellFormed)) return true;
      const p = parseJoinLink(formatJoinLink(l));
      const host = l.host.toLowerCase();
      return p.host.toLowerCase() === host && p.port === l.port && p.room === l.room && p.secret === l.secret && p.key === l.key;
    }),
    fuzzParams,
  );
  const text = fc.oneof(
    fc.string({ maxLength: 120 }),
    fc.string({ maxLength: 100, unit: 'binary' }).map((s) => `p2pcat://${s}`),
    fc.tuple(linkArb, fc.array(fc.tuple(fc.nat(), fc.string({ minLength: 1, maxLength: 3 })), { maxLength: 3 })).map(([l, edits]) => {
      let s = formatJoinLink(!wellFormed(l.room) || !wellFormed(l.secret) ? { host: l.host, port: l.port } : l);
      for (const [pos, ins] of edits) s = s.slice(0, pos % (s.length + 1)) + ins + s.slice(pos % (s.length + 1));
      return s;
    }),
  );
  fc.assert(
    fc.property(text, (s) =>
      onlyCoded(() => {
        const p = parseJoinLink(s);
        if (!same(parseJoinLink(formatJoinLink(p)), p)) throw new Error(`${s}: a parsed link does not survive format + parse`);
      }),
    ),
    fuzzParams,
  );
  fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.tuple(hostArb, fc.integer({ min: -5, max: 70000 })).map(([h, p]) => (h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`))), (s) => onlyCoded(() => parseTarget(s))), fuzzParams);
  t.pass('parseJoinLink and parseTarget: coded errors only; links round-trip');
});

t.test('peer lists: any bytes in any chunks; lines of every kind', async (t) => {
  const line = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.tuple(hostArb, fc.integer({ min: 0, max: 70000 })).map(([h, p]) => (h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`)),
    linkArb.filter((l) => wellFormed(l.room) && wellFormed(l.secret)).map((l) => formatJoinLink(l)),
    fc.record({ type: fc.constantFrom('PEER', 'peer', 'X'), addrs: fc.oneof(fc.array(fc.oneof(fc.string({ maxLength: 30 }), endpointArb.map((e) => (e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`))), { maxLength: 4 }), fc.anything()), key: fc.anything(), via: fc.anything() }, { requiredKeys: [] }).map((r) => JSON.stringify(r)),
  );
  fc.assert(
    fc.property(line, (l) => {
      const r = parsePeerLine(l);
      if (r.kind !== 'entry') return r.kind === 'skip' || (r.kind === 'error' && typeof r.reason === 'string');
      // Entries carry canonical addresses: canonicalising again changes nothing.
      return r.entry.addrs.length > 0 && r.entry.addrs.every((a) => {
        const c = canonicalAddr(a);
        return !('error' in c) && c.addr === a;
      });
    }),
    fuzzParams,
  );
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.array(line, { maxLength: 6 }).map((ls) => new Uint8Array(Buffer.from(ls.join('\n') + '\n')))), { maxLength: 6 }), (chunks) => {
      const p = new PeerListParser({ maxBytes: 2000, maxEntries: 5 });
      const got = [...chunks.flatMap((c) => p.push(c)), ...p.end()];
      return got.length <= 5 && p.warnings.every((w) => w.error.name === 'P2pcatError');
    }),
    fuzzParams,
  );
  t.pass('parsePeerLine and PeerListParser: only entries, skips and coded warnings');
});

t.test('regressions found by fuzzing', async (t) => {
  // A Binding request padded to the 2048-byte limit (RFC 5780 PADDING): the answer, padded "to about the same size",
  // came out longer than the limit and encodeStun threw a RangeError out of RendezvousCore.receive: one datagram
  // crashed `p2pcat rendezvous`.
  const core = new RendezvousCore({ sockets: { pp: { address: '203.0.113.10', port: 3478 }, aa: { address: '203.0.113.11', port: 3479 } }, relay: false });
  for (const pad of [2000, 2020, 2024]) {
    const req = encodeStun({ method: METHOD.BINDING, cls: 'request', transactionId: new Uint8Array(12).fill(7), attributes: [{ type: ATTR.PADDING, value: new Uint8Array(pad) }] });
    const out = core.receive(req, endpoint('2001:db8::1', 40000), 'pp', Date.now());
    t.equal(out.length, 1, `a ${req.length}-byte padded request gets one answer`);
    t.ok(out[0]!.data.length <= STUN_MAX_MESSAGE_BYTES, `of ${out[0]!.data.length} bytes, within the limit`);
    t.equal(decodeStun(out[0]!.data).cls, 'success');
  }
});
