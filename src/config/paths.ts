// Where p2pcat keeps its files. One rule, documented in man/p2pcat.1 (FILES):
//   $P2PCAT_HOME set:  config and data both live in $P2PCAT_HOME
//   otherwise:         config in ${XDG_CONFIG_HOME:-~/.config}/p2pcat,
//                      data   in ${XDG_DATA_HOME:-~/.local/share}/p2pcat
import os from 'node:os';
import path from 'node:path';

type Env = Record<string, string | undefined>;

function home(env: Env): string {
  return env.HOME || os.homedir();
}

export function configDir(env: Env = process.env): string {
  if (env.P2PCAT_HOME) return path.resolve(env.P2PCAT_HOME);
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(home(env), '.config');
  return path.join(base, 'p2pcat');
}

export function dataDir(env: Env = process.env): string {
  if (env.P2PCAT_HOME) return path.resolve(env.P2PCAT_HOME);
  const base = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(home(env), '.local', 'share');
  return path.join(base, 'p2pcat');
}

export function identityPath(env: Env = process.env): string {
  return path.join(configDir(env), 'identity.json');
}

export function logDir(env: Env = process.env): string {
  return path.join(dataDir(env), 'logs');
}
