// Black-box: the configuration precedence (flag, then environment, then the
// config file, then the default) as `p2pcat config` reports it, and as
// listen/connect obey it; a bad file is one coded error that spares --help.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN } from '../helpers/paths.js';
import { exitOf, listen, reap, run, tmpHome, type Proc } from '../helpers/proc.js';

/** The environment of a run: ours without any P2PCAT_* or XDG_* setting, plus `env`. */
function cleanEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(P2PCAT_|XDG_)/.test(k)) out[k] = v;
  return { ...out, ...env };
}

function p2pcat(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000, env: cleanEnv(env) });
  let rec: Record<string, any> | undefined;
  try {
    rec = JSON.parse(r.stdout);
  } catch {
    rec = undefined;
  }
  return { ...r, rec };
}

t.test('p2pcat config: defaults, one record, nothing created', async (t) => {
  const home = tmpHome();
  t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
  const r = p2pcat(['config'], { P2PCAT_HOME: home, USER: 'zoe' });
  t.equal(r.status, 0, 'exit 0');
  t.equal(r.stdout.trim().split('\n').length, 1, 'one line on stdout');
  t.match(r.rec, {
    type: 'CONFIG',
    precedence: ['flag', 'env', 'file', 'default'],
    paths: { home, config_dir: home, data_dir: home, config_file: path.join(home, 'config'), config_file_exists: false, identity: path.join(home, 'identity.json'), identity_status: 'missing', log_dir: path.join(home, 'logs') },
    settings: {
      room: { value: 'lobby', source: 'default' },
      name: { value: 'zoe', source: 'default' },
      secret: { set: false, source: 'none' },
      'handshake-timeout': { value: 10, source: 'default' },
      json: { value: false, source: 'default' },
      strict: { value: false, source: 'default' },
    },
  });
  t.same(fs.readdirSync(home), [], 'no identity, no directory, nothing written');
});

t.test('p2pcat config: XDG directories when P2PCAT_HOME is unset', async (t) => {
  const base = tmpHome();
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const r = p2pcat(['config'], { HOME: base, XDG_CONFIG_HOME: path.join(base, 'cfg'), XDG_DATA_HOME: path.join(base, 'data') });
  t.equal(r.status, 0);
  t.match(r.rec?.paths, { home: null, config_dir: path.join(base, 'cfg', 'p2pcat'), data_dir: path.join(base, 'data', 'p2pcat'), config_file: path.join(base, 'cfg', 'p2pcat', 'config') });
  const r2 = p2pcat(['config'], { HOME: base, XDG_CONFIG_HOME: 'relative/ignored' });
  t.equal(r2.rec?.paths.config_dir, path.join(base, '.config', 'p2pcat'), 'a relative XDG_CONFIG_HOME is ignored');
});

t.test('precedence: flag, then environment, then file, then default', async (t) => {
  const home = tmpHome();
  t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
  fs.writeFileSync(
    path.join(home, 'config'),
    ['# p2pcat settings', 'room = ops', 'name = "file name"', '', 'secret-file = ops.secret', 'handshake-timeout = 3', 'strict = yes'].join('\n') + '\n',
  );
  const file = path.join(home, 'config');
  const env = { P2PCAT_HOME: home };

  const fromFile = p2pcat(['config'], env);
  t.equal(fromFile.status, 0, fromFile.stderr);
  t.match(fromFile.rec?.settings, {
    room: { value: 'ops', source: 'file', origin: `${file}:2` },
    name: { value: 'file name', source: 'file', origin: `${file}:3` },
    secret: { set: true, source: 'file', origin: `${file}:5`, secret_file: path.join(home, 'ops.secret') },
    'handshake-timeout': { value: 3, source: 'file', origin: `${file}:6` },
    strict: { value: true, source: 'file' },
    json: { value: false, source: 'default' },
  });
  t.equal(fromFile.rec?.paths.config_file_exists, true);

  const fromEnv = p2pcat(['config'], { ...env, P2PCAT_ROOM: 'dev', P2PCAT_NAME: 'env name', P2PCAT_SECRET: 'hunter2' });
  t.match(fromEnv.rec?.settings, {
    room: { value: 'dev', source: 'env', origin: 'P2PCAT_ROOM' },
    name: { value: 'env name', source: 'env', origin: 'P2PCAT_NAME' },
    secret: { set: true, source: 'env', origin: 'P2PCAT_SECRET' },
    'handshake-timeout': { value: 3, source: 'file' },
  });
  t.notMatch(fromEnv.stdout, /hunter2/, 'the secret itself is never printed');

  const fromFlags = p2pcat(['config', '--room', 'cli', '--name', 'flag name', '--secret', 's3cret', '--handshake-timeout', '7', '--no-strict'], {
    ...env,
    P2PCAT_ROOM: 'dev',
    P2PCAT_NAME: 'env name',
  });
  t.equal(fromFlags.status, 0, fromFlags.stderr);
  t.match(fromFlags.rec?.settings, {
    room: { value: 'cli', source: 'flag' },
    name: { value: 'flag name', source: 'flag' },
    secret: { set: true, source: 'flag', origin: '--secret' },
    'handshake-timeout': { value: 7, source: 'flag' },
    strict: { value: false, source: 'flag' },
  });
  t.notMatch(fromFlags.stdout, /s3cret/, 'nor a secret given as a flag');
  t.notMatch(fromFlags.stderr, /P2PCAT_ERR/, '--secret hides the file\'s secret-file: no conflict');
});

t.test('a bad config file: exit 78 naming file and line; --help and id still work', async (t) => {
  const home = tmpHome();
  t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
  const file = path.join(home, 'config');
  const env = { P2PCAT_HOME: home };
  const cases: [string, RegExp][] = [
    ['room = ops\nrooom = typo\n', /config:2: unknown key "rooom"/],
    ['secret = hunter2\n', /config:1: a secret does not belong in the config file/],
    ['handshake-timeout = soon\n', /config:1: "handshake-timeout" must be a positive number/],
    ['strict = maybe\n', /config:1: "strict" must be true or false/],
    ['room = a\nroom = b\n', /config:2: "room" is set twice/],
    ['just words\n', /config:1: expected "key = value"/],
  ];
  for (const [text, re] of cases) {
    fs.writeFileSync(file, text);
    const r = p2pcat(['config'], env);
    t.equal(r.status, 78, `${JSON.stringify(text)}: exit 78`);
    t.equal(r.stdout, '', 'nothing on stdout');
    t.match(r.stderr, /^p2pcat: P2PCAT_ERR_CONFIG: /, 'one coded line');
    t.match(r.stderr, re, 'it says what is wrong, and where');
    t.notMatch(r.stderr, /hunter2/, 'a misplaced secret is not echoed');
  }
  fs.writeFileSync(file, 'bogus = 1\n');
  t.equal(p2pcat(['listen', '--help'], env).status, 0, 'listen --help works');
  t.equal(p2pcat(['--version'], env).status, 0, '--version works');
  const id = p2pcat(['id'], env);
  t.equal(id.status, 0, 'id (which takes no setting from the file) works');
  fs.writeFileSync(file, Buffer.alloc(70 * 1024, 0x23));
  const big = p2pcat(['config'], env);
  t.equal(big.status, 78, 'an oversize file is refused');
  t.match(big.stderr, /larger than 65536 bytes/);
});

t.test('the name in the file does not rename the identity', async (t) => {
  const home = tmpHome();
  t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
  fs.writeFileSync(path.join(home, 'config'), 'name = from-file\n');
  const r = p2pcat(['id'], { P2PCAT_HOME: home, USER: 'zoe' });
  t.equal(r.status, 0);
  t.equal(r.rec?.username, 'zoe', 'id --name saves a name; the file does not act as one');
  const c = p2pcat(['config'], { P2PCAT_HOME: home, USER: 'zoe' });
  t.match(c.rec?.settings.name, { value: 'from-file', source: 'file' }, 'but it is the session name of listen/connect');
  t.equal(c.rec?.paths.identity_status, 'ok');
});

t.test('listen and connect obey the file, and the environment beats it', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const a = tmpHome();
  const b = tmpHome();
  t.teardown(() => {
    fs.rmSync(a, { recursive: true, force: true });
    fs.rmSync(b, { recursive: true, force: true });
  });
  // Both sides: a private room "ops" from their config files only.
  for (const h of [a, b]) {
    fs.writeFileSync(path.join(h, 'team.secret'), 'correct horse\n', { mode: 0o600 });
    fs.writeFileSync(path.join(h, 'config'), 'room = ops\nsecret-file = team.secret\n');
  }
  const l = await listen([], { home: a, name: 'hub' });
  procs.push(l);
  t.match(l.stderr.join('\n'), /room "ops", private/, 'listen took room and secret from the file');

  const c = run(['connect', `127.0.0.1:${l.port}`], { home: b, name: 'ann' });
  procs.push(c);
  c.end('hello through the file\n');
  t.equal((await exitOf(c)).code, 0, 'connect with the same file settings gets through');
  const rec = await l.waitRecord((r) => r.type === 'CHAT', 'the message');
  t.match(rec, { room: 'ops', message: 'hello through the file', username: 'ann' });

  const wrong = run(['connect', `127.0.0.1:${l.port}`], { home: b, name: 'ben', env: { P2PCAT_ROOM: 'elsewhere' } });
  procs.push(wrong);
  wrong.end('must not arrive\n');
  t.equal((await exitOf(wrong)).code, 77, 'P2PCAT_ROOM beats the file: another room, the handshake fails');
  t.match(wrong.stderr.join('\n'), /P2PCAT_ERR_AUTH/);

  const flag = run(['connect', `127.0.0.1:${l.port}`, '--room', 'elsewhere'], { home: b, name: 'cal' });
  procs.push(flag);
  flag.end('nor this\n');
  t.equal((await exitOf(flag)).code, 77, 'a --room flag beats the file too');
  await new Promise((r) => setTimeout(r, 200));
  t.same(l.records.filter((r) => r.type === 'CHAT').map((r) => r.message), ['hello through the file'], 'nothing else crossed');
  l.kill('SIGTERM');
  await exitOf(l);
});
