import t from 'tap';
import fc from 'fast-check';
import { FrameDecoder, encodeFrame } from '../../src/wire/frame.js';

t.test('frames survive any chunking of the stream', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 20 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
      (payloads, cuts) => {
        const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
        const d = new FrameDecoder();
        const got: Buffer[] = [];
        let off = 0;
        let i = 0;
        while (off < stream.length) {
          const n = cuts[i++ % cuts.length]!;
          got.push(...d.push(stream.subarray(off, off + n)));
          off += n;
        }
        return got.length === payloads.length && got.every((g, k) => Buffer.compare(g, Buffer.from(payloads[k]!)) === 0) && d.buffered === 0;
      },
    ),
  );
  t.pass('property held');
});

t.test('length prefix is 2-byte big-endian', async (t) => {
  t.same([...encodeFrame(new Uint8Array(300)).subarray(0, 2)], [1, 44]);
  t.throws(() => encodeFrame(new Uint8Array(65536)), RangeError);
});

t.test('an oversize or undersize length is a coded error', async (t) => {
  const d = new FrameDecoder({ maxFrameBytes: 1024, minFrameBytes: 32 });
  t.throws(() => d.push(Buffer.from([0x04, 0x01])), { name: 'P2pcatError', code: 'P2PCAT_ERR_FRAME_TOO_LARGE' });
  const d2 = new FrameDecoder({ minFrameBytes: 17 });
  t.throws(() => d2.push(Buffer.from([0x00, 0x03, 1, 2, 3])), { name: 'P2pcatError', code: 'P2PCAT_ERR_PROTOCOL' });
});

t.test('a truncated frame is held, not delivered', async (t) => {
  const d = new FrameDecoder();
  t.same(d.push(encodeFrame(Buffer.from('hello')).subarray(0, 4)), []);
  t.equal(d.buffered, 4);
});
