// The command line as data: walks the yargs instance that buildCli() makes
// (the same command modules `p2pcat` runs) and returns every command,
// subcommand, positional and option with its type, aliases, description and
// conflicts. Completions (./completions.ts) and the drift tests under
// test/docs/ are generated from or checked against this model, so help text,
// man page and completions cannot silently disagree.
//
// yargs 18 has no public introspection API; this uses the same internals its
// own completion code uses (getInternalMethods(), getCommandHandlers(),
// getOptions(), getUsageInstance().getDescriptions(), getConflicting()).
// Each command's builder is applied to a fresh yargs instance, recursively,
// so nothing is parsed and no handler runs.
import yargs from 'yargs';
import { buildCli } from '../main.js';

export type OptionType = 'boolean' | 'string' | 'number' | 'count';

export interface OptionModel {
  /** Long name as yargs knows it (e.g. `secret-file`). */
  name: string;
  /** Other names (e.g. `s` for `bind`), short ones first. */
  aliases: string[];
  type: OptionType;
  /** True when the option is followed by a value (`--room ops`). */
  takesValue: boolean;
  array: boolean;
  describe: string;
  /** Options it may not be used with (both directions of every yargs `conflicts`). */
  conflicts: string[];
  /** Options it needs (yargs `implies`; one direction). */
  implies: string[];
  choices: string[];
  default?: unknown;
  /** True for --help/--version, which every command accepts. */
  global: boolean;
}

export interface PositionalModel {
  name: string;
  required: boolean;
  variadic: boolean;
  describe: string;
}

export interface CommandModel {
  /** Words that select the command: `['listen']`, `['log', 'cat']`. */
  path: string[];
  /** The yargs command string, e.g. `connect <target..>`. */
  usage: string;
  describe: string;
  aliases: string[];
  positionals: PositionalModel[];
  /** Every option the command accepts, global ones included, sorted by name. */
  options: OptionModel[];
  subcommands: CommandModel[];
}

export interface CliModel {
  name: string;
  /** Options accepted before any command (--help, --version). */
  options: OptionModel[];
  commands: CommandModel[];
}

// The internals used, typed narrowly (yargs ships no types for them).
interface ParsedCommand { cmd: string[]; variadic: boolean }
interface CommandHandler {
  original: string;
  description: string | false;
  builder: ((y: unknown, helpOrVersionSet: boolean) => unknown) | Record<string, object>;
  demanded: ParsedCommand[];
  optional: ParsedCommand[];
  deprecated?: boolean | string;
}
interface YargsOptions {
  key: Record<string, boolean>;
  alias: Record<string, string[]>;
  boolean: string[];
  string: string[];
  number: string[];
  count: string[];
  array: string[];
  choices: Record<string, unknown[]>;
  default: Record<string, unknown>;
  hiddenOptions: string[];
  requiresArg: string[];
}
interface Introspectable {
  option(key: string, opt: object): Introspectable;
  getOptions(): YargsOptions;
  getGroups(): Record<string, string[]>;
  getInternalMethods(): {
    getCommandInstance(): { getCommandHandlers(): Record<string, CommandHandler>; aliasMap?: Record<string, string> };
    getUsageInstance(): { getDescriptions(): Record<string, string | undefined> };
    getValidationInstance(): {
      getConflicting(): Record<string, (string | undefined)[]>;
      getImplied(): Record<string, (string | number | undefined)[]>;
    };
  };
}

const YARGS_STRING_PREFIX = '__yargsString__:';

function describeOf(d: string | undefined): string {
  if (!d) return '';
  return d.startsWith(YARGS_STRING_PREFIX) ? d.slice(YARGS_STRING_PREFIX.length) : d;
}

/** Options of one yargs instance, minus the names in `skip` (positionals). */
function optionsOf(y: Introspectable, skip: Set<string>, globals: Set<string>): OptionModel[] {
  const o = y.getOptions();
  const im = y.getInternalMethods();
  const descs = im.getUsageInstance().getDescriptions();
  const conflicting = im.getValidationInstance().getConflicting();
  const implied = im.getValidationInstance().getImplied();
  const hidden = new Set(o.hiddenOptions ?? []);
  // Alias groups (yargs keeps `.alias('h', 'help')` under either name): the
  // canonical name is the first long name yargs lists as a key.
  const keys = Object.keys(o.key);
  const group = new Map<string, Set<string>>();
  const join = (a: string, b: string) => {
    const ga = group.get(a) ?? new Set([a]);
    const gb = group.get(b) ?? new Set([b]);
    const u = new Set([...ga, ...gb]);
    for (const n of u) group.set(n, u);
  };
  for (const k of keys) join(k, k);
  for (const [k, as] of Object.entries(o.alias ?? {})) for (const a of as) join(k, a);
  const canonicalOf = new Map<string, string>();
  for (const g of new Set(group.values())) {
    const members = [...g];
    const pick = members.filter((n) => n.length > 1 && keys.includes(n))[0] ?? members.filter((n) => n.length > 1)[0] ?? members[0]!;
    for (const n of members) canonicalOf.set(n, pick);
  }
  const canonical = (k: string) => canonicalOf.get(k) ?? k;
  const names = [...new Set(keys.map(canonical))].filter((k) => !skip.has(k) && !hidden.has(k));
  const conflicts = new Map<string, Set<string>>();
  for (const [k, vs] of Object.entries(conflicting)) {
    for (const v of vs) {
      if (typeof v !== 'string') continue;
      const a = canonical(k);
      const b = canonical(v);
      if (!conflicts.has(a)) conflicts.set(a, new Set());
      if (!conflicts.has(b)) conflicts.set(b, new Set());
      conflicts.get(a)!.add(b);
      conflicts.get(b)!.add(a);
    }
  }
  const has = (list: string[] | undefined, k: string) => (list ?? []).includes(k);
  return names
    .map((name): OptionModel => {
      const type: OptionType = has(o.boolean, name) ? 'boolean' : has(o.count, name) ? 'count' : has(o.number, name) ? 'number' : 'string';
      const aliases = [...(group.get(name) ?? [])].filter((a) => a !== name).sort((a, b) => a.length - b.length || a.localeCompare(b));
      const m: OptionModel = {
        name,
        aliases,
        type,
        takesValue: type === 'string' || type === 'number',
        array: has(o.array, name),
        describe: describeOf(descs[name] ?? [...(group.get(name) ?? [])].map((n) => descs[n]).find(Boolean)),
        conflicts: [...(conflicts.get(name) ?? [])].sort(),
        implies: [...new Set([...(group.get(name) ?? [name])].flatMap((n) => implied[n] ?? []).filter((v): v is string => typeof v === 'string').map(canonical))].sort(),
        choices: (o.choices?.[name] ?? []).map(String),
        global: globals.has(name),
      };
      if (name in (o.default ?? {})) m.default = o.default[name];
      return m;
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The visible commands a yargs instance has, with their aliases. */
function handlersOf(y: Introspectable): { name: string; aliases: string[]; h: CommandHandler }[] {
  const ci = y.getInternalMethods().getCommandInstance();
  const aliasMap = ci.aliasMap ?? {};
  return Object.entries(ci.getCommandHandlers())
    .filter(([, h]) => h.description !== false)
    .map(([name, h]) => ({ name, h, aliases: Object.keys(aliasMap).filter((a) => aliasMap[a] === name) }));
}

function commandOf(name: string, aliases: string[], h: CommandHandler, parent: string[], globals: Set<string>, depth: number): CommandModel {
  if (depth > 8) throw new RangeError(`commands nested deeper than 8 levels under ${parent.join(' ')}`);
  const path = [...parent, name];
  const positionals: PositionalModel[] = [
    ...h.demanded.map((p) => ({ name: p.cmd[0]!, required: true, variadic: p.variadic, describe: '' })),
    ...h.optional.map((p) => ({ name: p.cmd[0]!, required: false, variadic: p.variadic, describe: '' })),
  ];
  // A fresh instance that knows the global options, as a command's context does.
  const y = yargs([]) as unknown as Introspectable;
  if (typeof h.builder === 'function') {
    const out = h.builder(y, false);
    if (out && typeof (out as Promise<unknown>).then === 'function') throw new TypeError(`the builder of "${path.join(' ')}" is async; the model needs a synchronous one`);
  } else {
    for (const [k, opt] of Object.entries(h.builder)) y.option(k, opt);
  }
  const descs = y.getInternalMethods().getUsageInstance().getDescriptions();
  for (const p of positionals) p.describe = describeOf(descs[p.name]);
  const skip = new Set(positionals.map((p) => p.name));
  const subcommands = handlersOf(y).map((s) => commandOf(s.name, s.aliases, s.h, path, globals, depth + 1));
  return {
    path,
    usage: h.original,
    describe: h.description || '',
    aliases,
    positionals,
    options: optionsOf(y, skip, globals),
    subcommands,
  };
}

/** The model of `p2pcat` as buildCli() defines it. */
export function cliModel(cli: unknown = buildCli([])): CliModel {
  const root = cli as Introspectable;
  const globals = new Set(Object.keys(root.getOptions().key));
  const rootOptions = optionsOf(root, new Set(), globals);
  const commands = handlersOf(root).map((s) => commandOf(s.name, s.aliases, s.h, [], globals, 0));
  // Global options keep the root's aliases (-h, -V) inside every command too.
  const byName = new Map(rootOptions.map((o) => [o.name, o]));
  const fix = (c: CommandModel): void => {
    c.options = c.options.map((o) => (byName.has(o.name) ? { ...byName.get(o.name)! } : o));
    c.subcommands.forEach(fix);
  };
  commands.forEach(fix);
  return { name: 'p2pcat', options: rootOptions, commands };
}

/** Every command, subcommands included, depth first. */
export function allCommands(m: CliModel): CommandModel[] {
  const out: CommandModel[] = [];
  const walk = (c: CommandModel) => {
    out.push(c);
    c.subcommands.forEach(walk);
  };
  m.commands.forEach(walk);
  return out;
}

/** `--room`, `-s`: how an option name is written on the command line. */
export function flag(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`;
}
