// Drift between the man pages and the code (issue 9), in the manner of
// nodejs/node test/parallel/test-cli-node-options-docs.js.
//
// Where a command is documented: man/p2pcat-<first word>.1 when that page
// exists (p2pcat-log.1 for `log cat`), otherwise man/p2pcat.1. On that page:
//   - SYNOPSIS has a block for the command (`.Nm p2pcat` then `.Cm` words)
//     naming exactly the command's options (by name or alias);
//   - OPTIONS has an `.It Fl ...` entry for each of them, naming every alias,
//     and the entry of an option that conflicts with others names them;
//   - every flag the page names anywhere is an option of some command.
// Also: every P2PCAT_ERR_* code in DIAGNOSTICS and every bound of
// src/limits.ts in LIMITS (and nothing else), every environment variable
// src/ reads in ENVIRONMENT, package.json "man" lists every page, and each
// page is lint-clean (mandoc -T lint, groff -ww, man -l).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../helpers/paths.js';
import { allFlags, itemArgs, optionItems, sections, synopsisBlocks } from '../helpers/mdoc.js';
import { allCommands, cliModel, type CommandModel, type OptionModel } from '../../src/cli/gen/model.js';
import { ERROR_CODES } from '../../src/errors.js';
import * as limits from '../../src/limits.js';

const MAN = path.join(REPO_ROOT, 'man');
const pages = fs.readdirSync(MAN).filter((f) => /\.[1-9]$/.test(f)).sort();
const read = (p: string) => fs.readFileSync(path.join(MAN, p), 'utf8');
const model = cliModel();
const leaves = allCommands(model).filter((c) => c.subcommands.length === 0);
const topNames = new Set(model.commands.map((c) => c.path[0]));

function pageOf(c: CommandModel): string {
  const own = `p2pcat-${c.path[0]}.1`;
  return pages.includes(own) ? own : 'p2pcat.1';
}

/**
 * Options yargs accepts for a command only so that the command can refuse
 * them with a clear message: not shown on its SYNOPSIS line. Delete a line
 * here when the command stops defining the option.
 */
const SYNOPSIS_OMITS: Record<string, string[]> = {
  connect: ['keep-open', 'max-conns'], // listen --raw only (src/cli/options.ts rawOptions is shared)
};

const names = (o: OptionModel) => [o.name, ...o.aliases];
const local = (c: CommandModel) => c.options.filter((o) => !o.global);
const show = (n: string) => (n.length === 1 ? `-${n}` : `--${n}`);

function exists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

t.test('every command is documented in its page, SYNOPSIS and OPTIONS', async (t) => {
  t.ok(pages.includes('p2pcat.1'), 'man/p2pcat.1 exists');
  for (const c of leaves) {
    const page = pageOf(c);
    const secs = sections(read(page));
    // A command may have several SYNOPSIS lines (listen, listen --raw): together they name its options.
    const blocks = synopsisBlocks(secs.get('SYNOPSIS') ?? []).filter((b) => b.words.join(' ') === c.path.join(' '));
    if (!t.ok(blocks.length, `${page} SYNOPSIS has a line for "p2pcat ${c.path.join(' ')}"`)) continue;
    const flags = blocks.flatMap((b) => b.flags);
    const opts = local(c);
    const omitted = SYNOPSIS_OMITS[c.path.join(' ')] ?? [];
    for (const o of opts) {
      if (omitted.includes(o.name)) continue;
      t.ok(names(o).some((n) => flags.includes(n)), `${page} SYNOPSIS of "${c.path.join(' ')}" names ${show(o.name)}`);
    }
    const ofCommand = (f: string) => opts.some((o) => names(o).includes(f) || (f.startsWith('no-') && names(o).includes(f.slice(3))));
    for (const f of flags) t.ok(ofCommand(f), `${show(f)} in the SYNOPSIS of "${c.path.join(' ')}" (${page}) is an option of that command`);
    const items = optionItems(secs.get('OPTIONS') ?? []);
    for (const o of opts) {
      const item = items.find((i) => names(o).some((n) => i.names.includes(n)));
      if (!t.ok(item, `${page} OPTIONS has an entry for ${show(o.name)} (${c.path.join(' ')})`)) continue;
      for (const a of names(o)) t.ok(item!.names.includes(a), `the ${show(o.name)} entry names ${show(a)}`);
      const body = allFlags(item!.text.join('\n')).map((f) => f.name);
      for (const other of o.conflicts) {
        const co = c.options.find((x) => x.name === other);
        const spellings = co ? names(co) : [other];
        t.ok(spellings.some((s) => body.includes(s)), `the ${show(o.name)} entry in ${page} says it conflicts with ${show(other)}`);
      }
      for (const other of o.implies) {
        const io = c.options.find((x) => x.name === other);
        const spellings = io ? names(io) : [other];
        t.ok(spellings.some((s) => body.includes(s)), `the ${show(o.name)} entry in ${page} says it implies ${show(other)}`);
      }
    }
  }
});

t.test('p2pcat.1 lists every command and refers to every other page', async (t) => {
  const secs = sections(read('p2pcat.1'));
  const listed = itemArgs(secs.get('COMMANDS') ?? [], 'Cm');
  for (const c of model.commands) t.ok(listed.includes(c.path[0]!), `COMMANDS has an entry for ${c.path[0]}`);
  const seeAlso = (secs.get('SEE ALSO') ?? []).join('\n');
  for (const p of pages.filter((p) => p !== 'p2pcat.1')) t.match(seeAlso, new RegExp(`^\\.Xr ${p.replace(/\.1$/, '')} 1\\b`, 'm'), `SEE ALSO refers to ${p}`);
});

t.test('global options are documented in p2pcat.1', async (t) => {
  const secs = sections(read('p2pcat.1'));
  const items = optionItems(secs.get('OPTIONS') ?? []);
  for (const o of model.options) {
    const item = items.find((i) => names(o).some((n) => i.names.includes(n)));
    if (!t.ok(item, `OPTIONS has ${show(o.name)}`)) continue;
    for (const a of names(o)) t.ok(item!.names.includes(a), `the ${show(o.name)} entry names ${show(a)}`);
  }
  const root = synopsisBlocks(secs.get('SYNOPSIS') ?? []).find((b) => b.words.length === 0);
  t.ok(root, 'SYNOPSIS has a line for p2pcat itself');
  for (const o of model.options) t.ok(names(o).some((n) => root?.flags.includes(n)), `the p2pcat SYNOPSIS line names ${show(o.name)}`);
});

for (const page of pages) {
  const m = /^p2pcat-([a-z0-9-]+)\.1$/.exec(page);
  const skip = m && !topNames.has(m[1]!) ? `${page} documents "${m[1]}", which src/cli/commands/index.ts does not register yet` : false;
  t.test(`every flag ${page} names exists`, { skip }, async (t) => {
    // A page may name another command's options (`p2pcat connect --peers`); a command's own
    // SYNOPSIS lines are held to its own options above.
    const known = new Set([...model.options, ...allCommands(model).flatMap((c) => c.options)].flatMap(names));
    // yargs negates any option: --no-log sets log to false.
    const isKnown = (n: string) => known.has(n) || (n.startsWith('no-') && known.has(n.slice(3)));
    for (const f of allFlags(read(page))) t.ok(isKnown(f.name), `${page}:${f.line}: ${show(f.name)} is an option p2pcat knows`);
  });
}

t.test('DIAGNOSTICS lists every P2PCAT_ERR_* code, and only those', async (t) => {
  const listed = itemArgs(sections(read('p2pcat.1')).get('DIAGNOSTICS') ?? [], 'Er');
  t.same([...listed].sort(), Object.keys(ERROR_CODES).sort(), 'the codes of src/errors.ts');
});

t.test('LIMITS lists every bound of src/limits.ts, and only those', async (t) => {
  const listed = itemArgs(sections(read('p2pcat.1')).get('LIMITS') ?? [], 'Dv');
  t.same([...listed].sort(), Object.keys(limits).sort(), 'the exports of src/limits.ts');
});

t.test('ENVIRONMENT names every variable src/ reads', async (t) => {
  const documented = new Set(itemArgs(sections(read('p2pcat.1')).get('ENVIRONMENT') ?? [], 'Ev'));
  const read_ = new Set<string>();
  const walk = (dir: string, depth: number): void => {
    if (depth > 8) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if (e.name.endsWith('.ts'))
        for (const m of fs.readFileSync(p, 'utf8').matchAll(/\benv\s*(?:\.\s*([A-Z][A-Z0-9_]*)|\[\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\])/g)) read_.add(m[1] ?? m[2]!);
    }
  };
  walk(path.join(REPO_ROOT, 'src'), 0);
  for (const v of ['P2PCAT_HOME', 'P2PCAT_ROOM', 'P2PCAT_SECRET', 'P2PCAT_NAME', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'NO_COLOR']) read_.add(v);
  for (const v of [...read_].sort()) t.ok(documented.has(v), `ENVIRONMENT documents ${v}`);
});

t.test('package.json "man" lists every page', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { man?: string[] };
  t.same([...(pkg.man ?? [])].map((p) => p.replace(/^\.\//, '')).sort(), pages.map((p) => `man/${p}`), 'man/*.1');
});

t.test('mandoc -T lint is clean', { skip: exists('mandoc') ? false : 'mandoc is not installed (apt-get install mandoc)' }, async (t) => {
  for (const page of pages) {
    const r = spawnSync('mandoc', ['-T', 'lint', '-W', 'style', path.join(MAN, page)], { encoding: 'utf8', timeout: 20_000 });
    // Whether a referenced page (jq(1), sysexits(3)) is installed depends on the machine, not on the page.
    const msgs = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l && !/referenced manual not found|mandoc\.db/.test(l));
    t.same(msgs, [], `${page}: no messages`);
  }
});

t.test('groff -ww renders without warnings', { skip: exists('groff') ? false : 'groff is not installed (apt-get install groff)' }, async (t) => {
  for (const page of pages) {
    const r = spawnSync('groff', ['-ww', '-mdoc', '-z', path.join(MAN, page)], { encoding: 'utf8', timeout: 20_000 });
    t.equal(r.status, 0, `${page}: groff exits 0`);
    t.equal(r.stderr, '', `${page}: no warnings`);
  }
});

t.test('man -l renders without warnings', { skip: exists('man') ? false : 'man is not installed (apt-get install man-db)' }, async (t) => {
  for (const page of pages) {
    const r = spawnSync('man', ['--warnings', '-l', path.join(MAN, page)], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '80' },
    });
    t.equal(r.status, 0, `${page}: man exits 0`);
    t.equal(r.stderr, '', `${page}: nothing on stderr`);
    t.match(r.stdout, /SYNOPSIS/, `${page}: rendered`);
  }
});
