// `p2pcat config` implementation: one CONFIG record on stdout. It reads, and
// never creates or changes, anything: no identity is made, no secret is read
// (only whether one is set, and from where).
import { CONFIG_KEYS, envGives, readConfigFile, sourcesOf, type Source } from '../../config/config.js';
import { configDir, dataDir, identityPath, logDir } from '../../config/paths.js';
import { defaultUsername, loadIdentity } from '../../crypto/identity.js';
import { DEFAULT_ROOM } from '../../crypto/labels.js';
import { isP2pcatError } from '../../errors.js';
import { writeStdoutLine } from '../io.js';
import { VERSION } from '../main.js';
import type { ConfigArgs } from '../commands/config.js';

interface Setting {
  value?: unknown;
  set?: boolean;
  source: Source | 'identity' | 'none';
  /** The flag, variable or file:line it came from. */
  origin?: string;
  secret_file?: string;
}

export async function run(argv: ConfigArgs, env: Record<string, string | undefined> = process.env): Promise<void> {
  const cfg = readConfigFile(env);
  const layer = sourcesOf(argv);
  const a = argv as Record<string, unknown>;

  const settingOf = (key: string, fallback: () => Setting): Setting => {
    const s = layer.get(key);
    if (s?.source === 'flag') return { value: a[key], source: 'flag', origin: `--${key}` };
    if (s?.source === 'file') return { value: a[key], source: 'file', origin: `${cfg.file}:${s.line}` };
    const ev = CONFIG_KEYS[key]?.env;
    if (ev && key !== 'secret-file' && envGives(ev, env)) return { value: env[ev], source: 'env', origin: ev };
    return fallback();
  };

  let identity: string;
  let username: Setting;
  try {
    const id = loadIdentity(identityPath(env));
    identity = id ? 'ok' : 'missing';
    username = id ? { value: id.username, source: 'identity', origin: identityPath(env) } : { value: defaultUsername(env), source: 'default', origin: '$USER' };
  } catch (e) {
    if (!isP2pcatError(e)) throw e;
    identity = e.code;
    username = { value: defaultUsername(env), source: 'default', origin: '$USER' };
  }

  // The secret: its value is never printed, only whether it is set and from where.
  let secret: Setting;
  const sf = settingOf('secret-file', () => ({ source: 'none' }));
  if (sf.source === 'flag' || sf.source === 'file') secret = { set: true, source: sf.source, origin: sf.origin!, secret_file: String(sf.value) };
  else if (argv.secret !== undefined) secret = { set: true, source: 'flag', origin: '--secret' };
  else if (envGives('P2PCAT_SECRET', env)) secret = { set: true, source: 'env', origin: 'P2PCAT_SECRET' };
  else secret = { set: false, source: 'none' };

  const record = {
    type: 'CONFIG',
    version: VERSION,
    precedence: ['flag', 'env', 'file', 'default'],
    paths: {
      home: env.P2PCAT_HOME || null,
      config_dir: configDir(env),
      data_dir: dataDir(env),
      config_file: cfg.file,
      config_file_exists: cfg.exists,
      identity: identityPath(env),
      identity_status: identity,
      log_dir: logDir(env),
    },
    settings: {
      room: settingOf('room', () => ({ value: DEFAULT_ROOM, source: 'default' })),
      name: settingOf('name', () => username),
      secret,
      'handshake-timeout': settingOf('handshake-timeout', () => ({ value: a['handshake-timeout'], source: 'default' })),
      json: settingOf('json', () => ({ value: false, source: 'default' })),
      strict: settingOf('strict', () => ({ value: false, source: 'default' })),
    },
  };
  await writeStdoutLine(JSON.stringify(record));
}
