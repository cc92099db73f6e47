import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { KnownPeers, appendKnownPeer, loadKnownPeers, parseAllowList } from '../../src/mesh/trust.js';

const k1 = '11'.repeat(32);
const k2 = '22'.repeat(32);

t.test('allow lists: keys, comments, bad lines named', async (t) => {
  t.same([...parseAllowList(`# ops team\n${k1} alice laptop\n\n  ${k2.toUpperCase()}\n`)], [k1, k2]);
  t.throws(() => parseAllowList(`${k1}\nnot-a-key\n`, 'keys.txt'), { code: 'P2PCAT_ERR_USAGE', message: /keys\.txt:2/ });
});

t.test('known_peers: first use, same, changed; kept across processes', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-known-'));
  const file = path.join(dir, 'known_peers');
  const a = loadKnownPeers(file);
  t.same(a.check('name', 'alice smith', k1), { kind: 'new' });
  appendKnownPeer(file, 'name', 'alice smith', k1);
  appendKnownPeer(file, 'addr', '10.0.0.5:5050', k2);
  t.same(a.check('name', 'alice smith', k1), { kind: 'same' });
  const b = loadKnownPeers(file);
  t.same(b.check('name', 'alice smith', k2), { kind: 'changed', was: k1 });
  t.same(b.check('addr', '10.0.0.5:5050', k2), { kind: 'same' });
  t.equal(fs.statSync(file).mode & 0o077, 0, 'the file is private');
  t.same(KnownPeers.parse('garbage\nname x\nname y zz\n').size, 0, 'unreadable lines are skipped');
});
