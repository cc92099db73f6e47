// The human face of a chat command, shown when stdin and stdout are both
// terminals and --json is absent: `[14:23:15] bob: hi` lines (coloured when
// the terminal supports it) and slash commands. Incoming lines are printed
// above the prompt without disturbing what is being typed.
import readline from 'node:readline';
import type { ChatRecord } from '../chat/record.js';
import { P2pcatError } from '../errors.js';
import type { PeerInfo, SessionEnd } from '../transport/session.js';
import { describeSelf, type ChatContext } from './run/chat.js';
import { checkUsername } from '../crypto/identity.js';
import { endReason, type Ui } from './ui.js';

const HELP = [
  '/help           this list',
  '/who            who is in the room (you and the peers connected to you)',
  '/peers          connections: address, direction, key fingerprint',
  '/name NAME      change your username for this session',
  '/info           your identity, the room, the listening address',
  '/quit           say goodbye to every peer and exit (also: Ctrl-D)',
];

const COLORS = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96];

function hhmmss(iso: string): string {
  const d = new Date(iso);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

// Terminal control characters from a peer must not reach the terminal.
function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export class ChatView implements Ui {
  #ctx: ChatContext;
  #rl: readline.Interface;
  #color: boolean;
  #out = process.stdout;

  constructor(ctx: ChatContext) {
    this.#ctx = ctx;
    this.#color = process.stdout.hasColors?.() === true && !process.env.NO_COLOR;
    this.#rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: true, historySize: 200 });
    this.#rl.setPrompt(this.#prompt());
    this.#rl.on('line', (line) => this.#onLine(line));
    this.#rl.on('close', () => ctx.quit());
    this.#rl.on('SIGINT', () => ctx.quit());
    this.#print(this.#dim(`room "${ctx.room.name}"${ctx.room.private ? ' (private)' : ''} as ${ctx.username}. Type /help for commands.`));
  }

  #prompt(): string {
    return this.#color ? `\x1b[1m${this.#ctx.username}>\x1b[0m ` : `${this.#ctx.username}> `;
  }

  #paint(code: number, s: string): string {
    return this.#color ? `\x1b[${code}m${s}\x1b[0m` : s;
  }

  #dim(s: string): string {
    return this.#color ? `\x1b[2m${s}\x1b[0m` : s;
  }

  #nameColor(key: string): number {
    return COLORS[parseInt(key.slice(0, 2), 16) % COLORS.length]!;
  }

  /** Print a line above the prompt, keeping what is being typed. */
  #print(line: string): void {
    readline.clearLine(this.#out, 0);
    readline.cursorTo(this.#out, 0);
    this.#out.write(line + '\n');
    this.#rl.prompt(true);
  }

  #onLine(line: string): void {
    // Replace the echoed input line with the formatted message.
    readline.moveCursor(this.#out, 0, -1);
    readline.clearLine(this.#out, 0);
    const text = line.trim();
    if (text === '') return this.#rl.prompt();
    if (text.startsWith('/') && !text.startsWith('//')) return this.#command(text);
    const res = this.#ctx.send(text.startsWith('//') ? text.slice(1) : line);
    if (res instanceof P2pcatError) this.warn(res);
    else this.chat(res, true);
  }

  #command(text: string): void {
    const [cmd, ...rest] = text.split(/\s+/);
    const arg = rest.join(' ');
    switch (cmd) {
      case '/help':
        for (const h of HELP) this.#print(this.#dim(h));
        this.#print(this.#dim('A line starting with // sends a literal /.'));
        break;
      case '/who': {
        const names = [`${this.#ctx.username} (you)`, ...this.#ctx.hub.peers.map((p) => p.username)];
        this.#print(this.#dim(`${names.length} in the room: ${names.join(', ')}`));
        break;
      }
      case '/peers': {
        const peers = this.#ctx.hub.peers;
        if (peers.length === 0) this.#print(this.#dim('no peers connected'));
        for (const p of peers) this.#print(this.#dim(`${p.direction === 'in' ? '<-' : '->'} ${p.addr}  ${p.username}  ${p.fingerprint}`));
        break;
      }
      case '/name':
        try {
          this.#ctx.username = checkUsername(arg);
          this.#rl.setPrompt(this.#prompt());
          this.#print(this.#dim(`you are now ${arg} (this session; p2pcat id --name saves it)`));
        } catch (e) {
          this.warn(e as P2pcatError);
        }
        break;
      case '/info':
        for (const [k, v] of Object.entries(describeSelf(this.#ctx))) this.#print(this.#dim(`${k}: ${String(v)}`));
        break;
      case '/quit':
      case '/exit':
        this.#ctx.quit();
        return;
      default:
        this.#print(this.#dim(`unknown command ${cmd}; try /help`));
    }
    this.#rl.prompt();
  }

  chat(rec: ChatRecord, own: boolean): void {
    const name = own ? this.#paint(1, clean(rec.username)) : this.#paint(this.#nameColor(rec.from), clean(rec.username));
    this.#print(`${this.#dim(`[${hhmmss(rec.timestamp)}]`)} ${name}: ${clean(rec.message)}`);
  }

  peerUp(peer: PeerInfo): void {
    this.#print(this.#dim(`*** ${clean(peer.username)} joined (${peer.addr}, ${peer.fingerprint})`));
  }

  peerDown(peer: PeerInfo, end: SessionEnd): void {
    this.#print(this.#dim(`*** ${clean(peer.username)} left (${endReason(end)})`));
  }

  warn(err: P2pcatError): void {
    this.#print(this.#paint(33, `! ${err.code}: ${clean(err.message)}`));
  }

  info(text: string): void {
    this.#print(this.#dim(text));
  }

  get blocked(): boolean {
    return false;
  }

  onDrain(): void {
    /* a terminal is never the slow reader we need to pause peers for */
  }

  async close(): Promise<void> {
    this.#rl.close();
  }
}
