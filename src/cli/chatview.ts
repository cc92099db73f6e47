// The human face of a chat command, shown when stdin and stdout are both
// terminals and --json is absent: `[14:23:15] bob: hi` lines (coloured when
// the terminal supports it) and slash commands. Incoming lines are printed
// above the prompt without disturbing what is being typed.
import readline from 'node:readline';
import type { ChatRecord } from '../chat/record.js';
import { P2pcatError } from '../errors.js';
import type { AckEvent } from '../mesh/mesh.js';
import type { DmRecord } from '../mesh/dm.js';
import type { PeerInfo, SessionEnd } from '../transport/session.js';
import { describeSelf, type ChatContext } from './run/chat.js';
import { checkUsername } from '../crypto/identity.js';
import { HISTORY_DEFAULT } from '../limits.js';
import { endReason, keyChangedText, type KeyChange, type Ui } from './ui.js';
import { formatSize } from '../files/protocol.js';
import type { FileRecord, FileSentRecord, OfferInfo, Progress } from '../files/transfers.js';

const HELP = [
  '/help           this list',
  '/who            who is in the room (every member heard from, * = connected to you)',
  '/peers          connections: address, direction, key fingerprint, round trip',
  '/msg NAME TEXT  a direct message, sealed for NAME alone (a username or key prefix)',
  '/history [N]    the last N messages from the log (default 20)',
  '/send PATH [TO] offer a file to every neighbour, or to TO (a username or key prefix)',
  '/accept [N]     take file offer N (default: the latest); /reject [N] declines it',
  '/files          file offers waiting for /accept or /reject',
  '/stats          what this peer sent, relayed and dropped',
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
        const names = [`${this.#ctx.username} (you)`, ...this.#ctx.mesh.members().map((m) => `${clean(m.username)}${m.neighbour ? '*' : ''}`)];
        this.#print(this.#dim(`${names.length} in the room: ${names.join(', ')}`));
        break;
      }
      case '/peers': {
        const peers = this.#ctx.mesh.neighbourInfo();
        if (peers.length === 0) this.#print(this.#dim('no peers connected'));
        for (const p of peers) {
          const rtt = p.rttMs === undefined ? '' : `  ${p.rttMs} ms`;
          this.#print(this.#dim(`${p.direction === 'in' ? '<-' : '->'} ${p.addr}  ${clean(p.username)}  ${p.fingerprint}${rtt}${p.eager ? '' : '  (lazy)'}`));
        }
        break;
      }
      case '/msg': {
        const [to, ...words] = rest;
        const body = words.join(' ');
        if (!to || body === '') {
          this.#print(this.#dim('usage: /msg NAME TEXT'));
          break;
        }
        const res = this.#ctx.dm(to, body);
        if (res instanceof P2pcatError) this.warn(res);
        else this.dm(res, true);
        break;
      }
      case '/history': {
        const n = arg === '' ? HISTORY_DEFAULT : Number(arg);
        if (!Number.isInteger(n) || n < 1) {
          this.#print(this.#dim('usage: /history [N]'));
          break;
        }
        void this.#ctx.history(n).then((recs) => {
          if (recs instanceof P2pcatError) return this.warn(recs);
          if (recs.length === 0) this.#print(this.#dim('the log is empty'));
          this.#print(this.#dim(`--- the last ${recs.length} messages from the log ---`));
          for (const r of recs) this.chat(r, r.from === this.#ctx.mesh.selfKey);
          this.#print(this.#dim('--- end of history ---'));
        });
        break;
      }
      case '/stats': {
        const s = this.#ctx.mesh.stats();
        this.#print(this.#dim(`${s.neighbours} neighbours, ${s.members} members; sent ${s.sent.messages} messages (${s.sent.bytes} bytes), relayed ${s.pushed}, duplicates ${s.duplicates}`));
        const drops = Object.entries(s.rejected);
        this.#print(this.#dim(drops.length === 0 ? 'nothing dropped' : `dropped: ${drops.map(([k, v]) => `${v} × ${k}`).join('; ')}`));
        break;
      }
      case '/send': {
        if (!arg) {
          this.#print(this.#dim('usage: /send PATH [TO]'));
          break;
        }
        const err = this.#ctx.sendFile(arg);
        if (err) this.warn(err);
        break;
      }
      case '/accept':
      case '/reject': {
        if (arg && !/^\d+$/.test(arg)) {
          this.#print(this.#dim(`usage: ${cmd} [N]`));
          break;
        }
        const r = this.#ctx.files.decide(arg ? Number(arg) : undefined, cmd === '/accept');
        if (r instanceof P2pcatError) this.warn(r);
        else this.#print(this.#dim(`${cmd === '/accept' ? 'accepted' : 'declined'} ${clean(r.name)} from ${clean(r.username)}`));
        break;
      }
      case '/files': {
        const offers = this.#ctx.files.offers();
        if (offers.length === 0) this.#print(this.#dim('no file offers are waiting'));
        for (const o of offers) this.#print(this.#dim(`${o.n}: ${clean(o.name)} (${formatSize(o.size)}) from ${clean(o.username)}`));
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

  dm(rec: DmRecord, own: boolean): void {
    const who = own ? `you → ${clean(this.#ctx.mesh.members().find((m) => m.key === rec.to)?.username ?? rec.to.slice(0, 8))}` : `${clean(rec.username)} → you`;
    this.#print(`${this.#dim(`[${hhmmss(rec.timestamp)}]`)} ${this.#paint(35, `(direct) ${who}`)}: ${clean(rec.message)}`);
  }

  ack(_a: AckEvent): void {
    /* receipts are for scripts (ACK records); the chat view stays quiet */
  }

  peerUp(peer: PeerInfo): void {
    this.#print(this.#dim(`*** ${clean(peer.username)} joined (${peer.addr}, ${peer.fingerprint})`));
  }

  peerDown(peer: PeerInfo, end: SessionEnd): void {
    this.#print(this.#dim(`*** ${clean(peer.username)} left (${endReason(end)})`));
  }

  memberUp(m: { key: string; name: string }): void {
    if (this.#ctx.mesh.peers.some((p) => p.key === m.key)) return; // said by peerUp already
    this.#print(this.#dim(`*** ${clean(m.name)} is in the room (through the mesh)`));
  }

  memberDown(m: { key: string; name: string; reason: string }): void {
    this.#print(this.#dim(`*** ${clean(m.name)} left the room (${m.reason})`));
  }

  fileOffered(o: OfferInfo): void {
    this.#print(this.#paint(36, `*** ${clean(o.username)} offers ${clean(o.name)} (${formatSize(o.size)}): /accept ${o.n} or /reject ${o.n}`));
  }

  file(rec: FileRecord | FileSentRecord): void {
    if (rec.type === 'FILE') this.#print(this.#dim(`*** received ${clean(rec.name)} (${formatSize(rec.size)}) from ${clean(rec.username)}: ${clean(rec.path)}`));
    else this.#print(this.#dim(`*** ${clean(rec.username)} has ${clean(rec.name)} (${formatSize(rec.size)})`));
  }

  #quarters = new Map<string, number>();

  fileProgress(p: Progress): void {
    // A line at each quarter: the view's lines stay readable.
    const q = p.size === 0 ? 4 : Math.floor((4 * p.done) / p.size);
    if (p.finished) return void this.#quarters.delete(p.id);
    if ((this.#quarters.get(p.id) ?? -1) >= q) return;
    this.#quarters.set(p.id, q);
    this.#print(this.#dim(`    ${clean(p.name)} ${p.direction === 'out' ? '->' : '<-'} ${clean(p.username)}: ${q * 25}% of ${formatSize(p.size)}`));
  }

  keyChanged(c: KeyChange): void {
    for (const line of keyChangedText(c)) this.#print(this.#paint(31, clean(line)));
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
