// The optional configuration file, the third layer of p2pcat's one
// precedence rule (DESIGN.md "Command line"; p2pcat(1), CONFIGURATION):
//
//   1. a flag on the command line          --room ops
//   2. the environment                     P2PCAT_ROOM=ops
//   3. the configuration file              room = ops     in configFile()
//   4. the built-in default                lobby
//
// The run code already reads `argv.room ?? process.env.P2PCAT_ROOM ?? default`;
// this layer only fills argv with a file value when neither a flag nor the
// environment gave that setting, so the order above holds without the run
// code knowing about the file. applyFileLayer() is installed as a yargs
// middleware in src/cli/main.ts.
//
// Format: UTF-8 text, one `key = value` per line; blank lines and lines
// starting with `#` are ignored; keys are long option names (CONFIG_KEYS);
// a value may be wrapped in double or single quotes (no escapes). A path
// value may start with `~/`; a relative one is taken from the config dir.
// An unknown key or a bad value is an error naming file and line.
import fs from 'node:fs';
import path from 'node:path';
import { P2pcatError } from '../errors.js';
import { CONFIG_FILE_MAX_BYTES } from '../limits.js';
import { configDir } from './paths.js';

type Env = Record<string, string | undefined>;

export type Source = 'flag' | 'env' | 'file' | 'default';

export interface ConfigKey {
  type: 'string' | 'number' | 'boolean' | 'path';
  /** The environment variable that, when set, wins over the file. */
  env?: string;
  /** Commands where the option means something else (an action, not a setting). */
  notFor?: string[];
}

/** Settings the file may hold. A secret itself may not: name a file holding it. */
export const CONFIG_KEYS: Record<string, ConfigKey> = {
  room: { type: 'string', env: 'P2PCAT_ROOM' },
  name: { type: 'string', env: 'P2PCAT_NAME', notFor: ['id'] },
  'secret-file': { type: 'path', env: 'P2PCAT_SECRET' },
  'handshake-timeout': { type: 'number' },
  json: { type: 'boolean' },
  strict: { type: 'boolean' },
};

export const CONFIG_FILE_NAME = 'config';

export function configFile(env: Env = process.env): string {
  return path.join(configDir(env), CONFIG_FILE_NAME);
}

export interface ConfigEntry {
  value: string | number | boolean;
  line: number;
}

export interface ConfigFile {
  file: string;
  exists: boolean;
  entries: Map<string, ConfigEntry>;
}

/** Is the environment variable set, in the sense the run code uses it? */
export function envGives(name: string, env: Env = process.env): boolean {
  // The secret is taken from the environment only when non-empty (src/crypto/room.ts).
  return name === 'P2PCAT_SECRET' ? !!env[name] : env[name] !== undefined;
}

function unquote(v: string): string {
  return v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.at(-1) === v[0] ? v.slice(1, -1) : v;
}

/** Parse the text of a configuration file. Pure: `file` and `dir` only name things. */
export function parseConfig(text: string, file: string, env: Env = process.env, dir = path.dirname(file)): Map<string, ConfigEntry> {
  const entries = new Map<string, ConfigEntry>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i]!.replace(/\r$/, '').trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const eq = raw.indexOf('=');
    if (eq < 0) throw P2pcatError.config(`${file}:${n}: expected "key = value"`);
    const key = raw.slice(0, eq).trim();
    const spec = CONFIG_KEYS[key];
    if (key === 'secret') throw P2pcatError.config(`${file}:${n}: a secret does not belong in the config file; put it in a file of its own (chmod 600) and name that with secret-file`);
    if (!spec) throw P2pcatError.config(`${file}:${n}: unknown key "${key}" (known: ${Object.keys(CONFIG_KEYS).join(', ')})`);
    if (entries.has(key)) throw P2pcatError.config(`${file}:${n}: "${key}" is set twice (first on line ${entries.get(key)!.line})`);
    const v = unquote(raw.slice(eq + 1).trim());
    // eslint-disable-next-line no-control-regex
    if (v === '' || /[\u0000-\u001f\u007f]/.test(v)) throw P2pcatError.config(`${file}:${n}: "${key}" needs a value without control characters`);
    let value: string | number | boolean;
    switch (spec.type) {
      case 'string':
        value = v;
        break;
      case 'path':
        value = v.startsWith('~/') ? path.join(env.HOME || '', v.slice(2)) : path.resolve(dir, v);
        break;
      case 'number':
        value = Number(v);
        if (!Number.isFinite(value) || value <= 0) throw P2pcatError.config(`${file}:${n}: "${key}" must be a positive number, not "${v}"`);
        break;
      case 'boolean': {
        const b = v.toLowerCase();
        if (['true', 'yes', 'on', '1'].includes(b)) value = true;
        else if (['false', 'no', 'off', '0'].includes(b)) value = false;
        else throw P2pcatError.config(`${file}:${n}: "${key}" must be true or false, not "${v}"`);
        break;
      }
    }
    entries.set(key, { value, line: n });
  }
  return entries;
}

/** Read configFile(); a missing file is an empty configuration. */
export function readConfigFile(env: Env = process.env): ConfigFile {
  const file = configFile(env);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return { file, exists: false, entries: new Map() };
    throw P2pcatError.config(`cannot open ${file}: ${err.code ?? err.message}`, e);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw P2pcatError.config(`${file} is not a regular file`);
    if (st.size > CONFIG_FILE_MAX_BYTES) throw P2pcatError.config(`${file} is larger than ${CONFIG_FILE_MAX_BYTES} bytes`);
    const buf = Buffer.alloc(CONFIG_FILE_MAX_BYTES + 1);
    let len = 0;
    for (let i = 0; i < 64 && len < buf.length; i++) {
      const got = fs.readSync(fd, buf, len, buf.length - len, null);
      if (got === 0) break;
      len += got;
    }
    if (len > CONFIG_FILE_MAX_BYTES) throw P2pcatError.config(`${file} is larger than ${CONFIG_FILE_MAX_BYTES} bytes`);
    return { file, exists: true, entries: parseConfig(buf.subarray(0, len).toString('utf8'), file, env) };
  } catch (e) {
    if (e instanceof P2pcatError) throw e;
    throw P2pcatError.config(`cannot read ${file}: ${(e as Error).message}`, e);
  } finally {
    fs.closeSync(fd);
  }
}

// ------------------------------------------------------------ the yargs layer

/** What a yargs middleware sees of the command being run (yargs internals, typed narrowly). */
interface CommandYargs {
  getOptions(): { key: Record<string, unknown>; alias: Record<string, string[]> };
  parsed?: { defaulted?: Record<string, boolean> } | false;
  getInternalMethods(): { getValidationInstance(): { getConflicting(): Record<string, (string | undefined)[]> } };
}

/** Where each configurable setting of one parsed command line came from (flag or file; the rest is env or default). */
const layerSources = new WeakMap<object, Map<string, { source: 'flag' | 'file'; line?: number }>>();

export function sourcesOf(argv: object): Map<string, { source: 'flag' | 'file'; line?: number }> {
  return layerSources.get(argv) ?? new Map();
}

const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Fill argv from the configuration file, for every setting the command has
 * that neither a flag nor the environment gave, and that no flag given
 * conflicts with. A yargs middleware (before validation).
 */
export function applyFileLayer(argv: Record<string, unknown>, y: unknown, env: Env = process.env, read: (env: Env) => ConfigFile = readConfigFile): void {
  // --help and --version must work even when the file is broken.
  if (argv.help === true || argv.version === true) return;
  const yi = y as CommandYargs;
  const known = yi.getOptions().key;
  const command = String((argv._ as unknown[] | undefined)?.[0] ?? '');
  const configurable = Object.keys(CONFIG_KEYS).filter((k) => k in known && !CONFIG_KEYS[k]!.notFor?.includes(command));
  if (configurable.length === 0) return;
  const defaulted = (yi.parsed && yi.parsed.defaulted) || {};
  const given = (k: string) => argv[k] !== undefined && !defaulted[k];
  const sources = new Map<string, { source: 'flag' | 'file'; line?: number }>();
  layerSources.set(argv, sources);
  for (const k of configurable) if (given(k)) sources.set(k, { source: 'flag' });
  const conflicts = new Map<string, Set<string>>();
  for (const [a, bs] of Object.entries(yi.getInternalMethods().getValidationInstance().getConflicting())) {
    for (const b of bs) {
      if (typeof b !== 'string') continue;
      if (!conflicts.has(a)) conflicts.set(a, new Set());
      if (!conflicts.has(b)) conflicts.set(b, new Set());
      conflicts.get(a)!.add(b);
      conflicts.get(b)!.add(a);
    }
  }
  const cfg = read(env);
  for (const [k, entry] of cfg.entries) {
    const spec = CONFIG_KEYS[k]!;
    if (!configurable.includes(k)) continue;
    if (given(k) || (spec.env && envGives(spec.env, env))) continue;
    if ([...(conflicts.get(k) ?? [])].some(given)) continue;
    for (const name of [k, camel(k), ...(yi.getOptions().alias[k] ?? [])]) argv[name] = entry.value;
    sources.set(k, { source: 'file', line: entry.line });
  }
}
