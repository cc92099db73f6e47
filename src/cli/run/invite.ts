// `p2pcat invite` (print a join link) and join links as targets of
// `connect` and `listen --peer` (docs/mesh.md, "Join links"): the link's room
// and secret become the session's, its key is pinned on the dialer.
import os from 'node:os';
import { P2pcatError } from '../../errors.js';
import { identityPath } from '../../config/paths.js';
import { loadOrCreateIdentity } from '../../crypto/identity.js';
import { checkRoomName, readSecret } from '../../crypto/room.js';
import { DEFAULT_ROOM } from '../../crypto/labels.js';
import { formatJoinLink, isJoinLink, parseJoinLink } from '../../mesh/link.js';
import { parseTarget } from '../target.js';
import { toHex } from '../../util.js';
import { RecordWriter, say, writeStdoutLine } from '../io.js';
import type { CommonArgs } from '../options.js';
import type { Dialer } from './chat.js';

export interface InviteArgs {
  room?: string | undefined;
  secret?: string | undefined;
  'secret-file'?: string | undefined;
  addr?: string | undefined;
  json?: boolean | undefined;
}

/**
 * Replace every join link among `texts` by its HOST:PORT, taking its room and
 * secret into argv (a different --room, or a secret given another way, is a
 * usage error) and returning the pinned key per target text.
 */
export function takeJoinLinks(argv: CommonArgs, texts: string[]): { texts: string[]; pins: Map<string, string> } {
  const pins = new Map<string, string>();
  const out: string[] = [];
  let linkRoom: string | undefined;
  let linkSecret: string | undefined;
  for (const t of texts) {
    if (!isJoinLink(t)) {
      out.push(t);
      continue;
    }
    const l = parseJoinLink(t);
    out.push(l.text);
    if (l.key) pins.set(l.text, l.key);
    if (l.room !== undefined) {
      if (linkRoom !== undefined && linkRoom !== l.room) throw P2pcatError.usage(`two join links name different rooms (${JSON.stringify(linkRoom)}, ${JSON.stringify(l.room)})`);
      linkRoom = l.room;
    }
    if (l.secret !== undefined) {
      if (linkSecret !== undefined && linkSecret !== l.secret) throw P2pcatError.usage('two join links carry different secrets');
      linkSecret = l.secret;
    }
  }
  if (linkRoom !== undefined) {
    if (argv.room !== undefined && argv.room !== linkRoom) throw P2pcatError.usage(`the join link is for room ${JSON.stringify(linkRoom)} but --room (or the config file) says ${JSON.stringify(argv.room)}`);
    argv.room = linkRoom;
  }
  if (linkSecret !== undefined) {
    if (argv.secret !== undefined || argv['secret-file'] !== undefined) throw P2pcatError.usage('the join link carries the room secret: drop --secret/--secret-file');
    argv.secret = linkSecret;
  }
  return { texts: out, pins };
}

/** Pin the keys of join links on the dialers that reach their addresses. */
export function pinDialers(dialers: Dialer[], pins: Map<string, string>): Dialer[] {
  for (const d of dialers) {
    const key = pins.get(d.text);
    if (key) d.key = key;
  }
  return dialers;
}

/** Dialers for targets given as HOST:PORT or join links (listen --peer). */
export async function targetDialers(argv: CommonArgs, texts: string[]): Promise<Dialer[]> {
  const { tcpDialer } = await import('./chat.js');
  const links = takeJoinLinks(argv, texts);
  return pinDialers(links.texts.map((t) => tcpDialer(parseTarget(t))), links.pins);
}

/** A LAN address of this machine to put in the link when --addr is not given. */
function guessHost(): string {
  const ifs = os.networkInterfaces();
  for (const list of Object.values(ifs)) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export async function runInvite(argv: InviteArgs): Promise<void> {
  const room = checkRoomName(argv.room ?? process.env.P2PCAT_ROOM ?? DEFAULT_ROOM);
  const secretBytes = readSecret({ secretFile: argv['secret-file'], secret: argv.secret });
  let secret: string | undefined;
  if (secretBytes) {
    secret = Buffer.from(secretBytes).toString('utf8');
    if (Buffer.from(secret, 'utf8').compare(Buffer.from(secretBytes)) !== 0) throw P2pcatError.secret('the secret is not UTF-8 text, so it cannot go in a link');
  }
  let host: string;
  let port: number;
  if (argv.addr !== undefined) {
    const t = parseTarget(argv.addr);
    host = t.host;
    port = t.port;
  } else {
    host = guessHost();
    port = 5050;
    say(`no --addr: using ${host}:${port} (check it is where your peer listens)`);
  }
  const { identity, created } = loadOrCreateIdentity(identityPath());
  if (created) say(`created a new identity in ${identityPath()}`);
  const link = formatJoinLink({ host, port, room, secret, key: toHex(identity.publicKey) });
  if (secret !== undefined) say('warning: this link contains the room secret: whoever sees it can join the room and read it. Send it privately.');
  if (argv.json) {
    const w = new RecordWriter();
    w.write({ type: 'INVITE', link, room, private: secret !== undefined, addr: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`, key: toHex(identity.publicKey) });
    await w.end();
  } else {
    await writeStdoutLine(link);
  }
}
