// Packaging (issue 9): `npm pack` gives a tarball holding only the
// whitelisted files; installed globally into a fresh prefix it gives a
// working `p2pcat` on PATH, its man pages linked where `man` finds them, and
// its shell completions. Dependencies come from the npm cache or registry.
// Uses the dist/ that `npm test` has just built (pack runs no scripts).
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { REPO_ROOT } from '../helpers/paths.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-pack-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const prefix = path.join(tmp, 'prefix');
const home = path.join(tmp, 'home');
fs.mkdirSync(home, { mode: 0o700 });
const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string; version: string; man?: string[] };

const npmEnv = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
function sh(cmd: string, args: string[], opts: SpawnSyncOptions = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, env: npmEnv, ...opts });
  return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), error: r.error };
}

const hasNpm = sh('npm', ['--version']).status === 0;

t.test('npm pack, npm install -g --prefix, then p2pcat, man and completions work', { skip: hasNpm ? false : 'npm is not on PATH' }, async (t) => {
  const pack = sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: REPO_ROOT });
  if (!t.equal(pack.status, 0, `npm pack: ${pack.stderr}`)) return;
  const info = (JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[])[0]!;
  const files = info.files.map((f) => f.path);
  for (const f of ['package.json', 'README.md', 'bin/p2pcat.js', 'dist/src/cli/main.js', 'completions/p2pcat.bash', 'completions/_p2pcat', 'completions/p2pcat.fish', ...(pkg.man ?? [])]) {
    t.ok(files.includes(f.replace(/^\.\//, '')), `the tarball holds ${f}`);
  }
  const stray = files.filter((f) => !/^(package\.json|README\.md|LICENSE|bin\/|dist\/src\/|man\/|completions\/|docs\/)/.test(f));
  t.same(stray, [], 'nothing outside the files whitelist (no tests, no sources)');
  t.notOk(files.some((f) => f.startsWith('dist/test/')), 'no compiled tests');

  const tarball = path.join(tmp, info.filename);
  const inst = sh('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: tmp });
  if (!t.equal(inst.status, 0, `npm install -g --prefix: ${inst.stderr}`)) return;

  const bin = path.join(prefix, 'bin', 'p2pcat');
  t.ok(fs.existsSync(bin), 'p2pcat is in $prefix/bin');
  const env = { ...process.env, P2PCAT_HOME: home, PATH: `${path.join(prefix, 'bin')}${path.delimiter}${process.env.PATH ?? ''}` };
  const ver = sh('p2pcat', ['--version'], { env, cwd: tmp });
  t.equal(ver.stdout, `${pkg.version}\n`, 'p2pcat --version, from PATH, prints the package version');
  const id = sh('p2pcat', ['id'], { env, cwd: tmp });
  t.equal(id.status, 0, `p2pcat id: ${id.stderr}`);
  t.match(JSON.parse(id.stdout || '{}'), { type: 'IDENTITY', public_key: /^[0-9a-f]{64}$/ }, 'p2pcat id prints an identity');
  t.ok(fs.existsSync(path.join(home, 'identity.json')), 'in $P2PCAT_HOME');

  const installed = path.join(prefix, 'lib', 'node_modules', pkg.name);
  for (const f of ['man/p2pcat.1', 'completions/p2pcat.bash', 'completions/_p2pcat', 'completions/p2pcat.fish']) t.ok(fs.existsSync(path.join(installed, f)), `installed: ${f}`);
  for (const m of pkg.man ?? []) {
    const linked = path.join(prefix, 'share', 'man', 'man1', path.basename(m));
    t.ok(fs.existsSync(linked), `npm linked ${path.basename(m)} into $prefix/share/man/man1`);
  }
  if (sh('man', ['--version']).status === 0) {
    const where = sh('man', ['-w', 'p2pcat'], { env: { ...env, MANPATH: path.join(prefix, 'share', 'man') } });
    // npm links the page; man may report the link or where it points.
    const found = where.stdout.trim();
    t.equal(found && fs.realpathSync(found), fs.realpathSync(path.join(installed, 'man', 'p2pcat.1')), '`man p2pcat` finds the page');
  }
  const compl = sh(
    'bash',
    ['--norc', '--noprofile', '-c', 'source "$1"; COMP_WORDS=(p2pcat li); COMP_CWORD=1; _p2pcat; printf "%s\\n" "${COMPREPLY[@]}"', 'bash', path.join(installed, 'completions', 'p2pcat.bash')],
    { env },
  );
  t.equal(compl.stdout, 'listen\n', 'the installed bash completion works');
});
