// Noise handshake patterns as data, and the parser for full protocol names
// (Noise rev 34: section 7 patterns, 7.4 one-way, 7.5 interactive, 7.6
// deferred; section 8 protocol names; section 9 the psk modifier).
//
// Each pattern is written in the spec's own notation: pre-message lines, then
// '...', then the message lines. One engine (noise.ts) runs all of them.

import { NoiseError, type CipherName, type DhName, type HashName } from './primitives.js';

export type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss' | 'psk';
export type PreToken = 'e' | 's';

/** Spec notation, verbatim from Noise rev 34 section 7. */
const PATTERN_TABLE: Readonly<Record<string, readonly string[]>> = {
  // 7.4 one-way
  N: ['<- s', '...', '-> e, es'],
  K: ['-> s', '<- s', '...', '-> e, es, ss'],
  X: ['<- s', '...', '-> e, es, s, ss'],

  // 7.5 interactive (fundamental)
  NN: ['-> e', '<- e, ee'],
  NK: ['<- s', '...', '-> e, es', '<- e, ee'],
  NX: ['-> e', '<- e, ee, s, es'],
  KN: ['-> s', '...', '-> e', '<- e, ee, se'],
  KK: ['-> s', '<- s', '...', '-> e, es, ss', '<- e, ee, se'],
  KX: ['-> s', '...', '-> e', '<- e, ee, se, s, es'],
  XN: ['-> e', '<- e, ee', '-> s, se'],
  XK: ['<- s', '...', '-> e, es', '<- e, ee', '-> s, se'],
  XX: ['-> e', '<- e, ee, s, es', '-> s, se'],
  IN: ['-> e, s', '<- e, ee, se'],
  IK: ['<- s', '...', '-> e, es, s, ss', '<- e, ee, se'],
  IX: ['-> e, s', '<- e, ee, se, s, es'],

  // 7.6 deferred
  NK1: ['<- s', '...', '-> e', '<- e, ee, es'],
  NX1: ['-> e', '<- e, ee, s', '-> es'],
  X1N: ['-> e', '<- e, ee', '-> s', '<- se'],
  X1K: ['<- s', '...', '-> e, es', '<- e, ee', '-> s', '<- se'],
  XK1: ['<- s', '...', '-> e', '<- e, ee, es', '-> s, se'],
  X1K1: ['<- s', '...', '-> e', '<- e, ee, es', '-> s', '<- se'],
  X1X: ['-> e', '<- e, ee, s, es', '-> s', '<- se'],
  XX1: ['-> e', '<- e, ee, s', '-> es, s, se'],
  X1X1: ['-> e', '<- e, ee, s', '-> es, s', '<- se'],
  K1N: ['-> s', '...', '-> e', '<- e, ee', '-> se'],
  K1K: ['-> s', '<- s', '...', '-> e, es', '<- e, ee', '-> se'],
  KK1: ['-> s', '<- s', '...', '-> e', '<- e, ee, se, es'],
  K1K1: ['-> s', '<- s', '...', '-> e', '<- e, ee, es', '-> se'],
  K1X: ['-> s', '...', '-> e', '<- e, ee, s, es', '-> se'],
  KX1: ['-> s', '...', '-> e', '<- e, ee, se, s', '-> es'],
  K1X1: ['-> s', '...', '-> e', '<- e, ee, s', '-> se, es'],
  I1N: ['-> e, s', '<- e, ee', '-> se'],
  I1K: ['<- s', '...', '-> e, es, s', '<- e, ee', '-> se'],
  IK1: ['<- s', '...', '-> e, s', '<- e, ee, se, es'],
  I1K1: ['<- s', '...', '-> e, s', '<- e, ee, es', '-> se'],
  I1X: ['-> e, s', '<- e, ee, s, es', '-> se'],
  IX1: ['-> e, s', '<- e, ee, se, s', '-> es'],
  I1X1: ['-> e, s', '<- e, ee, s', '-> se, es'],
};

export interface HandshakePattern {
  /** Full pattern name with modifiers, e.g. `XXpsk0+psk3`. */
  readonly name: string;
  /** Pattern name without modifiers, e.g. `XX`. */
  readonly base: string;
  readonly preInitiator: readonly PreToken[];
  readonly preResponder: readonly PreToken[];
  /** Message i is sent by the initiator when i is even, by the responder when odd. */
  readonly messages: readonly (readonly Token[])[];
  readonly oneWay: boolean;
  /** True when any psk modifier is present (section 9.2: every `e` also does MixKey). */
  readonly psk: boolean;
  readonly pskCount: number;
}

export interface ProtocolName {
  readonly protocolName: string;
  readonly pattern: HandshakePattern;
  readonly dh: DhName;
  readonly cipher: CipherName;
  readonly hash: HashName;
}

const ONE_WAY = new Set(['N', 'K', 'X']);
const MESSAGE_TOKENS = new Set<string>(['e', 's', 'ee', 'es', 'se', 'ss']);

function parseBase(base: string): Omit<HandshakePattern, 'name' | 'psk' | 'pskCount'> {
  const lines = PATTERN_TABLE[base];
  if (lines === undefined) throw NoiseError.unsupported(`unknown handshake pattern "${base}"`);
  const sep = lines.indexOf('...');
  const preLines = sep === -1 ? [] : lines.slice(0, sep);
  const msgLines = sep === -1 ? lines : lines.slice(sep + 1);
  const split = (line: string) => {
    const m = /^(->|<-) (.+)$/.exec(line);
    if (!m) throw new Error(`pattern table: bad line "${line}" in ${base}`);
    return { dir: m[1]!, tokens: m[2]!.split(', ') };
  };
  let preInitiator: PreToken[] = [];
  let preResponder: PreToken[] = [];
  for (const line of preLines) {
    const { dir, tokens } = split(line);
    if (!tokens.every((t) => t === 'e' || t === 's')) throw new Error(`pattern table: bad pre-message in ${base}`);
    if (dir === '->') preInitiator = tokens as PreToken[];
    else preResponder = tokens as PreToken[];
  }
  const messages = msgLines.map((line, i) => {
    const { dir, tokens } = split(line);
    if (dir !== (i % 2 === 0 ? '->' : '<-')) throw new Error(`pattern table: arrows do not alternate in ${base}`);
    if (!tokens.every((t) => MESSAGE_TOKENS.has(t))) throw new Error(`pattern table: bad token in ${base}`);
    return tokens as Token[];
  });
  return { base, preInitiator, preResponder, messages, oneWay: ONE_WAY.has(base) };
}

const patternCache = new Map<string, HandshakePattern>();

/**
 * A pattern name with optional modifiers, e.g. `XX`, `XXpsk3`, `NNpsk0+psk2`.
 * Only psk modifiers are supported (fallback and hfs are refused). pskN puts
 * a `psk` token at the start of message 1 (N = 0) or the end of message N.
 */
export function parsePattern(name: string): HandshakePattern {
  const cached = patternCache.get(name);
  if (cached) return cached;
  const m = /^([A-Z][A-Z0-9]*)([a-z].*)?$/.exec(name);
  if (!m) throw NoiseError.unsupported(`bad handshake pattern name "${name}"`);
  const parsed = parseBase(m[1]!);
  const messages = parsed.messages.map((msg) => [...msg]);
  let pskCount = 0;
  let last = -1;
  for (const mod of m[2] ? m[2].split('+') : []) {
    const pm = /^psk(0|[1-9][0-9]*)$/.exec(mod);
    if (!pm) throw NoiseError.unsupported(`unsupported pattern modifier "${mod}" in "${name}" (only pskN is supported)`);
    const n = Number(pm[1]);
    if (n <= last) throw NoiseError.unsupported(`psk modifiers must be distinct and in increasing order in "${name}"`);
    if (n > messages.length) throw NoiseError.unsupported(`"${mod}" needs message ${n}, but ${m[1]} has ${messages.length}`);
    last = n;
    if (n === 0) messages[0]!.unshift('psk');
    else messages[n - 1]!.push('psk');
    pskCount++;
  }
  const pattern: HandshakePattern = Object.freeze({ ...parsed, name, messages, psk: pskCount > 0, pskCount });
  patternCache.set(name, pattern);
  return pattern;
}

const CIPHERS: readonly string[] = ['ChaChaPoly', 'AESGCM'];
const HASHES: readonly string[] = ['SHA256', 'SHA512', 'BLAKE2s', 'BLAKE2b'];

/** `Noise_<pattern>_<dh>_<cipher>_<hash>` (section 8). DH 25519 only. */
export function parseProtocolName(protocolName: string): ProtocolName {
  if (typeof protocolName !== 'string') throw new TypeError('protocolName must be a string');
  const parts = protocolName.split('_');
  if (parts.length !== 5 || parts[0] !== 'Noise') {
    throw NoiseError.unsupported(`"${protocolName}" is not a Noise_<pattern>_<dh>_<cipher>_<hash> name`);
  }
  const [, patternName, dh, cipher, hash] = parts as [string, string, string, string, string];
  if (dh === '448') throw NoiseError.unsupported('DH 448 (Curve448) is not supported; use 25519');
  if (dh !== '25519') throw NoiseError.unsupported(`unknown DH function "${dh}"; only 25519 is supported`);
  if (!CIPHERS.includes(cipher)) throw NoiseError.unsupported(`unknown cipher "${cipher}"; use ChaChaPoly or AESGCM`);
  if (!HASHES.includes(hash)) throw NoiseError.unsupported(`unknown hash "${hash}"; use SHA256, SHA512, BLAKE2s or BLAKE2b`);
  return {
    protocolName,
    pattern: parsePattern(patternName),
    dh,
    cipher: cipher as CipherName,
    hash: hash as HashName,
  };
}

/** Names of all base patterns in the table (for tests and docs). */
export const PATTERN_NAMES: readonly string[] = Object.keys(PATTERN_TABLE);
