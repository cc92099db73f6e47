// The gossip core over simulated networks (no sockets, no timers): delivery
// exactly once, the hop limit, the per-peer cost bound, and lazy repair.
import t from 'tap';
import fc from 'fast-check';
import { Gossip, gossipConfig, type Out } from '../../src/mesh/gossip.js';

/** A deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random connected graph: a random spanning tree plus `extra` random edges per node. */
function graph(n: number, extra: number, r: () => number): Set<number>[] {
  const adj = Array.from({ length: n }, () => new Set<number>());
  const link = (a: number, b: number) => {
    if (a === b) return;
    adj[a]!.add(b);
    adj[b]!.add(a);
  };
  for (let i = 1; i < n; i++) link(i, Math.floor(r() * i));
  for (let i = 0; i < n; i++) for (let k = 0; k < extra; k++) link(i, Math.floor(r() * n));
  return adj;
}

interface Net {
  nodes: Gossip<number>[];
  delivered: Map<string, number>[];
  sent: number[];
  /** Deliver queued messages until quiet (FIFO: one hop per step). */
  run(now: number): void;
  inject(from: number, outs: Out<number>[]): void;
  heartbeat(now: number): void;
  drop?: (from: number, to: number) => boolean;
}

function network(adj: Set<number>[], pushDegree: number, seed: number, drop?: (from: number, to: number, type: string) => boolean): Net {
  const r = rng(seed);
  const nodes = adj.map(() => new Gossip<number>(gossipConfig(pushDegree), r));
  adj.forEach((ns, i) => ns.forEach((j) => nodes[i]!.addPeer(j)));
  const delivered = adj.map(() => new Map<string, number>());
  const sent = adj.map(() => 0);
  const queue: { from: number; out: Out<number> }[] = [];
  const net: Net = {
    nodes,
    delivered,
    sent,
    inject(from, outs) {
      for (const out of outs) {
        sent[from]!++;
        if (drop?.(from, out.to, out.type)) continue;
        queue.push({ from, out });
      }
    },
    run(now) {
      for (let guard = 0; queue.length > 0 && guard < 10_000_000; guard++) {
        const { from, out } = queue.shift()!;
        const me = out.to;
        const g = nodes[me]!;
        if (out.type === 'IHAVE') net.inject(me, g.onIHave(from, out.body.ids as string[], now));
        else if (out.type === 'IWANT') net.inject(me, g.onIWant(from, out.body.ids as string[]));
        else {
          const id = out.body.id as string;
          if (g.known(id)) {
            g.duplicate(from, id);
            continue;
          }
          delivered[me]!.set(id, (delivered[me]!.get(id) ?? 0) + 1);
          const { ttl, ...body } = out.body;
          net.inject(me, g.accept(from, { id, kind: out.type, body }, ttl as number, now));
        }
      }
    },
    heartbeat(now) {
      nodes.forEach((g, i) => net.inject(i, [...g.heartbeat(now), ...g.lazy()]));
    },
  };
  return net;
}

function publish(net: Net, from: number, id: string, now: number, ttl = 16): void {
  net.inject(from, net.nodes[from]!.publish({ id, kind: 'CHAT', body: { id } }, ttl, now));
}

t.test('every message reaches every peer exactly once (property, random graphs)', async () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 60 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 8 }), fc.integer(), (n, extra, push, seed) => {
      const net = network(graph(n, extra, rng(seed)), push, seed);
      const ids: string[] = [];
      for (let m = 0; m < 5; m++) {
        const id = `m${m}`;
        ids.push(id);
        // A random tree of 60 can be deeper than the default hop limit (16); the
        // hop limit has its own test below, so give these messages hops enough.
        publish(net, Math.abs(seed + m) % n, id, 0, n);
        net.run(0);
      }
      // Lazy repair gets what eager push did not (a heartbeat or three).
      for (let hb = 1; hb <= n + 2; hb++) {
        net.heartbeat(hb * 1000);
        net.run(hb * 1000);
      }
      for (let i = 0; i < n; i++) {
        for (const id of ids) {
          const author = Math.abs(seed + Number(id.slice(1))) % n;
          const got = net.delivered[i]!.get(id) ?? 0;
          if (got !== (i === author ? 0 : 1)) return false;
        }
      }
      return true;
    }),
    { numRuns: 120 },
  );
});

t.test('the hop limit: a line of 6 with ttl 3 reaches 3 hops and no further', async (t) => {
  const adj = Array.from({ length: 6 }, (_, i) => new Set([i - 1, i + 1].filter((j) => j >= 0 && j < 6)));
  const net = network(adj, 5, 1);
  publish(net, 0, 'x', 0, 3);
  net.run(0);
  for (let hb = 1; hb <= 4; hb++) {
    net.heartbeat(hb * 1000);
    net.run(hb * 1000);
  }
  t.same(net.delivered.map((d) => d.get('x') ?? 0), [0, 1, 1, 1, 0, 0]);
});

t.test('per-peer cost is bounded by the degree, not the room size; flooding a full mesh is not', async (t) => {
  const cost = (n: number, full: boolean) => {
    const r = rng(n);
    const adj = full ? Array.from({ length: n }, (_, i) => new Set([...Array(n).keys()].filter((j) => j !== i))) : graph(n, 2, r);
    const net = network(adj, full ? 0 : 5, n);
    for (let m = 0; m < 20; m++) {
      publish(net, m % n, `m${m}`, 0);
      net.run(0);
    }
    for (let hb = 1; hb <= 4; hb++) {
      net.heartbeat(hb * 1000);
      net.run(hb * 1000);
    }
    for (const d of net.delivered.slice(1)) if ((d.size ?? 0) < 19) throw new Error('not delivered');
    const full_copies = net.nodes.reduce((a, g) => a + g.stats.pushed + g.stats.served, 0);
    return full_copies / n / 20;
  };
  const g50 = cost(50, false);
  const g200 = cost(200, false);
  const f50 = cost(50, true);
  t.ok(g200 < g50 * 1.5, `gossip: ${g50.toFixed(2)} copies per peer per message at 50, ${g200.toFixed(2)} at 200`);
  t.ok(g200 < 9, 'at most about the push degree (+1 for the author) copies per peer');
  t.ok(f50 > 40, `flooding a full mesh of 50: ${f50.toFixed(1)} copies per peer per message`);
});

t.test('lazy repair: with a push degree of 1, most peers get messages by IHAVE/IWANT, each once', async (t) => {
  const adj = graph(40, 3, rng(7));
  const net = network(adj, 1, 7);
  publish(net, 0, 'z', 0);
  // The author floods its own message to its neighbours; take one relay step away from it.
  net.run(0);
  const eager = net.delivered.filter((d) => d.has('z')).length;
  for (let hb = 1; hb <= 40; hb++) {
    net.heartbeat(hb * 1000);
    net.run(hb * 1000);
  }
  const after = net.delivered.filter((d) => d.get('z') === 1).length;
  t.ok(eager < 39, `eager push alone reached ${eager} of 39`);
  t.equal(after, 39, 'after lazy repair every peer has it exactly once');
  t.ok(net.nodes.some((g) => g.stats.iwantIds > 0), 'IWANT was used');
});

t.test('an IWANT left unanswered (the neighbour died) is asked of the next one that advertised the id', async (t) => {
  const g = new Gossip<string>(gossipConfig(5), rng(1));
  g.addPeer('x');
  g.addPeer('z');
  const id = 'ef'.repeat(32);
  t.same(g.onIHave('x', [id], 0), [{ to: 'x', type: 'IWANT', body: { ids: [id] } }]);
  t.same(g.onIHave('z', [id], 10), [], 'already asked x');
  g.removePeer('x');
  t.same(g.heartbeat(1000), [], 'not yet timed out');
  t.same(g.heartbeat(3500), [{ to: 'z', type: 'IWANT', body: { ids: [id] } }], 'asks z after the timeout');
  g.accept('z', { id, kind: 'CHAT', body: {} }, 5, 3600);
  t.same(g.heartbeat(10_000), [], 'got it: nothing pending');
});

t.test('eager set bounds, IHAVE/IWANT bounds, and ttl caps', async (t) => {
  const g = new Gossip<number>(gossipConfig(3), rng(3));
  for (let p = 0; p < 20; p++) g.addPeer(p);
  g.heartbeat(0);
  t.ok(g.eagerCount >= 3 && g.eagerCount <= gossipConfig(3).pushHigh, `eager set ${g.eagerCount}`);
  const outs = g.accept(0, { id: 'a', kind: 'CHAT', body: {} }, 1000, 0);
  t.ok(outs.every((o) => o.body.ttl === gossipConfig(3).ttlMax - 1), 'a huge ttl is capped');
  t.ok(outs.length <= 3, 'pushed to the eager set only');
  t.same(g.accept(1, { id: 'b', kind: 'CHAT', body: {} }, 1, 0), [], 'ttl 1: delivered, not forwarded');
  t.same(g.onIWant(2, ['b']), [], 'and not served either');
  const many = Array.from({ length: 1000 }, (_, i) => i.toString(16).padStart(64, '0'));
  const want = g.onIHave(5, many, 0);
  t.equal((want[0]!.body.ids as string[]).length, gossipConfig(3).iwantMaxIds, 'IWANT is bounded');
  t.ok(want.every((o) => o.type === 'IWANT' && (o.body.ids as string[]).length <= gossipConfig(3).iwantMaxIds), 'every IWANT is bounded');
  t.same(want.flatMap((o) => o.body.ids as string[]), many, 'but every id lacked is asked for, in several IWANTs (none dropped past the first 128)');
  t.same(g.onIHave(6, many.slice(0, 10), 1), [], 'ids just asked for are not asked again at once');
  t.equal((g.onIHave(6, many.slice(0, 10), 10_000)[0]!.body.ids as string[]).length, 10, 'but are after the IWANT timeout');
});
