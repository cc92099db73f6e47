// The driver of `p2pcat punch` (docs/nat.md, "Punching"): one udx-native
// socket does everything — STUN to the rendezvous, the punch probes, and
// then the reliable stream — so the NAT mapping the peer learnt about is the
// one the stream uses.
//   1. mapping: Binding to the rendezvous, then to its OTHER-ADDRESS
//      (RFC 5780 section 4.3, tests I-III) -> none / endpoint-independent /
//      address(-and-port)-dependent;
//   2. register with the room tokens until the rendezvous pairs us;
//   3. probe every candidate of the peer at once (public and local), answer
//      its probes, send triggered probes back (RFC 8445 section 7.3.1.4);
//      the smaller id nominates the first path that answered;
//      endpoint-dependent vs endpoint-independent: birthday probing (many
//      sockets on the hard side, random ports from the easy side);
//   4. nothing after PUNCH_DIRECT_TIMEOUT_MS: ask the rendezvous to relay
//      (both must ask), or fail with P2PCAT_ERR_PUNCH_FAILED naming both NATs;
//   5. a udx stream on the chosen (socket, endpoint), with keep-alives.
import crypto from 'node:crypto';
import UDX, { type UDXSocket } from 'udx-native';
import { P2pcatError } from '../errors.js';
import {
  PUNCH_BIRTHDAY_PROBES_MAX,
  PUNCH_BIRTHDAY_PROBES_PER_SEC,
  PUNCH_BIRTHDAY_SOCKETS,
  PUNCH_DIRECT_TIMEOUT_MS,
  PUNCH_HOPELESS_TIMEOUT_MS,
  PUNCH_KEEPALIVE_MS,
  PUNCH_PROBE_INTERVAL_MS,
  PUNCH_REGISTER_INTERVAL_MS,
  RELAY_GRANT_TIMEOUT_MS,
} from '../limits.js';
import { formatEndpoint, sameEndpoint, type Endpoint } from '../nat/addr.js';
import { dependentMapping, isController, natName, probeRequest, readProbe, strategy, type ProbeContext } from '../nat/punch.js';
import { readAnswer, registerRequest, type PeerInfo, type RegisterAnswer } from '../nat/register.js';
import { METHOD, decodeStun, encodeStun, looksLikeStun, newTransactionId, type MappingBehaviour, type StunMessage } from '../nat/stun.js';
import { newPeerId, probeKey, roomTokens } from '../nat/token.js';
import { localAddressFor, stunTransaction, udxPort, type DatagramPort } from './udp.js';
import { UdxDuplex } from './udp-stream.js';

export interface PunchOptions {
  rendezvous: Endpoint;
  roomKey: Uint8Array;
  /** Local UDP port (0: any). */
  port?: number;
  /** How long to wait for a peer at the rendezvous (ms). */
  waitMs: number;
  /** How long the direct attempt may take before the relay is asked (ms). */
  directTimeoutMs?: number;
  /** Ask the rendezvous to relay when no direct path is found. */
  relay: boolean;
  /** This host's IPv4 addresses (candidates for a peer on the same LAN). */
  localAddresses: string[];
  /** Progress notes for stderr. */
  log?: (msg: string) => void;
}

export interface PathRecord {
  type: 'PATH';
  path: 'direct' | 'relayed';
  via: 'public' | 'local' | 'peer-reflexive' | 'birthday' | 'relay';
  local: string;
  public: string | null;
  remote: string;
  peer_public: string;
  nat: { self: MappingBehaviour; peer: MappingBehaviour };
  role: 'initiator' | 'responder';
  ms: number;
}

export interface PunchResult {
  stream: UdxDuplex;
  direction: 'in' | 'out';
  addr: string;
  path: PathRecord;
}

const STREAM_ID = { initiator: 1, responder: 2 } as const;
const PENDING_MAX = 8192;
const HARD_SIDE_REPROBE_MS = 1000;
const BIRTHDAY_TICK_MS = 10;
const BIND_HOST = '0.0.0.0';

export async function punch(o: PunchOptions): Promise<PunchResult> {
  const log = o.log ?? (() => {});
  const started = Date.now();
  const udx = new UDX();
  const main = udx.createSocket();
  try {
    main.bind(o.port ?? 0, BIND_HOST);
  } catch (e) {
    throw P2pcatError.unavailable(`cannot bind UDP port ${o.port ?? 0}: ${(e as Error).message}`, e);
  }
  const sockets = new Set<UDXSocket>([main]);
  let keep: UDXSocket | undefined;
  try {
    const port = udxPort(main);
    const self = await measureMapping(port, o);
    log(`public address ${self.public ? formatEndpoint(self.public) : '?'}, NAT: ${natName(self.mapping)}`);
    const id = newPeerId();
    const localPort = port.local().port;
    const candidates = o.localAddresses.map((a) => ({ address: a, port: localPort }));
    const peer = await waitForPeer(port, o, id, candidates, self.mapping);
    log(`paired: peer at ${formatEndpoint(peer.public)} (${natName(peer.nat)}), ${peer.candidates.length} local candidate(s)`);
    const r = await punchPath({ udx, main, sockets, o, id, peer, self, started, log });
    keep = r.socket;
    return r.result;
  } finally {
    for (const s of sockets) if (s !== keep) void s.close();
  }
}

async function measureMapping(port: DatagramPort, o: PunchOptions): Promise<{ public?: Endpoint; other?: Endpoint; mapping: MappingBehaviour }> {
  const bind = async (to: Endpoint) => {
    const r = await stunTransaction(port, to, { method: METHOD.BINDING, cls: 'request', transactionId: newTransactionId(), attributes: [] });
    if (!r) return undefined;
    try {
      return readAnswer(r.msg);
    } catch (e) {
      if (e instanceof P2pcatError) return undefined;
      throw e;
    }
  };
  const t1 = await bind(o.rendezvous);
  if (!t1?.public) throw P2pcatError.unavailable(`the rendezvous ${formatEndpoint(o.rendezvous)} did not answer`);
  const local = port.local();
  if (o.localAddresses.includes(t1.public.address) && t1.public.port === local.port) return { public: t1.public, mapping: 'none' };
  const other = t1.other && !sameEndpoint(t1.other, o.rendezvous) ? t1.other : undefined;
  if (!other) return { public: t1.public, mapping: 'unknown' };
  const oneIp = other.address === o.rendezvous.address;
  const t2 = await bind(oneIp ? other : { ...other, port: o.rendezvous.port });
  if (!t2?.public) return { public: t1.public, other, mapping: 'unknown' };
  if (sameEndpoint(t2.public, t1.public)) return { public: t1.public, other, mapping: 'endpoint-independent' };
  if (oneIp) return { public: t1.public, other, mapping: 'address-and-port-dependent' };
  const t3 = await bind(other);
  if (!t3?.public) return { public: t1.public, other, mapping: 'unknown' };
  return { public: t1.public, other, mapping: sameEndpoint(t3.public, t2.public) ? 'address-dependent' : 'address-and-port-dependent' };
}

/** Register every PUNCH_REGISTER_INTERVAL_MS until the rendezvous names a peer (in a response, or an indication). */
function waitForPeer(port: DatagramPort, o: PunchOptions, id: Uint8Array, candidates: { address: string; port: number }[], nat: MappingBehaviour): Promise<PeerInfo> {
  return new Promise((resolve, reject) => {
    const tids = new Set<string>();
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: P2pcatError | undefined, peer?: PeerInfo) => {
      clearInterval(timer);
      clearTimeout(deadline);
      off();
      if (err) reject(err);
      else resolve(peer!);
    };
    const off = port.onMessage((data, from) => {
      if (!looksLikeStun(data) || !sameEndpoint(from, o.rendezvous)) return;
      let a: RegisterAnswer;
      try {
        const m = decodeStun(data);
        if (m.cls !== 'indication' && !tids.has(Buffer.from(m.transactionId).toString('hex'))) return;
        a = readAnswer(m);
      } catch (e) {
        if (e instanceof P2pcatError) return;
        throw e;
      }
      if (a.error) return finish(P2pcatError.unavailable(`the rendezvous refused to register us: ${a.error.code} ${a.error.reason}`));
      if (a.peer) finish(undefined, a.peer);
    });
    const send = () => {
      const m = registerRequest({ tokens: roomTokens(o.roomKey, Date.now()), id, candidates, nat });
      tids.add(Buffer.from(m.transactionId).toString('hex'));
      if (tids.size > 64) tids.delete(tids.values().next().value!);
      port.send(encodeRequest(m), o.rendezvous);
    };
    const deadline = setTimeout(() => finish(P2pcatError.timeout(`no peer of this room came to the rendezvous ${formatEndpoint(o.rendezvous)} within ${o.waitMs / 1000} s`)), o.waitMs);
    timer = setInterval(send, PUNCH_REGISTER_INTERVAL_MS);
    send();
  });
}

function encodeRequest(m: StunMessage): Uint8Array {
  return encodeStun(m, { fingerprint: true });
}

interface PathCtx {
  udx: UDX;
  main: UDXSocket;
  sockets: Set<UDXSocket>;
  o: PunchOptions;
  id: Uint8Array;
  peer: PeerInfo;
  self: { public?: Endpoint; mapping: MappingBehaviour };
  started: number;
  log: (msg: string) => void;
}

function punchPath(c: PathCtx): Promise<{ socket: UDXSocket; result: PunchResult }> {
  const { udx, main, sockets, o, id, peer, self } = c;
  const ctx: ProbeContext = { myId: id, peerId: peer.id, key: probeKey(o.roomKey) };
  const controller = isController(id, peer.id);
  const strat = strategy(self.mapping, peer.nat);
  // Two endpoint-dependent NATs: probing cannot find a path (NATLAB.md), so go to the relay sooner.
  const hopeless = strat === 'plain' && dependentMapping(self.mapping) && dependentMapping(peer.nat);
  const direct = o.directTimeoutMs ?? (hopeless ? PUNCH_HOPELESS_TIMEOUT_MS : PUNCH_DIRECT_TIMEOUT_MS);
  const mainPort = udxPort(main);
  const myLocal = new Set(o.localAddresses.map((a) => formatEndpoint({ address: a, port: mainPort.local().port })));
  const targets = new Map<string, Endpoint>();
  const addTarget = (e: Endpoint) => {
    const k = formatEndpoint(e);
    if (!myLocal.has(k) && !targets.has(k)) targets.set(k, e);
  };
  addTarget(peer.public);
  for (const e of peer.candidates) addTarget(e);
  const pending = new Map<string, { sock: UDXSocket; nominate: boolean }>();
  const offs: (() => void)[] = [];
  const timers: NodeJS.Timeout[] = [];
  let nominated: { sock: UDXSocket; to: Endpoint } | undefined;
  let settled = false;
  let relaying = false;
  const sockIndex = new Map<UDXSocket, number>();
  c.log(`punching ${[...targets.keys()].join(', ')} as ${controller ? 'initiator' : 'responder'}${strat === 'plain' ? '' : `, ${strat.replace('-', ' ')} side`}`);

  return new Promise((resolve, reject) => {
    const stopAll = () => {
      for (const t of timers) {
        clearInterval(t);
        clearTimeout(t);
      }
      for (const f of offs.splice(0)) f();
    };
    const fail = (e: P2pcatError) => {
      if (settled) return;
      settled = true;
      stopAll();
      reject(e);
    };
    const sendProbe = (sock: UDXSocket, to: Endpoint, nominate: boolean) => {
      const p = probeRequest(ctx, nominate);
      pending.set(Buffer.from(p.tid).toString('hex'), { sock, nominate });
      if (pending.size > PENDING_MAX) pending.delete(pending.keys().next().value!);
      if (!sock.closing) sock.trySend(p.bytes, to.port, to.address);
    };
    const done = (sock: UDXSocket, to: Endpoint, via: PathRecord['via']) => {
      if (settled) return;
      settled = true;
      stopAll();
      // Keep answering the peer's probes on the chosen socket (a late nomination, a lost response).
      const keepAnswering = udxPort(sock).onMessage((data, from) => {
        const ev = readProbe(ctx, data, from);
        if (ev.kind === 'request') sock.trySend(ev.reply, from.port, from.address);
      });
      const stream = udx.createStream(controller ? STREAM_ID.initiator : STREAM_ID.responder);
      stream.connect(sock, controller ? STREAM_ID.responder : STREAM_ID.initiator, to.port, to.address);
      stream.setKeepalive(PUNCH_KEEPALIVE_MS);
      stream.once('close', () => {
        keepAnswering();
        void sock.close();
      });
      const local = udxPort(sock).local();
      const make = (localAddress: string): PathRecord => ({
        type: 'PATH',
        path: via === 'relay' ? 'relayed' : 'direct',
        via,
        local: formatEndpoint({ address: localAddress, port: local.port }),
        public: self.public ? formatEndpoint(self.public) : null,
        remote: formatEndpoint(to),
        peer_public: formatEndpoint(peer.public),
        nat: { self: self.mapping, peer: peer.nat },
        role: controller ? 'initiator' : 'responder',
        ms: Date.now() - c.started,
      });
      const result = { stream: new UdxDuplex(stream, to), direction: controller ? ('out' as const) : ('in' as const), addr: formatEndpoint(to) };
      void localAddressFor(to).then((a) => resolve({ socket: sock, result: { ...result, path: make(a) } }));
    };
    const classify = (sock: UDXSocket, to: Endpoint): PathRecord['via'] => {
      if (sock !== main) return 'birthday';
      if (sameEndpoint(to, peer.public)) return 'public';
      if (peer.candidates.some((e) => sameEndpoint(e, to))) return 'local';
      // The easy side reached a port of the hard side other than its mapping toward the rendezvous.
      if (strat === 'birthday-easy' && to.address === peer.public.address) return 'birthday';
      return 'peer-reflexive';
    };
    const triggered = new Set<string>();
    const listen = (sock: UDXSocket) => {
      sockIndex.set(sock, sockIndex.size);
      offs.push(
        udxPort(sock).onMessage((data, from) => {
          if (settled) return;
          const ev = readProbe(ctx, data, from);
          if (ev.kind === 'request') {
            sock.trySend(ev.reply, from.port, from.address);
            if (sock === main) addTarget(from);
            if (ev.nominate && !controller) return done(sock, from, classify(sock, from));
            // Triggered check: probe back at once on the path the peer just proved open toward us.
            const k = `${sockIndex.get(sock)}:${formatEndpoint(from)}`;
            if (!triggered.has(k) && triggered.size < PENDING_MAX) {
              triggered.add(k);
              sendProbe(sock, from, false);
            }
          } else if (ev.kind === 'response') {
            const p = pending.get(Buffer.from(ev.tid).toString('hex'));
            if (!p || p.sock !== sock) return;
            if (!controller || relaying) return;
            if (p.nominate) return done(sock, from, classify(sock, from));
            if (!nominated) {
              nominated = { sock, to: from };
              c.log(`path found: ${formatEndpoint(from)}; nominating`);
              sendProbe(sock, from, true);
            }
          }
        }),
      );
    };
    listen(main);

    // Plain probes from the main socket to every target (or only the nomination, once there is one).
    const tick = () => {
      if (nominated) return sendProbe(nominated.sock, nominated.to, true);
      for (const t of targets.values()) sendProbe(main, t, false);
    };
    timers.push(setInterval(tick, PUNCH_PROBE_INTERVAL_MS));
    tick();

    if (strat === 'birthday-hard') {
      // Many sockets, each opening its own mapping toward the peer's public endpoint.
      const list: UDXSocket[] = [];
      for (let i = 0; i < PUNCH_BIRTHDAY_SOCKETS; i++) {
        const s = udx.createSocket();
        try {
          s.bind(0, BIND_HOST);
        } catch {
          break;
        }
        sockets.add(s);
        list.push(s);
        listen(s);
        sendProbe(s, peer.public, false);
      }
      let i = 0;
      timers.push(
        setInterval(() => {
          // Re-probe a slice each tick so every socket sends about once per HARD_SIDE_REPROBE_MS.
          const n = Math.ceil((list.length * PUNCH_PROBE_INTERVAL_MS) / HARD_SIDE_REPROBE_MS);
          for (let k = 0; k < n && !nominated && list.length > 0; k++) sendProbe(list[i++ % list.length]!, peer.public, false);
        }, PUNCH_PROBE_INTERVAL_MS),
      );
    } else if (strat === 'birthday-easy') {
      // Random ports on the peer's public address, hoping to hit one of its many mappings.
      let sent = 0;
      const perTick = Math.max(1, Math.round((PUNCH_BIRTHDAY_PROBES_PER_SEC * BIRTHDAY_TICK_MS) / 1000));
      const spray = setInterval(() => {
        if (nominated || sent >= PUNCH_BIRTHDAY_PROBES_MAX) return clearInterval(spray);
        for (let k = 0; k < perTick; k++, sent++) sendProbe(main, { ...peer.public, port: 1024 + crypto.randomInt(65536 - 1024) }, false);
      }, BIRTHDAY_TICK_MS);
      timers.push(spray);
    }

    // No direct path in time: the relay, if allowed and offered.
    timers.push(
      setTimeout(
        () => {
          if (settled || nominated) {
            if (!settled && nominated) {
              // A nomination is in flight: give it one more period, then give up.
              timers.push(setTimeout(() => fail(P2pcatError.punchFailed(`the peer did not confirm the path ${formatEndpoint(nominated!.to)}`)), direct / 2));
            }
            return;
          }
          const why = `no direct path within ${direct / 1000} s (this side: ${natName(self.mapping)}; peer: ${natName(peer.nat)})`;
          if (!o.relay) return fail(P2pcatError.punchFailed(`${why}; relay not tried (--no-relay)`));
          c.log(`${why}; asking the rendezvous to relay`);
          askRelay(why);
        },
        controller ? direct : direct + 1000,
      ),
    );

    const askRelay = (why: string) => {
      relaying = true;
      for (const t of timers.splice(0)) {
        clearInterval(t);
        clearTimeout(t);
      }
      const tids = new Set<string>();
      offs.push(
        mainPort.onMessage((data, from) => {
          if (settled || !looksLikeStun(data) || !sameEndpoint(from, o.rendezvous)) return;
          let a: RegisterAnswer;
          try {
            const m = decodeStun(data);
            if (!tids.has(Buffer.from(m.transactionId).toString('hex'))) return;
            a = readAnswer(m);
          } catch (e) {
            if (e instanceof P2pcatError) return;
            throw e;
          }
          if (a.error) return fail(P2pcatError.punchFailed(`${why}; the rendezvous refused to relay (${a.error.code} ${a.error.reason})`));
          if (a.relay) done(main, o.rendezvous, 'relay');
        }),
      );
      const send = () => {
        const m = registerRequest({ tokens: roomTokens(o.roomKey, Date.now()), id, candidates: [], nat: self.mapping, relay: true });
        tids.add(Buffer.from(m.transactionId).toString('hex'));
        mainPort.send(encodeRequest(m), o.rendezvous);
      };
      timers.push(setInterval(send, PUNCH_REGISTER_INTERVAL_MS));
      timers.push(setTimeout(() => fail(P2pcatError.punchFailed(`${why}, and the peer did not ask for the relay within ${RELAY_GRANT_TIMEOUT_MS / 1000} s`)), RELAY_GRANT_TIMEOUT_MS));
      send();
    };
  });
}
