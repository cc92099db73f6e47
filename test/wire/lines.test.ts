import t from 'tap';
import fc from 'fast-check';
import { LineSplitter } from '../../src/wire/lines.js';

t.test('lines come out the same however the input is chunked', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 40 }).map((s) => s.replace(/[\n\r]/g, '')), { maxLength: 30 }), fc.integer({ min: 1, max: 17 }), (lines, n) => {
      const input = Buffer.from(lines.map((l) => l + '\n').join(''));
      const s = new LineSplitter(1000);
      const got: string[] = [];
      for (let off = 0; off < input.length; off += n) {
        for (const it of s.push(input.subarray(off, off + n))) if ('line' in it) got.push(it.line);
      }
      for (const it of s.end()) if ('line' in it) got.push(it.line);
      return JSON.stringify(got) === JSON.stringify(lines);
    }),
  );
  t.pass('property held');
});

t.test('an over-long line is reported once and skipped; the stream goes on', async (t) => {
  const s = new LineSplitter(10);
  const items = [...s.push(Buffer.from('short\n' + 'x'.repeat(25))), ...s.push(Buffer.from('yyy\nafter\n'))];
  t.same(items, [{ line: 'short', number: 1 }, { tooLong: 28, number: 2 }, { line: 'after', number: 3 }]);
});

t.test('invalid UTF-8 and CRLF', async (t) => {
  const s = new LineSplitter(100);
  t.same(s.push(Buffer.from([0xff, 0xfe, 0x0a, 0x61, 0x0d, 0x0a])), [{ badUtf8: true, number: 1 }, { line: 'a', number: 2 }]);
  t.same(s.push(Buffer.from('tail')), []);
  t.same(s.end(), [{ line: 'tail', number: 3 }]);
});
