// Punch probes (sans-I/O): only the room's key and the right pair of ids make
// a probe that is answered; responses carry where the probe came from; the
// strategy table follows NATLAB.md; garbage is 'other', never an exception.
import t from 'tap';
import fc from 'fast-check';
import { isController, probeRequest, readProbe, strategy, type ProbeContext } from '../../src/nat/punch.js';
import { probeKey, newPeerId } from '../../src/nat/token.js';
import { ATTR, decodeStun, decodeXorAddress, getAttr, checkIntegrity, checkFingerprint } from '../../src/nat/stun.js';

const key = probeKey(new Uint8Array(32).fill(7));
const a = newPeerId();
const b = newPeerId();
const ca: ProbeContext = { myId: a, peerId: b, key };
const cb: ProbeContext = { myId: b, peerId: a, key };
const from = { family: 4 as const, address: '198.51.100.7', port: 40000 };

t.test('a probe from the peer is answered, with where it came from', async (t) => {
  const p = probeRequest(ca, false);
  const m = decodeStun(p.bytes);
  t.equal(checkIntegrity(m, key), true, 'MESSAGE-INTEGRITY under the probe key');
  t.equal(checkFingerprint(m), true);
  t.equal(Buffer.from(getAttr(m, ATTR.USERNAME)!).toString(), `${Buffer.from(b).toString('hex')}:${Buffer.from(a).toString('hex')}`, 'USERNAME is "to:from" as in ICE');
  const ev = readProbe(cb, p.bytes, from);
  t.equal(ev.kind, 'request');
  if (ev.kind !== 'request') return;
  t.equal(ev.nominate, false);
  const r = decodeStun(ev.reply);
  t.equal(r.cls, 'success');
  t.same(decodeXorAddress(getAttr(r, ATTR.XOR_MAPPED_ADDRESS)!, r.transactionId), from, 'the response says where the probe came from');
  const back = readProbe(ca, ev.reply, from);
  t.same(back.kind === 'response' && Buffer.from(back.tid).equals(Buffer.from(p.tid)), true, 'the response matches the probe');
  const nom = readProbe(cb, probeRequest(ca, true).bytes, from);
  t.equal(nom.kind === 'request' && nom.nominate, true, 'P2P-NOMINATE is seen');
});

t.test('other rooms, other pairs and our own probes are ignored', async (t) => {
  const p = probeRequest(ca, false).bytes;
  t.equal(readProbe({ ...cb, key: probeKey(new Uint8Array(32).fill(8)) }, p, from).kind, 'other', 'another room key');
  t.equal(readProbe({ myId: newPeerId(), peerId: a, key }, p, from).kind, 'other', 'a probe meant for someone else');
  t.equal(readProbe(ca, p, from).kind, 'other', 'our own probe reflected back');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => readProbe(cb, bytes, from).kind === 'other'));
  // Bit flips of a valid probe are never accepted.
  fc.assert(
    fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (i, x) => {
      const bytes = p.slice();
      bytes[i % bytes.length]! ^= x;
      return readProbe(cb, bytes, from).kind === 'other';
    }),
  );
});

t.test('roles and strategies', async (t) => {
  t.not(isController(a, b), isController(b, a), 'exactly one side leads');
  t.throws(() => isController(a, a), { code: 'P2PCAT_ERR_PROTOCOL' });
  t.equal(strategy('endpoint-independent', 'endpoint-independent'), 'plain');
  t.equal(strategy('endpoint-independent', 'address-and-port-dependent'), 'birthday-easy', 'port-restricted vs symmetric: the easy side sprays');
  t.equal(strategy('address-and-port-dependent', 'endpoint-independent'), 'birthday-hard', 'and the hard side opens many sockets');
  t.equal(strategy('none', 'address-and-port-dependent'), 'plain', 'no NAT vs symmetric works plainly');
  t.equal(strategy('address-and-port-dependent', 'address-and-port-dependent'), 'plain', 'symmetric pairs: probing cannot help (relay)');
});
