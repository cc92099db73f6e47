// The generators behind `npm run gen` (src/cli/gen/): the command model read
// from yargs, subcommands included (a stand-in `log` with subcommands, so
// completion of nested commands is proven before the real one lands), and
// the mdoc rendering of limits and regions.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { CommandModule } from 'yargs';
import { buildCli } from '../../src/cli/main.js';
import { allCommands, cliModel } from '../../src/cli/gen/model.js';
import { bashCompletion, fishCompletion, zshCompletion } from '../../src/cli/gen/completions.js';
import { formatLimit, parseLimits, rewriteRegions, roffSentences, wrap } from '../../src/cli/gen/man.js';

const nested: CommandModule = {
  command: 'vault <command>',
  describe: 'a stand-in command with subcommands',
  builder: (y) =>
    y
      .command({
        command: 'show',
        describe: 'show it',
        builder: (y) => y.option('since', { type: 'string', describe: 'from when' }).option('follow', { alias: 'f', type: 'boolean', describe: 'keep going' }),
        handler: () => {},
      })
      .command({
        command: 'save <file>',
        aliases: ['store'],
        describe: 'save it',
        builder: (y) =>
          y
            .positional('file', { type: 'string', describe: 'where' })
            .option('format', { choices: ['json', 'tar'], describe: 'how [really]: it\'s "quoted"' })
            .option('out-dir', { type: 'string', describe: 'a directory' })
            .option('room', { type: 'string', describe: 'which room', conflicts: 'all' })
            .option('all', { type: 'boolean', describe: 'every room' }),
        handler: () => {},
      }),
  handler: () => {},
};

const model = cliModel(buildCli([]).command(nested as CommandModule<object, object>));

t.test('the model reads commands, subcommands, aliases, positionals, options', async (t) => {
  const byPath = new Map(allCommands(model).map((c) => [c.path.join(' '), c]));
  t.ok(byPath.has('listen') && byPath.has('vault show') && byPath.has('vault save'), 'nested paths');
  const save = byPath.get('vault save')!;
  t.same(save.aliases, ['store']);
  t.same(save.positionals, [{ name: 'file', required: true, variadic: false, describe: 'where' }]);
  const opt = (n: string) => save.options.find((o) => o.name === n)!;
  t.same(opt('format').choices, ['json', 'tar']);
  t.same(opt('room').conflicts, ['all']);
  t.same(opt('all').conflicts, ['room'], 'conflicts are made symmetric');
  t.match(byPath.get('vault show')!.options.find((o) => o.name === 'follow'), { aliases: ['f'], type: 'boolean', takesValue: false });
  t.match(opt('help'), { aliases: ['h'], global: true }, 'global options keep their root aliases');
  const listen = byPath.get('listen')!;
  t.match(listen.options.find((o) => o.name === 'bind'), { aliases: ['s'], takesValue: true });
  t.same(listen.positionals.map((p) => p.name), ['port']);
  t.notOk(listen.options.some((o) => o.name === 'port'), 'positionals are not options');
});

t.test('bash completion of nested commands', { skip: spawnSync('sh', ['-c', 'command -v bash']).status === 0 ? false : 'no bash' }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-gen-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'p2pcat.bash');
  fs.writeFileSync(file, bashCompletion(model));
  fs.writeFileSync(path.join(dir, 'backup.tar'), '');
  fs.mkdirSync(path.join(dir, 'bdir'));
  const complete = (...words: string[]) => {
    const r = spawnSync(
      'bash',
      ['--norc', '--noprofile', '-c', 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _p2pcat; printf "%s\\n" "${COMPREPLY[@]}"', 'bash', file, ...words],
      { encoding: 'utf8', cwd: dir, timeout: 10_000 },
    );
    return r.stdout.split('\n').filter(Boolean);
  };
  t.same(complete('p2pcat', 'vault', ''), ['show', 'save'], 'subcommands after their parent');
  t.same(complete('p2pcat', 'vault', 'sa'), ['save']);
  t.same(complete('p2pcat', 'vault', 'show', '--fo'), ['--follow'], 'the subcommand\'s options');
  t.same(complete('p2pcat', 'vault', 'save', '--format', ''), ['json', 'tar'], 'choices');
  t.same(complete('p2pcat', 'vault', 'store', '--format', 't'), ['tar'], 'through an alias');
  t.same(complete('p2pcat', 'vault', 'save', 'back'), ['backup.tar'], 'a file positional completes files');
  t.same(complete('p2pcat', 'vault', 'save', '--out-dir', 'b'), ['bdir'], 'a -dir option completes directories');
  t.same(complete('p2pcat', 'vault', 'save', '--room', 'x', '--al'), ['--all'], 'an option value is skipped, not taken for a command');
});

t.test('zsh and fish scripts of the nested model parse', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-gen-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const zsh = zshCompletion(model);
  t.match(zsh, /'\(--room --all\)'--room='\[which room\]:room:_p2pcat_rooms'/, 'conflicts become zsh exclusion lists');
  t.match(zsh, /--format='\[how \\\[really\\\]\\: it'\\''s "quoted"\]:format:\(json tar\)'/, 'descriptions are quoted for zsh');
  const fish = fishCompletion(model);
  t.match(fish, /-l format -x -a 'json tar' -d 'how \[really\]: it\\'s "quoted"'/, 'and for fish');
  for (const [shell, text, args] of [
    ['zsh', zsh, ['-n']],
    ['fish', fish, ['--no-execute']],
  ] as const) {
    if (spawnSync('sh', ['-c', `command -v ${shell}`]).status !== 0) {
      t.comment(`${shell} is not installed`);
      continue;
    }
    const f = path.join(dir, shell);
    fs.writeFileSync(f, text);
    const r = spawnSync(shell, [...args, f], { encoding: 'utf8' });
    t.equal(r.status, 0, `${shell} parses it: ${r.stderr}`);
  }
});

t.test('wrap and roffSentences keep mandoc happy', async (t) => {
  const long = 'word '.repeat(40).trim();
  for (const l of wrap(long)) t.ok(l.length <= 78, 'at most 78 columns');
  t.same(wrap('a .b c', 3), ['a .b', 'c'], 'a line never starts with a dot');
  t.same(roffSentences('e.g. this. not a new sentence'), ['E.g. this. not a new sentence.'], 'a sentence starts with a capital');
  t.same(roffSentences('One. Two (three). Four'), ['One.', 'Two (three).', 'Four.'], 'one sentence per line');
  t.same(roffSentences('a \\ b ± c'), ['A \\e b \\[u00B1] c.'], 'backslashes and non-ASCII escaped');
});

t.test('parseLimits and formatLimit', async (t) => {
  const src = [
    '// header',
    '/** One. */',
    'export const A_BYTES = 1;',
    '/** Rate, and its burst. */',
    'export const B_PER_SEC = 2;',
    'export const B_BURST = 3;',
    '',
    '/**',
    ' * Multi',
    ' * line.',
    ' */',
    'export const C_MS = 4;',
  ].join('\n');
  const l = parseLimits(src, { A_BYTES: 1, B_PER_SEC: 2, B_BURST: 3, C_MS: 4 });
  t.same(l.map((x) => [x.name, x.doc]), [
    ['A_BYTES', 'One.'],
    ['B_PER_SEC', 'Rate, and its burst.'],
    ['B_BURST', 'Rate, and its burst.'],
    ['C_MS', 'Multi line.'],
  ]);
  t.throws(() => parseLimits('export const X = 1;', { X: 1 }), /no \/\*\* doc comment/);
  t.throws(() => parseLimits('// a\nexport const Y = 1;', { Y: 1 }), /no \/\*\* doc comment/, 'a plain comment does not document');
  t.throws(() => parseLimits('/** d */\nexport const X = 1;', { X: 1, Z: 2 }), /not found in its source: Z/);
  t.equal(formatLimit('X_BYTES', 65536), '65536 bytes (64 KiB)');
  t.equal(formatLimit('X_BYTES', 8 * 1024 * 1024), '8388608 bytes (8 MiB)');
  t.equal(formatLimit('X_MAX_BYTES_PER_PAIR', 1000), '1000 bytes');
  t.equal(formatLimit('X_BYTES_PER_SEC', 1024), '1024 bytes per second (1 KiB)');
  t.equal(formatLimit('X_PER_SEC', 50), '50 per second');
  t.equal(formatLimit('X_MS', 86_400_000), '86400000 ms (24 h)');
  t.equal(formatLimit('X_MS', 60_000), '60000 ms (1 min)');
  t.equal(formatLimit('X_MS', 250), '250 ms');
  t.equal(formatLimit('X_MESSAGES', 2 ** 32), '4294967296 (2^32)');
});

t.test('rewriteRegions replaces marked regions and nothing else', async (t) => {
  const page = ['.Sh A', 'kept', '.\\" BEGIN GENERATED x (note)', 'old', '.\\" END GENERATED x', 'kept too', ''].join('\n');
  t.equal(rewriteRegions(page, { x: () => ['new 1', 'new 2'] }), ['.Sh A', 'kept', '.\\" BEGIN GENERATED x (note)', 'new 1', 'new 2', '.\\" END GENERATED x', 'kept too', ''].join('\n'));
  t.throws(() => rewriteRegions(page, {}), /no generator for region "x"/);
  t.throws(() => rewriteRegions('.\\" BEGIN GENERATED x\nold\n', { x: () => [] }), /no matching END GENERATED x/);
});
