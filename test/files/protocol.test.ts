// File transfer message bodies and stored names (src/files/protocol.ts).
import t from 'tap';
import { P2pcatError } from '../../src/errors.js';
import { FILE_NAME_MAX_BYTES } from '../../src/limits.js';
import { utf8Length } from '../../src/util.js';
import { dataHeader, formatSize, numberedName, parseAbort, parseAnswer, parseData, parseEnd, parseOffer, parseResult, parseSize, safeName } from '../../src/files/protocol.js';

const ID = '0123456789abcdef0123456789abcdef';
const SHA = 'ab'.repeat(32);

t.test('safeName: never a path, never hidden, never empty, never control characters', async (t) => {
  const cases: [string, string][] = [
    ['report.pdf', 'report.pdf'],
    ['../../etc/passwd', 'passwd'],
    ['/etc/shadow', 'shadow'],
    ['..\\..\\windows\\system.ini', 'system.ini'],
    ['dir/sub/', 'sub'],
    ['..', 'file'],
    ['.', 'file'],
    ['', 'file'],
    ['.bashrc', 'bashrc'],
    ['...hidden', 'hidden'],
    ['-rf', 'rf'],
    ['a\u0000b\nc\u001b[31m.txt', 'abc[31m.txt'],
    ['e\u0301te\u0301.txt', 'été.txt'],
    ['spaces at end.txt   ', 'spaces at end.txt'],
    ['bidi\u202egnp.exe', 'bidignp.exe'],
  ];
  for (const [input, want] of cases) t.equal(safeName(input), want, JSON.stringify(input));
  const long = safeName('x'.repeat(1000) + '.pdf');
  t.ok(utf8Length(long) <= FILE_NAME_MAX_BYTES && long.endsWith('.pdf'), 'long names shortened, extension kept');
  const wide = safeName('é'.repeat(500));
  t.ok(utf8Length(wide) <= FILE_NAME_MAX_BYTES && !wide.includes('\ufffd'), 'shortened on character boundaries');
});

t.test('numberedName', async (t) => {
  t.equal(numberedName('a.txt', 0), 'a.txt');
  t.equal(numberedName('a.txt', 2), 'a (2).txt');
  t.equal(numberedName('README', 1), 'README (1)');
  t.equal(numberedName('a.tar.gz', 1), 'a.tar (1).gz');
});

t.test('parseOffer and friends: checked at the boundary, coded errors', async (t) => {
  t.same(parseOffer({ id: ID, name: 'a', size: 3, sha256: SHA }), { id: ID, name: 'a', size: 3, sha256: SHA });
  for (const bad of [
    {},
    { id: 'zz', name: 'a', size: 3, sha256: SHA },
    { id: ID, name: '', size: 3, sha256: SHA },
    { id: ID, name: 'a', size: -1, sha256: SHA },
    { id: ID, name: 'a', size: 1.5, sha256: SHA },
    { id: ID, name: 'a', size: 2 ** 60, sha256: SHA },
    { id: ID, name: 'a', size: '3', sha256: SHA },
    { id: ID, name: 'a', size: 3, sha256: 'AB'.repeat(32) },
    { id: ID, name: 7, size: 3, sha256: SHA },
  ]) {
    const r = parseOffer(bad as Record<string, unknown>);
    t.ok(r instanceof P2pcatError && r.code === 'P2PCAT_ERR_PROTOCOL', JSON.stringify(bad));
  }
  t.same(parseAnswer({ id: ID, offset: 5 }, 'FILE_ACCEPT'), { id: ID, offset: 5 });
  t.ok(parseAnswer({ id: ID, offset: -5 }, 'FILE_PROGRESS') instanceof P2pcatError);
  t.equal(parseEnd({ id: ID }), ID);
  t.ok(parseEnd({ id: 5 }) instanceof P2pcatError);
  const ok = parseResult({ id: ID, ok: true, name: '../x' }, 'bob');
  t.same(ok, { id: ID, ok: true, name: 'x' }, 'a name from the peer is made safe before it is shown');
  const no = parseResult({ id: ID, ok: false, code: 'P2PCAT_ERR_IO', reason: 'disk\u001b full' }, 'bob');
  t.ok(!(no instanceof P2pcatError) && !no.ok && no.error.code === 'P2PCAT_ERR_IO' && no.error.message === 'bob: disk  full', 'known code kept, control characters out');
  const unknown = parseResult({ id: ID, ok: false, code: 'EVIL' }, 'bob');
  t.ok(!(unknown instanceof P2pcatError) && !unknown.ok && unknown.error.code === 'P2PCAT_ERR_PROTOCOL', 'an unknown code becomes PROTOCOL');
  t.ok(parseResult({ id: ID, ok: 'yes' }, 'bob') instanceof P2pcatError);
  const ab = parseAbort({ id: ID, code: 'P2PCAT_ERR_TIMEOUT', reason: 'slow' }, 'bob');
  t.ok(!(ab instanceof P2pcatError) && ab.error.code === 'P2PCAT_ERR_TIMEOUT');
});

t.test('FILE_DATA header round trip; short or out-of-range data refused', async (t) => {
  const chunk = Buffer.from('hello');
  const d = parseData(Buffer.concat([dataHeader(ID, 123456789012), chunk]));
  t.ok(!(d instanceof P2pcatError) && d.id === ID && d.offset === 123456789012 && d.chunk.equals(chunk));
  t.ok(parseData(Buffer.alloc(10)) instanceof P2pcatError, 'shorter than the header');
  const huge = Buffer.concat([Buffer.from(ID, 'hex'), Buffer.from('ffffffffffffffff', 'hex')]);
  t.ok(parseData(huge) instanceof P2pcatError, 'offset beyond 2^53');
});

t.test('parseSize / formatSize', async (t) => {
  t.equal(parseSize('1024'), 1024);
  t.equal(parseSize('25M'), 25 * 1024 * 1024);
  t.equal(parseSize('1g'), 1024 ** 3);
  t.equal(parseSize('1.5K'), 1536);
  t.equal(parseSize('2MiB'), 2 * 1024 * 1024);
  t.equal(parseSize('x'), undefined);
  t.equal(parseSize('-1'), undefined);
  t.equal(formatSize(512), '512 B');
  t.equal(formatSize(30 * 1024 * 1024), '30.0 MiB');
});
