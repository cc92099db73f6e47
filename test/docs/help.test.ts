// `--help` of p2pcat and of every command (subcommands included, found in
// the command model) has an Examples: section, and `--version` prints the
// version in package.json.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, REPO_ROOT } from '../helpers/paths.js';
import { tmpHome } from '../helpers/proc.js';
import { allCommands, cliModel } from '../../src/cli/gen/model.js';

const home = tmpHome();
t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));

function p2pcat(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, P2PCAT_HOME: home, COLUMNS: '100' } });
}

t.test('every --help has at least one example', async (t) => {
  const paths = [[], ...allCommands(cliModel()).map((c) => c.path)];
  for (const p of paths) {
    const r = p2pcat([...p, '--help']);
    const what = ['p2pcat', ...p, '--help'].join(' ');
    t.equal(r.status, 0, `${what} exits 0`);
    t.match(r.stdout, /^Examples:\n\s+\S/m, `${what} has an Examples: section`);
    t.equal(r.stderr, '', `${what} writes nothing on stderr`);
  }
});

t.test('--version and -V print the package.json version', async (t) => {
  const { version } = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = p2pcat([flag]);
    t.equal(r.status, 0, `${flag} exits 0`);
    t.equal(r.stdout, `${version}\n`, `${flag} prints ${version}`);
  }
});
