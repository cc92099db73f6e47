// The log driver (src/store/log.ts) in-process: replay property over real
// files, wrong key, not-a-log, torn tail, flipped bytes, two writers in one
// process, seal and rewrite, full disk (a 64 KiB tmpfs), safe file names.
import t from 'tap';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createChat, type ChatRecord } from '../../src/chat/record.js';
import { Signer, generateSigningKey } from '../../src/crypto/ed25519.js';
import { FILE_TYPE, FRAME_KIND, HEADER_BYTES } from '../../src/store/format.js';
import { encodeFrame } from '../../src/store/frames.js';
import { ChatLog, closeContainer, defaultLogPath, logFileName, openContainer, readLog, type LogProblem } from '../../src/store/log.js';
import { encodeRecords, type StoredRecord } from '../../src/store/records.js';

function tmpDir(t: { teardown: (fn: () => void) => void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-store-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

const owner = generateSigningKey();
const signer = new Signer(generateSigningKey().seed);
let seq = 0;
function recs(n: number, prefix = 'm'): ChatRecord[] {
  return Array.from({ length: n }, () => {
    const i = seq++;
    return createChat(signer, { room: 'lobby', username: 'alice', message: `${prefix} ${i} ${'z'.repeat(i % 50)}`, now: new Date(1_700_000_000_000 + i * 1000) });
  });
}

async function readAll(file: string, seed = owner.seed, problems: LogProblem[] = []): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  for await (const b of readLog(file, seed, { onProblem: (p) => problems.push(p), checkSuperseded: true })) out.push(...b);
  return out;
}

const idsOf = (rs: { msg_id: string }[]) => new Set(rs.map((r) => r.msg_id));
const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x));

t.test('replay: any sequence of appends, seals, rewrites and reopenings gives the same view', async (t) => {
  const dir = tmpDir(t);
  const pool = recs(30, 'pool');
  const op = fc.oneof(
    fc.record({ op: fc.constant('append' as const), idx: fc.array(fc.nat(pool.length - 1), { minLength: 1, maxLength: 6 }), checked: fc.boolean() }),
    fc.record({ op: fc.constantFrom('seal' as const, 'compact' as const, 'reopen' as const) }),
  );
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 14 }), fc.integer({ min: 1, max: 4 }), async (ops, sealAfter) => {
      const file = path.join(dir, `r${run++}.p2plog`);
      const opts = { sealAfterFrames: sealAfter, vacuumMinDeadBytes: 1, onWarning: () => undefined };
      let log = await ChatLog.open(file, owner.seed, opts);
      const model = new Set<string>();
      for (const o of ops) {
        if (o.op === 'append') {
          const batch = o.idx.map((i) => pool[i]!);
          await log.append(batch, { checked: o.checked });
          for (const r of batch) model.add(r.msg_id);
        } else if (o.op === 'seal') await log.seal();
        else if (o.op === 'compact') await log.compact();
        else {
          await log.close();
          log = await ChatLog.open(file, owner.seed, opts);
        }
        for (const id of model) if (!log.has(id)) return false;
      }
      await log.close();
      const problems: LogProblem[] = [];
      const got = await readAll(file, owner.seed, problems);
      return problems.length === 0 && sameSet(idsOf(got.map((s) => s.record)), model) && got.every((s) => s.checked);
    }),
    { numRuns: 40 },
  );
  t.pass('view equals the set of appended records');
});

t.test('wrong key: P2PCAT_ERR_LOG_KEY, nothing read, file untouched', async (t) => {
  const file = path.join(tmpDir(t), 'a.p2plog');
  const log = await ChatLog.open(file, owner.seed);
  await log.append(recs(3));
  await log.close();
  const before = fs.readFileSync(file);
  const other = generateSigningKey().seed;
  await t.rejects(ChatLog.open(file, other), { code: 'P2PCAT_ERR_LOG_KEY' });
  await t.rejects(readAll(file, other), { code: 'P2PCAT_ERR_LOG_KEY' });
  t.ok(fs.readFileSync(file).equals(before));
});

t.test('not a log: P2PCAT_ERR_LOG_FORMAT, file byte-for-byte unchanged, no lock left', async (t) => {
  const dir = tmpDir(t);
  for (const [name, content] of [
    ['notes.txt', Buffer.from('dear diary\n'.repeat(20))],
    ['empty', Buffer.alloc(0)],
    ['random', crypto.randomBytes(5000)],
  ] as const) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    await t.rejects(ChatLog.open(file, owner.seed), { code: 'P2PCAT_ERR_LOG_FORMAT' }, name);
    await t.rejects(readAll(file), { code: 'P2PCAT_ERR_LOG_FORMAT' }, name);
    t.ok(fs.readFileSync(file).equals(content), `${name} unchanged`);
  }
  t.same(fs.readdirSync(dir).sort(), ['empty', 'notes.txt', 'random']);
  await t.rejects(ChatLog.open(dir, owner.seed), { code: 'P2PCAT_ERR_LOG_FORMAT' }, 'a directory');
});

t.test('torn tail: cut back to the last whole frame on the next writer open, reported, nothing earlier lost', async (t) => {
  const file = path.join(tmpDir(t), 'a.p2plog');
  const log = await ChatLog.open(file, owner.seed);
  const kept = recs(5);
  await log.append(kept.slice(0, 2));
  await log.append(kept.slice(2));
  await log.close();
  const goodSize = fs.statSync(file).size;
  // A third append that was interrupted half way: the first half of a real frame.
  const c = await openContainer(file, FILE_TYPE.LOG, () => owner.seed);
  const frame = encodeFrame(c.key, FRAME_KIND.RECORDS, encodeRecords(recs(2).map((record) => ({ record, checked: true }))));
  closeContainer(c);
  fs.appendFileSync(file, frame.subarray(0, Math.floor(frame.length / 2)));
  const problems: LogProblem[] = [];
  t.equal((await readAll(file, owner.seed, problems)).length, 5, 'readers see the whole records');
  t.equal(problems.length, 1);
  t.equal(problems[0]!.kind, 'torn-tail');
  const warnings: string[] = [];
  const log2 = await ChatLog.open(file, owner.seed, { onWarning: (m) => warnings.push(m) });
  t.equal(fs.statSync(file).size, goodSize, 'cut back exactly');
  t.match(warnings.join('\n'), /torn tail/);
  await log2.append(recs(1));
  await log2.close();
  const after: LogProblem[] = [];
  t.equal((await readAll(file, owner.seed, after)).length, 6);
  t.same(after, [], 'clean after the cut');
  // A tail of zeros (power loss after the size was extended) is cut too.
  fs.appendFileSync(file, Buffer.alloc(4096));
  const log3 = await ChatLog.open(file, owner.seed, { onWarning: () => undefined });
  await log3.close();
  t.equal((await readAll(file)).length, 6);
});

t.test('a flipped byte in a sealed block: only that block is lost; verify-style reading names its offset', async (t) => {
  const file = path.join(tmpDir(t), 'a.p2plog');
  const log = await ChatLog.open(file, owner.seed);
  const all = recs(2500);
  await log.append(all);
  await log.compact(); // blocks of 1000, 1000, 500; no live frames left to fall back on
  await log.close();
  const bytes = fs.readFileSync(file);
  // find the second frame head
  const c = await openContainer(file, FILE_TYPE.LOG, () => owner.seed);
  closeContainer(c);
  const firstLen = 52 + bytes.readUInt32BE(HEADER_BYTES + 12);
  const second = HEADER_BYTES + firstLen;
  bytes[second + 52 + 1000]! ^= 0x01;
  fs.writeFileSync(file, bytes);
  const problems: LogProblem[] = [];
  const got = await readAll(file, owner.seed, problems);
  t.equal(got.length, 1500, 'the other two blocks read');
  t.equal(problems.length, 1);
  t.equal(problems[0]!.offset, second);
  t.equal(problems[0]!.kind, 'bad-frame');
  // The writer still opens, warns, and keeps appending after the damage.
  const warnings: string[] = [];
  const log2 = await ChatLog.open(file, owner.seed, { onWarning: (m) => warnings.push(m) });
  t.match(warnings.join('\n'), /damaged/);
  await log2.append(recs(1));
  await log2.close();
  t.equal((await readAll(file)).length, 1501);
});

t.test('a flipped byte in a block whose live frames still exist loses nothing', async (t) => {
  const file = path.join(tmpDir(t), 'a.p2plog');
  const log = await ChatLog.open(file, owner.seed, { vacuumMinDeadBytes: Infinity });
  const all = recs(20);
  for (const r of all) await log.append([r]);
  await log.seal();
  const blockEnd = fs.statSync(file).size;
  const later = recs(1);
  await log.append(later); // the block group is not the tail
  await log.close();
  const bytes = fs.readFileSync(file);
  bytes[blockEnd - 30]! ^= 0x80; // inside the block group
  fs.writeFileSync(file, bytes);
  const problems: LogProblem[] = [];
  const got = await readAll(file, owner.seed, problems);
  t.ok(sameSet(idsOf(got.map((s) => s.record)), idsOf([...all, ...later])), 'all 21 records, 20 of them from the live frames');
  t.equal(problems.filter((p) => p.kind === 'bad-frame').length, 1, 'the block is reported');
});

t.test('two ChatLog instances on one file (one process): union intact, has() sees the other writer', async (t) => {
  const file = path.join(tmpDir(t), 'a.p2plog');
  const a = await ChatLog.open(file, owner.seed, { sealAfterFrames: 3, vacuumMinDeadBytes: 2000 });
  const b = await ChatLog.open(file, owner.seed, { sealAfterFrames: 4, vacuumMinDeadBytes: 3000 });
  const ra = recs(60, 'a');
  const rb = recs(60, 'b');
  await Promise.all([
    (async () => {
      for (let i = 0; i < ra.length; i += 3) await a.append(ra.slice(i, i + 3));
    })(),
    (async () => {
      for (let i = 0; i < rb.length; i += 2) await b.append(rb.slice(i, i + 2));
    })(),
  ]);
  await a.append([]); // catches up with b
  t.ok(rb.every((r) => a.has(r.msg_id)), 'a knows what b wrote');
  const dup = await b.append(ra.slice(0, 5));
  t.same(dup, { appended: 0, duplicates: 5 }, 'b does not write what a wrote');
  await a.close();
  await b.close();
  const problems: LogProblem[] = [];
  const got = await readAll(file, owner.seed, problems);
  t.ok(sameSet(idsOf(got.map((s) => s.record)), idsOf([...ra, ...rb])));
  t.same(problems, []);
});

t.test('seal and rewrite keep every record and shrink the file', async (t) => {
  const file = path.join(tmpDir(t), 'a.p2plog');
  const log = await ChatLog.open(file, owner.seed, { sealAfterFrames: 10, vacuumMinDeadBytes: Infinity });
  const all = recs(200);
  for (const r of all) await log.append([r]);
  const sealedSize = fs.statSync(file).size;
  await log.compact();
  const compactSize = fs.statSync(file).size;
  t.ok(compactSize < sealedSize / 2, `rewrite shrinks the file (${sealedSize} -> ${compactSize})`);
  await log.append(recs(1));
  await log.close();
  t.equal((await readAll(file)).length, 201);
});

t.test('records that fail their check are stored unverified; duplicates of verified ids are skipped', async (t) => {
  const file = path.join(tmpDir(t), 'a.p2plog');
  const log = await ChatLog.open(file, owner.seed);
  const [good] = recs(1);
  const forged = { ...good!, message: 'forged' };
  const r1 = await log.append([good!, forged]);
  t.same(r1, { appended: 2, duplicates: 0 });
  t.ok(log.has(good!.msg_id));
  const r2 = await log.append([good!]);
  t.same(r2, { appended: 0, duplicates: 1 });
  await log.close();
  const got = await readAll(file);
  t.same(got.map((s) => [s.record.message, s.checked]), [
    [good!.message, true],
    ['forged', false],
  ]);
});

t.test('full disk: append fails with P2PCAT_ERR_IO, the log still opens and holds every acknowledged record', async (t) => {
  if (process.getuid?.() !== 0) {
    t.plan(0, 'skip: needs root to mount a small tmpfs');
    return;
  }
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { stdio: 'ignore' });
  } catch {
    fs.rmdirSync(mnt);
    t.plan(0, 'skip: cannot mount a tmpfs here');
    return;
  }
  t.teardown(() => {
    try {
      execFileSync('umount', [mnt], { stdio: 'ignore' });
    } finally {
      fs.rmSync(mnt, { recursive: true, force: true });
    }
  });
  const file = path.join(mnt, 'a.p2plog');
  const log = await ChatLog.open(file, owner.seed, { vacuumMinDeadBytes: Infinity });
  const acked: string[] = [];
  let failure: unknown;
  for (let i = 0; i < 400 && !failure; i++) {
    const batch = recs(3, 'fill');
    try {
      await log.append(batch);
      acked.push(...batch.map((r) => r.msg_id));
    } catch (e) {
      failure = e;
    }
  }
  t.match(failure, { code: 'P2PCAT_ERR_IO' }, 'an error, not a crash');
  t.match((failure as Error).message, /no space left/);
  await log.close();
  const problems: LogProblem[] = [];
  const got = idsOf((await readAll(file, owner.seed, problems)).map((s) => s.record));
  t.ok(acked.length > 10 && acked.every((id) => got.has(id)), `all ${acked.length} acknowledged records read back`);
  t.same(problems, [], 'no damage: the failed write was cut back');
  const again = await ChatLog.open(file, owner.seed);
  t.equal(again.size, got.size);
  await again.close();
});

t.test('file names for rooms cannot escape the log directory and do not collide', async (t) => {
  const env = { P2PCAT_HOME: '/tmp/x-home' };
  const rooms = ['lobby', 'Lobby', '../../etc/passwd', '/', '..', '.', '', 'a/b', 'a\\b', 'ops\u0000', 'ünïcødé 房间', 'x'.repeat(256), 'CON', '.hidden'];
  const names = new Set<string>();
  for (const r of rooms) {
    const name = logFileName(r);
    t.match(name, /^[a-z0-9_-]+-[0-9a-f]{16}\.p2plog$/, JSON.stringify(r));
    t.ok(name.length < 100);
    t.equal(path.dirname(defaultLogPath(r, env)), path.join('/tmp/x-home', 'logs'));
    names.add(name);
  }
  t.equal(names.size, rooms.length, 'all distinct');
});
