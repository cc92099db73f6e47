import t from 'tap';
import { parseRequest } from '../../src/chat/request.js';
import { createChat } from '../../src/chat/record.js';
import { Signer, generateSigningKey } from '../../src/crypto/ed25519.js';

const o = { strict: false, room: 'lobby' };

t.test('plain text, JSON requests, empty lines', async (t) => {
  t.same(parseRequest('hi there', o), { kind: 'chat', message: 'hi there' });
  t.same(parseRequest('{"message":"hi"}', o), { kind: 'chat', message: 'hi' });
  t.same(parseRequest('{"type":"CHAT","message":"hi","username":"bob"}', o), { kind: 'chat', message: 'hi', username: 'bob' });
  t.same(parseRequest('   ', o), { kind: 'skip' });
  t.same(parseRequest('42', o), { kind: 'chat', message: '42' }, 'JSON that is not an object is text');
  t.same(parseRequest('{"message":"psst","to":"bob"}', o), { kind: 'dm', message: 'psst', to: 'bob' }, 'a direct message');
});

t.test('bad requests are coded errors', async (t) => {
  for (const line of ['{"message":', '{"message":5}', '{"msg":"x"}', '{"type":"FILE"}', '{"type":"FILE","path":"x","mode":1}', '{"type":"FILE","path":"x","to":7}', '{"type":"FILES","path":"x"}', '{"message":"x","room":"other"}', '{"message":"x","to":""}', '{"message":"x","to":5}', '{"message":""}']) {
    const r = parseRequest(line, o);
    t.equal(r.kind, 'error', line);
    if (r.kind === 'error') t.equal(r.error.code, 'P2PCAT_ERR_BAD_INPUT', line);
  }
  const strict = parseRequest('plain', { ...o, strict: true });
  t.equal(strict.kind, 'error');
  t.equal(parseRequest('x'.repeat(50_000), o).kind, 'error', 'too long');
});

t.test('a signed record is relayed as is, a forged one refused', async (t) => {
  const rec = createChat(new Signer(generateSigningKey().seed), { room: 'lobby', username: 'a', message: 'm', now: new Date() });
  const r = parseRequest(JSON.stringify(rec), o);
  t.equal(r.kind, 'relay');
  t.equal(parseRequest(JSON.stringify({ ...rec, message: 'n' }), o).kind, 'error');
});

t.test('FILE requests', async (t) => {
  t.same(parseRequest('{"type":"FILE","path":"./a.pdf"}', o), { kind: 'file', path: './a.pdf' });
  t.same(parseRequest('{"type":"FILE","path":"a b.pdf","to":"bob"}', o), { kind: 'file', path: 'a b.pdf', to: 'bob' });
});
