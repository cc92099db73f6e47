// NDJSON face of a chat command: records on stdout, ERROR records on stderr.
import type { ChatRecord } from '../chat/record.js';
import type { P2pcatError } from '../errors.js';
import type { AckEvent } from '../mesh/mesh.js';
import type { DmRecord } from '../mesh/dm.js';
import type { PeerInfo, SessionEnd } from '../transport/session.js';
import type { Writable } from 'node:stream';
import type { FileRecord, FileSentRecord, OfferInfo, Progress } from '../files/transfers.js';
import { RecordWriter, say, warnRecord } from './io.js';
import { FileProgressLine } from './progress.js';
import { endReason, keyChangedRecord, keyChangedText, memberRecord, peerRecord, type KeyChange, type Ui } from './ui.js';

export class NdjsonUi implements Ui {
  #out: RecordWriter;
  #progress = new FileProgressLine(process.stderr.isTTY === true);

  /** Records go to `out`: stdout, or the stdin of an --exec program. */
  constructor(out?: Writable) {
    this.#out = new RecordWriter(out);
  }

  chat(rec: ChatRecord, own: boolean): void {
    if (own) return; // like nc, what you send is not echoed back to you
    this.#out.write(rec);
  }

  dm(rec: DmRecord, own: boolean): void {
    if (own) return;
    this.#out.write(rec);
  }

  ack(a: AckEvent): void {
    this.#out.write({ type: 'ACK', msg_id: a.msg_id, by: a.by, username: a.username, ...(a.dm ? { dm: true } : {}) });
  }

  peerUp(peer: PeerInfo): void {
    this.#out.write(peerRecord('PEER_UP', peer));
  }

  peerDown(peer: PeerInfo, end: SessionEnd): void {
    this.#out.write(peerRecord('PEER_DOWN', peer, { reason: endReason(end) }));
  }

  memberUp(m: { key: string; name: string }): void {
    this.#out.write(memberRecord('MEMBER_UP', m));
  }

  memberDown(m: { key: string; name: string; reason: string }): void {
    this.#out.write(memberRecord('MEMBER_DOWN', m, { reason: m.reason }));
  }

  fileOffered(o: OfferInfo): void {
    const { n: _n, ...rest } = o;
    this.#out.write({ type: 'FILE_OFFER', timestamp: new Date().toISOString(), ...rest });
  }

  file(rec: FileRecord | FileSentRecord): void {
    this.#out.write(rec);
  }

  fileProgress(p: Progress): void {
    this.#progress.update(p);
  }

  keyChanged(c: KeyChange): void {
    for (const line of keyChangedText(c)) process.stderr.write(`p2pcat: ${line}\n`);
    this.#out.write(keyChangedRecord(c));
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
