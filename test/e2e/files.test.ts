// Black-box: file transfer in chat mode ({"type":"FILE","path":…} on stdin,
// --accept-files, --download-dir, --max-file-size). A 30 MB file cut off
// mid-way resumes and arrives identical; refusals and limits reach the sender
// as coded errors and exit statuses; hostile senders (lying size or hash,
// path names, stopping half-way) leave nothing under a final name and the
// receiver keeps serving; a full disk is reported to both sides.
import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { exitOf, reap, run, tmpHome, type Proc } from '../helpers/proc.js';
import { recordingProxy } from '../helpers/proxy.js';
import { evil } from '../helpers/evil.js';
import { peer, PATIENCE_MS, type Peer } from '../mesh/peers.js';
import { dataHeader } from '../../src/files/protocol.js';
import { FILE_TRANSFERS_PER_PEER_MAX } from '../../src/limits.js';

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const fileSha = (p: string) => sha256(fs.readFileSync(p));
const errorsOf = (p: Proc) => p.stderr.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>);
const visible = (dir: string) => fs.readdirSync(dir).filter((n) => !n.startsWith('.'));
const parts = (dir: string) => fs.readdirSync(dir).filter((n) => n.endsWith('.part'));

function randomFile(dir: string, name: string, size: number): string {
  const p = path.join(dir, name);
  const fd = fs.openSync(p, 'w');
  for (let off = 0; off < size; off += 1 << 20) fs.writeSync(fd, crypto.randomBytes(Math.min(1 << 20, size - off)));
  fs.closeSync(fd);
  return p;
}

async function receiver(dir: string, args: string[] = []): Promise<Peer> {
  return peer('rita', ['--no-log', '--accept-files', '--download-dir', dir, ...args]);
}

function sendFile(port: number, file: string, extra: Record<string, unknown> = {}, args: string[] = [], home?: string): Proc {
  const p = run(['connect', `127.0.0.1:${port}`, '--json', '--no-log', ...args], { name: 'sam', ...(home ? { home } : {}) });
  p.end(JSON.stringify({ type: 'FILE', path: file, ...extra }) + '\n');
  return p;
}

t.test('30 MB: cut off mid-way, sent again, resumed from the partial file, arrives identical', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const src = tmpHome('p2pcat-files-src-');
  const dir = tmpHome('p2pcat-files-dst-');
  const file = randomFile(src, 'big.bin', 30 * 1024 * 1024);
  const l = await receiver(dir);
  procs.push(l);
  // The link dies after ~10 MB from the sender: the sender is told (non-zero exit), nothing is final yet.
  const proxy = await recordingProxy(l.port, { record: false, cutAfter: 10 * 1024 * 1024 });
  t.teardown(() => proxy.close());
  const home = tmpHome();
  const first = sendFile(proxy.port, file, {}, [], home);
  procs.push(first);
  const e1 = await exitOf(first, PATIENCE_MS);
  t.not(e1.code, 0, `the cut-off sender exits non-zero (${e1.code})`);
  await l.waitFor(() => errorsOf(l).find((e) => e.file_id && /resumes when offered again/.test(e.message)), 'the receiver reports the interrupted transfer');
  t.same(visible(dir), [], 'nothing under a final name');
  t.equal(parts(dir).length, 1, 'one partial file kept');
  const kept = fs.statSync(path.join(dir, parts(dir)[0]!)).size;
  t.ok(kept > 0 && kept < 30 * 1024 * 1024, `the partial file holds part of it (${kept} bytes)`);

  const second = sendFile(l.port, file, {}, [], home); // the same user, running the same command again
  procs.push(second);
  t.equal((await exitOf(second, PATIENCE_MS)).code, 0, 'the second send exits 0');
  const got = await l.waitRecord((r) => r.type === 'FILE', 'a FILE record');
  t.ok(got.resumed_from > 0 && got.resumed_from <= kept, `resumed from ${got.resumed_from}, not from 0`);
  t.equal(got.name, 'big.bin');
  t.equal(got.path, path.join(dir, 'big.bin'));
  t.equal(got.sha256, fileSha(file));
  t.equal(fileSha(path.join(dir, 'big.bin')), fileSha(file), 'the stored file is identical');
  t.same(parts(dir), [], 'the partial file is gone');
  const sent = second.records.find((r) => r.type === 'FILE_SENT');
  t.ok(sent && sent.resumed_from === got.resumed_from && sent.sha256 === got.sha256, 'the sender has a FILE_SENT record');
});

t.test('policy and limits: refused without --accept-files, over --max-file-size, a bad request; the sender is told', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const src = tmpHome('p2pcat-files-src-');
  const dir = tmpHome('p2pcat-files-dst-');
  const small = randomFile(src, 'small.txt', 5000);
  // --json without --accept-files: refused.
  const shy = await peer('shy', ['--no-log', '--download-dir', dir]);
  procs.push(shy);
  const s1 = sendFile(shy.port, small);
  procs.push(s1);
  t.equal((await exitOf(s1, PATIENCE_MS)).code, 77, 'refused: exit 77');
  t.ok(errorsOf(s1).some((e) => e.code === 'P2PCAT_ERR_FILE_REFUSED'), 'the sender has a P2PCAT_ERR_FILE_REFUSED record');
  t.ok(errorsOf(shy).some((e) => e.code === 'P2PCAT_ERR_FILE_REFUSED'), 'the receiver says it refused');
  // Over the limit.
  const tight = await receiver(dir, ['--max-file-size', '1K']);
  procs.push(tight);
  const s2 = sendFile(tight.port, small);
  procs.push(s2);
  t.equal((await exitOf(s2, PATIENCE_MS)).code, 75, 'over the limit: exit 75');
  t.ok(errorsOf(s2).some((e) => e.code === 'P2PCAT_ERR_LIMIT' && /limit/.test(e.message)), 'the sender has a P2PCAT_ERR_LIMIT record');
  t.same(fs.readdirSync(dir), [], 'nothing written by either');
  // Bad requests: no such file, a field that does not exist. The good line after them still goes.
  const s3 = run(['connect', `127.0.0.1:${tight.port}`, '--json', '--no-log'], { name: 'sam' });
  procs.push(s3);
  s3.end([JSON.stringify({ type: 'FILE', path: path.join(src, 'nope') }), JSON.stringify({ type: 'FILE', path: small, mode: 1 }), JSON.stringify({ message: 'still here' })].join('\n') + '\n');
  t.equal((await exitOf(s3, PATIENCE_MS)).code, 65, 'a bad FILE line: exit 65');
  const errs = errorsOf(s3);
  t.ok(errs.some((e) => e.code === 'P2PCAT_ERR_BAD_INPUT' && /no such file/.test(e.message)), 'no such file: coded');
  t.ok(errs.some((e) => e.code === 'P2PCAT_ERR_BAD_INPUT' && /unknown field/.test(e.message) && e.line === 2), 'unknown field: coded, with its line');
  await tight.waitRecord((r) => r.type === 'CHAT' && r.message === 'still here', 'the good line after the bad ones');
  // Usage errors at start.
  const bad = run(['listen', '0', '--json', '--accept-files', 'ask'], {});
  procs.push(bad);
  t.equal((await exitOf(bad)).code, 64, '--accept-files ask needs the chat view');
  const bad2 = run(['listen', '0', '--json', '--download-dir', path.join(dir, 'missing')], {});
  procs.push(bad2);
  t.equal((await exitOf(bad2)).code, 64, 'a missing --download-dir is a usage error');
});

t.test('hostile senders: a path for a name, lying size, lying hash, stopping short or half-way', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const dir = tmpHome('p2pcat-files-dst-');
  const l = await receiver(dir);
  procs.push(l);
  const data = crypto.randomBytes(200_000);
  const offer = (m: Awaited<ReturnType<typeof evil>>, name: string, body: Buffer, over: Record<string, unknown> = {}) => {
    const id = crypto.randomBytes(16).toString('hex');
    m.send('FILE_OFFER', { id, name, size: body.length, sha256: sha256(body), ...over });
    return id;
  };
  const resultOf = (m: Awaited<ReturnType<typeof evil>>, id: string) => m.next((x) => x.type === 'FILE_RESULT' && x.body.id === id);
  const sendAll = (m: Awaited<ReturnType<typeof evil>>, id: string, body: Buffer) => {
    for (let off = 0; off < body.length; off += 60_000) m.sendBinary('FILE_DATA', [dataHeader(id, off), body.subarray(off, off + 60_000)]);
  };

  // 1. "../../etc/passwd": stored as "passwd" in the download directory, nowhere else.
  const m = await evil(l.port);
  let id = offer(m, '../../etc/passwd', data);
  await m.next((x) => x.type === 'FILE_ACCEPT' && x.body.id === id);
  sendAll(m, id, data);
  m.send('FILE_END', { id });
  let r = await resultOf(m, id);
  t.equal(r.body.ok, true, 'stored');
  t.equal(r.body.name, 'passwd', 'under its last name component only');
  t.ok(fs.readFileSync(path.join(dir, 'passwd')).equals(data), 'in the download directory, whole');
  const rec = await l.waitRecord((x) => x.type === 'FILE' && x.id === id, 'its FILE record');
  t.equal(path.dirname(rec.path), dir);

  // 2. More bytes than offered.
  id = offer(m, 'big-liar.bin', data, { size: 100_000 });
  await m.next((x) => x.type === 'FILE_ACCEPT' && x.body.id === id);
  sendAll(m, id, data);
  r = await resultOf(m, id);
  t.equal(r.body.ok, false);
  t.equal(r.body.code, 'P2PCAT_ERR_FILE', 'lying size: P2PCAT_ERR_FILE to the sender');

  // 3. A SHA-256 that does not match.
  id = offer(m, 'hash-liar.bin', data, { sha256: sha256(Buffer.from('something else')) });
  await m.next((x) => x.type === 'FILE_ACCEPT' && x.body.id === id);
  sendAll(m, id, data);
  m.send('FILE_END', { id });
  r = await resultOf(m, id);
  t.equal(r.body.code, 'P2PCAT_ERR_FILE', 'lying hash: P2PCAT_ERR_FILE to the sender');

  // 4. FILE_END after half.
  const half = crypto.randomBytes(300_000);
  id = offer(m, 'short.bin', half);
  await m.next((x) => x.type === 'FILE_ACCEPT' && x.body.id === id);
  sendAll(m, id, half.subarray(0, 120_000));
  m.send('FILE_END', { id });
  r = await resultOf(m, id);
  t.equal(r.body.code, 'P2PCAT_ERR_FILE', 'stopping short: P2PCAT_ERR_FILE to the sender');

  // 5. Half-way, then the connection drops.
  const m2 = await evil(l.port, 'quitter');
  const other = crypto.randomBytes(400_000);
  id = offer(m2, 'halfway.bin', other);
  await m2.next((x) => x.type === 'FILE_ACCEPT' && x.body.id === id);
  sendAll(m2, id, other.subarray(0, 180_000));
  await l.waitFor(() => parts(dir).some((p) => fs.statSync(path.join(dir, p)).size === 180_000), 'the bytes written to the partial file');
  m2.socket.destroy();
  await l.waitFor(() => errorsOf(l).find((e) => e.file_id === id), 'the interrupted transfer reported');

  t.same(visible(dir).sort(), ['passwd'], 'only the honest file carries a final name');
  t.same(parts(dir).length, 2, 'partial files kept to resume: the short one and the half-way one (the liars\' are gone)');
  t.ok(errorsOf(l).filter((e) => e.code === 'P2PCAT_ERR_FILE').length >= 3, 'the receiver reported each lie with a code');
  // And it keeps serving.
  const w = run(['connect', `127.0.0.1:${l.port}`, '--json', '--no-log'], { name: 'witness' });
  procs.push(w);
  w.end('still serving\n');
  await l.waitRecord((x) => x.type === 'CHAT' && x.message === 'still serving', 'a witness message');
  m.socket.destroy();
});

/** A 1 MiB tmpfs: a disk that fills up (needs root; undefined otherwise). */
function smallDisk(): string | undefined {
  const dir = tmpHome('p2pcat-files-tmpfs-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    return undefined;
  }
}
const disk = smallDisk();

t.test('a full disk on the receiver: a clear error there, the sender told (exit 74), no partial file left', { skip: disk ? false : 'cannot mount a small tmpfs here (needs root)' }, async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const dir = disk!;
  t.teardown(() => {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  });
  const src = tmpHome('p2pcat-files-src-');
  const file = randomFile(src, 'toobig.bin', 3 * 1024 * 1024);
  const l = await receiver(dir);
  procs.push(l);
  const s = sendFile(l.port, file);
  procs.push(s);
  t.equal((await exitOf(s, PATIENCE_MS)).code, 74, 'the sender exits 74');
  t.ok(errorsOf(s).some((e) => e.code === 'P2PCAT_ERR_IO' && /disk is full/.test(e.message)), 'the sender learns the disk is full');
  await l.waitFor(() => errorsOf(l).find((e) => e.code === 'P2PCAT_ERR_IO' && /disk is full/.test(e.message)), 'the receiver reports it');
  await l.waitFor(() => fs.readdirSync(dir).length === 0 || undefined, 'the partial file removed');
  t.same(fs.readdirSync(dir), [], 'nothing left on the full disk');
});

t.test('names already taken get a number; two neighbours each get the file', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const src = tmpHome('p2pcat-files-src-');
  const dir = tmpHome('p2pcat-files-dst-');
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine, keep it\n');
  const file = path.join(src, 'notes.txt');
  fs.writeFileSync(file, 'from the peer\n');
  const l = await receiver(dir);
  procs.push(l);
  const dir2 = tmpHome('p2pcat-files-dst2-');
  const l2 = await receiver(dir2);
  procs.push(l2);
  const s = run(['connect', `127.0.0.1:${l.port}`, `127.0.0.1:${l2.port}`, '--json', '--no-log', '--neighbours', '0'], { name: 'sam' });
  procs.push(s);
  await s.waitFor(() => s.records.filter((r) => r.type === 'PEER_UP').length === 2 || undefined, 'both neighbours up', PATIENCE_MS);
  s.end(JSON.stringify({ type: 'FILE', path: file }) + '\n');
  t.equal((await exitOf(s, PATIENCE_MS)).code, 0);
  t.equal(s.records.filter((r) => r.type === 'FILE_SENT').length, 2, 'two FILE_SENT records');
  t.equal(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8'), 'mine, keep it\n', 'an existing file is never replaced');
  t.equal(fs.readFileSync(path.join(dir, 'notes (1).txt'), 'utf8'), 'from the peer\n', 'the new one is "notes (1).txt"');
  t.equal(fs.readFileSync(path.join(dir2, 'notes.txt'), 'utf8'), 'from the peer\n');
});

t.test('FILE_TRANSFERS_PER_PEER_MAX: one more transfer at once from one peer is refused, the others go on', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const dir = tmpHome('p2pcat-files-dst-');
  const l = await receiver(dir);
  procs.push(l);
  const m = await evil(l.port);
  t.teardown(() => m.socket.destroy());
  const ids: string[] = [];
  for (let n = 0; n <= FILE_TRANSFERS_PER_PEER_MAX; n++) {
    const body = crypto.randomBytes(1000 + n);
    const id = crypto.randomBytes(16).toString('hex');
    ids.push(id);
    m.send('FILE_OFFER', { id, name: `f${n}.bin`, size: body.length, sha256: sha256(body) });
  }
  const last = ids[FILE_TRANSFERS_PER_PEER_MAX]!;
  const r = await m.next((x) => x.type === 'FILE_RESULT' && x.body.id === last);
  t.equal(r.body.code, 'P2PCAT_ERR_LIMIT', `offer ${FILE_TRANSFERS_PER_PEER_MAX + 1} refused with P2PCAT_ERR_LIMIT`);
  for (const id of ids.slice(0, FILE_TRANSFERS_PER_PEER_MAX)) await m.next((x) => x.type === 'FILE_ACCEPT' && x.body.id === id);
  t.pass(`the first ${FILE_TRANSFERS_PER_PEER_MAX} were accepted`);
});
