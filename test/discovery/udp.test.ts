// The guarded UDP socket (src/discovery/udp.ts): size, shape and rate
// limits, and exceptions from a handler turned into warnings.
import t from 'tap';
import dgram from 'node:dgram';
import { GuardedSocket, RateLimiter } from '../../src/discovery/udp.js';

t.test('rate limiter: a token bucket', async (t) => {
  const r = new RateLimiter(10, 0);
  let ok = 0;
  for (let i = 0; i < 100; i++) if (r.take(0)) ok++;
  t.equal(ok, 10, 'a burst of at most the rate');
  t.equal(r.take(50), false, 'half a token after 50 ms');
  t.equal(r.take(150), true, 'one token after 100 ms more');
  let later = 0;
  for (let i = 0; i < 100; i++) if (r.take(10_000)) later++;
  t.equal(later, 10, 'never more than the burst');
});

t.test('guarded socket: oversize, shape, rate and handler exceptions are warnings', async (t) => {
  const bad: string[] = [];
  const limited: number[] = [];
  let clock = 0;
  const g = new GuardedSocket({
    type: 'udp4',
    maxBytes: 100,
    maxPerSecond: 5,
    check: (m) => (m[0] === 0x21 ? 'starts with !' : undefined),
    onBad: (r) => bad.push(r),
    onRateLimited: (n) => limited.push(n),
    now: () => clock,
  });
  const got: string[] = [];
  g.on('message', (m: Buffer) => {
    if (String(m) === 'throw') throw new TypeError('library bug on hostile input');
    got.push(String(m));
  });
  await new Promise<void>((r) => g.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => g.close());
  const port = g.address().port;
  const s = dgram.createSocket('udp4');
  t.teardown(() => s.close());
  const send = (m: string | Buffer) => new Promise<void>((r) => s.send(m, port, '127.0.0.1', () => r()));
  for (const m of ['ok1', Buffer.alloc(101), '!nope', 'throw', 'ok2']) await send(m);
  const deadline = Date.now() + 5000;
  while (got.length + bad.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.same(got, ['ok1', 'ok2']);
  t.equal(bad.length, 3);
  t.match(bad[0], /101 bytes/);
  t.match(bad[1], /starts with !/);
  t.match(bad[2], /library failed.*library bug/);
  // The bucket is empty now (5 taken at clock 0): the next ones are dropped and counted.
  clock = 1500;
  for (let i = 0; i < 20; i++) await send('flood');
  while (got.length < 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50));
  t.equal(got.filter((m) => m === 'flood').length, 5, 'at most the rate gets through');
});
