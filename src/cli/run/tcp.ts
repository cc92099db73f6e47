// Dialling a TCP target, shared by chat mode (tcpDialer) and raw mode (which
// reads the socket with onread): one connect timeout, one set of coded errors.
import net from 'node:net';
import { P2pcatError } from '../../errors.js';
import { CONNECT_TIMEOUT_MS } from '../../limits.js';

/** A TCP connection to a target, with CONNECT_TIMEOUT_MS and coded errors; `extra` adds socket options (onread). */
export function connectTcp(target: { host: string; port: number; text: string }, extra: Partial<net.TcpNetConnectOpts> = {}): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ ...extra, host: target.host, port: target.port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(P2pcatError.unavailable(`${target.text}: no answer within ${CONNECT_TIMEOUT_MS / 1000} s`));
    }, CONNECT_TIMEOUT_MS);
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(P2pcatError.unavailable(`${target.text}: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ENOTFOUND' ? 'host not found' : (e.code ?? e.message)}`, e));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}
