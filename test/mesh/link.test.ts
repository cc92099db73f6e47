import t from 'tap';
import fc from 'fast-check';
import { formatJoinLink, parseJoinLink } from '../../src/mesh/link.js';

const key = 'ab'.repeat(32);

t.test('format and parse round-trip, percent-encoded', async (t) => {
  const l = formatJoinLink({ host: '192.168.1.50', port: 5050, room: 'ops team', secret: 'p&ss=w/rd+?#', key });
  t.equal(l, `p2pcat://192.168.1.50:5050?room=ops%20team&secret=p%26ss%3Dw%2Frd%2B%3F%23&key=${key}`);
  t.same(parseJoinLink(l), { host: '192.168.1.50', port: 5050, room: 'ops team', secret: 'p&ss=w/rd+?#', key, text: '192.168.1.50:5050' });
  t.same(parseJoinLink(formatJoinLink({ host: '::1', port: 7 })), { host: '::1', port: 7, text: '[::1]:7' });
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 50 }), fc.string({ minLength: 1, maxLength: 50 }), fc.integer({ min: 1, max: 65535 }), (room, secret, port) => {
      const p = parseJoinLink(formatJoinLink({ host: 'h.lan', port, room, secret, key }));
      return p.room === room && p.secret === secret && p.port === port;
    }),
  );
});

t.test('bad links are usage errors that do not echo the secret', async (t) => {
  for (const bad of ['p2pcat://h', 'p2pcat://h:0', 'p2pcat://h:70000', 'p2pcat://h:1/path', 'p2pcat://h:1?room=a&room=b', 'p2pcat://h:1?key=xyz', 'p2pcat://h:1?bogus=1', 'p2pcat://u:p@h:1', 'http://h:1']) {
    t.throws(() => parseJoinLink(bad), { code: 'P2PCAT_ERR_USAGE' }, bad);
  }
  try {
    parseJoinLink('p2pcat://h:1?secret=hunter2&bogus=1');
  } catch (e) {
    t.notMatch((e as Error).message, /hunter2/);
  }
});
