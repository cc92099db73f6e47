#!/usr/bin/env node
// Sequential handshakes over loopback TCP inside one Node process (both ends
// here, so both ends' CPU is on one core), run by bench/handshake.js in a
// fresh process per measurement. Prints one JSON object on stdout.
//
//   node bench/handshake-inproc.js p2pcat N
//       dist's SecureChannel (Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b, then
//       HELLO both ways: Ed25519 identity bound to the Noise static key), a
//       fresh Noise static key per session as `p2pcat connect/listen` make,
//       one long-lived Ed25519 identity per side. Done: the initiator has
//       verified the responder's HELLO.
//   node bench/handshake-inproc.js tls N CERTDIR
//   node bench/handshake-inproc.js tls-mutual N CERTDIR
//       node:tls, TLS 1.3, ECDSA P-256 certificate (mutual: the client shows
//       one too and the server requests it). Done: the client has read one
//       byte the server wrote once its own handshake was complete, so both
//       sides are finished, as with p2pcat.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

// The build to measure: bench/run.js passes its copy of it; by hand, this checkout's.
const root = process.env.BENCH_BUILD_DIR || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [impl, nArg, certDir] = process.argv.slice(2);
const n = Number(nArg);
if (!['p2pcat', 'tls', 'tls-mutual'].includes(impl) || !(n > 0)) {
  process.stderr.write('usage: handshake-inproc.js p2pcat|tls|tls-mutual N [CERTDIR]\n');
  process.exit(64);
}
const WARMUP = Math.min(50, Math.ceil(n / 10));
const TIMEOUT_MS = 10_000;

function withTimeout(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function p2pcatSetup() {
  const dist = (p) => import(path.join(root, 'dist/src', p));
  const { SecureChannel } = await dist('transport/secure-channel.js');
  const { deriveRoom } = await dist('crypto/room.js');
  const { Signer, generateSigningKey } = await dist('crypto/ed25519.js');
  const room = deriveRoom('lobby');
  const alice = new Signer(generateSigningKey().seed);
  const bob = new Signer(generateSigningKey().seed);
  let responderUp = 0;
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('error', () => {});
    const ch = new SecureChannel({ initiator: false, room, signer: bob, username: 'bob' });
    sock.on('data', (d) => {
      let r;
      try {
        r = ch.receive(d);
      } catch {
        sock.destroy();
        return;
      }
      for (const f of r.send) sock.write(f);
      if (r.up) {
        responderUp++;
        sock.end();
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  const one = () =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const sock = net.connect({ host: '127.0.0.1', port });
      sock.setNoDelay(true);
      const ch = new SecureChannel({ initiator: true, room, signer: alice, username: 'alice' });
      sock.on('connect', () => {
        for (const f of ch.start()) sock.write(f);
      });
      sock.on('data', (d) => {
        let r;
        try {
          r = ch.receive(d);
        } catch (e) {
          sock.destroy();
          reject(e);
          return;
        }
        for (const f of r.send) sock.write(f);
        if (r.up) {
          const dt = performance.now() - t0;
          sock.end();
          resolve(dt);
        }
      });
      sock.on('error', reject);
    });
  return { one, close: () => server.close(), check: () => responderUp };
}

async function tlsSetup(mutual) {
  const key = fs.readFileSync(path.join(certDir, 'key.pem'));
  const cert = fs.readFileSync(path.join(certDir, 'cert.pem'));
  let serverDone = 0;
  const server = tls.createServer({ key, cert, minVersion: 'TLSv1.3', requestCert: mutual, rejectUnauthorized: false }, (s) => {
    s.on('error', () => {});
    if (mutual && !s.getPeerCertificate()?.raw) {
      s.destroy();
      return;
    }
    serverDone++;
    s.end('k');
  });
  server.on('tlsClientError', () => {});
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  const clientOpts = { host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1.3', ...(mutual ? { key, cert } : {}) };
  const one = () =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const s = tls.connect(clientOpts);
      s.setNoDelay(true);
      s.once('data', () => {
        const dt = performance.now() - t0;
        s.destroy();
        resolve(dt);
      });
      s.on('error', reject);
    });
  return { one, close: () => server.close(), check: () => serverDone };
}

const setup = impl === 'p2pcat' ? await p2pcatSetup() : await tlsSetup(impl === 'tls-mutual');
for (let i = 0; i < WARMUP; i++) await withTimeout(setup.one(), 'a warm-up handshake');
const lat = [];
const t0 = performance.now();
for (let i = 0; i < n; i++) lat.push(await withTimeout(setup.one(), `handshake ${i}`));
const seconds = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const pct = (p) => lat[Math.min(lat.length, Math.max(1, Math.ceil((p / 100) * lat.length))) - 1];
process.stdout.write(
  JSON.stringify({ impl, n, warmup: WARMUP, seconds, perSecond: n / seconds, p50Ms: pct(50), p99Ms: pct(99), otherSideCompleted: setup.check() }) + '\n',
);
setup.close();
process.exit(0);
