// Black-box: the human chat view, driven in a real terminal with tmux
// (send-keys to type, capture-pane to read the screen).
import t from 'tap';
import { listen, reap, tmpHome, type Proc } from '../helpers/proc.js';
import { BIN } from '../helpers/paths.js';
import { hasTmux, terminal } from '../helpers/tmux.js';

const term = terminal('test', {});
const { tmux, waitScreen } = term;

t.test('chat view: messages, /who, /peers, /name, /info, /help, /quit', { skip: hasTmux ? false : 'tmux is not installed' }, async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => {
    reap(procs);
    term.kill();
  });
  const l = await listen([], { name: 'bob' });
  procs.push(l);
  const home = tmpHome();
  tmux('new-session', '-d', '-s', 'chat', '-x', '120', '-y', '40', `env P2PCAT_HOME=${home} P2PCAT_NAME=alice TERM=xterm NO_COLOR=1 ${process.execPath} ${BIN} connect 127.0.0.1:${l.port}; sleep 30`);
  await waitScreen(/room "lobby" as alice/, 'the banner');
  await waitScreen(/\*\*\* bob joined/, 'bob joined');
  tmux('send-keys', '-t', 'chat', 'hello bob', 'Enter');
  const rec = await l.waitRecord((r) => r.type === 'CHAT', 'alice\'s message at the listener');
  t.equal(rec.message, 'hello bob');
  t.equal(rec.username, 'alice');
  await waitScreen(/\[\d\d:\d\d:\d\d\] alice: hello bob/, 'own message formatted');
  l.write('hi alice\n');
  await waitScreen(/\[\d\d:\d\d:\d\d\] bob: hi alice/, 'bob\'s message in [hh:mm:ss] name: text form');
  tmux('send-keys', '-t', 'chat', '/who', 'Enter');
  await waitScreen(/2 in the room: alice \(you\), bob/, '/who');
  tmux('send-keys', '-t', 'chat', '/peers', 'Enter');
  await waitScreen(/-> 127\.0\.0\.1:\d+ {2}bob {2}SHA256:/, '/peers');
  tmux('send-keys', '-t', 'chat', '/name carol', 'Enter');
  await waitScreen(/you are now carol/, '/name');
  tmux('send-keys', '-t', 'chat', 'as carol', 'Enter');
  const rec2 = await l.waitRecord((r) => r.type === 'CHAT' && r.message === 'as carol', 'renamed message');
  t.equal(rec2.username, 'carol');
  tmux('send-keys', '-t', 'chat', '/info', 'Enter');
  await waitScreen(/fingerprint: SHA256:/, '/info');
  tmux('send-keys', '-t', 'chat', '/help', 'Enter');
  await waitScreen(/\/quit +say goodbye/, '/help');
  tmux('send-keys', '-t', 'chat', '/bogus', 'Enter');
  await waitScreen(/unknown command \/bogus/, 'unknown command');
  l.write('\x1b[2J evil escape\n');
  await waitScreen(/bob: \\x1b\[2J evil escape/, 'escape sequences from peers are shown, not obeyed');
  tmux('send-keys', '-t', 'chat', '/quit', 'Enter');
  await l.waitRecord((r) => r.type === 'PEER_DOWN' && r.reason === 'bye', 'a clean goodbye');
});
