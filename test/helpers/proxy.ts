// A TCP proxy on 127.0.0.1 that records every byte in both directions, so
// tests can assert what did (not) cross the wire.
import net from 'node:net';

export interface RecordingProxy {
  port: number;
  /** All bytes seen, both directions, per connection, concatenated. */
  bytes(): Buffer;
  close(): Promise<void>;
}

export interface ProxyOptions {
  /** Keep the bytes for bytes() (default true). */
  record?: boolean;
  /** Cut both connections (RST-like destroy) once this many bytes went from client to target: a link cut mid-transfer. */
  cutAfter?: number;
}

export function recordingProxy(targetPort: number, opts: ProxyOptions = {}): Promise<RecordingProxy> {
  const chunks: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
    sockets.add(client).add(upstream);
    let up = 0;
    const pipe = (from: net.Socket, to: net.Socket) => {
      from.on('data', (d: Buffer) => {
        if (opts.record !== false) chunks.push(Buffer.from(d));
        if (from === client && opts.cutAfter !== undefined && (up += d.length) > opts.cutAfter) {
          client.destroy();
          upstream.destroy();
          return;
        }
        to.write(d);
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
      from.on('close', () => sockets.delete(from));
    };
    pipe(client, upstream);
    pipe(upstream, client);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        bytes: () => Buffer.concat(chunks),
        close: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}
