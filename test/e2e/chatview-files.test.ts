// Black-box: files in the chat view (tmux): an offer is shown and waits for
// /accept or /reject (the default policy on a terminal), a file accepted lands
// in the current directory, /send offers one from the view.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { reap, tmpHome, type Proc } from '../helpers/proc.js';
import { BIN } from '../helpers/paths.js';
import { hasTmux, terminal } from '../helpers/tmux.js';
import { peer, PATIENCE_MS } from '../mesh/peers.js';

const term = terminal('files', { timeoutMs: PATIENCE_MS });
const { tmux, waitScreen } = term;

t.test('chat view: /accept, /reject, /send', { skip: hasTmux ? false : 'tmux is not installed' }, async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => {
    reap(procs);
    term.kill();
  });
  const bobDir = tmpHome('p2pcat-view-bob-');
  const bob = await peer('bob', ['--no-log', '--accept-files', '--download-dir', bobDir]);
  procs.push(bob);
  const here = tmpHome('p2pcat-view-cwd-');
  const src = tmpHome('p2pcat-view-src-');
  const report = path.join(src, 'report.txt');
  fs.writeFileSync(report, 'quarterly numbers\n');
  const home = tmpHome();
  tmux('new-session', '-d', '-s', 'chat', '-x', '150', '-y', '40', '-c', here, `env P2PCAT_HOME=${home} P2PCAT_NAME=alice TERM=xterm NO_COLOR=1 ${process.execPath} ${BIN} connect 127.0.0.1:${bob.port} --no-log; sleep 30`);
  await waitScreen(/\*\*\* bob joined/, 'bob joined');

  bob.write(JSON.stringify({ type: 'FILE', path: report }) + '\n');
  await waitScreen(/\*\*\* bob offers report\.txt \(18 B\): \/accept 1 or \/reject 1/, 'the offer');
  t.same(fs.readdirSync(here), [], 'nothing written before the person says yes');
  tmux('send-keys', '-t', 'chat', '/files', 'Enter');
  await waitScreen(/1: report\.txt \(18 B\) from bob/, '/files');
  tmux('send-keys', '-t', 'chat', '/accept', 'Enter');
  await waitScreen(/received report\.txt \(18 B\) from bob: .*report\.txt/, 'received');
  t.equal(fs.readFileSync(path.join(here, 'report.txt'), 'utf8'), 'quarterly numbers\n', 'stored in the current directory');
  await bob.waitRecord((r) => r.type === 'FILE_SENT' && r.name === 'report.txt', "bob's FILE_SENT");

  bob.write(JSON.stringify({ type: 'FILE', path: report }) + '\n');
  await waitScreen(/offers report\.txt \(18 B\): \/accept 2 or \/reject 2/, 'the second offer');
  tmux('send-keys', '-t', 'chat', '/reject 2', 'Enter');
  await waitScreen(/declined report\.txt from bob/, 'declined');
  await bob.waitFor(() => bob.stderr.find((l) => /P2PCAT_ERR_FILE_REFUSED/.test(l)), 'bob learns it was refused');

  const pic = path.join(src, 'pic.bin');
  fs.writeFileSync(pic, crypto.randomBytes(3 * 1024 * 1024));
  tmux('send-keys', '-t', 'chat', `/send ${pic}`, 'Enter');
  await waitScreen(/\*\*\* bob has pic\.bin \(3\.0 MiB\)/, 'bob confirmed pic.bin');
  const got = await bob.waitRecord((r) => r.type === 'FILE' && r.name === 'pic.bin', "bob's FILE record");
  t.ok(fs.readFileSync(got.path).equals(fs.readFileSync(pic)), 'identical');
  tmux('send-keys', '-t', 'chat', '/send /no/such/file', 'Enter');
  await waitScreen(/P2PCAT_ERR_BAD_INPUT: cannot send \/no\/such\/file: no such file/, 'a bad path is a coded error in the view');
  tmux('send-keys', '-t', 'chat', '/quit', 'Enter');
  await bob.waitRecord((r) => r.type === 'PEER_DOWN' && r.reason === 'bye', 'a clean goodbye');
});
