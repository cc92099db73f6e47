// LogStore (src/sync/logstore.ts) and the scan helpers (src/store/itemscan.ts)
// over real log files: the items are exactly the verified records of the
// room, (ms timestamp, msg_id), each once; the index follows other writers,
// sealed blocks and rewrites; a snapshot keeps reading the file it was taken
// from; records read back are byte-identical; a sync with nothing new never
// opens the writer.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { ChatLog } from '../../src/store/log.js';
import { LogStore } from '../../src/sync/logstore.js';
import { MemoryStore } from '../../src/sync/memstore.js';
import { decodePage, joinPage } from '../../src/sync/wire.js';
import { itemTimestamp } from '../../src/sync/engine.js';
import type { ChatRecord } from '../../src/chat/record.js';
import { checkChat, msgId } from '../../src/chat/record.js';
import { CHAT_SIGNATURE_CONTEXT } from '../../src/crypto/labels.js';
import { uuidFromPublicKey } from '../../src/crypto/identity.js';
import type { Signer } from '../../src/crypto/ed25519.js';
import { AUTHORS, ROOM, T0, chat, history, syncPair } from './helpers.js';

/** A CHAT record with any timestamp text (createChat always writes toISOString()). */
function signedAt(signer: Signer, timestamp: string, message: string): ChatRecord {
  const uuid = uuidFromPublicKey(signer.publicKey);
  const msg_id = msgId(uuid, timestamp, message);
  const body = JSON.stringify([ROOM, uuid, 'carol', timestamp, message, msg_id]);
  const sig = Buffer.from(signer.sign(Buffer.concat([Buffer.from(CHAT_SIGNATURE_CONTEXT), Buffer.from([0]), Buffer.from(body)]))).toString('hex');
  const r: ChatRecord = { type: 'CHAT', room: ROOM, uuid, username: 'carol', timestamp, message, msg_id, from: Buffer.from(signer.publicKey).toString('hex'), sig };
  if (!checkChat(r).ok) throw new Error('signedAt made an invalid record');
  return r;
}

const seed = new Uint8Array(crypto.createHash('sha256').update('p2pcat logstore test').digest());

function tmp(t: { teardown: (f: () => void) => void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-logstore-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

const key = (r: ChatRecord) => `${String(itemTimestamp(r)).padStart(16, '0')}:${r.msg_id}`;

async function itemsOf(store: LogStore): Promise<string[]> {
  const s = await store.snapshot();
  try {
    return Array.from({ length: s.items.count }, (_, i) => `${String(s.items.ts[i]).padStart(16, '0')}:${Buffer.from(s.items.id(i)).toString('hex')}`);
  } finally {
    s.release();
  }
}

t.test('items: the verified records of the room, sorted, each once', async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'a.p2plog');
  const log = await ChatLog.open(file, seed, { onWarning: () => undefined });
  const mine = history(30, 0);
  const older = history(10, 1, T0 - 86_400_000, 'older, appended later');
  const sameMs = [chat(0, T0 + 5, 'tie a'), chat(1, T0 + 5, 'tie b'), chat(2, T0 + 5, 'tie c')];
  // A timestamp with more than millisecond digits is valid, and stored in the log's non-compact form.
  const fine = signedAt(AUTHORS[2]!.signer, '2025-04-29T14:00:00.0071234Z', 'sub-millisecond');
  await log.append(mine);
  await log.append([...older, ...sameMs, fine]);
  await log.append([mine[3]!, mine[4]!]); // duplicates
  await log.append([chat(0, T0, 'another room', 'elsewhere')]);
  await log.append([{ ...chat(0, T0 + 9, 'forged'), message: 'edited' }]); // stored unverified
  const store = new LogStore({ file, seed, room: ROOM, log });
  const want = [...mine, ...older, ...sameMs, fine].map(key).sort();
  t.same(await itemsOf(store), want);
  await log.close();
  store.close();
});

t.test('the index follows other writers, seals and rewrites; snapshots keep their file', async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'b.p2plog');
  const mine = await ChatLog.open(file, seed, { onWarning: () => undefined });
  const store = new LogStore({ file, seed, room: ROOM, log: mine });
  t.same(await itemsOf(store), [], 'an empty log');
  const other = await ChatLog.open(file, seed, { onWarning: () => undefined, sealAfterFrames: 2, vacuumMinDeadBytes: 1 });
  const a = history(5, 0, T0, 'a');
  await other.append(a.slice(0, 2));
  t.equal((await itemsOf(store)).length, 2, 'what another process appended');
  const held = await store.snapshot();
  for (const r of a.slice(2)) await other.append([r]); // seals, then a rewrite (new inode)
  await other.compact();
  t.same(await itemsOf(store), a.map(key).sort(), 'after seals and a rewrite');
  const back = decodePage(joinPage(await held.read([0, 1])));
  t.same(back.map((r) => r.msg_id).sort(), a.slice(0, 2).map((r) => r.msg_id).sort(), 'an old snapshot still reads its records');
  held.release();
  await other.close();
  await mine.close();
  store.close();
});

t.test('records read back are the records written, byte for byte', async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'c.p2plog');
  const log = await ChatLog.open(file, seed, { onWarning: () => undefined });
  const recs = Array.from({ length: 2500 }, (_, i) => chat(i % 3, T0 + i * 7, `r${i} ${'é'.repeat(i % 13)}`));
  for (let i = 0; i < recs.length; i += 500) await log.append(recs.slice(i, i + 500));
  const store = new LogStore({ file, seed, room: ROOM, log });
  const s = await store.snapshot();
  const pick = [0, 1, 777, 1500, 2499];
  const got = decodePage(joinPage(await s.read(pick)));
  const byId = new Map(recs.map((r) => [r.msg_id, r]));
  t.equal(got.length, 5);
  for (const r of got) t.same(r, byId.get(r.msg_id));
  s.release();
  await log.close();
  store.close();
});

t.test('a sync that finds nothing new never opens the writer', async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'd.p2plog');
  const log = await ChatLog.open(file, seed, { onWarning: () => undefined });
  const recs = history(20, 0);
  await log.append(recs);
  await log.close();
  let opened = 0;
  const store = new LogStore({ file, seed, room: ROOM, log: () => (opened++, ChatLog.open(file, seed)) });
  await syncPair(store, new MemoryStore(ROOM, recs));
  t.equal(opened, 0);
  const more = new MemoryStore(ROOM, [...recs, chat(1, T0 + 1, 'new')]);
  const { stats } = await syncPair(store, more);
  t.equal(stats.received, 1);
  t.equal(opened, 1, 'opened once something had to be written');
  await store.openedLog?.close();
  store.close();
});

t.test('no log file yet: an empty set, and the first append creates it', async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'sub', 'e.p2plog');
  const store = new LogStore({ file, seed, room: ROOM, log: () => ChatLog.open(file, seed) });
  const { stats } = await syncPair(store, new MemoryStore(ROOM, history(7, 2)));
  t.equal(stats.received, 7);
  t.ok(fs.existsSync(file));
  t.equal((await itemsOf(store)).length, 7);
  await store.openedLog?.close();
  store.close();
});
