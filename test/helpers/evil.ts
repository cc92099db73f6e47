// An in-test member built from the library: a real Noise handshake and HELLO,
// then whatever the test wants to send, well-formed or not (hostile-peer tests).
import net from 'node:net';
import { SecureChannel } from '../../src/transport/secure-channel.js';
import { deriveRoom } from '../../src/crypto/room.js';
import { Signer, generateSigningKey } from '../../src/crypto/ed25519.js';
import type { Message, MsgName } from '../../src/wire/messages.js';

export interface Evil {
  socket: net.Socket;
  ch: SecureChannel;
  signer: Signer;
  /** Every message the peer sent after the handshake. */
  received: Message[];
  send(type: MsgName, body: Record<string, unknown>): boolean;
  sendBinary(type: MsgName, parts: Uint8Array[]): boolean;
  /** The first message received that matches (waits up to timeoutMs). */
  next(pred: (m: Message) => boolean, timeoutMs?: number): Promise<Message>;
}

/** `deaf`: stop reading what the peer sends once the session is up (a member that never reads). */
export async function evil(port: number, name = 'mallory', room = 'lobby', opts: { deaf?: boolean } = {}): Promise<Evil> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
  socket.on('error', () => {});
  const signer = new Signer(generateSigningKey().seed);
  const ch = new SecureChannel({ initiator: true, room: deriveRoom(room), signer, username: name });
  const received: Message[] = [];
  const waiters: (() => void)[] = [];
  for (const f of ch.start()) socket.write(f);
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (d) => {
      try {
        const r = ch.receive(d);
        for (const f of r.send) socket.write(f);
        received.push(...r.messages);
        if (r.messages.length) for (const w of waiters.splice(0)) w();
        if (r.up) resolve();
      } catch (e) {
        reject(e);
      }
    });
  });
  if (opts.deaf) socket.removeAllListeners('data');
  return {
    socket,
    ch,
    signer,
    received,
    send: (type, body) => socket.write(ch.seal(type, body)),
    sendBinary: (type, parts) => socket.write(ch.sealBinary(type, parts)),
    next: (pred, timeoutMs = 30_000) =>
      new Promise<Message>((resolve, reject) => {
        const t0 = Date.now();
        const check = () => {
          const m = received.find(pred);
          if (m) return resolve(m);
          if (Date.now() - t0 > timeoutMs) return reject(new Error(`no matching message within ${timeoutMs} ms; got ${received.map((x) => x.type).join(',')}`));
          waiters.push(check);
          setTimeout(check, 200).unref();
        };
        check();
      }),
  };
}
