// `p2pcat log ...` as a black box: the built binary, a fresh $P2PCAT_HOME per
// test, logs written in-process through src/store (and raw frames for the
// damaged cases). Failure cases assert that no record reached stdout.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { createChat, type ChatRecord } from '../../src/chat/record.js';
import { Signer, generateSigningKey } from '../../src/crypto/ed25519.js';
import { loadOrCreateIdentity } from '../../src/crypto/identity.js';
import { FILE_TYPE, FRAME_KIND, HEADER_BYTES } from '../../src/store/format.js';
import { encodeFrame } from '../../src/store/frames.js';
import { ChatLog, closeContainer, defaultLogPath, openContainer } from '../../src/store/log.js';
import { encodeRecords } from '../../src/store/records.js';
import { exitOf, run, tmpHome } from '../helpers/proc.js';

const alice = new Signer(generateSigningKey().seed);
const bob = new Signer(generateSigningKey().seed);
const T0 = Date.parse('2025-04-29T14:00:00.000Z');

function chat(who: Signer, name: string, message: string, minutes: number, room = 'lobby'): ChatRecord {
  return createChat(who, { room, username: name, message, now: new Date(T0 + minutes * 60_000) });
}

/** A home with an identity and a lobby log holding `records` (appended in the order given). */
async function homeWithLog(records: ChatRecord[], room = 'lobby'): Promise<{ home: string; seed: Uint8Array; file: string }> {
  const home = tmpHome();
  const { identity } = loadOrCreateIdentity(path.join(home, 'identity.json'));
  const file = defaultLogPath(room, { P2PCAT_HOME: home });
  const log = await ChatLog.open(file, identity.seed);
  if (records.length > 0) await log.append(records);
  await log.close();
  return { home, seed: identity.seed, file };
}

/** Append one RECORDS frame with exactly these records and flags, bypassing every check (a "raw" write). */
async function appendRaw(file: string, seed: Uint8Array, records: ChatRecord[], checked: boolean): Promise<void> {
  const c = await openContainer(file, FILE_TYPE.LOG, () => seed);
  fs.appendFileSync(file, encodeFrame(c.key, FRAME_KIND.RECORDS, encodeRecords(records.map((record) => ({ record, checked })))));
  closeContainer(c);
}

async function p2pcat(args: string[], home: string, env: Record<string, string> = {}) {
  const p = run(args, { home, env, stdin: 'ignore' });
  const exit = await exitOf(p, 30_000);
  return { code: exit.code, records: p.records, stdout: p.stdout, stderr: p.stderr.join('\n') };
}

t.test('cat: (timestamp, msg_id) order, each msg_id once, filters', async (t) => {
  const recs = [
    chat(alice, 'alice', 'third', 30),
    chat(bob, 'bob', 'first: deploy started', 10),
    chat(alice, 'alice', 'second: deploy failed', 20),
    chat(bob, 'bob', 'fourth', 40),
  ];
  const { home, seed, file } = await homeWithLog(recs);
  await appendRaw(file, seed, [recs[1]!, recs[2]!], true); // duplicates written raw
  const all = await p2pcat(['log', 'cat'], home);
  t.equal(all.code, 0, all.stderr);
  t.same(all.records.map((r) => r.message), ['first: deploy started', 'second: deploy failed', 'third', 'fourth']);
  t.same(all.records[0], recs[1], 'records come out exactly as they went in');
  t.same((await p2pcat(['log', 'cat', '--from', 'bob'], home)).records.map((r) => r.message), ['first: deploy started', 'fourth']);
  t.same((await p2pcat(['log', 'cat', '--from', recs[0]!.uuid], home)).records.map((r) => r.message), ['second: deploy failed', 'third']);
  t.same((await p2pcat(['log', 'cat', '--grep', 'deploy (started|failed)'], home)).records.length, 2);
  t.same((await p2pcat(['log', 'cat', '--limit', '1'], home)).records.map((r) => r.message), ['fourth']);
  const window = await p2pcat(['log', 'cat', '--since', '2025-04-29T14:15:00Z', '--until', '2025-04-29T14:35:00Z'], home);
  t.same(window.records.map((r) => r.message), ['second: deploy failed', 'third']);
  t.same((await p2pcat(['log', 'cat', '--since', '1h'], home)).records, [], 'nothing in the last hour (these are from 2025)');
  const bad = await p2pcat(['log', 'cat', '--since', 'yesterday'], home);
  t.equal(bad.code, 64);
  t.match(bad.stderr, /P2PCAT_ERR_USAGE/);
  // room selection
  const ops = await homeWithLog([chat(alice, 'alice', 'in ops', 1, 'ops')], 'ops');
  t.same((await p2pcat(['log', 'cat', '--room', 'ops'], ops.home)).records.map((r) => r.message), ['in ops']);
  t.same((await p2pcat(['log', 'cat'], ops.home, { P2PCAT_ROOM: 'ops' })).records.map((r) => r.message), ['in ops']);
  t.same((await p2pcat(['log', 'cat', '--log', ops.file], ops.home)).records.map((r) => r.message), ['in ops']);
});

t.test("another identity's log: P2PCAT_ERR_LOG_KEY (exit 77), nothing on stdout, file untouched", async (t) => {
  const { file } = await homeWithLog([chat(alice, 'alice', 'secret plans', 1)]);
  const before = fs.readFileSync(file);
  const stranger = tmpHome();
  for (const sub of [['cat'], ['verify'], ['stats'], ['cat', '--all']]) {
    const r = await p2pcat(['log', ...sub, '--log', file], stranger);
    t.equal(r.code, 77, sub.join(' '));
    t.match(r.stderr, /P2PCAT_ERR_LOG_KEY/);
    t.same(r.stdout, [], 'no output');
    t.notMatch(r.stderr, /secret plans/);
  }
  t.ok(fs.readFileSync(file).equals(before));
});

t.test('a file that is not a log: P2PCAT_ERR_LOG_FORMAT (exit 65), file untouched', async (t) => {
  const home = tmpHome();
  const file = path.join(home, 'notes.txt');
  const content = Buffer.from('{"type":"CHAT","message":"I look like NDJSON"}\n');
  fs.writeFileSync(file, content);
  for (const sub of ['cat', 'verify', 'stats']) {
    const r = await p2pcat(['log', sub, '--log', file], home);
    t.equal(r.code, 65, sub);
    t.match(r.stderr, /P2PCAT_ERR_LOG_FORMAT/);
    t.same(r.stdout, []);
  }
  t.ok(fs.readFileSync(file).equals(content));
  t.same(fs.readdirSync(home).sort(), ['identity.json', 'notes.txt'], 'no lock or temp file left');
});

t.test('a flipped byte in the middle: verify names the block and exits 65; cat prints every other record', async (t) => {
  const recs = Array.from({ length: 2500 }, (_, i) => chat(i % 2 ? alice : bob, i % 2 ? 'alice' : 'bob', `message ${i}`, i));
  const { home, seed, file } = await homeWithLog([]);
  const log = await ChatLog.open(file, seed);
  await log.append(recs, { checked: true });
  await log.compact(); // three blocks: 1000, 1000, 500
  await log.close();
  const bytes = fs.readFileSync(file);
  const second = HEADER_BYTES + 52 + bytes.readUInt32BE(HEADER_BYTES + 12);
  bytes[second + 52 + 777]! ^= 0x10;
  fs.writeFileSync(file, bytes);
  const v = await p2pcat(['log', 'verify'], home);
  t.equal(v.code, 65);
  t.equal(v.records.length, 1);
  t.match(v.records[0], { type: 'LOG_VERIFY', ok: false, bad_frames: 1, records: 1500, valid: 1500 });
  t.match(v.stderr, new RegExp(`P2PCAT_ERR_LOG_CORRUPT: .*offset ${second}\\b`));
  const c = await p2pcat(['log', 'cat'], home);
  t.equal(c.code, 0);
  t.equal(c.records.length, 1500, 'the other two blocks');
  t.match(c.stderr, /P2PCAT_ERR_LOG_CORRUPT/, 'cat says so on stderr');
});

t.test('a record with a bad signature written raw: verify reports it, cat hides it unless --all', async (t) => {
  const good = [chat(alice, 'alice', 'hello', 1), chat(bob, 'bob', 'hi alice', 2)];
  const { home, seed, file } = await homeWithLog(good);
  const forged = { ...chat(alice, 'alice', 'send me your keys', 3) };
  forged.sig = forged.sig.replace(/^../, forged.sig.startsWith('00') ? '11' : '00');
  const before = fs.statSync(file).size;
  await appendRaw(file, seed, [forged], false);
  await appendRaw(file, seed, [{ ...forged, msg_id: '0'.repeat(64) }], true); // lies about being verified
  const v = await p2pcat(['log', 'verify'], home);
  t.equal(v.code, 65);
  t.match(v.records[0], { type: 'LOG_VERIFY', ok: false, records: 4, valid: 2, invalid: 2 });
  t.match(v.stderr, new RegExp(`msg_id="${forged.msg_id}" in the frame at offset ${before}: bad signature`));
  t.match(v.stderr, /msg_id="0{64}" .*msg_id does not match/);
  const c = await p2pcat(['log', 'cat'], home);
  t.same(c.records.map((r) => r.message), ['hello', 'hi alice'], 'hidden');
  t.notMatch(c.stdout.join('\n'), /send me your keys/);
  const a = await p2pcat(['log', 'cat', '--all'], home);
  const shown = a.records.find((r) => r.msg_id === forged.msg_id);
  t.match(shown, { message: 'send me your keys', invalid: 'bad signature' });
});

t.test('verify and stats on a clean log', async (t) => {
  const recs = [chat(alice, 'alice', 'a', 1), chat(bob, 'bob', 'b', 2), chat(alice, 'alice', 'c', 3)];
  const { home, file } = await homeWithLog(recs);
  const v = await p2pcat(['log', 'verify'], home);
  t.equal(v.code, 0, v.stderr);
  t.match(v.records, [{ type: 'LOG_VERIFY', ok: true, records: 3, valid: 3, invalid: 0, problems: 0, file }]);
  const s = await p2pcat(['log', 'stats'], home);
  t.equal(s.code, 0);
  t.match(s.records, [{ type: 'LOG_STATS', records: 3, authors: 2, first: recs[0]!.timestamp, last: recs[2]!.timestamp, size: fs.statSync(file).size }]);
  t.same(s.records[0]!.top_authors.map((a: { username: string; records: number }) => [a.username, a.records]), [
    ['alice', 2],
    ['bob', 1],
  ]);
  const missing = await p2pcat(['log', 'cat', '--room', 'nowhere'], home);
  t.equal(missing.code, 74);
  t.match(missing.stderr, /no log at/);
});

t.test('export -> import into another identity restores exactly; wrong or missing passphrase: P2PCAT_ERR_PASSPHRASE', async (t) => {
  const recs = Array.from({ length: 1234 }, (_, i) => chat(i % 3 ? alice : bob, i % 3 ? 'alice' : 'bob', `backup me ${i}`, i));
  const { home, seed, file } = await homeWithLog(recs);
  const forged = { ...chat(bob, 'bob', 'forged', 5000), sig: 'ab'.repeat(64) };
  await appendRaw(file, seed, [forged], false);
  const backup = path.join(home, 'lobby.p2pexp');
  const passFile = path.join(home, 'pass.txt');
  fs.writeFileSync(passFile, 'correct horse battery staple\n');
  const e = await p2pcat(['log', 'export', backup, '--passphrase-file', passFile], home);
  t.equal(e.code, 0, e.stderr);
  t.match(e.records, [{ type: 'LOG_EXPORT', records: 1235 }]);
  const again = await p2pcat(['log', 'export', backup], home, { P2PCAT_PASSPHRASE: 'x' });
  t.equal(again.code, 64, 'an existing backup is not replaced without --force');

  const other = tmpHome();
  const wrong = await p2pcat(['log', 'import', backup], other, { P2PCAT_PASSPHRASE: 'Correct horse battery staple' });
  t.equal(wrong.code, 77);
  t.match(wrong.stderr, /P2PCAT_ERR_PASSPHRASE/);
  t.same(wrong.stdout, []);
  const none = await p2pcat(['log', 'import', backup], other);
  t.equal(none.code, 77);
  t.match(none.stderr, /P2PCAT_ERR_PASSPHRASE/);
  t.notOk(fs.existsSync(defaultLogPath('lobby', { P2PCAT_HOME: other })), 'nothing imported');

  const ok = await p2pcat(['log', 'import', backup], other, { P2PCAT_PASSPHRASE: 'correct horse battery staple' });
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.records, [{ type: 'LOG_IMPORT', records: 1235, added: 1235, duplicates: 0 }]);
  const orig = await p2pcat(['log', 'cat', '--all'], home);
  const restored = await p2pcat(['log', 'cat', '--all'], other);
  t.equal(restored.records.length, 1235);
  t.same(restored.stdout, orig.stdout, 'byte-identical cat output, the forged record included (and still marked invalid)');
  const twice = await p2pcat(['log', 'import', backup], other, { P2PCAT_PASSPHRASE: 'correct horse battery staple' });
  t.match(twice.records, [{ type: 'LOG_IMPORT', added: 1, duplicates: 1234 }], 'merging again adds only the unverifiable record');
  const v = await p2pcat(['log', 'verify'], other);
  t.match(v.records, [{ invalid: 2, valid: 1234 }]);

  // A cut-off backup is refused whole.
  const cut = path.join(home, 'cut.p2pexp');
  fs.writeFileSync(cut, fs.readFileSync(backup).subarray(0, fs.statSync(backup).size - 10));
  const third = tmpHome();
  const c = await p2pcat(['log', 'import', cut], third, { P2PCAT_PASSPHRASE: 'correct horse battery staple' });
  t.equal(c.code, 65);
  t.match(c.stderr, /P2PCAT_ERR_LOG_CORRUPT/);
});

t.test('cat --follow prints records appended later, like tail -f', async (t) => {
  const { home, seed, file } = await homeWithLog([chat(alice, 'alice', 'before', 1)]);
  const p = run(['log', 'cat', '--follow'], { home, stdin: 'ignore' });
  t.teardown(() => p.kill('SIGKILL'));
  await p.waitRecord((r) => r.message === 'before', 'the existing record');
  const log = await ChatLog.open(file, seed);
  await log.append([chat(bob, 'bob', 'after 1', 2)]);
  await log.append([chat(bob, 'bob', 'after 2', 3), chat(alice, 'alice', 'before', 1)]);
  await log.close();
  await p.waitRecord((r) => r.message === 'after 2', 'the appended records');
  t.same(p.records.map((r) => r.message), ['before', 'after 1', 'after 2'], 'each once, in append order');
  p.kill('SIGTERM');
  await exitOf(p, 5_000);
});

t.test('every log subcommand has examples in its help', async (t) => {
  const home = tmpHome();
  for (const sub of ['cat', 'verify', 'stats', 'export', 'import']) {
    const r = await p2pcat(['log', sub, '--help'], home);
    t.equal(r.code, 0, sub);
    t.match(r.stdout.join('\n'), new RegExp(`Examples:\\n[\\s\\S]*p2pcat log ${sub}`), sub);
  }
});
