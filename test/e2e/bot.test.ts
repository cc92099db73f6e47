// Black-box: chat-mode --exec. `p2pcat listen --exec ./echo-bot.sh` (the
// example in docs/examples) answers each message from a `connect` client; the
// program's exit ends the listener with its status, as ssh does.
import t from 'tap';
import path from 'node:path';
import fs from 'node:fs';
import { exitOf, reap, run, tmpHome, type Proc } from '../helpers/proc.js';
import { peer, PATIENCE_MS } from '../mesh/peers.js';
import { REPO_ROOT } from '../helpers/paths.js';

const BOT = path.join(REPO_ROOT, 'docs', 'examples', 'echo-bot.sh');

t.test('listen --exec echo-bot.sh answers each message of a connect client', async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const bot = await peer('bot', ['--no-log', '--exec', BOT]);
  procs.push(bot);
  const c = run(['connect', `127.0.0.1:${bot.port}`, '--json', '--no-log'], { name: 'carol' });
  procs.push(c);
  c.write('hello bot\n');
  c.write(JSON.stringify({ message: 'a "quoted" word' }) + '\n');
  const a1 = await c.waitRecord((r) => r.type === 'CHAT' && r.message === 'carol said: hello bot', 'the answer to the first', PATIENCE_MS);
  t.equal(a1.username, 'bot', 'the answer comes from the bot peer');
  await c.waitRecord((r) => r.type === 'CHAT' && r.message === 'carol said: a "quoted" word', 'the answer to the second (JSON escapes kept)', PATIENCE_MS);
  t.equal(bot.stdout.length, 0, "the bot's records go to the program, not to stdout");
  c.end();
  t.equal((await exitOf(c, PATIENCE_MS)).code, 0);
  bot.kill('SIGTERM');
  await exitOf(bot, PATIENCE_MS);
});

t.test("the program's exit ends the listener with its status; a bad line from it is a coded warning", async (t) => {
  const procs: Proc[] = [];
  t.teardown(() => reap(procs));
  const dir = tmpHome('p2pcat-bot-');
  const script = path.join(dir, 'once.sh');
  fs.writeFileSync(script, '#!/bin/sh\nread -r line\necho \'{"nope":1}\'\necho \'{"message":"bye now"}\'\nsleep 1\nexit 3\n', { mode: 0o755 });
  const bot = await peer('bot', ['--no-log', '--exec', script]);
  procs.push(bot);
  const c = run(['connect', `127.0.0.1:${bot.port}`, '--json', '--no-log'], { name: 'carol' });
  procs.push(c);
  c.write('anyone?\n');
  await c.waitRecord((r) => r.type === 'CHAT' && r.message === 'bye now', "the program's message", PATIENCE_MS);
  t.equal((await exitOf(bot, PATIENCE_MS)).code, 3, "listen exits with the program's status");
  t.ok(bot.stderr.some((l) => /P2PCAT_ERR_BAD_INPUT/.test(l) && /unknown field/.test(l)), 'its bad line was reported with a code');
});
