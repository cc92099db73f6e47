// Black-box: the chat view's mesh commands in a real terminal (tmux):
// /who lists members beyond the neighbours, /msg sends a sealed DM,
// /history reads the log, /peers and /stats.
import t from 'tap';
import { reap, tmpHome, type Proc } from '../helpers/proc.js';
import { BIN } from '../helpers/paths.js';
import { hasTmux, terminal } from '../helpers/tmux.js';
import { peer, members } from '../mesh/peers.js';

const term = terminal('mesh', { history: 100, timeoutMs: 45_000 });
const { tmux, waitScreen } = term;

// Real processes: allow for a CI box running every suite at once.
t.setTimeout(240_000);

t.test('chat view: /who, /msg, /history, /peers, /stats', { skip: hasTmux ? false : 'tmux is not installed' }, async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => {
    reap(procs);
    term.kill();
  });
  const bob = await peer('bob', ['--dial-policy', 'none']);
  const cat = await peer('cat', ['--dial-policy', 'none', '--peer', `127.0.0.1:${bob.port}`]);
  procs.push(bob, cat);
  await bob.waitFor(() => members(bob).has('cat'), 'bob and cat linked');
  const home = tmpHome();
  tmux('new-session', '-d', '-s', 'chat', '-x', '150', '-y', '50', `env P2PCAT_HOME=${home} P2PCAT_NAME=alice TERM=xterm NO_COLOR=1 ${process.execPath} ${BIN} connect 127.0.0.1:${bob.port} --dial-policy none; sleep 30`);
  await waitScreen(/\*\*\* bob joined/, 'bob joined');
  await waitScreen(/\*\*\* cat is in the room \(through the mesh\)/, 'cat seen through the mesh');
  tmux('send-keys', '-t', 'chat', '/who', 'Enter');
  await waitScreen(/3 in the room: alice \(you\), bob\*, cat/, '/who: bob is a neighbour, cat is not');
  tmux('send-keys', '-t', 'chat', '/msg cat meet me at noon', 'Enter');
  const dm = await cat.waitRecord((r) => r.type === 'DM', 'the DM at cat');
  t.equal(dm.message, 'meet me at noon');
  t.notOk(bob.records.some((r) => r.message === 'meet me at noon'), 'bob relayed it without seeing it');
  await waitScreen(/\(direct\) you → cat: meet me at noon/, 'the DM shown as sent');
  cat.write(JSON.stringify({ message: 'noon it is', to: 'alice' }) + '\n');
  await waitScreen(/\(direct\) cat → you: noon it is/, 'the reply');
  tmux('send-keys', '-t', 'chat', 'one for the log', 'Enter');
  await cat.waitRecord((r) => r.type === 'CHAT' && r.message === 'one for the log', 'alice\'s message at cat');
  cat.write('and one from cat\n');
  await waitScreen(/cat: and one from cat/, 'cat\'s public message');
  tmux('send-keys', '-t', 'chat', '/history 2', 'Enter');
  await waitScreen(/--- the last 2 messages from the log ---\n.*alice: one for the log\n.*cat: and one from cat\n.*--- end of history ---/, '/history 2');
  tmux('send-keys', '-t', 'chat', '/peers', 'Enter');
  await waitScreen(/-> 127\.0\.0\.1:\d+ {2}bob {2}SHA256:/, '/peers');
  tmux('send-keys', '-t', 'chat', '/stats', 'Enter');
  await waitScreen(/1 neighbours, 2 members; sent \d+ messages/, '/stats');
  tmux('send-keys', '-t', 'chat', '/quit', 'Enter');
  await bob.waitRecord((r) => r.type === 'PEER_DOWN' && r.username === 'alice' && r.reason === 'bye', 'a clean goodbye');
});
