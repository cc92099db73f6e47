// NAT behaviour discovery, RFC 5780 section 4.3 (mapping: tests I, II, III)
// and 4.4 (filtering: tests I, II, III), against a server that has an
// alternate address (OTHER-ADDRESS). Mapping tests and filtering tests run on
// two different sockets at once, so that the mapping tests' packets to the
// alternate address cannot open the filter the filtering tests measure.
// classify() is pure; discoverNat() drives it over DatagramPorts.
import { P2pcatError } from '../errors.js';
import { formatEndpoint, sameEndpoint, type Endpoint } from './addr.js';
import { ATTR, METHOD, decodeAddress, encodeChangeRequest, getAttr, newTransactionId, type MappingBehaviour } from './stun.js';
import { readAnswer } from './register.js';
import { stunTransaction, type DatagramPort } from '../transport/udp.js';

export type FilteringBehaviour = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent' | 'unknown';

export interface NatReport {
  type: 'NAT';
  server: string;
  other: string | null;
  local: string;
  public: string;
  nat: boolean;
  mapping: MappingBehaviour;
  filtering: FilteringBehaviour;
  /** The classic (RFC 3489) name, for humans. */
  kind: string;
  /** True when the server has one IP address only, so address- and port-dependence cannot be told apart fully. */
  partial?: boolean;
}

export function classicName(nat: boolean, mapping: MappingBehaviour, filtering: FilteringBehaviour): string {
  if (!nat) return filtering === 'endpoint-independent' ? 'open internet' : filtering === 'unknown' ? 'no NAT' : 'no NAT, firewalled';
  if (mapping === 'address-dependent' || mapping === 'address-and-port-dependent') return 'symmetric';
  if (mapping !== 'endpoint-independent') return 'unknown';
  return { 'endpoint-independent': 'full cone', 'address-dependent': 'restricted cone', 'address-and-port-dependent': 'port-restricted cone', unknown: 'cone' }[filtering];
}

interface Answer {
  mapped: Endpoint;
  origin?: Endpoint | undefined;
  other?: Endpoint | undefined;
}

async function binding(port: DatagramPort, to: Endpoint, timeoutMs: number, change?: { changeIp: boolean; changePort: boolean }): Promise<Answer | 'error' | undefined> {
  const attributes = change ? [{ type: ATTR.CHANGE_REQUEST, value: encodeChangeRequest(change) }] : [];
  const r = await stunTransaction(port, to, { method: METHOD.BINDING, cls: 'request', transactionId: newTransactionId(), attributes }, { timeoutMs });
  if (!r) return undefined;
  try {
    const a = readAnswer(r.msg);
    if (a.error || !a.public) return 'error';
    const o = getAttr(r.msg, ATTR.RESPONSE_ORIGIN);
    return { mapped: a.public, origin: o ? decodeAddress(o) : undefined, other: a.other };
  } catch (e) {
    if (e instanceof P2pcatError) return 'error';
    throw e;
  }
}

export interface DiscoverOptions {
  server: Endpoint;
  /** Opens a fresh UDP socket (two are used). */
  open: () => Promise<DatagramPort>;
  /** This host's own addresses (to tell "no NAT" from a NAT). */
  localAddresses: string[];
  /** The local address used to reach the server, for the report. */
  localAddress: string;
  /** Per test; a test that gets no answer by then counts as "no answer". */
  timeoutMs: number;
}

export async function discoverNat(o: DiscoverOptions): Promise<NatReport> {
  const mapSock = await o.open();
  const filterSock = await o.open();
  try {
    const t1 = await binding(mapSock, o.server, o.timeoutMs);
    if (t1 === undefined) throw P2pcatError.unavailable(`no STUN answer from ${formatEndpoint(o.server)} within ${o.timeoutMs / 1000} s`);
    if (t1 === 'error') throw P2pcatError.protocol(`${formatEndpoint(o.server)} answered with a STUN error`);
    const localPort = mapSock.local().port;
    const nat = !(o.localAddresses.includes(t1.mapped.address) && t1.mapped.port === localPort);
    const other = t1.other && !sameEndpoint(t1.other, o.server) ? t1.other : undefined;
    const report: NatReport = {
      type: 'NAT',
      server: formatEndpoint(o.server),
      other: other ? formatEndpoint(other) : null,
      local: formatEndpoint({ address: o.localAddress, port: localPort }),
      public: formatEndpoint(t1.mapped),
      nat,
      mapping: 'unknown',
      filtering: 'unknown',
      kind: 'unknown',
    };
    if (!other) {
      report.mapping = nat ? 'unknown' : 'endpoint-independent';
      report.kind = classicName(nat, report.mapping, report.filtering);
      return report;
    }
    const oneIp = other.address === o.server.address;
    if (oneIp) report.partial = true;
    const [mapping, filtering] = await Promise.all([mappingTests(mapSock, o, t1.mapped, other, oneIp, nat), filteringTests(filterSock, o, oneIp)]);
    report.mapping = mapping;
    report.filtering = filtering;
    report.kind = classicName(nat, mapping, filtering);
    return report;
  } finally {
    await Promise.all([mapSock.close(), filterSock.close()]);
  }
}

async function mappingTests(s: DatagramPort, o: DiscoverOptions, m1: Endpoint, other: Endpoint, oneIp: boolean, nat: boolean): Promise<MappingBehaviour> {
  if (!nat) return 'endpoint-independent';
  // Test II: the alternate address, the primary port (one-IP server: the alternate port).
  const t2 = await binding(s, oneIp ? other : { ...other, port: o.server.port }, o.timeoutMs);
  if (t2 === undefined || t2 === 'error') return 'unknown';
  if (sameEndpoint(t2.mapped, m1)) return 'endpoint-independent';
  if (oneIp) return 'address-and-port-dependent';
  // Test III: the alternate address and port.
  const t3 = await binding(s, other, o.timeoutMs);
  if (t3 === undefined || t3 === 'error') return 'unknown';
  return sameEndpoint(t3.mapped, t2.mapped) ? 'address-dependent' : 'address-and-port-dependent';
}

async function filteringTests(s: DatagramPort, o: DiscoverOptions, oneIp: boolean): Promise<FilteringBehaviour> {
  const t1 = await binding(s, o.server, o.timeoutMs);
  if (t1 === undefined || t1 === 'error') return 'unknown';
  // Tests II (change IP and port) and III (change port) both go to the primary address, so they may run together.
  const [t2, t3] = await Promise.all([oneIp ? Promise.resolve('error' as const) : binding(s, o.server, o.timeoutMs, { changeIp: true, changePort: true }), binding(s, o.server, o.timeoutMs, { changeIp: false, changePort: true })]);
  if (t2 !== undefined && t2 !== 'error') return 'endpoint-independent';
  if (t3 === 'error') return 'unknown';
  // With one server address a pass here cannot tell endpoint-independent from address-dependent: say the weaker.
  if (t3 !== undefined) return 'address-dependent';
  return 'address-and-port-dependent';
}
