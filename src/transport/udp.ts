// UDP drivers for the NAT code: one small interface over a Node dgram socket
// or a udx-native socket (so the punched socket and the reliable stream's
// socket are one and the same), and a STUN client transaction with
// retransmissions (RFC 8489 section 6.2.1: RTO doubling, bounded in time).
import dgram from 'node:dgram';
import type { UDXSocket } from 'udx-native';
import { P2pcatError } from '../errors.js';
import { STUN_RTO_MS, STUN_TRANSACTION_TIMEOUT_MS } from '../limits.js';
import { endpoint, type Endpoint } from '../nat/addr.js';
import { decodeStun, encodeStun, looksLikeStun, type DecodedStun, type EncodeOptions, type StunMessage } from '../nat/stun.js';

export interface DatagramPort {
  /** Where it is bound (the wildcard address when bound to all). */
  local(): Endpoint;
  send(data: Uint8Array, to: { address: string; port: number }): void;
  /** Subscribe to incoming datagrams; returns the unsubscribe function. */
  onMessage(fn: (data: Uint8Array, from: Endpoint) => void): () => void;
  close(): Promise<void>;
}

export async function openDgram(bind: { address?: string | undefined; port?: number | undefined } = {}): Promise<DatagramPort> {
  const fam = bind.address?.includes(':') ? 'udp6' : 'udp4';
  const s = dgram.createSocket({ type: fam });
  await new Promise<void>((resolve, reject) => {
    s.once('error', (e: NodeJS.ErrnoException) => reject(new P2pcatError(e.code === 'EACCES' ? 'P2PCAT_ERR_USAGE' : 'P2PCAT_ERR_UNAVAILABLE', `cannot bind UDP ${bind.address ?? '0.0.0.0'}:${bind.port ?? 0}: ${e.code ?? e.message}`, { cause: e })));
    s.bind(bind.port ?? 0, bind.address, () => resolve());
  });
  s.on('error', () => {
    /* ICMP errors on an unconnected socket are not ours to act on */
  });
  return dgramPort(s);
}

export function dgramPort(s: dgram.Socket): DatagramPort {
  return {
    local: () => {
      const a = s.address();
      return endpoint(a.address, a.port);
    },
    send: (data, to) => s.send(data, to.port, to.address),
    onMessage(fn) {
      const h = (msg: Buffer, rinfo: dgram.RemoteInfo) => {
        let from: Endpoint;
        try {
          from = endpoint(rinfo.address, rinfo.port);
        } catch {
          return;
        }
        fn(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), from);
      };
      s.on('message', h);
      return () => s.off('message', h);
    },
    close: () => new Promise((resolve) => s.close(() => resolve())),
  };
}

/** The raw-datagram side of a udx socket (udx's own packets never reach 'message' when they belong to a stream). */
export function udxPort(s: UDXSocket): DatagramPort {
  return {
    local: () => {
      const a = s.address();
      if (!a) throw new RangeError('udx socket not bound');
      return endpoint(a.host, a.port);
    },
    send: (data, to) => {
      if (!s.closing) s.trySend(data, to.port, to.address);
    },
    onMessage(fn) {
      const h = (msg: Buffer, from: { host: string; port: number }) => {
        let f: Endpoint;
        try {
          f = endpoint(from.host, from.port);
        } catch {
          return;
        }
        fn(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), f);
      };
      s.on('message', h);
      return () => s.off('message', h);
    },
    close: () => s.close(),
  };
}

export interface TransactionResult {
  msg: DecodedStun;
  from: Endpoint;
}

/**
 * Send a STUN request and wait for the response with the same transaction id
 * (from any address: RFC 5780 answers come from the alternate one).
 * Retransmits at RTO, 2*RTO, 4*RTO ... until timeoutMs; resolves undefined on timeout.
 */
export function stunTransaction(
  port: DatagramPort,
  to: { address: string; port: number },
  msg: StunMessage,
  opts: { timeoutMs?: number; rtoMs?: number; encode?: EncodeOptions; signal?: AbortSignal } = {},
): Promise<TransactionResult | undefined> {
  const timeoutMs = opts.timeoutMs ?? STUN_TRANSACTION_TIMEOUT_MS;
  let rto = opts.rtoMs ?? STUN_RTO_MS;
  const bytes = encodeStun(msg, opts.encode ?? { fingerprint: true });
  const tid = Buffer.from(msg.transactionId);
  return new Promise((resolve) => {
    let retx: NodeJS.Timeout | undefined;
    const finish = (r: TransactionResult | undefined) => {
      clearTimeout(retx);
      clearTimeout(deadline);
      off();
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(r);
    };
    const onAbort = () => finish(undefined);
    const off = port.onMessage((data, from) => {
      if (!looksLikeStun(data) || !tid.equals(data.subarray(8, 20))) return;
      let m: DecodedStun;
      try {
        m = decodeStun(data);
      } catch (e) {
        if (e instanceof P2pcatError) return;
        throw e;
      }
      if (m.cls !== 'success' && m.cls !== 'error') return;
      finish({ msg: m, from });
    });
    const deadline = setTimeout(() => finish(undefined), timeoutMs);
    const sendOnce = () => {
      port.send(bytes, to);
      retx = setTimeout(sendOnce, rto);
      rto *= 2;
    };
    opts.signal?.addEventListener('abort', onAbort);
    sendOnce();
  });
}

/** The local address the kernel would use to reach `to` (a connected UDP socket sends nothing). */
export function localAddressFor(to: { address: string; port: number }): Promise<string> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(to.address.includes(':') ? 'udp6' : 'udp4');
    s.on('error', () => resolve(to.address.includes(':') ? '::' : '0.0.0.0'));
    s.connect(to.port, to.address, () => {
      const a = s.address().address;
      s.close();
      resolve(a);
    });
  });
}
