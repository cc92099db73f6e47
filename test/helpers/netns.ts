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

/** Why the lab cannot run here, or false when it can. */
export function labUnavailable(): string | false {
  if (process.platform !== 'linux') return 'the NAT lab needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'the NAT lab needs root (ip netns add)';
  for (const [cmd, pkg] of [
    ['ip', 'iproute2'],
    ['iptables', 'iptables'],
    ['conntrack', 'conntrack'],
    ['tc', 'iproute2'],
  ] as const) {
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
