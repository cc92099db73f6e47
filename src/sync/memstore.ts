// A SyncStore held in memory (src/sync/engine.ts): the store of the
// in-process property tests and of benchmarks that need no files. Records
// are kept as given; the item set is rebuilt incrementally (merge) when
// records were added since the last snapshot. No I/O.
import type { ChatRecord } from '../chat/record.js';
import type { Snapshot, SyncStore } from './engine.js';
import { itemTimestamp } from './engine.js';
import { ItemBuilder, ItemSet } from './items.js';
import { encodeRecord } from './wire.js';

export class MemoryStore implements SyncStore {
  readonly room: string;
  readonly records: ChatRecord[] = [];
  #ids = new Set<string>();
  #items = ItemSet.empty();
  #merged = 0;

  constructor(room: string, records: Iterable<ChatRecord> = []) {
    this.room = room;
    for (const r of records) this.#put(r);
  }

  has(msgId: string): boolean {
    return this.#ids.has(msgId);
  }

  get size(): number {
    return this.records.length;
  }

  #put(r: ChatRecord): boolean {
    if (this.#ids.has(r.msg_id)) return false;
    this.#ids.add(r.msg_id);
    this.records.push(r);
    return true;
  }

  /** Add records without checking them (test set-up: what a peer wrote itself). */
  write(records: Iterable<ChatRecord>): void {
    for (const r of records) this.#put(r);
  }

  async snapshot(): Promise<Snapshot> {
    if (this.#merged < this.records.length) {
      const b = new ItemBuilder();
      for (let i = this.#merged; i < this.records.length; i++) {
        const r = this.records[i]!;
        b.push(itemTimestamp(r), Buffer.from(r.msg_id, 'hex'), 0, i);
      }
      this.#items = this.#items.merge(b.build());
      this.#merged = this.records.length;
    }
    const items = this.#items;
    return {
      items,
      read: async (indices) => indices.map((i) => encodeRecord(this.records[items.loc[i]!]!)),
      release: () => undefined,
    };
  }

  async add(records: readonly ChatRecord[]): Promise<boolean[]> {
    return records.map((r) => this.#put(r));
  }
}
