// NDJSON face of a chat command: records on stdout, ERROR records on stderr.
import type { ChatRecord } from '../chat/record.js';
import type { P2pcatError } from '../errors.js';
import type { PeerInfo, SessionEnd } from '../transport/session.js';
import { RecordWriter, say, warnRecord } from './io.js';
import { endReason, peerRecord, type Ui } from './ui.js';

export class NdjsonUi implements Ui {
  #out = new RecordWriter();

  chat(rec: ChatRecord, own: boolean): void {
    if (own) return; // like nc, what you send is not echoed back to you
    this.#out.write(rec);
  }

  peerUp(peer: PeerInfo): void {
    this.#out.write(peerRecord('PEER_UP', peer));
  }

  peerDown(peer: PeerInfo, end: SessionEnd): void {
    this.#out.write(peerRecord('PEER_DOWN', peer, { reason: endReason(end) }));
  }

  warn(err: P2pcatError, extra: Record<string, unknown> = {}): void {
    warnRecord(err, extra);
  }

  info(text: string): void {
    say(text);
  }

  get blocked(): boolean {
    return this.#out.blocked;
  }

  onDrain(fn: () => void): void {
    this.#out.on('drain', fn);
  }

  close(): Promise<void> {
    return this.#out.end();
  }
}
