// The NAT lab: Linux network namespaces made and torn down by the test
// itself (../shared/NATLAB.md has the measured facts this follows).
//
//            ns "net": bridge br0, the "internet" 203.0.113.0/24
//      ┌──────────────┬───────────────┬──────────────────┬─────────────────┐
//   rv 203.0.113.10  pub 203.0.113.20  ra wan 203.0.113.1   rb wan 203.0.113.2
//      203.0.113.11   (no NAT)          │ NAT                  │ NAT
//      (rendezvous,                     lan 10.1.0.1/24        lan 10.2.0.1/24
//       RFC 5780)                       ├ a1 10.1.0.10         └ b1 10.2.0.10
//                                       └ a2 10.1.0.11
//
// Routers drop unsolicited inbound on their WAN side (NATLAB pitfall 1),
// forward, and NAT in one of two modes: 'eim' (MASQUERADE: port-preserving,
// endpoint-independent mapping, address-and-port-dependent filtering) or
// 'random' (MASQUERADE --random-fully: endpoint-dependent mapping,
// "symmetric"). Every address exists only inside these namespaces; the root
// namespace has no link into the lab. Names carry the creating process id,
// so stale labs (from a killed run) are recognised and removed, and two
// test files can run labs side by side.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { BIN } from './paths.js';
import { procOf, tmpHome, type Proc } from './proc.js';

export type Role = 'net' | 'rv' | 'pub' | 'ra' | 'a1' | 'a2' | 'rb' | 'b1';
export type NatMode = 'eim' | 'random';
const ROLES: Role[] = ['net', 'rv', 'pub', 'ra', 'a1', 'a2', 'rb', 'b1'];

export const ADDR = {
  rv: '203.0.113.10',
  rvAlt: '203.0.113.11',
  pub: '203.0.113.20',
  raWan: '203.0.113.1',
  rbWan: '203.0.113.2',
  a1: '10.1.0.10',
  a2: '10.1.0.11',
  b1: '10.2.0.10',
} as const;

const PREFIX = 'p2pl';
let counter = 0;

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Why the lab cannot run here, or false when it can. `lan`: the fault lab (createLan), which needs no conntrack. */
export function labUnavailable(which: 'nat' | 'lan' = 'nat'): string | false {
  if (process.platform !== 'linux') return 'the lab needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'the lab needs root (ip netns add)';
  const tools = [
    ['ip', 'iproute2'],
    ['iptables', 'iptables'],
    ['conntrack', 'conntrack'],
    ['tc', 'iproute2'],
  ] as const;
  for (const [cmd, pkg] of tools.filter(([c]) => which === 'nat' || c !== 'conntrack')) {
    if (!has(cmd)) return `${cmd} is not installed (apt-get install ${pkg})`;
  }
  const probe = `${PREFIX}probe${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', probe]);
  if (r.status !== 0) return `ip netns add failed: ${r.stderr.toString().trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return false;
}

function sh(args: string[], opts: { allowFail?: boolean } = {}): string {
  try {
    return execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).toString();
  } catch (e) {
    if (opts.allowFail) return '';
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`${args.join(' ')}: ${err.stderr?.toString().trim() || err.message}`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killAndDelete(names: string[]): void {
  for (const ns of names) {
    for (const pid of sh(['ip', 'netns', 'pids', ns], { allowFail: true }).split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  for (const ns of names) sh(['ip', 'netns', 'del', ns], { allowFail: true });
}

/** Remove labs whose creating process is gone (a run killed before its teardown). */
export function removeStaleLabs(): void {
  const names = sh(['ip', 'netns', 'list'], { allowFail: true })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(PREFIX));
  const stale = names.filter((n) => {
    const m = /^p2pl(\d+)x/.exec(n) ?? /^p2plprobe(\d+)$/.exec(n);
    return m && !alive(Number(m[1]));
  });
  if (stale.length) killAndDelete(stale);
}

export interface Lab {
  ns: Record<Role, string>;
  /** Run a command inside a namespace and return its stdout (throws on failure). */
  exec(role: Role, args: string[], opts?: { allowFail?: boolean }): string;
  /** Start `p2pcat ARGS` inside a namespace; it is killed at teardown. */
  p2pcat(role: Role, args: string[], opts?: { name?: string; env?: Record<string, string>; home?: string }): Proc;
  /** Start any command inside a namespace, as a Proc; killed at teardown. */
  spawn(role: Role, cmd: string, args: string[], opts?: { env?: Record<string, string> }): Proc;
  setNat(router: 'ra' | 'rb', mode: NatMode): void;
  /**
   * Impair a router's WAN link in both directions: `tc netem` loss and delay
   * when the kernel has sch_netem; otherwise loss through iptables' statistic
   * match on the router's FORWARD chain, and no delay. Says what it applied.
   * Null clears.
   */
  impair(router: 'ra' | 'rb', o: { lossPercent?: number; delayMs?: number } | null): { loss: boolean; delay: boolean };
  teardown(): void;
}

export function createLab(modes: { ra: NatMode; rb: NatMode } = { ra: 'eim', rb: 'eim' }): Lab {
  removeStaleLabs();
  const id = `${PREFIX}${process.pid}x${++counter}`;
  const ns = Object.fromEntries(ROLES.map((r) => [r, `${id}-${r}`])) as Record<Role, string>;
  const procs: Proc[] = [];
  const created: string[] = [];
  const inNs = (role: Role, args: string[], opts?: { allowFail?: boolean }) => sh(['ip', 'netns', 'exec', ns[role], ...args], opts);
  const ipn = (role: Role, args: string[]) => sh(['ip', '-n', ns[role], ...args]);
  const lab: Lab = {
    ns,
    exec: inNs,
    p2pcat(role, args, opts = {}) {
      const env: Record<string, string> = { P2PCAT_HOME: opts.home ?? tmpHome(), ...(opts.env ?? {}) };
      if (opts.name) env.P2PCAT_NAME = opts.name;
      const p = spawnProc('ip', ['netns', 'exec', ns[role], process.execPath, BIN, ...args], env);
      procs.push(p);
      return p;
    },
    spawn(role, cmd, args, opts = {}) {
      const p = spawnProc('ip', ['netns', 'exec', ns[role], cmd, ...args], opts.env ?? {});
      procs.push(p);
      return p;
    },
    setNat(router, mode) {
      inNs(router, ['iptables', '-t', 'nat', '-F', 'POSTROUTING']);
      inNs(router, ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE', ...(mode === 'random' ? ['--random-fully'] : [])]);
      // Changed rules do not re-NAT existing flows (NATLAB pitfall 4).
      inNs(router, ['conntrack', '-F'], { allowFail: true });
    },
    impair(router, o) {
      const peer = router === 'ra' ? 'vra' : 'vrb';
      inNs(router, ['tc', 'qdisc', 'del', 'dev', 'wan', 'root'], { allowFail: true });
      inNs('net', ['tc', 'qdisc', 'del', 'dev', peer, 'root'], { allowFail: true });
      inNs(router, ['iptables', '-F', 'IMPAIR']);
      if (o === null) return { loss: false, delay: false };
      const loss = o.lossPercent ?? 0;
      const delay = o.delayMs ?? 0;
      if (netemAvailable()) {
        const spec = [...(loss ? ['loss', `${loss}%`] : []), ...(delay ? ['delay', `${delay}ms`] : [])];
        // Each direction leaves through one of the two ends of the WAN veth.
        inNs(router, ['tc', 'qdisc', 'replace', 'dev', 'wan', 'root', 'netem', ...spec]);
        inNs('net', ['tc', 'qdisc', 'replace', 'dev', peer, 'root', 'netem', ...spec]);
        return { loss: loss > 0, delay: delay > 0 };
      }
      if (loss) inNs(router, ['iptables', '-A', 'IMPAIR', '-m', 'statistic', '--mode', 'random', '--probability', String(loss / 100), '-j', 'DROP']);
      return { loss: loss > 0, delay: false };
    },
    teardown() {
      for (const p of procs) if (p.exitInfo === undefined) p.child.kill('SIGKILL');
      killAndDelete(created);
    },
  };
  try {
    for (const r of ROLES) {
      sh(['ip', 'netns', 'add', ns[r]]);
      created.push(ns[r]);
      ipn(r, ['link', 'set', 'lo', 'up']);
      for (const k of ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']) {
        inNs(r, ['sysctl', '-qw', k], { allowFail: true });
      }
      // Bridge netfilter would push bridged LAN frames through conntrack (NATLAB pitfall 3).
      inNs(r, ['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0'], { allowFail: true });
    }
    // The "internet": one bridge.
    ipn('net', ['link', 'add', 'br0', 'type', 'bridge']);
    ipn('net', ['link', 'set', 'br0', 'up']);
    const wire = (role: Role, inside: string, addrs: string[]) => {
      ipn('net', ['link', 'add', `v${role}`, 'type', 'veth', 'peer', 'name', inside, 'netns', ns[role]]);
      ipn('net', ['link', 'set', `v${role}`, 'master', 'br0', 'up']);
      for (const a of addrs) ipn(role, ['addr', 'add', a, 'dev', inside]);
      ipn(role, ['link', 'set', inside, 'up']);
    };
    wire('rv', 'eth0', [`${ADDR.rv}/24`, `${ADDR.rvAlt}/24`]);
    wire('pub', 'eth0', [`${ADDR.pub}/24`]);
    wire('ra', 'wan', [`${ADDR.raWan}/24`]);
    wire('rb', 'wan', [`${ADDR.rbWan}/24`]);
    // Private LANs: a bridge in each router, hosts behind it.
    const lan = (router: 'ra' | 'rb', gw: string, hosts: [Role, string][]) => {
      ipn(router, ['link', 'add', 'lan', 'type', 'bridge']);
      ipn(router, ['addr', 'add', `${gw}/24`, 'dev', 'lan']);
      ipn(router, ['link', 'set', 'lan', 'up']);
      for (const [h, a] of hosts) {
        ipn(router, ['link', 'add', `v${h}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns[h]]);
        ipn(router, ['link', 'set', `v${h}`, 'master', 'lan', 'up']);
        ipn(h, ['addr', 'add', `${a}/24`, 'dev', 'eth0']);
        ipn(h, ['link', 'set', 'eth0', 'up']);
        ipn(h, ['route', 'add', 'default', 'via', gw]);
      }
      inNs(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      // Unsolicited inbound on the WAN side is dropped, with no ICMP answer (NATLAB pitfall 1).
      // Packet loss when tc netem is missing (see impair()): every forwarded packet, both directions.
      inNs(router, ['iptables', '-N', 'IMPAIR']);
      inNs(router, ['iptables', '-A', 'FORWARD', '-j', 'IMPAIR']);
      inNs(router, ['iptables', '-A', 'INPUT', '-i', 'wan', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']);
      inNs(router, ['iptables', '-A', 'INPUT', '-i', 'wan', '-j', 'DROP']);
      inNs(router, ['iptables', '-A', 'FORWARD', '-i', 'wan', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']);
      inNs(router, ['iptables', '-A', 'FORWARD', '-i', 'wan', '-j', 'DROP']);
      lab.setNat(router, modes[router]);
    };
    lan('ra', '10.1.0.1', [
      ['a1', ADDR.a1],
      ['a2', ADDR.a2],
    ]);
    lan('rb', '10.2.0.1', [['b1', ADDR.b1]]);
  } catch (e) {
    lab.teardown();
    throw e;
  }
  return lab;
}

let netem: boolean | undefined;
/** Whether this kernel has the netem qdisc (some minimal kernels lack CONFIG_NET_SCH_NETEM). */
export function netemAvailable(): boolean {
  if (netem !== undefined) return netem;
  const probe = `${PREFIX}probe${process.pid}`;
  spawnSync('ip', ['netns', 'add', probe]);
  netem = spawnSync('ip', ['netns', 'exec', probe, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']).status === 0;
  spawnSync('ip', ['netns', 'del', probe]);
  return netem;
}

/** Like test/helpers/proc.ts run(), for an arbitrary command (here: `ip netns exec NS ...`). */
function spawnProc(cmd: string, args: string[], extraEnv: Record<string, string>): Proc {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), ...extraEnv };
  if (!extraEnv.P2PCAT_SECRET) delete env.P2PCAT_SECRET;
  return procOf(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env }));
}

/** Start `p2pcat rendezvous PORT --bind rv --alt-addr rvAlt [--relay]` in the lab and wait until it listens. */
export async function labRendezvous(lab: Lab, port: number, relay = false): Promise<Proc> {
  const rv = lab.p2pcat('rv', ['rendezvous', String(port), '--bind', ADDR.rv, '--alt-addr', ADDR.rvAlt, ...(relay ? ['--relay'] : [])]);
  await rv.waitFor(() => rv.stderr.find((l) => /rendezvous listening on /.test(l)), 'the rendezvous to listen');
  return rv;
}

/** Two `p2pcat punch` peers of one room, on two lab hosts; resolves once both saw PEER_UP. */
export async function punchPair(lab: Lab, a: Role, b: Role, rvPort: number, opts: { room?: string; extra?: string[]; timeoutMs?: number } = {}): Promise<[Proc, Proc]> {
  const args = ['punch', `${ADDR.rv}:${rvPort}`, '--room', opts.room ?? 'ops', '--json', '--wait', '20', ...(opts.extra ?? [])];
  const A = lab.p2pcat(a, args, { name: 'ann' });
  const B = lab.p2pcat(b, args, { name: 'bob' });
  await Promise.all([A.waitRecord((r) => r.type === 'PEER_UP', `PEER_UP on ${a}`, opts.timeoutMs ?? 30_000), B.waitRecord((r) => r.type === 'PEER_UP', `PEER_UP on ${b}`, opts.timeoutMs ?? 30_000)]);
  return [A, B];
}

/**
 * Send about `bytes` of random text from `from` to `to` as chat messages of
 * 40 000 characters each (numbered), and resolve with whether every one
 * arrived exactly once, in order and intact.
 */
export async function chatTransfer(from: Proc, to: Proc, bytes: number, timeoutMs = 60_000): Promise<{ intact: boolean; messages: number; chars: number }> {
  const before = to.records.filter((r) => r.type === 'CHAT').length;
  const n = Math.ceil(bytes / 40_000);
  const tag = crypto.randomBytes(4).toString('hex');
  const sent: string[] = [];
  for (let i = 0; i < n; i++) sent.push(`${tag}/${i}/` + crypto.randomBytes(29_997).toString('base64'));
  for (const m of sent) from.write(JSON.stringify({ message: m }) + '\n');
  await to.waitFor(() => to.records.filter((r) => r.type === 'CHAT').length >= before + n, `${n} transfer messages`, timeoutMs);
  const got = to.records.filter((r) => r.type === 'CHAT').slice(before).map((r) => r.message as string);
  return { intact: got.length === n && got.every((g, i) => g === sent[i]), messages: got.length, chars: got.reduce((s, g) => s + g.length, 0) };
}

// ---------------------------------------------------------------------------
// The fault lab: a plain switched LAN (no NAT) whose links can be cut,
// restored and impaired. For test/e2e/faults.test.ts.
//
//        ns "sw": bridge br0
//      ┌──────────┬──────────┬── ...
//      vh0        vh1        vh2          (switch side of each host's veth)
//      │          │          │
//   h0 eth0    h1 eth0    h2 eth0          10.232.0.1, .2, .3 /24
//
// cut(i) takes the switch side of host i's veth down: the host keeps its
// address and routes, its packets go nowhere and nothing comes back, as with
// a pulled cable (no RST, no ICMP: TCP finds out only through its own
// timeouts and the peers' keep-alives). restore(i) brings it back.
//
// impair(i) on this kernel (no sch_netem, see netemAvailable()):
// - loss: iptables' statistic match drops each packet with probability P on
//   the host's INPUT and OUTPUT, so both directions of its link lose;
// - reordering: an HTB qdisc with a fast default class and a slow one
//   (128 kbit/s, no burst), and a classic-BPF classifier that sends a random
//   share of packets (`ld rand`) to the slow class. A packet there leaves
//   after the ones queued behind it in the fast class: reordered by tens to
//   hundreds of milliseconds. On the host's egress and on the switch side's
//   egress (the traffic towards the host), so both directions reorder.
//   netem, where present, could do the same in one line; this works without.
// Names share the NAT lab's prefix, so removeStaleLabs() cleans up after a
// killed run of either.

export const LAN_SUBNET = '10.232.0';

export interface Lan {
  /** Host namespace names; host i has address addr(i). */
  hosts: string[];
  addr(i: number): string;
  exec(i: number, args: string[], opts?: { allowFail?: boolean }): string;
  /** Start `p2pcat ARGS` on host i; killed at teardown. */
  p2pcat(i: number, args: string[], opts?: { name?: string; env?: Record<string, string>; home?: string }): Proc;
  /** Pull host i's cable. */
  cut(i: number): void;
  /** Plug it back in. */
  restore(i: number): void;
  /**
   * Impair host i's link, both directions: random loss, random reordering,
   * a rate limit (kbit/s, to make a transfer last long enough to cut it).
   * null clears. Says what it applied.
   */
  impair(i: number, o: { lossPercent?: number; reorderPercent?: number; rateKbit?: number } | null): { loss: boolean; reorder: boolean; rate: boolean };
  teardown(): void;
}

/** Classic BPF for cls_bpf: `ld rand; jge #T, nomatch; ret #-1 (the filter's flowid); nomatch: ret #0`. */
function randomShareBpf(share: number): string {
  const threshold = Math.min(0xffffffff, Math.floor(share * 2 ** 32));
  const SKF_AD_RANDOM = (0x100000000 - 0x1000 + 56) >>> 0; // SKF_AD_OFF + SKF_AD_RANDOM
  return `4,32 0 0 ${SKF_AD_RANDOM},53 1 0 ${threshold},6 0 0 4294967295,6 0 0 0`;
}

let reorderOk: boolean | undefined;
/** Whether HTB and the BPF classifier (the reordering above) work in a namespace here. */
export function reorderAvailable(): boolean {
  if (reorderOk !== undefined) return reorderOk;
  const probe = `${PREFIX}probe${process.pid}`;
  spawnSync('ip', ['netns', 'add', probe]);
  reorderOk =
    spawnSync('ip', ['netns', 'exec', probe, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'htb', 'default', '10']).status === 0 &&
    spawnSync('ip', ['netns', 'exec', probe, 'tc', 'class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:20', 'htb', 'rate', '32kbit']).status === 0 &&
    spawnSync('ip', ['netns', 'exec', probe, 'tc', 'filter', 'add', 'dev', 'lo', 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'bpf', 'bytecode', randomShareBpf(0.1), 'flowid', '1:20']).status === 0;
  spawnSync('ip', ['netns', 'del', probe]);
  return reorderOk;
}

export function createLan(n: number): Lan {
  removeStaleLabs();
  const id = `${PREFIX}${process.pid}x${++counter}`;
  const sw = `${id}-sw`;
  const hosts = Array.from({ length: n }, (_, i) => `${id}-h${i}`);
  const procs: Proc[] = [];
  const created: string[] = [];
  const inNs = (ns: string, args: string[], opts?: { allowFail?: boolean }) => sh(['ip', 'netns', 'exec', ns, ...args], opts);
  // One device's egress: a default class (rate-limited or not) and, for
  // reordering, a slow class that a random share of packets is sent to.
  const shapeDev = (ns: string, dev: string, reorderPercent: number, rateKbit: number | undefined) => {
    const rate = rateKbit ? `${rateKbit}kbit` : '1gbit';
    inNs(ns, ['tc', 'qdisc', 'replace', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '10', 'r2q', '100']);
    inNs(ns, ['tc', 'class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', rate, 'ceil', rate]);
    if (!reorderPercent) return;
    inNs(ns, ['tc', 'class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:20', 'htb', 'rate', '128kbit', 'ceil', '128kbit', 'burst', '1b', 'cburst', '1b', 'quantum', '1514']);
    inNs(ns, ['tc', 'filter', 'add', 'dev', dev, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'bpf', 'bytecode', randomShareBpf(reorderPercent / 100), 'flowid', '1:20']);
  };
  const lan: Lan = {
    hosts,
    addr: (i) => `${LAN_SUBNET}.${i + 1}`,
    exec: (i, args, opts) => inNs(hosts[i]!, args, opts),
    p2pcat(i, args, opts = {}) {
      const env: Record<string, string> = { P2PCAT_HOME: opts.home ?? tmpHome(), ...(opts.env ?? {}) };
      if (opts.name) env.P2PCAT_NAME = opts.name;
      const p = spawnProc('ip', ['netns', 'exec', hosts[i]!, process.execPath, BIN, ...args], env);
      procs.push(p);
      return p;
    },
    cut: (i) => void sh(['ip', '-n', sw, 'link', 'set', `vh${i}`, 'down']),
    restore: (i) => void sh(['ip', '-n', sw, 'link', 'set', `vh${i}`, 'up']),
    impair(i, o) {
      const h = hosts[i]!;
      inNs(h, ['iptables', '-F', 'IMPAIR']);
      inNs(h, ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root'], { allowFail: true });
      inNs(sw, ['tc', 'qdisc', 'del', 'dev', `vh${i}`, 'root'], { allowFail: true });
      if (o === null) return { loss: false, reorder: false, rate: false };
      const loss = o.lossPercent ?? 0;
      const reorder = (o.reorderPercent ?? 0) > 0 && reorderAvailable();
      if (loss) inNs(h, ['iptables', '-A', 'IMPAIR', '-m', 'statistic', '--mode', 'random', '--probability', String(loss / 100), '-j', 'DROP']);
      if (reorder || o.rateKbit) {
        shapeDev(h, 'eth0', reorder ? o.reorderPercent! : 0, o.rateKbit);
        shapeDev(sw, `vh${i}`, reorder ? o.reorderPercent! : 0, o.rateKbit);
      }
      return { loss: loss > 0, reorder, rate: !!o.rateKbit };
    },
    teardown() {
      for (const p of procs) if (p.exitInfo === undefined) p.child.kill('SIGKILL');
      killAndDelete(created);
    },
  };
  try {
    for (const ns of [sw, ...hosts]) {
      sh(['ip', 'netns', 'add', ns]);
      created.push(ns);
      sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      for (const k of ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1', 'net.bridge.bridge-nf-call-iptables=0']) {
        inNs(ns, ['sysctl', '-qw', k], { allowFail: true });
      }
    }
    sh(['ip', '-n', sw, 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0']);
    sh(['ip', '-n', sw, 'link', 'set', 'br0', 'up']);
    for (const [i, h] of hosts.entries()) {
      sh(['ip', '-n', sw, 'link', 'add', `vh${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h]);
      sh(['ip', '-n', sw, 'link', 'set', `vh${i}`, 'master', 'br0', 'up']);
      sh(['ip', '-n', h, 'addr', 'add', `${lan.addr(i)}/24`, 'dev', 'eth0']);
      sh(['ip', '-n', h, 'link', 'set', 'eth0', 'up']);
      inNs(h, ['iptables', '-N', 'IMPAIR']);
      inNs(h, ['iptables', '-A', 'INPUT', '-i', 'eth0', '-j', 'IMPAIR']);
      inNs(h, ['iptables', '-A', 'OUTPUT', '-o', 'eth0', '-j', 'IMPAIR']);
    }
  } catch (e) {
    lan.teardown();
    throw e;
  }
  return lan;
}
