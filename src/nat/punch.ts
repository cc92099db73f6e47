// Punch probes and the choice of path, sans-I/O (docs/nat.md, "Punching").
// Probes are STUN Binding requests between the two peers, modelled on ICE
// connectivity checks (RFC 8445 section 7.2): USERNAME "<to id>:<from id>"
// (hex), short-term MESSAGE-INTEGRITY under a key derived from the room key
// (so only room members make or answer them), FINGERPRINT, and P2P-NOMINATE
// when the controlling side (the Noise initiator) picks the path, like
// USE-CANDIDATE (RFC 8445 section 7.1.2). A probe's success response proves
// the path works both ways.
import { STUN_SOFTWARE } from '../crypto/labels.js';
import { P2pcatError } from '../errors.js';
import type { Endpoint } from './addr.js';
import { ATTR, METHOD, checkFingerprint, checkIntegrity, decodeStun, decodeText, encodeStun, encodeXorAddress, getAttr, looksLikeStun, newTransactionId, type MappingBehaviour } from './stun.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export interface ProbeContext {
  myId: Uint8Array;
  peerId: Uint8Array;
  key: Uint8Array;
}

export function probeRequest(c: ProbeContext, nominate: boolean): { tid: Uint8Array; bytes: Uint8Array } {
  const tid = newTransactionId();
  const attributes: { type: number; value: Uint8Array }[] = [
    { type: ATTR.USERNAME, value: Buffer.from(`${hex(c.peerId)}:${hex(c.myId)}`) },
    { type: ATTR.SOFTWARE, value: Buffer.from(STUN_SOFTWARE) },
  ];
  if (nominate) attributes.push({ type: ATTR.P2P_NOMINATE, value: Buffer.alloc(0) });
  return { tid, bytes: encodeStun({ method: METHOD.BINDING, cls: 'request', transactionId: tid, attributes }, { integrityKey: c.key, fingerprint: true }) };
}

export type ProbeEvent =
  | { kind: 'request'; tid: Uint8Array; nominate: boolean; reply: Uint8Array }
  | { kind: 'response'; tid: Uint8Array; mapped?: Endpoint }
  | { kind: 'other' };

/**
 * Classify one datagram that arrived on a punching socket. A valid probe
 * request from the peer comes back with the response to send; a valid
 * response is reported with its transaction id; anything else (udx packets,
 * strangers, wrong keys, the rendezvous) is 'other'.
 */
export function readProbe(c: ProbeContext, data: Uint8Array, from: Endpoint): ProbeEvent {
  if (!looksLikeStun(data)) return { kind: 'other' };
  let m;
  try {
    m = decodeStun(data);
  } catch (e) {
    if (e instanceof P2pcatError) return { kind: 'other' };
    throw e;
  }
  if (m.method !== METHOD.BINDING || checkFingerprint(m) !== true || !checkIntegrity(m, c.key)) return { kind: 'other' };
  if (m.cls === 'request') {
    const u = getAttr(m, ATTR.USERNAME);
    let user: string;
    try {
      user = u ? decodeText(u, 'USERNAME') : '';
    } catch {
      return { kind: 'other' };
    }
    if (user !== `${hex(c.myId)}:${hex(c.peerId)}`) return { kind: 'other' };
    const reply = encodeStun(
      { method: METHOD.BINDING, cls: 'success', transactionId: m.transactionId, attributes: [{ type: ATTR.XOR_MAPPED_ADDRESS, value: encodeXorAddress(from, m.transactionId) }] },
      { integrityKey: c.key, fingerprint: true },
    );
    return { kind: 'request', tid: m.transactionId, nominate: getAttr(m, ATTR.P2P_NOMINATE) !== undefined, reply };
  }
  if (m.cls === 'success') return { kind: 'response', tid: m.transactionId };
  return { kind: 'other' };
}

/** Who leads: the peer with the smaller id is the Noise initiator and nominates the path. */
export function isController(myId: Uint8Array, peerId: Uint8Array): boolean {
  const c = Buffer.compare(Buffer.from(myId), Buffer.from(peerId));
  if (c === 0) throw P2pcatError.protocol('the peer presented our own punch id');
  return c < 0;
}

export type Strategy = 'plain' | 'birthday-hard' | 'birthday-easy';

export const dependentMapping = (m: MappingBehaviour) => m === 'address-dependent' || m === 'address-and-port-dependent';
const dependent = dependentMapping;

/**
 * Which probing to do, from both mappings (NATLAB.md, "Which pairs punch"):
 * an endpoint-dependent side facing an endpoint-independent NAT opens many
 * sockets (hard side) while the other sprays random ports (easy side); two
 * dependent sides cannot be helped by probing and go to the relay.
 */
export function strategy(self: MappingBehaviour, peer: MappingBehaviour): Strategy {
  if (dependent(self) && peer === 'endpoint-independent') return 'birthday-hard';
  if (self === 'endpoint-independent' && dependent(peer)) return 'birthday-easy';
  return 'plain';
}

/** The classic name of a mapping, for messages. */
export function natName(m: MappingBehaviour): string {
  return dependent(m) ? `symmetric (${m} mapping)` : m === 'endpoint-independent' ? 'cone (endpoint-independent mapping)' : m === 'none' ? 'no NAT' : 'unknown';
}
