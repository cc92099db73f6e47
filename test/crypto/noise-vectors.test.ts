// Known-answer tests for the Noise engine (Noise rev 34) against the
// third-party vectors in ../shared/vectors/noise (cacophony, snow, noise-c;
// see the README there): every 25519 vector, every cipher and hash, every
// pattern and psk placement, both providers (node:crypto and the @noble
// reference). Then negative tests driven by the same vectors (flipped bits,
// truncation, wrong PSKs) and the HandshakeState rules (turns, limits,
// options, errors, wiping of secrets).

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { VECTORS_DIR } from '../helpers/paths.js';
import {
  generateKeyPair,
  HandshakeState,
  keyPairFromSecret,
  loadNobleCrypto,
  nativeCrypto,
  NoiseError,
  parsePattern,
  parseProtocolName,
  PATTERN_NAMES,
  type CryptoProvider,
  type HandshakeOptions,
} from '../../src/crypto/noise.js';
import type { DhFunction, DhKey } from '../../src/crypto/primitives.js';

interface Vector {
  protocol_name?: string;
  name?: string; // noise-c
  init_prologue: string;
  resp_prologue: string;
  init_static?: string;
  resp_static?: string;
  init_ephemeral?: string;
  resp_ephemeral?: string;
  init_remote_static?: string;
  resp_remote_static?: string;
  init_psks?: string[];
  resp_psks?: string[];
  handshake_hash?: string;
  messages: { payload: string; ciphertext: string }[];
}

const NOISE_DIR = path.join(VECTORS_DIR, 'noise');
/** 25519 vectors each file holds (README: cacophony 944/2, snow 408, noise-c 240 Noise_ of which half 25519). */
const EXPECTED_MIN: Record<string, number> = { 'cacophony.json': 472, 'snow.json': 408, 'noise-c-basic.json': 120 };

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const EMPTY = new Uint8Array(0);

function load(file: string): Vector[] {
  return (JSON.parse(fs.readFileSync(path.join(NOISE_DIR, file), 'utf8')) as { vectors: Vector[] }).vectors;
}
const nameOf = (v: Vector) => v.protocol_name ?? v.name ?? '';
/** `Noise_` names with DH 25519 (noise-c's `NoisePSK_` use the obsolete pre-rev-31 scheme). */
const eligible = (v: Vector) => nameOf(v).startsWith('Noise_') && nameOf(v).split('_')[2] === '25519';

function options(v: Vector, side: 'init' | 'resp', crypto: CryptoProvider, flipPsk?: number): HandshakeOptions {
  const get = (k: string) => (v as unknown as Record<string, string | undefined>)[`${side}_${k}`];
  const psks = ((side === 'init' ? v.init_psks : v.resp_psks) ?? []).map(unhex);
  if (flipPsk !== undefined) psks[flipPsk]![5]! ^= 0x10;
  const s = get('static');
  const e = get('ephemeral');
  const rs = get('remote_static');
  return {
    protocolName: nameOf(v),
    initiator: side === 'init',
    prologue: unhex(get('prologue')!),
    s: s ? keyPairFromSecret(unhex(s), crypto) : undefined,
    e: e ? keyPairFromSecret(unhex(e), crypto) : undefined,
    rs: rs ? unhex(rs) : undefined,
    psks,
    crypto,
  };
}

interface Play {
  mismatches: string[];
  /** Where the run stopped with an error, if it did. */
  error?: { msg: number; op: 'read' | 'write'; code: string };
  handshakeMessages: number;
}

interface PlayOpts {
  crypto: CryptoProvider;
  tamper?: { msg: number; mutate: (m: Uint8Array) => Uint8Array };
  flipRespPsk?: number;
}

/**
 * Play a vector: both sides from its fixed keys, each handshake message
 * written, compared, read back; then the transport messages after Split().
 */
function play(v: Vector, o: PlayOpts): Play {
  const mismatches: string[] = [];
  const I = new HandshakeState(options(v, 'init', o.crypto));
  const R = new HandshakeState(options(v, 'resp', o.crypto, o.flipRespPsk));
  const oneWay = I.pattern.oneWay;
  const n = I.pattern.messages.length;
  const check = !o.tamper && o.flipRespPsk === undefined;
  let tI: ReturnType<HandshakeState['transport']> | undefined;
  let tR: ReturnType<HandshakeState['transport']> | undefined;
  for (const [i, m] of v.messages.entries()) {
    const fromInit = oneWay || i % 2 === 0;
    if (i < n) {
      const [w, r] = fromInit ? [I, R] : [R, I];
      if (!w.isMyTurn() || r.isMyTurn()) mismatches.push(`msg ${i}: isMyTurn`);
      let ct: Uint8Array;
      try {
        ct = w.writeMessage(unhex(m.payload));
      } catch (err) {
        return { mismatches, error: { msg: i, op: 'write', code: codeOf(err) }, handshakeMessages: n };
      }
      if (check && hex(ct) !== m.ciphertext) mismatches.push(`msg ${i}: ciphertext`);
      const delivered = o.tamper?.msg === i ? o.tamper.mutate(ct) : ct;
      let pt: Uint8Array;
      try {
        pt = r.readMessage(delivered);
      } catch (err) {
        return { mismatches, error: { msg: i, op: 'read', code: codeOf(err) }, handshakeMessages: n };
      }
      if (check && hex(pt) !== m.payload) mismatches.push(`msg ${i}: payload`);
      if (i === n - 1) {
        if (!I.complete || !R.complete) mismatches.push('not complete after the last message');
        if (hex(I.handshakeHash) !== hex(R.handshakeHash)) mismatches.push('handshake hashes differ between sides');
        if (v.handshake_hash !== undefined && hex(I.handshakeHash) !== v.handshake_hash) mismatches.push('handshake_hash');
        tI = I.transport();
        tR = R.transport();
      }
    } else {
      const [w, r] = fromInit ? [tI!.send, tR!.recv] : [tR!.send, tI!.recv];
      const ct = w.encryptWithAd(EMPTY, unhex(m.payload));
      if (hex(ct) !== m.ciphertext) mismatches.push(`msg ${i}: transport ciphertext`);
      if (hex(r.decryptWithAd(EMPTY, ct)) !== m.payload) mismatches.push(`msg ${i}: transport payload`);
    }
  }
  if (v.messages.length < n) mismatches.push('vector has fewer messages than the pattern');
  return { mismatches, handshakeMessages: n };
}

function codeOf(err: unknown): string {
  if (err instanceof NoiseError) return err.code;
  throw err; // TypeError, RangeError, bugs: never a protocol outcome
}

const FILES = ['cacophony.json', 'snow.json', 'noise-c-basic.json'];
const noble = await loadNobleCrypto();
const seenPatterns = new Set<string>();
const seenSuites = new Set<string>();

t.test('every 25519 vector reproduces byte for byte (node:crypto)', async (t) => {
  for (const file of FILES) {
    await t.test(file, async (t) => {
      const all = load(file);
      const vectors = all.filter(eligible);
      let ran = 0;
      let failed = 0;
      for (const v of vectors) {
        const { mismatches, error } = play(v, { crypto: nativeCrypto });
        const ok = mismatches.length === 0 && error === undefined;
        ran++;
        if (!ok) failed++;
        t.ok(ok, nameOf(v), { mismatches, error });
        if (ok) {
          const p = parseProtocolName(nameOf(v));
          seenPatterns.add(p.pattern.base);
          seenSuites.add(`${p.cipher}_${p.hash}`);
        }
      }
      t.comment(`${file}: ${ran - failed}/${ran} passed (${all.length - vectors.length} not 25519 or not Noise_, skipped)`);
      t.ok(ran >= EXPECTED_MIN[file]!, `${file}: ran ${ran} vectors, expected at least ${EXPECTED_MIN[file]}`);
      t.equal(failed, 0, `${file}: no failures`);
    });
  }
  t.same([...PATTERN_NAMES].filter((p) => !seenPatterns.has(p)), [], 'every pattern in the table is covered by a passing vector');
  t.equal(seenSuites.size, 8, 'every cipher x hash combination is covered');
});

t.test('every 25519 vector reproduces with the @noble reference provider', async (t) => {
  for (const file of FILES) {
    const vectors = load(file).filter(eligible);
    const failures = vectors
      .map((v) => ({ name: nameOf(v), ...play(v, { crypto: noble }) }))
      .filter((r) => r.mismatches.length > 0 || r.error !== undefined);
    t.ok(vectors.length >= EXPECTED_MIN[file]!, `${file}: ran ${vectors.length} vectors`);
    t.same(failures, [], `${file}: all pass with @noble`);
  }
});

t.test('a flipped bit or a cut in any handshake message fails the handshake', async (t) => {
  // ChaChaPoly vectors of every pattern and hash (AESGCM adds nothing here).
  const vectors = FILES.flatMap(load).filter((v) => eligible(v) && nameOf(v).includes('_ChaChaPoly_'));
  const problems: string[] = [];
  let cases = 0;
  for (const v of vectors) {
    const pattern = parseProtocolName(nameOf(v)).pattern;
    for (let m = 0; m < pattern.messages.length; m++) {
      const tokens = pattern.messages[m]!;
      const msg = v.messages[m]!;
      const bare = msg.ciphertext.length / 2 - msg.payload.length / 2; // bytes besides the payload
      const keysOnly = 32 * tokens.filter((x) => x === 'e' || x === 's').length;
      const authenticated = bare > keysOnly; // the payload carries a tag
      const len = msg.ciphertext.length / 2;
      const positions = new Set([0, len >> 1, len - 1]);
      if (tokens[0] === 'e' || (tokens[0] === 'psk' && tokens[1] === 'e')) positions.add(31); // top bit of e is ignored by X25519, not by MixHash
      for (const pos of positions) {
        const bit = pos === 31 ? 0x80 : 0x01;
        const r = play(v, { crypto: nativeCrypto, tamper: { msg: m, mutate: (b) => { const c = new Uint8Array(b); c[pos]! ^= bit; return c; } } });
        cases++;
        const where = `${nameOf(v)} msg ${m} byte ${pos}`;
        if (!r.error) problems.push(`${where}: handshake completed`);
        else if (r.error.code !== 'DECRYPT') problems.push(`${where}: ${r.error.code}, expected DECRYPT`);
        else if (authenticated && (r.error.msg !== m || r.error.op !== 'read')) problems.push(`${where}: failed at msg ${r.error.msg}, not at once`);
        else if (!authenticated && r.error.msg <= m) problems.push(`${where}: unauthenticated message failed early`);
      }
      const cut = play(v, { crypto: nativeCrypto, tamper: { msg: m, mutate: (b) => b.subarray(0, bare - 1) } });
      cases++;
      if (bare > 0 && (cut.error?.code !== 'SHORT' || cut.error.msg !== m)) problems.push(`${nameOf(v)} msg ${m} cut: ${JSON.stringify(cut.error)}`);
    }
  }
  t.ok(vectors.length >= 400 && cases > 3000, `${cases} tampered handshakes over ${vectors.length} vectors`);
  t.same(problems, [], 'each tampered message is refused: at once if it carries a tag, at the next message otherwise');
});

t.test('a wrong PSK fails exactly at the message that mixes it', async (t) => {
  const vectors = FILES.flatMap(load).filter((v) => eligible(v) && (v.init_psks?.length ?? 0) > 0);
  const problems: string[] = [];
  let cases = 0;
  for (const v of vectors) {
    const pattern = parseProtocolName(nameOf(v)).pattern;
    // Index of the message holding each psk token, in token order.
    const pskMessage = pattern.messages.flatMap((tokens, i) => tokens.filter((x) => x === 'psk').map(() => i));
    for (let j = 0; j < pskMessage.length; j++) {
      const r = play(v, { crypto: nativeCrypto, flipRespPsk: j });
      cases++;
      if (r.error?.code !== 'DECRYPT' || r.error.op !== 'read' || r.error.msg !== pskMessage[j]) {
        problems.push(`${nameOf(v)} psk ${j}: ${JSON.stringify(r.error)}, expected DECRYPT reading msg ${pskMessage[j]}`);
      }
    }
  }
  t.ok(vectors.length >= 270, `${vectors.length} PSK vectors, ${cases} wrong-PSK runs`);
  t.same(problems, [], 'every wrong PSK is caught');
});

t.test('HandshakeState rules', async (t) => {
  const XX = 'Noise_XX_25519_ChaChaPoly_BLAKE2b';
  const pair = () => {
    const i = new HandshakeState({ protocolName: XX, initiator: true, s: generateKeyPair() });
    const r = new HandshakeState({ protocolName: XX, initiator: false, s: generateKeyPair() });
    return { i, r };
  };

  await t.test('turns and completion', async (t) => {
    const { i, r } = pair();
    t.equal(i.isMyTurn(), true);
    t.equal(r.isMyTurn(), false);
    t.throws(() => i.readMessage(new Uint8Array(48)), { code: 'STATE' }, 'initiator cannot read first');
    t.throws(() => r.writeMessage(EMPTY), { code: 'STATE' }, 'responder cannot write first');
    t.throws(() => i.split(), { code: 'STATE' }, 'split before complete');
    t.equal(i.remoteStatic, undefined, 'rs unknown at first');
    r.readMessage(i.writeMessage(EMPTY));
    i.readMessage(r.writeMessage(EMPTY));
    t.ok(i.remoteStatic && r.remoteStatic === undefined, 'initiator learns rs in message 2');
    r.readMessage(i.writeMessage(new TextEncoder().encode('hi')));
    t.ok(i.complete && r.complete, 'complete after 3 messages');
    t.equal(i.isMyTurn(), false, 'nobody’s turn when complete');
    t.throws(() => i.writeMessage(EMPTY), { code: 'STATE' }, 'no write after complete');
    t.throws(() => r.readMessage(new Uint8Array(64)), { code: 'STATE' }, 'no read after complete');
    t.equal(hex(i.handshakeHash), hex(r.handshakeHash), 'same h');
    const a = i.transport();
    const b = r.transport();
    t.throws(() => i.split(), { code: 'STATE' }, 'split only once');
    t.equal(hex(i.handshakeHash), hex(r.handshakeHash), 'h still readable after split');
    const ct = a.send.encryptWithAd(EMPTY, new Uint8Array([1, 2, 3]));
    t.same([...b.recv.decryptWithAd(EMPTY, ct)], [1, 2, 3], 'initiator → responder');
    t.same([...a.recv.decryptWithAd(EMPTY, b.send.encryptWithAd(EMPTY, new Uint8Array([4])))], [4], 'responder → initiator');
  });

  await t.test('errors end the handshake', async (t) => {
    const { i, r } = pair();
    r.readMessage(i.writeMessage(EMPTY));
    const m2 = r.writeMessage(EMPTY);
    m2[m2.length - 1]! ^= 1;
    t.throws(() => i.readMessage(m2), { code: 'DECRYPT' }, 'bad tag');
    t.equal(i.isMyTurn(), false);
    t.throws(() => i.writeMessage(EMPTY), { code: 'STATE' }, 'failed state refuses writes');
    t.throws(() => i.split(), { code: 'STATE' }, 'failed state refuses split');

    const { r: r2 } = pair();
    t.throws(() => r2.readMessage(new Uint8Array(31)), { code: 'SHORT' }, '31 bytes where e needs 32');
    const { r: r3 } = pair();
    t.throws(() => r3.readMessage(EMPTY), { code: 'SHORT' }, 'empty message');
    const { r: r4 } = pair();
    t.throws(() => r4.readMessage(new Uint8Array(65536)), { code: 'TOO_LONG' }, '65536-byte message');
    const { i: i5 } = pair();
    t.throws(() => i5.writeMessage(new Uint8Array(65535 - 32 + 1)), RangeError, 'payload past the 65535-byte limit');
    t.equal(i5.writeMessage(new Uint8Array(65535 - 32)).length, 65535, 'the largest XX message 1');
  });

  await t.test('low-order ephemeral keys are refused', async (t) => {
    const { r } = pair();
    r.readMessage(new Uint8Array(32)); // XX message 1 has no DH yet
    t.throws(() => r.writeMessage(EMPTY), { code: 'BAD_KEY' }, 'XX responder: ee with e = 0');
    const rs = generateKeyPair();
    const ik = new HandshakeState({ protocolName: 'Noise_IK_25519_ChaChaPoly_SHA256', initiator: false, s: rs });
    t.throws(() => ik.readMessage(new Uint8Array(32 + 48 + 16)), { code: 'BAD_KEY' }, 'IK responder: es with e = 0');
  });

  await t.test('protocol names', async (t) => {
    const cases: [string, RegExp][] = [
      ['Noise_XX_448_ChaChaPoly_BLAKE2b', /448/],
      ['NoisePSK_XX_25519_ChaChaPoly_BLAKE2b', /Noise_/],
      ['Noise_XX_25519_ChaChaPoly', /Noise_/],
      ['Noise_XX_25519_ChaChaPoly_SHA3', /hash/],
      ['Noise_XX_25519_XChaChaPoly_SHA256', /cipher/],
      ['Noise_XXfallback_25519_ChaChaPoly_SHA256', /modifier/],
      ['Noise_XXhfs_25519_ChaChaPoly_SHA256', /modifier/],
      ['Noise_NNpsk3_25519_ChaChaPoly_SHA256', /message 3/],
      ['Noise_NNpsk2+psk0_25519_ChaChaPoly_SHA256', /order/],
      ['Noise_ZZ_25519_ChaChaPoly_SHA256', /pattern/],
    ];
    for (const [name, msg] of cases) {
      t.throws(() => new HandshakeState({ protocolName: name, initiator: true }), { code: 'UNSUPPORTED', message: msg }, name);
    }
    t.same(parsePattern('XXpsk0+psk1+psk2+psk3').messages, [['psk', 'e', 'psk'], ['e', 'ee', 's', 'es', 'psk'], ['s', 'se', 'psk']], 'psk placement');
    t.same(parsePattern('IK').preResponder, ['s'], 'pre-messages');
  });

  await t.test('options are checked against the pattern', async (t) => {
    const s = generateKeyPair();
    const psk = new Uint8Array(32);
    const bad: [Partial<HandshakeOptions>, ErrorConstructor | RangeErrorConstructor, string][] = [
      [{ protocolName: XX, initiator: true }, TypeError, 'XX without s'],
      [{ protocolName: XX, initiator: true, s, rs: s.publicKey }, TypeError, 'rs given to XX (learned in the handshake)'],
      [{ protocolName: 'Noise_IK_25519_ChaChaPoly_SHA256', initiator: true, s }, TypeError, 'IK initiator without rs'],
      [{ protocolName: 'Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b', initiator: true, s }, TypeError, 'XXpsk3 without psks'],
      [{ protocolName: 'Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b', initiator: true, s, psks: [psk, psk] }, TypeError, 'too many psks'],
      [{ protocolName: 'Noise_NN_25519_ChaChaPoly_BLAKE2b', initiator: true, psks: [psk] }, TypeError, 'psks for a non-psk pattern'],
      [{ protocolName: 'Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b', initiator: true, s, psks: [new Uint8Array(31)] }, RangeError, '31-byte psk'],
      [{ protocolName: XX, initiator: true, s: { publicKey: generateKeyPair().publicKey, secretKey: s.secretKey } }, RangeError, 's.publicKey not matching'],
      [{ protocolName: XX, initiator: 'yes' as unknown as boolean, s }, TypeError, 'initiator not boolean'],
    ];
    for (const [o, E, what] of bad) t.throws(() => new HandshakeState(o as HandshakeOptions), E, what);
    const nn = new HandshakeState({ protocolName: 'Noise_NN_25519_ChaChaPoly_BLAKE2b', initiator: true, s });
    t.ok(nn.isMyTurn(), 'an unused s is accepted (it is simply not sent)');
  });

  await t.test('one-way patterns send one way only', async (t) => {
    const rs = generateKeyPair();
    const i = new HandshakeState({ protocolName: 'Noise_N_25519_ChaChaPoly_SHA256', initiator: true, rs: rs.publicKey });
    const r = new HandshakeState({ protocolName: 'Noise_N_25519_ChaChaPoly_SHA256', initiator: false, s: rs });
    t.same([...r.readMessage(i.writeMessage(new Uint8Array([9])))], [9]);
    const a = i.transport();
    const b = r.transport();
    t.same([...b.recv.decryptWithAd(EMPTY, a.send.encryptWithAd(EMPTY, new Uint8Array([7])))], [7], 'initiator → responder');
    t.throws(() => b.send.encryptWithAd(EMPTY, new Uint8Array([1])), { code: 'STATE' }, 'responder cannot send');
    t.throws(() => a.recv.decryptWithAd(EMPTY, new Uint8Array(17)), { code: 'STATE' }, 'initiator cannot receive');
  });

  await t.test('secrets are wiped after split and after failure; inputs are not touched', async (t) => {
    // A provider that records every prepared private key and whether it was destroyed.
    const made: { publicKey: string; destroyed: boolean }[] = [];
    const wrap = (inner: DhFunction): DhFunction => {
      const track = (k: DhKey) => {
        const rec = { publicKey: hex(k.publicKey), destroyed: false };
        made.push(rec);
        return Object.assign(Object.create(null) as object, {
          publicKey: k.publicKey,
          inner: k,
          destroy() {
            rec.destroyed = true;
            k.destroy();
          },
        }) as DhKey & { inner: DhKey };
      };
      return {
        name: inner.name,
        DHLEN: inner.DHLEN,
        generateKey: () => track(inner.generateKey()),
        importSecret: (sk) => track(inner.importSecret(sk)),
        dh: (local, pk) => inner.dh((local as DhKey & { inner: DhKey }).inner, pk),
      };
    };
    const traced: CryptoProvider = { ...nativeCrypto, name: 'traced', dh: { '25519': wrap(nativeCrypto.dh['25519']) } };
    const si = generateKeyPair();
    const siCopy = hex(si.secretKey);
    const ei = generateKeyPair();
    const eiCopy = hex(ei.secretKey);
    const i = new HandshakeState({ protocolName: XX, initiator: true, s: si, e: ei, crypto: traced });
    const r = new HandshakeState({ protocolName: XX, initiator: false, s: generateKeyPair(), crypto: traced });
    r.readMessage(i.writeMessage(EMPTY));
    i.readMessage(r.writeMessage(EMPTY));
    r.readMessage(i.writeMessage(EMPTY));
    t.equal(made.length, 4, 's and e prepared once per side');
    t.ok(made.every((k) => !k.destroyed), 'kept during the handshake');
    i.split();
    r.transport();
    t.ok(made.every((k) => k.destroyed), 'all destroyed after split');
    t.equal(hex(si.secretKey), siCopy, "caller's s untouched");
    t.equal(hex(ei.secretKey), eiCopy, "caller's e untouched");

    made.length = 0;
    const fs = generateKeyPair();
    const f = new HandshakeState({ protocolName: XX, initiator: true, s: fs, crypto: traced });
    const g = new HandshakeState({ protocolName: XX, initiator: false, s: generateKeyPair(), crypto: traced });
    const fm1 = f.writeMessage(EMPTY);
    g.readMessage(fm1);
    const m2 = g.writeMessage(EMPTY);
    m2[40]! ^= 1;
    t.throws(() => f.readMessage(m2), { code: 'DECRYPT' });
    const fKeys = new Set([hex(fs.publicKey), hex(fm1.subarray(0, 32))]);
    t.same(
      made.map((k) => [fKeys.has(k.publicKey), k.destroyed]),
      made.map((k) => [fKeys.has(k.publicKey), fKeys.has(k.publicKey)]),
      "the failed side's s and e are destroyed, the peer's are not (yet)",
    );

    const x = pair();
    const m1 = x.i.writeMessage(EMPTY);
    const keep = hex(m1);
    x.r.readMessage(m1);
    x.i.readMessage(x.r.writeMessage(EMPTY));
    x.r.readMessage(x.i.writeMessage(EMPTY));
    x.r.split();
    t.equal(hex(m1), keep, 'received message buffers are never modified');
    t.not(hex(pair().i.writeMessage(EMPTY)), keep, 'a fresh ephemeral per handshake');
  });
});
