// The SyncStore of a real log (src/sync/engine.ts over src/store): items
// come from a scan of the encrypted log file (src/store/itemscan.ts: every
// verified record of the room, its timestamp, msg_id and frame), records are
// read back frame by frame, new records are appended through the ChatLog
// writer (its lock, its msg_id dedupe, its fsync policy; docs/log-format.md).
//
// The item set is kept between syncs: each snapshot first takes in the
// frames appended since the last look (by this process or any other writer),
// and rebuilds from scratch only when the file was rewritten (new inode) or
// shrank. A snapshot holds the file descriptor it was read from, so a rewrite
// (which renames a new file into place) never moves records under it.
import fs from 'node:fs';
import type { ChatRecord } from '../chat/record.js';
import { P2pcatError, isP2pcatError } from '../errors.js';
import { FILE_TYPE, HEADER_BYTES } from '../store/format.js';
import { closeContainer, openContainer, describeProblem, type ChatLog, type Container } from '../store/log.js';
import { pickRecords, readPayloadAt, scanItems } from '../store/itemscan.js';
import type { Snapshot, SyncStore } from './engine.js';
import { ID_BYTES, ItemBuilder, ItemSet } from './items.js';

export interface LogStoreOptions {
  /** The log file. */
  file: string;
  /** The identity seed that opens it. */
  seed: Uint8Array;
  room: string;
  /** The writer new records go through: an open ChatLog, or a function that opens one on first use (a sync with nothing new never opens the writer). */
  log: ChatLog | (() => Promise<ChatLog>);
  /** Damage found while scanning, one line each. */
  onWarning?: (msg: string) => void;
}

/** An open file and the snapshots that still read from it. */
interface FileRef {
  c: Container;
  refs: number;
  current: boolean;
}

interface Gen {
  file: FileRef | undefined;
  items: ItemSet;
  /** Where the next scan of new frames starts. */
  end: number;
}

/** Decrypted frames kept for reading records back (a get asks for records that often share a frame). */
const FRAME_CACHE = 8;

export class LogStore implements SyncStore {
  readonly room: string;
  readonly file: string;
  #seed: Uint8Array;
  #log: ChatLog | undefined;
  #openLog: (() => Promise<ChatLog>) | undefined;
  #opening: Promise<ChatLog> | undefined;
  #warn: (msg: string) => void;
  #gen: Gen = { file: undefined, items: ItemSet.empty(), end: HEADER_BYTES };
  #serial: Promise<unknown> = Promise.resolve();
  #cache = new Map<string, Buffer>();

  constructor(o: LogStoreOptions) {
    this.room = o.room;
    this.file = o.file;
    this.#seed = o.seed;
    if (typeof o.log === 'function') this.#openLog = o.log;
    else this.#log = o.log;
    this.#warn = o.onWarning ?? (() => undefined);
  }

  /** Items known right now (as of the last snapshot). */
  get size(): number {
    return this.#gen.items.count;
  }

  /** A snapshot of the log's items, after taking in what was appended since the last one. */
  snapshot(): Promise<Snapshot> {
    const p = this.#serial.then(() => this.#refresh());
    this.#serial = p.catch(() => undefined);
    return p.then(() => this.#snap(this.#gen));
  }

  async add(records: readonly ChatRecord[]): Promise<boolean[]> {
    if (records.length === 0) return [];
    const log = await this.#writer();
    // One append per record (so each says whether it was new); they are written together (group commit).
    const res = await Promise.all(records.map((r) => log.append([r], { checked: true })));
    return res.map((r) => r.appended === 1);
  }

  /** Close the file descriptors of the item index (not the ChatLog: its owner closes it). */
  close(): void {
    const f = this.#gen.file;
    if (f) {
      f.current = false;
      if (f.refs === 0) closeContainer(f.c);
    }
    this.#gen = { file: undefined, items: ItemSet.empty(), end: HEADER_BYTES };
    this.#cache.clear();
  }

  /** The ChatLog, if it was opened through this store (the caller closes it). */
  get openedLog(): ChatLog | undefined {
    return this.#openLog ? this.#log : undefined;
  }

  #writer(): Promise<ChatLog> {
    if (this.#log) return Promise.resolve(this.#log);
    this.#opening ??= this.#openLog!().then((l) => (this.#log = l));
    return this.#opening;
  }

  #snap(gen: Gen): Snapshot {
    if (gen.file) gen.file.refs++;
    let released = false;
    return {
      items: gen.items,
      read: async (indices) => this.#read(gen, indices),
      release: () => {
        if (released || !gen.file) return;
        released = true;
        if (--gen.file.refs === 0 && !gen.file.current) closeContainer(gen.file.c);
      },
    };
  }

  async #refresh(): Promise<void> {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // no log yet: nothing to offer
      throw P2pcatError.io(`cannot read the log ${this.file}: ${(e as Error).message}`, e);
    }
    const g = this.#gen;
    const same = g.file && g.file.c.ino === st.ino && g.file.c.dev === st.dev && st.size >= g.end;
    if (same) {
      if (st.size === g.end) return;
      const more = this.#scan(g.file!.c, g.end);
      this.#gen = { file: g.file, items: g.items.merge(more.items), end: more.end };
      return;
    }
    // First look, or the file was rewritten (compacted) or cut: read it all again.
    const c = await openContainer(this.file, FILE_TYPE.LOG, () => this.#seed);
    let scanned;
    try {
      scanned = this.#scan(c, HEADER_BYTES);
    } catch (e) {
      closeContainer(c);
      throw e;
    }
    if (g.file) {
      g.file.current = false;
      if (g.file.refs === 0) closeContainer(g.file.c);
    }
    this.#cache.clear();
    this.#gen = { file: { c, refs: 0, current: true }, items: scanned.items, end: scanned.end };
  }

  #scan(c: Container, from: number): { items: ItemSet; end: number } {
    const b = new ItemBuilder();
    const problems: string[] = [];
    const v = scanItems(c, this.room, (ts, id, off, frame) => b.push(ts, id, off, frame), {
      from,
      onProblem: (p) => {
        if (p.kind !== 'torn-tail' && !p.superseded) problems.push(describeProblem(p));
      },
    });
    if (problems.length > 0) this.#warn(`${this.file}: ${problems.length} damaged range(s) skipped by sync, first: ${problems[0]}; run: p2pcat log verify --log ${this.file}`);
    return { items: b.build(), end: v.end };
  }

  async #read(gen: Gen, indices: readonly number[]): Promise<Uint8Array[]> {
    const f = gen.file;
    if (!f || indices.length === 0) return [];
    const byFrame = new Map<number, Set<string>>();
    for (const i of indices) {
      if (i < 0 || i >= gen.items.count) continue;
      const off = gen.items.loc[i]!;
      let s = byFrame.get(off);
      if (!s) byFrame.set(off, (s = new Set()));
      s.add(Buffer.from(gen.items.id(i)).toString('latin1'));
    }
    const out: Uint8Array[] = [];
    const frames = [...byFrame.keys()].sort((a, b) => a - b);
    for (const off of frames) {
      const want = byFrame.get(off)!;
      const key = `${f.c.ino}:${off}`;
      let payload = this.#cache.get(key);
      if (!payload) {
        try {
          payload = readPayloadAt(f.c, off);
        } catch (e) {
          if (!isP2pcatError(e)) throw e;
        }
        if (!payload) {
          this.#warn(`${this.file}: the frame at offset ${off} no longer authenticates; ${want.size} record(s) in it cannot be sent`);
          continue;
        }
        this.#cache.set(key, payload);
        if (this.#cache.size > FRAME_CACHE) this.#cache.delete(this.#cache.keys().next().value!);
      }
      for (const s of pickRecords(payload, (b, o) => want.delete(Buffer.from(b.buffer, b.byteOffset + o, ID_BYTES).toString('latin1')))) out.push(s);
    }
    return out;
  }
}
