// Deterministic chat records and cached big logs, shared by bench/log.js and
// bench/sync.js: the same records, the same cache under the temp directory,
// so whichever runs first builds a log of n messages for both.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'src');
export const imp = (p) => import(path.join(DIST, p));

export const ROOM = 'bench';
export const T0 = Date.parse('2024-01-01T00:00:00.000Z');

export function seedOf(label) {
  return new Uint8Array(crypto.createHash('sha256').update(label).digest());
}

const WORDS = 'the deploy build test error ok ship fix review merge retry alert disk cpu queue latency node peer room sync log backup restore ping pong'.split(' ');
/** The i-th message text: "#i" and eight words, the same on every run. */
export function message(i) {
  let s = `#${i}`;
  let x = (i * 2654435761) >>> 0;
  for (let k = 0; k < 8; k++) {
    s += ' ' + WORDS[x % WORDS.length];
    x = Math.imul(x ^ (x >>> 13), 0x5bd1e995) >>> 0;
  }
  return s;
}

/** Records start .. start+n-1, authored in turn by `signers`, one second apart from t0. */
export async function makeRecords(n, start, signers, t0 = T0) {
  const { createChat } = await imp('chat/record.js');
  const out = [];
  for (let i = start; i < start + n; i++) {
    const a = signers[i % signers.length];
    out.push(createChat(a.signer, { room: ROOM, username: a.name, message: message(i), now: new Date(t0 + i * 1000) }));
  }
  return out;
}

export async function authors() {
  const { Signer } = await imp('crypto/ed25519.js');
  return ['alice', 'bob', 'carol', 'dave'].map((name) => ({ name, signer: new Signer(seedOf(`p2pcat bench author ${name}`)) }));
}

/** Generate (once) a log of n messages appended in batches of 1000. */
export async function bigLog(n) {
  const dir = path.join(os.tmpdir(), `p2pcat-bench-log-${n}`);
  const file = path.join(dir, 'bench.p2plog');
  const done = path.join(dir, 'done.json');
  const seed = seedOf('p2pcat bench owner');
  if (fs.existsSync(done)) return { file, seed, generated: false, ...JSON.parse(fs.readFileSync(done, 'utf8')) };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const { ChatLog } = await imp('store/log.js');
  const signers = await authors();
  const t = Date.now();
  const log = await ChatLog.open(file, seed, { onWarning: () => {} });
  for (let i = 0; i < n; i += 1000) await log.append(await makeRecords(Math.min(1000, n - i), i, signers), { checked: true });
  await log.close();
  const info = { messages: n, bytes: fs.statSync(file).size, generate_s: (Date.now() - t) / 1000 };
  fs.writeFileSync(done, JSON.stringify(info));
  return { file, seed, generated: true, ...info };
}
