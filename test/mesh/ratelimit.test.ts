import t from 'tap';
import { TokenBucket } from '../../src/mesh/ratelimit.js';

t.test('a burst, then the rate; debt says how long to stop reading', async (t) => {
  const b = new TokenBucket(100, 10, 0);
  for (let i = 0; i < 10; i++) t.equal(b.take(1, 0), 0);
  t.equal(b.take(1, 0), 10, 'one token short at 100/s: 10 ms');
  t.equal(b.take(5, 0), 60, 'six short: 60 ms');
  t.equal(b.take(0, 60), 0, 'paid back after 60 ms');
  t.equal(b.balance(1000), 10, 'never more than the burst');
  const free = new TokenBucket(0, 1, 0);
  for (let i = 0; i < 1000; i++) t.equal(free.take(1, 0), 0);
  t.throws(() => new TokenBucket(-1, 1, 0), RangeError);
});
