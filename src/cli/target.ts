// Parsing HOST:PORT and [V6]:PORT targets, and ports.
import { P2pcatError } from '../errors.js';

export function parsePort(v: unknown, what = 'port'): number {
  const s = String(v);
  if (!/^\d{1,5}$/.test(s) || Number(s) > 65535) throw P2pcatError.usage(`${what} must be a number from 0 to 65535, not ${JSON.stringify(s)}`);
  return Number(s);
}

export function parseTarget(text: string): { host: string; port: number; text: string } {
  let m = /^\[([0-9a-fA-F:.%\w]+)\]:(\d+)$/.exec(text);
  if (!m) m = /^([^:\s/]+):(\d+)$/.exec(text);
  if (!m) throw P2pcatError.usage(`target ${JSON.stringify(text)} is not HOST:PORT (use [ADDR]:PORT for IPv6)`);
  const port = parsePort(m[2], 'target port');
  if (port === 0) throw P2pcatError.usage(`target ${JSON.stringify(text)}: port 0 cannot be dialled`);
  return { host: m[1]!, port, text };
}
