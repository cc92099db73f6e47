// A TCP proxy on 127.0.0.1 that records every byte in both directions, so
// tests can assert what did (not) cross the wire.
import net from 'node:net';

export interface RecordingProxy {
  port: number;
  /** All bytes seen, both directions, per connection, concatenated. */
  bytes(): Buffer;
  close(): Promise<void>;
}

export function recordingProxy(targetPort: number): Promise<RecordingProxy> {
  const chunks: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
    sockets.add(client).add(upstream);
    const pipe = (from: net.Socket, to: net.Socket) => {
      from.on('data', (d: Buffer) => {
        chunks.push(Buffer.from(d));
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
