// The two faces of a chat command. NdjsonUi: stdin lines are requests,
// stdout is one record per line. ChatView (src/cli/chatview.ts): a human
// terminal with slash commands. Both report the same events.
import type { ChatRecord } from '../chat/record.js';
import type { P2pcatError } from '../errors.js';
import type { AckEvent } from '../mesh/mesh.js';
import type { DmRecord } from '../mesh/dm.js';
import type { PeerInfo, SessionEnd } from '../transport/session.js';
import type { FileRecord, FileSentRecord, OfferInfo, Progress } from '../files/transfers.js';
import { fingerprint, uuidFromPublicKey } from '../crypto/identity.js';
import { fromHex } from '../util.js';

export interface KeyChange {
  /** What was known: a username or an address we dialled. */
  kind: 'name' | 'addr';
  id: string;
  key: string;
  was: string;
  file: string;
}

export interface Ui {
  /** A message to show (received, or our own in the chat view). */
  chat(rec: ChatRecord, own: boolean): void;
  /** A direct message to us (or, in the chat view, one we sent). */
  dm(rec: DmRecord, own: boolean): void;
  /** A member confirmed one of our messages. */
  ack(a: AckEvent): void;
  peerUp(peer: PeerInfo): void;
  peerDown(peer: PeerInfo, end: SessionEnd): void;
  memberUp(m: { key: string; name: string }): void;
  memberDown(m: { key: string; name: string; reason: string }): void;
  /** A file offered to us that waits for /accept or /reject (--accept-files ask: the chat view). */
  fileOffered(o: OfferInfo): void;
  /** A file received, checked and stored (FILE), or confirmed stored by a peer (FILE_SENT). */
  file(rec: FileRecord | FileSentRecord): void;
  /** A transfer moved on (a progress bar on a terminal). */
  fileProgress(p: Progress): void;
  /** Trust on first use: a known username or address shows up with another key. */
  keyChanged(c: KeyChange): void;
  /** A non-fatal error: an ERROR record on stderr, or a line in the chat view. */
  warn(err: P2pcatError, extra?: Record<string, unknown>): void;
  /** Human information (stderr in NDJSON mode). */
  info(text: string): void;
  /** False when stdout is slow: stop reading peers until 'drain'. */
  readonly blocked: boolean;
  onDrain(fn: () => void): void;
  close(): Promise<void>;
}

export function peerRecord(type: 'PEER_UP' | 'PEER_DOWN', peer: PeerInfo, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type,
    timestamp: new Date().toISOString(),
    peer: peer.key,
    username: peer.username,
    uuid: peer.uuid,
    fingerprint: peer.fingerprint,
    addr: peer.addr,
    direction: peer.direction,
    ...extra,
  };
}

export function memberRecord(type: 'MEMBER_UP' | 'MEMBER_DOWN', m: { key: string; name: string }, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const k = fromHex(m.key, 32)!;
  return { type, timestamp: new Date().toISOString(), peer: m.key, username: m.name, uuid: uuidFromPublicKey(k), fingerprint: fingerprint(k), ...extra };
}

export function keyChangedRecord(c: KeyChange): Record<string, unknown> {
  return {
    type: 'KEY_CHANGED',
    timestamp: new Date().toISOString(),
    kind: c.kind,
    [c.kind === 'name' ? 'username' : 'addr']: c.id,
    key: c.key,
    fingerprint: fingerprint(fromHex(c.key, 32)!),
    was: c.was,
    was_fingerprint: fingerprint(fromHex(c.was, 32)!),
  };
}

/** The loud stderr warning, ssh style. */
export function keyChangedText(c: KeyChange): string[] {
  const who = c.kind === 'name' ? `the member called ${JSON.stringify(c.id)}` : `the peer at ${c.id}`;
  return [
    '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
    '@    WARNING: PEER IDENTITY HAS CHANGED!                  @',
    '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
    `${who} now has key ${fingerprint(fromHex(c.key, 32)!)},`,
    `but ${c.file} says it had ${fingerprint(fromHex(c.was, 32)!)}.`,
    'Someone may be impersonating it, or it made a new identity.',
    `If you expected this, delete the line "${c.kind} ${c.id} ${c.was.slice(0, 16)}…" from ${c.file}.`,
  ];
}

export function endReason(end: SessionEnd): string {
  if (end.clean) return 'bye';
  return end.error?.code ?? 'lost';
}
