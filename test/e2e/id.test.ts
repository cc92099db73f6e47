// Black-box: `p2pcat id`, key-file permissions, and the ways to pass a room secret.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { run, exitOf, tmpHome, listen, reap, type Proc } from '../helpers/proc.js';
import { BIN } from '../helpers/paths.js';

t.test('id creates the identity on first use, 0600, and prints one record', async (t) => {
  const home = tmpHome();
  const p = run(['id'], { home, stdin: 'ignore', env: { USER: 'tester' } });
  t.equal((await exitOf(p)).code, 0);
  t.equal(p.stdout.length, 1, 'one line on stdout');
  const rec = JSON.parse(p.stdout[0]!);
  t.match(rec, { type: 'IDENTITY', public_key: /^[0-9a-f]{64}$/, uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-8/, username: 'tester', fingerprint: /^SHA256:[A-Za-z0-9+/]{43}$/ });
  t.match(p.stderr.join('\n'), /created a new identity/);
  const file = path.join(home, 'identity.json');
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'mode 0600');

  const again = run(['id'], { home, stdin: 'ignore' });
  await exitOf(again);
  t.same(JSON.parse(again.stdout[0]!).public_key, rec.public_key, 'same key the second time');
  t.same(again.stderr, [], 'nothing said the second time');

  const named = run(['id', '--name', 'alice'], { home, stdin: 'ignore' });
  await exitOf(named);
  t.equal(JSON.parse(named.stdout[0]!).username, 'alice');
  const after = run(['id'], { home, stdin: 'ignore' });
  await exitOf(after);
  t.equal(JSON.parse(after.stdout[0]!).username, 'alice', '--name is saved');
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'still 0600 after saving');
});

t.test('a key file readable by group or others is refused, as ssh does', async (t) => {
  const home = tmpHome();
  await exitOf(run(['id'], { home, stdin: 'ignore' }));
  for (const mode of [0o640, 0o604, 0o644]) {
    fs.chmodSync(path.join(home, 'identity.json'), mode);
    for (const args of [['id'], ['connect', '127.0.0.1:9']]) {
      const p = run(args, { home, stdin: 'ignore' });
      t.equal((await exitOf(p)).code, 77, `${args[0]} with mode ${mode.toString(8)}`);
      t.match(p.stderr.join('\n'), /P2PCAT_ERR_KEY_PERMS: .*chmod 600/);
      t.same(p.stdout, []);
    }
  }
});

t.test('a corrupt identity file is a clear error, not a crash', async (t) => {
  const home = tmpHome();
  fs.writeFileSync(path.join(home, 'identity.json'), '{"version":1,"type":"ed25519","seed":"zz"}', { mode: 0o600 });
  const p = run(['id'], { home, stdin: 'ignore' });
  t.equal((await exitOf(p)).code, 78);
  t.match(p.stderr.join('\n'), /P2PCAT_ERR_IDENTITY: .*malformed key/);
});

t.test('the room secret works from env, --secret-file and /dev/fd/N, never needing argv', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const secret = 'correct horse battery staple';
  const l = await listen(['--room', 'vault'], { env: { P2PCAT_SECRET: secret } });
  procs.push(l);
  const dir = tmpHome();
  const file = path.join(dir, 'secret');
  fs.writeFileSync(file, secret + '\n', { mode: 0o600 });

  const viaFile = run(['connect', `127.0.0.1:${l.port}`, '--room', 'vault', '--secret-file', file]);
  viaFile.end('via file\n');
  t.equal((await exitOf(viaFile)).code, 0, '--secret-file FILE');

  // --secret-file /dev/fd/N via bash process substitution: the secret is in no argv.
  const child = spawn('bash', ['-c', `exec "${process.execPath}" "${BIN}" connect 127.0.0.1:${l.port} --room vault --secret-file <(printf '%s\\n' "$S")`], {
    env: { ...process.env, P2PCAT_HOME: tmpHome(), S: secret },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin!.end('via fd\n');
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.resume();
  const code = await new Promise<number | null>((r) => child.on('close', r));
  t.equal(code, 0, `--secret-file /dev/fd/63 ${err}`);

  const viaEnv = run(['connect', `127.0.0.1:${l.port}`, '--room', 'vault'], { env: { P2PCAT_SECRET: secret } });
  viaEnv.end('via env\n');
  t.equal((await exitOf(viaEnv)).code, 0, 'P2PCAT_SECRET');

  await l.waitFor(() => ['via file', 'via fd', 'via env'].every((m) => l.records.some((r) => r.message === m)), 'all three messages');

  const missing = run(['connect', `127.0.0.1:${l.port}`, '--room', 'vault', '--secret-file', path.join(dir, 'nope')], { stdin: 'ignore' });
  t.equal((await exitOf(missing)).code, 64);
  t.match(missing.stderr.join('\n'), /P2PCAT_ERR_SECRET/);
  const empty = path.join(dir, 'empty');
  fs.writeFileSync(empty, '\n');
  const e = run(['connect', `127.0.0.1:${l.port}`, '--room', 'vault', '--secret-file', empty], { stdin: 'ignore' });
  t.equal((await exitOf(e)).code, 64);
  t.match(e.stderr.join('\n'), /P2PCAT_ERR_SECRET: the room secret is empty/);
});
