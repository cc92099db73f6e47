// Whole processes against one log: a writer killed with SIGKILL at random
// moments (mid-append, mid-seal, mid-rewrite, holding the lock), and two
// writer processes appending at once. The writer is test/store/fixtures/writer.ts.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { checkChat } from '../../src/chat/record.js';
import { generateSigningKey } from '../../src/crypto/ed25519.js';
import { ChatLog, readLog, type LogProblem } from '../../src/store/log.js';
import type { StoredRecord } from '../../src/store/records.js';

const WRITER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'writer.js');
const owner = generateSigningKey();
const seedHex = Buffer.from(owner.seed).toString('hex');

function tmpDir(t: { teardown: (fn: () => void) => void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-crash-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

interface Writer {
  acked: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): void;
}

function startWriter(file: string, author: string, count: number, sealAfter = 5): Writer {
  const child = spawn(process.execPath, [WRITER, file, seedHex, author, String(count), String(sealAfter)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const w: Writer = { acked: [], stderr: [], exited: undefined as never, kill: () => child.kill('SIGKILL') };
  let buf = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop()!;
    // Only whole lines: an id is acknowledged once its newline arrived.
    w.acked.push(...lines.filter((l) => l.length > 0));
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => w.stderr.push(d));
  w.exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  // Bound every child's life, whatever happens to the test.
  const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
  void w.exited.then(() => clearTimeout(guard));
  return w;
}

async function readAll(file: string): Promise<{ records: StoredRecord[]; problems: LogProblem[] }> {
  const problems: LogProblem[] = [];
  const records: StoredRecord[] = [];
  for await (const b of readLog(file, owner.seed, { onProblem: (p) => problems.push(p), checkSuperseded: true })) records.push(...b);
  return { records, problems };
}

t.test('SIGKILL at random moments: every acknowledged record survives, nothing else is damaged', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'lobby.p2plog');
  const started = Date.now();
  const allAcked = new Set<string>();
  let cuts = 0;
  let iterations = 0;
  for (let i = 0; i < 25 && Date.now() - started < 40_000; i++, iterations++) {
    const w = startWriter(file, `w${i}`, 100_000, 2 + (i % 6));
    // Wait for the writer to get going (open, first acks), then a random moment more.
    for (let k = 0; k < 400 && w.acked.length === 0; k++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, crypto.randomInt(0, 120)));
    w.kill();
    const exit = await w.exited;
    t.equal(exit.signal, 'SIGKILL', `iteration ${i}: killed`);
    for (const id of w.acked) allAcked.add(id);
    // The next writer open repairs (stale lock, torn tail); then the file must be clean.
    const warnings: string[] = [];
    const log = await ChatLog.open(file, owner.seed, { onWarning: (m) => warnings.push(m), lockTimeoutMs: 5_000 });
    if (warnings.some((m) => /torn tail/.test(m))) cuts++;
    t.notOk(warnings.some((m) => /damaged/.test(m)), `iteration ${i}: no damage beyond a torn tail (${warnings.join('; ')})`);
    const missing = [...allAcked].filter((id) => !log.has(id));
    t.same(missing, [], `iteration ${i}: all ${allAcked.size} acknowledged records are there`);
    await log.close();
    t.notOk(fs.existsSync(`${file}.lock`), 'no lock left behind');
  }
  const { records, problems } = await readAll(file);
  t.same(problems, [], 'a clean file after the last repair');
  const ids = new Set(records.map((s) => s.record.msg_id));
  t.ok([...allAcked].every((id) => ids.has(id)), `${allAcked.size} acknowledged records read back`);
  const bad = records.filter((s) => !checkChat(s.record).ok);
  t.same(bad, [], 'no record is garbage: every one passes its signature and msg_id check');
  t.ok(iterations >= 10, `${iterations} kills (${cuts} torn tails cut)`);
});

t.test('two writer processes on one log at once: the union is intact', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'lobby.p2plog');
  const a = startWriter(file, 'alice', 300, 4);
  const b = startWriter(file, 'bob', 300, 7);
  const [ea, eb] = await Promise.all([a.exited, b.exited]);
  t.same([ea.code, eb.code], [0, 0], `both writers finished (${a.stderr.join('')}${b.stderr.join('')})`);
  t.equal(a.acked.length, 300);
  t.equal(b.acked.length, 300);
  const { records, problems } = await readAll(file);
  t.same(problems, [], 'no damage');
  const ids = new Set(records.map((s) => s.record.msg_id));
  t.equal(ids.size, 600, 'all 600 records, each once');
  t.ok([...a.acked, ...b.acked].every((id) => ids.has(id)));
  t.equal(records.length, 600, 'no duplicates stored');
  t.ok(records.every((s) => checkChat(s.record).ok));
});
