// The sync property (issue 5, "Proof"): random histories on two or three
// peers, written while partitioned or offline, by clocks that are skewed (and
// collide to the millisecond, which exercises id-prefix range bounds); after
// pairwise syncs every log holds the union, exactly once. First in process
// over in-memory stores, then a smaller run over real ChatLog files
// (LogStore), where "exactly once" is checked on the file's raw records.
import t from 'tap';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChatRecord } from '../../src/chat/record.js';
import { ChatLog, readLog } from '../../src/store/log.js';
import { MemoryStore } from '../../src/sync/memstore.js';
import { LogStore } from '../../src/sync/logstore.js';
import type { SyncStore } from '../../src/sync/engine.js';
import crypto from 'node:crypto';
import { ROOM, T0, chat, syncPair } from './helpers.js';

type Ev = { kind: 'write'; peer: number; n: number } | { kind: 'sync'; a: number; b: number; mode: 'both' | 'pull' | 'push' } | { kind: 'tick'; ms: number };

const SKEWS = [0, 0, 1, -1, 999, -86_400_000, 3_600_000, 172_800_000];

function arbRun(peers: number, maxEvents: number) {
  const peer = fc.nat(peers - 1);
  const ev: fc.Arbitrary<Ev> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('write' as const), peer, n: fc.integer({ min: 1, max: 4 }) }) },
    // A long offline stretch: enough records that ranges are split by fingerprints, not only listed.
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('write' as const), peer, n: fc.integer({ min: 30, max: 120 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('sync' as const), a: peer, b: peer, mode: fc.constantFrom('both' as const, 'both' as const, 'pull' as const, 'push' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.constantFrom(0, 1, 1000, 60_000) }) },
  );
  return fc.record({ skew: fc.array(fc.constantFrom(...SKEWS), { minLength: peers, maxLength: peers }), events: fc.array(ev, { maxLength: maxEvents }) });
}

interface Peer {
  store: SyncStore;
  ids(): Promise<string[]>;
}

/** Play a run: writes, syncs (a pair syncs only when both are "up": a partition is simply the absence of a sync). */
async function play(peers: Peer[], run: { skew: number[]; events: Ev[] }, write: (p: number, recs: ChatRecord[]) => Promise<void>): Promise<Set<string>> {
  let now = T0;
  let n = 0;
  const union = new Set<string>();
  for (const e of run.events) {
    if (e.kind === 'tick') now += e.ms;
    else if (e.kind === 'write') {
      // Each peer writes with its own (skewed) clock; the ms can collide with another peer's.
      const recs = Array.from({ length: e.n }, () => chat(e.peer + n, now + run.skew[e.peer]!, `w${n++}`));
      for (const r of recs) union.add(r.msg_id);
      await write(e.peer, recs);
    } else if (e.a !== e.b) {
      await syncPair(peers[e.a]!.store, peers[e.b]!.store, { pull: e.mode !== 'push', push: e.mode !== 'pull' });
      if (e.mode === 'both') {
        const [x, y] = [await peers[e.a]!.ids(), await peers[e.b]!.ids()];
        if (x.join() !== y.join()) throw new Error(`after a two-way sync, ${e.a} and ${e.b} differ`);
      }
    }
  }
  // Finally everybody meets everybody once, in a chain and back.
  for (let i = 0; i + 1 < peers.length; i++) await syncPair(peers[i]!.store, peers[i + 1]!.store);
  for (let i = peers.length - 1; i > 0; i--) await syncPair(peers[i]!.store, peers[i - 1]!.store);
  return union;
}

t.test('in memory: two or three peers end with the union, exactly once', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 2, max: 3 }).chain((p) => arbRun(p, 30)), async (run) => {
      const stores = run.skew.map(() => new MemoryStore(ROOM));
      const peers: Peer[] = stores.map((s) => ({ store: s, ids: async () => s.records.map((r) => r.msg_id).sort() }));
      const union = await play(peers, run, async (p, recs) => stores[p]!.write(recs));
      for (const s of stores) {
        const got = s.records.map((r) => r.msg_id);
        if (got.length !== union.size || new Set(got).size !== union.size || !got.every((id) => union.has(id))) return false;
      }
      return true;
    }),
    { numRuns: 80 },
  );
});

t.test('over real ChatLog files: the union, exactly once in each file', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-sync-prop-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const seed = new Uint8Array(crypto.createHash('sha256').update('p2pcat sync test owner').digest());
  let k = 0;
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 2, max: 3 }).chain((p) => arbRun(p, 14)), async (run) => {
      const logs: ChatLog[] = [];
      const peers: Peer[] = [];
      for (let i = 0; i < run.skew.length; i++) {
        const file = path.join(dir, `r${k}-p${i}.p2plog`);
        // Small seal and rewrite thresholds: the index follows sealed blocks and rewritten files too.
        const log = await ChatLog.open(file, seed, { onWarning: () => undefined, sealAfterFrames: 3, vacuumMinDeadBytes: i % 2 ? 1 : Infinity });
        logs.push(log);
        const store = new LogStore({ file, seed, room: ROOM, log });
        const ids = async () => {
          const s = await store.snapshot();
          try {
            return Array.from({ length: s.items.count }, (_, j) => Buffer.from(s.items.id(j)).toString('hex')).sort();
          } finally {
            s.release();
          }
        };
        peers.push({ store, ids });
      }
      k++;
      try {
        const union = await play(peers, run, async (p, recs) => void (await logs[p]!.append(recs)));
        for (const log of logs) {
          const raw: string[] = [];
          for await (const batch of readLog(log.file, seed)) for (const s of batch) raw.push(s.record.msg_id);
          if (raw.length !== union.size || new Set(raw).size !== union.size || !raw.every((id) => union.has(id))) return false;
        }
        return true;
      } finally {
        for (const l of logs) await l.close();
        for (const p of peers) (p.store as LogStore).close();
      }
    }),
    { numRuns: 10 },
  );
});
