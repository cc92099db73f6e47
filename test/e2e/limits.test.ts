// Black-box: each bound of src/limits.ts that a user or a peer can reach from
// outside is exceeded against the built binary, and the coded refusal checked;
// where a boundary value is cheap, the value at the bound is shown to pass.
// The table of which test covers which bound is test/limits/registry.ts.
import t from 'tap';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { listen, run, exitOf, reap, tmpHome, type Proc } from '../helpers/proc.js';
import { evil } from '../helpers/evil.js';
import {
  MAX_PENDING_HANDSHAKES,
  STDIN_MAX_LINE_BYTES,
  CHAT_MAX_MESSAGE_BYTES,
  USERNAME_MAX_BYTES,
  ROOM_MAX_BYTES,
  SECRET_MAX_BYTES,
  CONFIG_FILE_MAX_BYTES,
  KEY_FILE_MAX_BYTES,
  PEER_SEND_QUEUE_MAX_BYTES,
  HANDSHAKE_MAX_MESSAGE_BYTES,
  MESH_MAX_INBOUND,
  DISCOVER_TIMEOUT_MAX_S,
} from '../../src/limits.js';

/** Stderr lines of a --json process that are coded error records. */
function errors(p: Proc): { code: string; message: string }[] {
  return p.stderr.filter((s) => s.startsWith('{')).flatMap((s) => {
    try {
      const r = JSON.parse(s);
      return typeof r.code === 'string' ? [r] : [];
    } catch {
      return [];
    }
  });
}

function connectRaw(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves with true when the other side closed the socket within timeoutMs, false otherwise. */
function closedBy(s: net.Socket, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), timeoutMs);
    s.on('error', () => {});
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** A room member built from the library, so it can misbehave after a real handshake; it does not read. */
const member = (port: number, room = 'lobby') => evil(port, 'mallory', room, { deaf: true });

/**
 * A listener with two neighbours: a reader that must not suffer, and "mallory", who never reads
 * and keeps itself alive with PINGs so that only a send-queue bound can cut it.
 */
async function readerAndDeaf(t: { teardown(fn: () => void): void }, procs: Proc[]): Promise<{ l: Proc & { port: number }; reader: Proc }> {
  const l = await listen(['--no-log', '--peer-timeout', '600']);
  procs.push(l);
  const reader = run(['connect', `127.0.0.1:${l.port}`, '--json', '--no-log', '--peer-timeout', '600'], { name: 'reader' });
  procs.push(reader);
  await reader.waitRecord((r) => r.type === 'PEER_UP', 'reader up');
  const m = await member(l.port);
  m.socket.pause();
  m.socket.on('error', () => {});
  const pinger = setInterval(() => {
    if (!m.socket.destroyed) m.socket.write(m.ch.seal('PING', { n: 1 }));
  }, 1000);
  t.teardown(() => {
    clearInterval(pinger);
    m.socket.destroy();
  });
  await l.waitRecord((r) => r.type === 'PEER_UP' && r.username === 'mallory', 'mallory up at the listener');
  return { l, reader };
}

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

t.test('names: username, room and secret at their bound pass, one byte more is refused', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const name64 = 'é'.repeat(USERNAME_MAX_BYTES / 2); // two bytes each: the bound counts bytes, not characters
  const room256 = 'r'.repeat(ROOM_MAX_BYTES);
  const secret4096 = 's'.repeat(SECRET_MAX_BYTES);
  t.equal(utf8(name64), USERNAME_MAX_BYTES);
  const home = tmpHome();
  const secretFile = path.join(home, 'secret');
  fs.writeFileSync(secretFile, secret4096, { mode: 0o600 });
  const l = await listen(['--room', room256, '--secret-file', secretFile]);
  procs.push(l);
  const c = run(['connect', `127.0.0.1:${l.port}`, '--room', room256], { name: name64, env: { P2PCAT_SECRET: secret4096 } });
  procs.push(c);
  c.end('at every bound\n');
  t.equal((await exitOf(c, 30_000)).code, 0, 'a 64-byte name, 256-byte room and 4096-byte secret work');
  const got = await l.waitRecord((r) => r.type === 'CHAT' && r.message === 'at every bound', 'the message at the bounds');
  t.equal(got.username, name64);
  t.equal(got.room, room256);

  const refused = async (args: string[], opts: Parameters<typeof run>[1], code: RegExp, what: string) => {
    const upsBefore = l.records.filter((r) => r.type === 'PEER_UP').length;
    const p = run(args, { stdin: 'ignore', ...opts });
    procs.push(p);
    const ex = await exitOf(p);
    t.not(ex.code, 0, `${what}: refused`);
    t.match(p.stderr.join('\n'), code, `${what}: ${code}`);
    t.equal(l.records.filter((r) => r.type === 'PEER_UP').length, upsBefore, `${what}: no session was made`);
  };
  const target = `127.0.0.1:${l.port}`;
  await refused(['connect', target, '--room', room256], { name: name64 + 'a', env: { P2PCAT_SECRET: secret4096 } }, /P2PCAT_ERR_USAGE: username longer than 64 bytes/, 'a 65-byte username');
  await refused(['connect', target, '--room', room256 + 'r'], { env: { P2PCAT_SECRET: secret4096 } }, /P2PCAT_ERR_USAGE: room name longer than 256 bytes/, 'a 257-byte room');
  await refused(['connect', target, '--room', room256], { env: { P2PCAT_SECRET: secret4096 + 's' } }, /P2PCAT_ERR_SECRET: secret longer than 4096 bytes/, 'a 4097-byte secret in the environment');
  fs.writeFileSync(secretFile, secret4096 + 's');
  await refused(['connect', target, '--room', room256, '--secret-file', secretFile], {}, /P2PCAT_ERR_SECRET: .*secret longer than 4096 bytes/, 'a 4097-byte secret file');
});

t.test('stdin: a line over STDIN_MAX_LINE_BYTES and a message over CHAT_MAX_MESSAGE_BYTES are refused; the stream goes on', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await listen(['--no-log']);
  procs.push(l);
  const c = run(['connect', `127.0.0.1:${l.port}`, '--json', '--no-log']);
  procs.push(c);
  const atChat = 'c'.repeat(CHAT_MAX_MESSAGE_BYTES);
  c.end(
    [
      'x'.repeat(STDIN_MAX_LINE_BYTES + 1), // line 1: too long a line
      'y'.repeat(STDIN_MAX_LINE_BYTES), // line 2: a whole line, but too long a message
      'z'.repeat(CHAT_MAX_MESSAGE_BYTES + 1), // line 3: one byte over the message bound
      JSON.stringify({ message: 'j'.repeat(CHAT_MAX_MESSAGE_BYTES + 1) }), // line 4: the same as a JSON request
      atChat, // line 5: exactly at the bound
      'after the long lines', // line 6
    ].join('\n') + '\n',
  );
  t.equal((await exitOf(c, 30_000)).code, 0, 'connect exits 0: bad lines never stop the stream');
  await l.waitRecord((r) => r.message === 'after the long lines', 'the last line');
  t.ok(l.records.some((r) => r.type === 'CHAT' && r.message === atChat), `a ${CHAT_MAX_MESSAGE_BYTES}-byte message is delivered`);
  t.equal(l.records.filter((r) => r.type === 'CHAT').length, 2, 'nothing else crossed');
  const e = errors(c);
  t.match(e, [
    { code: 'P2PCAT_ERR_BAD_INPUT', message: /longer than 60000 bytes/ },
    { code: 'P2PCAT_ERR_BAD_INPUT', message: /message longer than 48000 bytes/ },
    { code: 'P2PCAT_ERR_BAD_INPUT', message: /message longer than 48000 bytes/ },
    { code: 'P2PCAT_ERR_BAD_INPUT', message: /message longer than 48000 bytes/ },
  ]);
  t.equal(e.length, 4, 'one coded error per bad line, and none for the line at the bound');
});

t.test('MAX_PENDING_HANDSHAKES: silent connections past it are refused with a coded warning; a real peer gets in once they time out', async (t) => {
  const procs: Proc[] = [];
  const sockets: net.Socket[] = [];
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    reap(procs);
  });
  const l = await listen(['--handshake-timeout', '5', '--no-log']);
  procs.push(l);
  for (let i = 0; i < MAX_PENDING_HANDSHAKES; i++) sockets.push(await connectRaw(l.port));
  const over = await connectRaw(l.port);
  sockets.push(over);
  t.ok(await closedBy(over, 5_000), `connection ${MAX_PENDING_HANDSHAKES + 1} is closed by the listener`);
  await l.waitFor(() => errors(l).some((e) => e.code === 'P2PCAT_ERR_LIMIT'), 'the LIMIT warning');
  const limit = errors(l).filter((e) => e.code === 'P2PCAT_ERR_LIMIT');
  t.equal(limit.length, 1, 'exactly one connection refused: the first 64 were let in');
  t.match(limit[0]!.message, /64 handshakes already in progress/);
  t.equal(sockets.slice(0, MAX_PENDING_HANDSHAKES).filter((s) => s.destroyed).length, 0, 'the first 64 are still open');
  // The silent ones hold their slot only until the handshake timeout.
  const dropped = await Promise.all(sockets.slice(0, MAX_PENDING_HANDSHAKES).map((s) => closedBy(s, 30_000)));
  t.equal(dropped.filter(Boolean).length, MAX_PENDING_HANDSHAKES, 'every silent connection is dropped at its handshake timeout');
  const c = run(['connect', `127.0.0.1:${l.port}`, '--no-log']);
  procs.push(c);
  c.end('a real peer after the flood\n');
  t.equal((await exitOf(c, 30_000)).code, 0);
  await l.waitRecord((r) => r.message === 'a real peer after the flood', 'the real message');
});

t.test('handshake frames over HANDSHAKE_MAX_MESSAGE_BYTES close that connection only', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = await listen(['--no-log']);
  procs.push(l);
  const s = await connectRaw(l.port);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(HANDSHAKE_MAX_MESSAGE_BYTES + 1);
  s.write(head);
  t.ok(await closedBy(s, 10_000), 'closed on the length prefix alone, without waiting for the body');
  await l.waitFor(() => errors(l).some((e) => e.code === 'P2PCAT_ERR_FRAME_TOO_LARGE' && e.message.includes(`${HANDSHAKE_MAX_MESSAGE_BYTES + 1}-byte`)), 'FRAME_TOO_LARGE');
  const c = run(['connect', `127.0.0.1:${l.port}`, '--no-log']);
  procs.push(c);
  c.end('still serving\n');
  t.equal((await exitOf(c, 30_000)).code, 0);
  await l.waitRecord((r) => r.message === 'still serving', 'an honest peer still gets in');
});

t.test('MAX_CONNECTIONS (raw --exec, --max-conns override): one session past it is refused; a freed slot is reused', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const l = run(['listen', '--raw', '0', '--bind', '127.0.0.1', '-k', '--exec', 'cat', '--max-conns', '2'], { binary: true });
  procs.push(l);
  const line = await l.waitFor(() => l.stderr.find((s) => /listening on /.test(s)), 'the listening line');
  const port = Number(/:(\d+) /.exec(line)![1]);
  // Without -k the listener serves one peer; with -k, peers past --max-conns wait (at most MAX_PENDING_HANDSHAKES of them).
  const sessions: Proc[] = [];
  for (const n of [1, 2]) {
    const c = run(['connect', '--raw', `127.0.0.1:${port}`], { binary: true });
    procs.push(c);
    sessions.push(c);
    c.write(`session ${n}\n`);
    await c.waitFor(() => c.bytes().toString() === `session ${n}\n`, `session ${n} echoed`);
  }
  // A third waits: its bytes are not echoed while two sessions are up.
  const third = run(['connect', '--raw', `127.0.0.1:${port}`], { binary: true });
  procs.push(third);
  third.write('session 3\n');
  const early = await third.waitFor(() => third.bytes().length > 0, 'an early echo', 3_000).then(
    () => true,
    () => false,
  );
  t.notOk(early, 'the third session is not served while two are');
  sessions[0]!.end();
  t.equal((await exitOf(sessions[0]!)).code, 0);
  await third.waitFor(() => third.bytes().toString() === 'session 3\n', 'the third session served once a slot is free', 30_000);
  t.pass('the queued session got the freed slot');
  third.end();
  sessions[1]!.end();
  t.equal((await exitOf(third)).code, 0);
  t.equal((await exitOf(sessions[1]!)).code, 0);
});

t.test('raw -k: peers queued past MAX_PENDING_HANDSHAKES are refused', async (t) => {
  const procs: Proc[] = [];
  const sockets: net.Socket[] = [];
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    reap(procs);
  });
  const l = run(['listen', '--raw', '0', '--bind', '127.0.0.1', '-k', '--handshake-timeout', '60'], { binary: true });
  procs.push(l);
  const line = await l.waitFor(() => l.stderr.find((s) => /listening on /.test(s)), 'the listening line');
  const port = Number(/:(\d+) /.exec(line)![1]);
  // One active (silent) handshake, then a full queue.
  for (let i = 0; i < 1 + MAX_PENDING_HANDSHAKES; i++) sockets.push(await connectRaw(port));
  const over = await connectRaw(port);
  t.ok(await closedBy(over, 5_000), 'the connection past the queue is closed at once');
  t.equal(sockets.filter((s) => s.destroyed).length, 0, 'the active one and the queued ones are still open');
});

t.test('PEER_SEND_QUEUE_MAX_BYTES: a neighbour that never reads is cut with P2PCAT_ERR_LIMIT; the others get everything', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const { l, reader } = await readerAndDeaf(t, procs);
  // A writer sends ~3x the bound (past what the kernel buffers too); the listener relays it to both neighbours.
  const writer = run(['connect', `127.0.0.1:${l.port}`, '--json', '--no-log', '--peer-timeout', '600'], { name: 'writer' });
  procs.push(writer);
  await writer.waitRecord((r) => r.type === 'PEER_UP', 'writer up');
  const msgBytes = 40_000;
  const count = Math.ceil((3 * PEER_SEND_QUEUE_MAX_BYTES) / msgBytes);
  const body = (i: number) => `${String(i).padStart(6, '0')}:${'m'.repeat(msgBytes - 7)}`;
  let i = 0;
  const feed = () => {
    while (i < count) {
      if (!writer.child.stdin!.write(body(i++) + '\n')) return void writer.child.stdin!.once('drain', feed);
    }
    writer.end();
  };
  feed();
  await l.waitFor(() => l.records.some((r) => r.type === 'PEER_DOWN' && r.username === 'mallory'), 'mallory cut', 60_000);
  const down = l.records.find((r) => r.type === 'PEER_DOWN' && r.username === 'mallory')!;
  t.equal(down.reason, 'P2PCAT_ERR_LIMIT', 'cut for the queue bound');
  await reader.waitFor(() => reader.records.filter((r) => r.type === 'CHAT').length >= count, `all ${count} messages at the reader`, 60_000);
  const got = new Set(reader.records.filter((r) => r.type === 'CHAT').map((r) => (r.message as string).slice(0, 6)));
  t.equal(got.size, count, 'the reader got every message once');
  t.equal(l.exitInfo, undefined, 'the listener is still up');
});

t.test('config file over CONFIG_FILE_MAX_BYTES, --allow file over KEY_FILE_MAX_BYTES: refused before anything starts', async (t) => {
  const home = tmpHome();
  // At the bound: comments only, accepted.
  const line = '# ' + 'c'.repeat(98) + '\n';
  const atBound = line.repeat(CONFIG_FILE_MAX_BYTES / line.length) + '#'.repeat(CONFIG_FILE_MAX_BYTES % line.length);
  t.equal(atBound.length, CONFIG_FILE_MAX_BYTES);
  fs.writeFileSync(path.join(home, 'config'), atBound, { mode: 0o600 });
  let p = run(['config'], { home, stdin: 'ignore' });
  t.equal((await exitOf(p)).code, 0, 'a config file at the bound is read');
  fs.appendFileSync(path.join(home, 'config'), '#');
  p = run(['config'], { home, stdin: 'ignore' });
  t.equal((await exitOf(p)).code, 78, 'one byte more: exit 78 (EX_CONFIG)');
  t.match(p.stderr.join('\n'), /P2PCAT_ERR_CONFIG: .*larger than 65536 bytes/);
  t.equal(p.stdout.join(''), '', 'nothing on stdout');

  const home2 = tmpHome();
  const allow = path.join(home2, 'allow');
  fs.writeFileSync(allow, '#'.repeat(KEY_FILE_MAX_BYTES + 1));
  p = run(['listen', '0', '--bind', '127.0.0.1', '--allow', allow], { home: home2, stdin: 'ignore' });
  const ex = await exitOf(p);
  t.not(ex.code, 0, 'an --allow file one byte over the bound is refused');
  t.match(p.stderr.join('\n'), /P2PCAT_ERR_IO: .*larger than 1048576 bytes/);
  t.notOk(p.stderr.some((s) => /listening on/.test(s)), 'nothing was listening');
});

// stdin is paused while a session has more than STDIN_PAUSE_BYTES queued. A neighbour that never reads but
// keeps pinging would never drain nor reach PEER_SEND_QUEUE_MAX_BYTES (stdin is what would fill it): it is
// cut after PEER_SEND_STALL_MS without taking a byte, and the others get everything.
t.test('PEER_SEND_STALL_MS: a never-reading neighbour does not stall our stdin for the others', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const { l, reader } = await readerAndDeaf(t, procs);
  const msgBytes = 40_000;
  const count = Math.ceil((3 * PEER_SEND_QUEUE_MAX_BYTES) / msgBytes);
  const body = (i: number) => `${String(i).padStart(6, '0')}:${'m'.repeat(msgBytes - 7)}`;
  let i = 0;
  const feed = () => {
    while (i < count) {
      if (!l.child.stdin!.write(body(i++) + '\n')) return void l.child.stdin!.once('drain', feed);
    }
  };
  feed();
  const n = () => reader.records.filter((r) => r.type === 'CHAT').length;
  const all = await reader.waitFor(() => n() >= count, 'every message', 60_000).then(
    () => true,
    () => false,
  );
  t.ok(all, `the reader got ${n()} of ${count} messages from the listener's stdin`);
  t.ok(l.records.some((r) => r.type === 'PEER_DOWN' && r.username === 'mallory' && r.reason === 'P2PCAT_ERR_LIMIT'), 'the non-reader was cut');
  t.ok(l.stderr.some((e) => /P2PCAT_ERR_LIMIT/.test(e) && /took nothing from its/.test(e)), 'with a line saying why');
});

t.test('MESH_MAX_INBOUND: past it a newcomer is refused with P2PCAT_ERR_LIMIT (after a PEERS list); the others stay', async (t) => {
  const procs: Proc[] = [];
  const members: net.Socket[] = [];
  t.teardown(() => {
    for (const s of members) s.destroy();
    reap(procs);
  });
  const l = await listen(['--no-log', '--peer-timeout', '600']);
  procs.push(l);
  for (let i = 0; i < MESH_MAX_INBOUND; i++) {
    const m = await member(l.port);
    m.socket.on('error', () => {});
    members.push(m.socket);
  }
  await l.waitFor(() => l.records.filter((r) => r.type === 'PEER_UP').length >= MESH_MAX_INBOUND, `${MESH_MAX_INBOUND} neighbours up`, 30_000);
  t.equal(errors(l).filter((e) => e.code === 'P2PCAT_ERR_LIMIT').length, 0, `${MESH_MAX_INBOUND} incoming neighbours are accepted`);
  const over = await member(l.port);
  t.ok(await closedBy(over.socket, 10_000), 'the next one is closed by the listener');
  await l.waitFor(() => errors(l).some((e) => e.code === 'P2PCAT_ERR_LIMIT' && /64 incoming neighbours already/.test(e.message)), 'the LIMIT warning');
  t.equal(members.filter((s) => s.destroyed).length, 0, 'the others stay connected');
});

t.test('DISCOVER_TIMEOUT_MAX_S: discover --timeout past it is a usage error', async (t) => {
  for (const [v, code] of [
    [String(DISCOVER_TIMEOUT_MAX_S + 1), 64],
    ['0', 64],
  ] as const) {
    const p = run(['discover', '--static', '/dev/null', '--timeout', v], { stdin: 'ignore' });
    t.equal((await exitOf(p)).code, code, `--timeout ${v}`);
    t.match(p.stderr.join('\n'), /P2PCAT_ERR_USAGE: --timeout must be more than 0 and at most 86400 seconds/);
  }
});
