// The two faces of a chat command. NdjsonUi: stdin lines are requests,
// stdout is one record per line. ChatView (src/cli/chatview.ts): a human
// terminal with slash commands. Both report the same events.
import type { ChatRecord } from '../chat/record.js';
import type { P2pcatError } from '../errors.js';
import type { PeerInfo, SessionEnd } from '../transport/session.js';

export interface Ui {
  /** A message to show (received, or our own in the chat view). */
  chat(rec: ChatRecord, own: boolean): void;
  peerUp(peer: PeerInfo): void;
  peerDown(peer: PeerInfo, end: SessionEnd): void;
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

export function endReason(end: SessionEnd): string {
  if (end.clean) return 'bye';
  return end.error?.code ?? 'lost';
}
