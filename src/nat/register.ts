// The peer's side of the rendezvous protocol (docs/nat.md, "Rendezvous
// protocol"), sans-I/O: the registration request, and what an answer (a
// Binding success response, or the indication a waiting peer receives when
// its partner arrives) says.
import { STUN_SOFTWARE } from '../crypto/labels.js';
import { PUNCH_MAX_CANDIDATES } from '../limits.js';
import { P2pcatError } from '../errors.js';
import type { Endpoint } from './addr.js';
import {
  ATTR,
  METHOD,
  NAT_CODE,
  decodeAddress,
  decodeAddressList,
  decodeErrorCode,
  decodeXorAddress,
  encodeAddressList,
  getAttr,
  natFromCode,
  newTransactionId,
  type MappingBehaviour,
  type StunMessage,
} from './stun.js';

export interface RegisterRequest {
  tokens: Uint8Array[];
  id: Uint8Array;
  candidates: { address: string; port: number }[];
  nat: MappingBehaviour;
  relay?: boolean;
}

export function registerRequest(r: RegisterRequest): StunMessage {
  const attributes: { type: number; value: Uint8Array }[] = [
    { type: ATTR.P2P_TOKEN, value: new Uint8Array(Buffer.concat(r.tokens)) },
    { type: ATTR.P2P_ID, value: r.id },
    { type: ATTR.P2P_CANDIDATES, value: encodeAddressList(r.candidates.slice(0, PUNCH_MAX_CANDIDATES)) },
    { type: ATTR.P2P_NAT, value: Uint8Array.of(NAT_CODE[r.nat]) },
    { type: ATTR.SOFTWARE, value: Buffer.from(STUN_SOFTWARE) },
  ];
  if (r.relay) attributes.push({ type: ATTR.P2P_RELAY, value: new Uint8Array(0) });
  return { method: METHOD.BINDING, cls: 'request', transactionId: newTransactionId(), attributes };
}

export interface PeerInfo {
  id: Uint8Array;
  public: Endpoint;
  candidates: Endpoint[];
  nat: MappingBehaviour;
}

export interface RegisterAnswer {
  /** Our public endpoint as the rendezvous saw it. */
  public?: Endpoint;
  /** RFC 5780 OTHER-ADDRESS, when the rendezvous has one. */
  other?: Endpoint;
  peer?: PeerInfo;
  relay: boolean;
  error?: { code: number; reason: string };
}

/** Read a success response, error response or pairing indication. Throws P2pcatError on malformed attributes. */
export function readAnswer(m: StunMessage): RegisterAnswer {
  const out: RegisterAnswer = { relay: getAttr(m, ATTR.P2P_RELAY) !== undefined };
  if (m.cls === 'error') {
    const ec = getAttr(m, ATTR.ERROR_CODE);
    out.error = ec ? decodeErrorCode(ec) : { code: 500, reason: 'error response without ERROR-CODE' };
    return out;
  }
  const xma = getAttr(m, ATTR.XOR_MAPPED_ADDRESS);
  const ma = getAttr(m, ATTR.MAPPED_ADDRESS);
  if (xma) out.public = decodeXorAddress(xma, m.transactionId);
  else if (ma) out.public = decodeAddress(ma);
  const other = getAttr(m, ATTR.OTHER_ADDRESS);
  if (other) out.other = decodeAddress(other);
  const pid = getAttr(m, ATTR.P2P_PEER_ID);
  const paddr = getAttr(m, ATTR.P2P_PEER_ADDRESS);
  if (pid && paddr) {
    if (pid.length !== 8) throw P2pcatError.protocol('stun: P2P-PEER-ID is not 8 bytes');
    const cands = getAttr(m, ATTR.P2P_CANDIDATES);
    out.peer = {
      id: pid,
      public: decodeXorAddress(paddr, m.transactionId),
      candidates: cands ? decodeAddressList(cands, PUNCH_MAX_CANDIDATES) : [],
      nat: natFromCode(getAttr(m, ATTR.P2P_PEER_NAT)?.[0]),
    };
  }
  return out;
}
