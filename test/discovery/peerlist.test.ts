// Peer lists (src/discovery/peerlist.ts): every accepted form, every bound,
// bad lines as warnings, and the result independent of how input is chunked.
import t from 'tap';
import fc from 'fast-check';
import { PassThrough } from 'node:stream';
import { PeerListParser, parsePeerLine, parsePeerList, readPeerList } from '../../src/discovery/peerlist.js';
import { PEERLIST_MAX_ADDRS, PEERLIST_MAX_ENTRIES, PEERLIST_MAX_LINE_BYTES } from '../../src/limits.js';

const KEY = 'ab'.repeat(32);

t.test('each line form', async (t) => {
  t.match(parsePeerLine('10.0.0.1:5050'), { kind: 'entry', entry: { addrs: ['10.0.0.1:5050'] } });
  t.match(parsePeerLine('  alice.lan:5050   # the hub'), { kind: 'entry', entry: { addrs: ['alice.lan:5050'] } });
  t.match(parsePeerLine('[2001:db8::1]:5050'), { kind: 'entry', entry: { addrs: ['[2001:db8::1]:5050'] } });
  t.match(parsePeerLine('p2pcat://192.168.1.50:5050?room=ops'), { kind: 'entry', entry: { addrs: ['192.168.1.50:5050'], link: 'p2pcat://192.168.1.50:5050?room=ops' } });
  t.match(parsePeerLine('p2pcat://[::1]:7000'), { kind: 'entry', entry: { addrs: ['[::1]:7000'] } });
  t.match(parsePeerLine(JSON.stringify({ type: 'PEER', addrs: ['10.0.0.1:1', '[::1]:1', '10.0.0.1:1'], via: 'lan', key: KEY, room: 'ops' })), {
    kind: 'entry',
    entry: { addrs: ['10.0.0.1:1', '[::1]:1'], via: 'lan', key: KEY },
  });
  for (const skip of ['', '   ', '# comment', '  # indented comment']) t.same(parsePeerLine(skip), { kind: 'skip' });
  const errors: [string, RegExp][] = [
    ['10.0.0.1', /HOST:PORT/],
    ['10.0.0.1:0', /port 0/],
    ['10.0.0.1:99999', /0 to 65535/],
    ['a:1 b:2', /one HOST:PORT/],
    ['p2pcat://host', /no port/],
    ['p2pcat://', /link/],
    ['{"type":"CHAT","message":"hi"}', /PEER record/],
    ['{"type":"PEER"}', /addrs/],
    ['{"type":"PEER","addrs":[5]}', /strings/],
    ['{"type":"PEER","addrs":["x"]}', /PEER address/],
    [`{"type":"PEER","addrs":["h:1"],"key":"XYZ"}`, /key/],
    [JSON.stringify({ type: 'PEER', addrs: Array.from({ length: PEERLIST_MAX_ADDRS + 1 }, (_, i) => `h:${i + 1}`) }), /addresses/],
    ['{not json', /bad JSON/],
    ['[1,2]', /HOST:PORT/],
    ['{}', /PEER record/],
  ];
  for (const [line, re] of errors) {
    const r = parsePeerLine(line);
    t.match(r.kind === 'error' ? r.reason : r.kind, re, line.slice(0, 40));
  }
});

t.test('a list: comments, warnings with line numbers, duplicates dropped', async (t) => {
  const { entries, warnings } = parsePeerList(['# peers', '10.0.0.1:1', '', 'junk', '10.0.0.1:1', '{"type":"PEER","addrs":["10.0.0.1:1","10.0.0.2:1"]}', 'p2pcat://10.0.0.3:1'].join('\n'));
  t.same(
    entries.map((e) => [e.line, e.addrs]),
    [
      [2, ['10.0.0.1:1']],
      [6, ['10.0.0.2:1']],
      [7, ['10.0.0.3:1']],
    ],
  );
  t.equal(warnings.length, 1);
  t.equal(warnings[0]!.line, 4);
  t.equal(warnings[0]!.error.code, 'P2PCAT_ERR_BAD_INPUT');
});

t.test('bounds: long lines, entries and bytes', async (t) => {
  const long = parsePeerList('x'.repeat(PEERLIST_MAX_LINE_BYTES + 10) + '\n10.0.0.1:1\n');
  t.equal(long.entries.length, 1, 'a too-long line is skipped, the next one read');
  t.match(long.warnings[0]!.error.message, /longer than/);
  const many = parsePeerList(Array.from({ length: PEERLIST_MAX_ENTRIES + 50 }, (_, i) => `10.${i >> 8}.${i & 255}.1:1`).join('\n'));
  t.equal(many.entries.length, PEERLIST_MAX_ENTRIES);
  t.equal(many.warnings.at(-1)!.error.code, 'P2PCAT_ERR_LIMIT');
  const p = new PeerListParser({ maxBytes: 100, maxEntries: 10 });
  p.push(Buffer.from('10.0.0.1:1\n'));
  t.same(p.push(Buffer.alloc(200, 0x61)), []);
  t.equal(p.full, true, 'past the byte limit the parser stops');
  const bad = parsePeerList(Array.from({ length: 5000 }, () => 'junk').join('\n'));
  t.equal(bad.warnings.length, 100, 'warnings are bounded too');
});

t.test('the same entries however the input is chunked', async (t) => {
  const line = fc.oneof(
    fc.constantFrom('# c', '', 'junk', 'p2pcat://10.9.9.9:9?room=x'),
    fc.tuple(fc.nat(255), fc.integer({ min: 1, max: 65535 })).map(([a, p]) => `10.0.0.${a}:${p}`),
    fc.tuple(fc.nat(255), fc.integer({ min: 1, max: 65535 })).map(([a, p]) => JSON.stringify({ type: 'PEER', addrs: [`10.1.0.${a}:${p}`], via: 'lan' })),
  );
  fc.assert(
    fc.property(fc.array(line, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 10 }), (lines, cuts) => {
      const text = Buffer.from(lines.join('\r\n'));
      const whole = parsePeerList(text).entries;
      const p = new PeerListParser();
      const got = [];
      let at = 0;
      for (const c of cuts.map((c) => c % (text.length + 1)).sort((a, b) => a - b)) {
        got.push(...p.push(text.subarray(at, c)));
        at = c;
      }
      got.push(...p.push(text.subarray(at)), ...p.end());
      return JSON.stringify(got) === JSON.stringify(whole);
    }),
    { numRuns: 500 },
  );
  fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => ['entry', 'skip', 'error'].includes(parsePeerLine(s).kind)), { numRuns: 3000 });
  t.pass('chunking does not matter, and no line throws');
});

t.test('readPeerList: a stream to its end, a stream that never ends', async (t) => {
  const s = new PassThrough();
  const warns: string[] = [];
  const p = readPeerList(s, { what: 'test', timeoutMs: 5000, onWarning: (e) => warns.push(e.message) });
  s.write('10.0.0.1:1\nju');
  s.write('nk\n10.0.0.2');
  s.end(':2');
  t.same((await p).map((e) => e.addrs[0]), ['10.0.0.1:1', '10.0.0.2:2']);
  t.equal(warns.length, 1);
  const open = new PassThrough();
  const q = readPeerList(open, { what: 'slow', timeoutMs: 100, onWarning: (e) => warns.push(e.code) });
  open.write('10.0.0.3:3\n');
  t.same((await q).map((e) => e.addrs[0]), ['10.0.0.3:3'], 'the timeout keeps what was read');
  t.equal(warns.at(-1), 'P2PCAT_ERR_TIMEOUT');
  const broken = new PassThrough();
  const r = readPeerList(broken, { what: 'broken', timeoutMs: 5000, onWarning: () => {} });
  broken.destroy(new Error('EIO'));
  await t.rejects(r, { code: 'P2PCAT_ERR_IO' });
});
