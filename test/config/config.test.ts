// The configuration file layer (src/config/config.ts): the parser, and the
// yargs middleware run against real yargs parses, so "given by a flag",
// "defaulted", aliases and conflicts are what yargs itself says.
import t from 'tap';
import yargs from 'yargs';
import { P2pcatError } from '../../src/errors.js';
import { applyFileLayer, parseConfig, sourcesOf, type ConfigFile } from '../../src/config/config.js';

const FILE = '/home/zoe/.config/p2pcat/config';
const env = { HOME: '/home/zoe' };

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof P2pcatError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return undefined;
}

t.test('parseConfig: keys, values, comments, quotes, paths', async (t) => {
  const m = parseConfig(
    [
      '# a comment',
      '   ',
      'room = ops # not a comment: values run to the end of the line',
      "name = 'zoe z'",
      'secret-file = ~/ops.secret',
      'handshake-timeout=2.5',
      'json = off',
      'strict = TRUE\r',
    ].join('\n'),
    FILE,
    env,
  );
  t.same(Object.fromEntries([...m].map(([k, v]) => [k, v.value])), {
    room: 'ops # not a comment: values run to the end of the line',
    name: 'zoe z',
    'secret-file': '/home/zoe/ops.secret',
    'handshake-timeout': 2.5,
    json: false,
    strict: true,
  });
  t.equal(m.get('name')!.line, 4, 'line numbers are kept');
  t.equal(parseConfig('secret-file = ops.secret', FILE, env).get('secret-file')!.value, '/home/zoe/.config/p2pcat/ops.secret', 'relative to the config dir');
  t.equal(parseConfig('secret-file = /etc/p2pcat/ops', FILE, env).get('secret-file')!.value, '/etc/p2pcat/ops', 'absolute as is');
  t.equal(parseConfig('', FILE, env).size, 0, 'empty file, no settings');
});

t.test('parseConfig: every bad line is P2PCAT_ERR_CONFIG with file and line', async (t) => {
  const bad: [string, RegExp][] = [
    ['nonsense', /config:1: expected "key = value"/],
    ['\n\nrooom = x', /config:3: unknown key "rooom"/],
    ['secret = x', /config:1: a secret does not belong/],
    ['room =', /config:1: "room" needs a value/],
    ['room = ""', /config:1: "room" needs a value/],
    ['room = a\u0007b', /control characters/],
    ['handshake-timeout = -1', /positive number/],
    ['handshake-timeout = Infinity', /positive number/],
    ['json = 2', /true or false/],
    ['room = a\nroom = b', /config:2: "room" is set twice \(first on line 1\)/],
  ];
  for (const [text, re] of bad) {
    const c = code(() => parseConfig(text, FILE, env));
    t.match(c, /^P2PCAT_ERR_CONFIG: \/home\/zoe\/\.config\/p2pcat\/config:/, JSON.stringify(text));
    t.match(c, re, JSON.stringify(text));
  }
});

/** Parse `args` with a listen-like command whose middleware is the file layer over `cfg`. */
async function layer(args: string[], cfg: Record<string, string | number | boolean>, envv: Record<string, string> = {}) {
  const file: ConfigFile = { file: FILE, exists: true, entries: new Map(Object.entries(cfg).map(([k, v], i) => [k, { value: v, line: i + 1 }])) };
  let seen: Record<string, unknown> = {};
  let sources = new Map<string, unknown>();
  await yargs(args)
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .middleware(((argv: Record<string, unknown>, y: unknown) => applyFileLayer(argv, y, envv, () => file)) as never, true)
    .command(
      'listen',
      'x',
      (y) =>
        y
          .option('room', { type: 'string' })
          .option('name', { type: 'string' })
          .option('secret', { type: 'string' })
          .option('secret-file', { type: 'string', conflicts: 'secret' })
          .option('handshake-timeout', { type: 'number', default: 10 })
          .option('json', { type: 'boolean', alias: 'j' })
          .option('raw', { type: 'boolean', conflicts: ['json'] }),
      (argv) => {
        seen = argv;
        sources = sourcesOf(argv);
      },
    )
    .command('id', 'y', (y) => y.option('name', { type: 'string' }), (argv) => {
      seen = argv;
    })
    .parseAsync();
  return { argv: seen, sources };
}

t.test('applyFileLayer: the file fills only what neither a flag nor the environment gave', async (t) => {
  const cfg = { room: 'ops', name: 'filezoe', 'secret-file': '/s', 'handshake-timeout': 3, json: true };
  let r = await layer(['listen'], cfg);
  t.match(r.argv, { room: 'ops', name: 'filezoe', 'secret-file': '/s', secretFile: '/s', 'handshake-timeout': 3, handshakeTimeout: 3, json: true, j: true }, 'all from the file, camelCase and aliases too');
  t.same(Object.fromEntries(r.sources), { room: { source: 'file', line: 1 }, name: { source: 'file', line: 2 }, 'secret-file': { source: 'file', line: 3 }, 'handshake-timeout': { source: 'file', line: 4 }, json: { source: 'file', line: 5 } });

  r = await layer(['listen', '--room', 'cli', '--handshake-timeout', '10', '--no-json'], cfg);
  t.match(r.argv, { room: 'cli', 'handshake-timeout': 10, json: false }, 'flags win, even when equal to the default or negated');
  t.match(Object.fromEntries(r.sources), { room: { source: 'flag' }, 'handshake-timeout': { source: 'flag' }, json: { source: 'flag' } });

  r = await layer(['listen'], cfg, { P2PCAT_ROOM: 'envroom', P2PCAT_NAME: '', P2PCAT_SECRET: 'x' });
  t.equal(r.argv.room, undefined, 'P2PCAT_ROOM set: the run code reads it, the file stays out');
  t.equal(r.argv.name, undefined, 'P2PCAT_NAME set, even empty: the file stays out');
  t.equal(r.argv['secret-file'], undefined, 'P2PCAT_SECRET set: no secret-file from the file');
  r = await layer(['listen'], cfg, { P2PCAT_SECRET: '' });
  t.equal(r.argv['secret-file'], '/s', 'an empty P2PCAT_SECRET counts as unset, as src/crypto/room.ts reads it');

  r = await layer(['listen', '--secret', 'x'], cfg);
  t.equal(r.argv['secret-file'], undefined, '--secret conflicts with secret-file: the file does not add it');
  r = await layer(['listen', '--raw'], cfg);
  t.equal(r.argv.json, undefined, '--raw conflicts with json: the file does not add it');

  r = await layer(['id'], cfg);
  t.equal(r.argv.name, undefined, 'id --name is an action, not a setting: the file does not give it');
  t.equal(r.argv.room, undefined, 'nor options the command does not have');

});
