// A small LAN made of Linux network namespaces, for discovery tests that need
// real multicast and broadcast (the host's loopback has neither). One
// "switch" namespace holds a bridge; each host namespace has a veth to it
// and an address 10.231.0.<i>/24 plus a default route through it (mDNS
// senders need a route for 224.0.0.251). Names are unique per run, nothing
// touches the root namespace, and close() (also run on process exit) kills
// what runs inside and deletes every namespace. NATLAB.md pitfalls applied:
// IPv6 off, bridge netfilter off, forward delay 0, multicast snooping off.
//
// Also: nsRun() (like helpers/proc.ts run(), inside a namespace) and an
// avahi-daemon with its own D-Bus for outside-truth mDNS.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN } from '../helpers/paths.js';
import { procOf, tmpHome, type Proc } from '../helpers/proc.js';

export const SUBNET = '10.231.0';

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function tryRun(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

/** Why namespace tests cannot run here, or undefined when they can. */
export function labSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'network namespaces need root';
  if (!tryRun('ip', ['-V'])) return '`ip` (iproute2) is not installed';
  const probe = `p2dprobe${crypto.randomBytes(3).toString('hex')}`;
  if (!tryRun('ip', ['netns', 'add', probe])) return '`ip netns add` failed here (no CAP_SYS_ADMIN?)';
  tryRun('ip', ['netns', 'del', probe]);
  return undefined;
}

export function avahiSkipReason(): string | undefined {
  for (const b of ['avahi-daemon', 'avahi-browse', 'avahi-publish', 'dbus-daemon']) {
    if (spawnSync('sh', ['-c', `command -v ${b}`], { stdio: 'ignore' }).status !== 0) return `${b} is not installed (apt-get install avahi-daemon avahi-utils dbus)`;
  }
  return undefined;
}

export interface Lab {
  id: string;
  /** Host namespace names, index 0 = host 1. */
  hosts: string[];
  /** IPv4 address of host i (0-based). */
  addr(i: number): string;
  close(): void;
}

const open = new Set<Lab>();
process.on('exit', () => {
  for (const l of open) l.close();
});

export function makeLan(n: number): Lab {
  const id = `p2d${crypto.randomBytes(3).toString('hex')}`;
  const sw = `${id}sw`;
  const hosts = Array.from({ length: n }, (_, i) => `${id}h${i + 1}`);
  const made: string[] = [];
  const lab: Lab = {
    id,
    hosts,
    addr: (i) => `${SUBNET}.${i + 1}`,
    close() {
      if (!open.has(lab)) return;
      open.delete(lab);
      for (const ns of [...made].reverse()) {
        const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout?.split(/\s+/).filter(Boolean) ?? [];
        for (const p of pids) {
          try {
            process.kill(Number(p), 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      }
      for (const ns of made) tryRun('ip', ['netns', 'del', ns]);
    },
  };
  open.add(lab);
  try {
    ip(['netns', 'add', sw]);
    made.push(sw);
    ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'mcast_snooping', '0']);
    ip(['-n', sw, 'link', 'set', 'br0', 'up']);
    tryRun('ip', ['netns', 'exec', sw, 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0']);
    for (const [i, ns] of hosts.entries()) {
      ip(['netns', 'add', ns]);
      made.push(ns);
      tryRun('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
      tryRun('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
      const h = `${id}v${i + 1}`;
      const s = `${id}s${i + 1}`;
      ip(['link', 'add', h, 'netns', ns, 'type', 'veth', 'peer', 'name', s, 'netns', sw]);
      ip(['-n', sw, 'link', 'set', s, 'master', 'br0', 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      ip(['-n', ns, 'addr', 'add', `${lab.addr(i)}/24`, 'dev', h]);
      ip(['-n', ns, 'link', 'set', h, 'up']);
      ip(['-n', ns, 'route', 'add', 'default', 'dev', h]);
    }
  } catch (e) {
    lab.close();
    throw e;
  }
  return lab;
}

// The discovery tests use the shared child-process wrapper and waits.
export { procOf, exitOf, reap, type Proc } from '../helpers/proc.js';

function envFor(home?: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), P2PCAT_HOME: home ?? tmpHome(), ...extra };
  if (!extra.P2PCAT_SECRET) delete env.P2PCAT_SECRET;
  return env;
}

/** Run the p2pcat binary inside a namespace. */
export function nsRun(ns: string, args: string[], opts: { home?: string; env?: Record<string, string>; stdin?: 'pipe' | 'ignore' } = {}): Proc {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, BIN, ...args], { stdio: [opts.stdin ?? 'pipe', 'pipe', 'pipe'], env: envFor(opts.home, opts.env) });
  return procOf(child);
}

/** Run a shell script inside a namespace; $P2PCAT is the p2pcat command. */
export function nsSh(ns: string, script: string, opts: { env?: Record<string, string> } = {}): Proc {
  const child = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', script], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: envFor(undefined, { P2PCAT: `${process.execPath} ${BIN}`, ...(opts.env ?? {}) }),
  });
  return procOf(child);
}

/** `p2pcat listen --announce ...` in a namespace; resolves once it listens. */
export async function nsListen(ns: string, args: string[], opts: Parameters<typeof nsRun>[2] = {}): Promise<Proc & { port: number }> {
  const p = nsRun(ns, ['listen', '0', '--json', ...args], opts);
  const line = await p.waitFor(() => p.stderr.find((l) => /listening on /.test(l)), 'the listening line');
  return Object.assign(p, { port: Number(/:(\d+) /.exec(line)![1]) });
}

export interface Avahi {
  /** Environment for avahi-browse / avahi-publish (their D-Bus). */
  env: Record<string, string>;
  daemon: Proc;
  close(): void;
}

/**
 * avahi-daemon inside namespace `ns`, with a private D-Bus system bus (a
 * socket under a temporary directory) and a private /run/avahi-daemon (its
 * pid file), so it touches nothing of the host.
 */
export async function startAvahi(ns: string, iface: string): Promise<Avahi> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pcat-avahi-'));
  const bus = path.join(dir, 'bus');
  fs.writeFileSync(
    path.join(dir, 'bus.conf'),
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${bus}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`,
  );
  fs.writeFileSync(
    path.join(dir, 'avahi.conf'),
    `[server]
host-name=${ns}
use-ipv4=yes
use-ipv6=no
allow-interfaces=${iface}
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
`,
  );
  const env = { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${bus}` };
  const dbus = procOf(spawn('dbus-daemon', [`--config-file=${path.join(dir, 'bus.conf')}`, '--nofork', '--print-address'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await dbus.waitFor(() => dbus.stdout.length > 0 || fs.existsSync(bus), 'dbus-daemon to start', 5_000);
  const daemon = procOf(
    spawn('ip', ['netns', 'exec', ns, 'sh', '-c', `mkdir -p /run/avahi-daemon && mount -t tmpfs tmpfs /run/avahi-daemon && exec avahi-daemon -f ${path.join(dir, 'avahi.conf')} --no-drop-root --no-chroot --no-rlimits --no-proc-title`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...(process.env as Record<string, string>), ...env },
    }),
  );
  const cleanup = () => {
    daemon.kill('SIGKILL');
    dbus.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await daemon.waitFor(() => daemon.stderr.some((l) => /Server startup complete/.test(l)) || daemon.exitInfo, 'avahi-daemon to start', 10_000);
    if (daemon.exitInfo) throw new Error(`avahi-daemon did not start:\n${daemon.stderr.join('\n')}`);
  } catch (e) {
    cleanup();
    throw e;
  }
  return {
    env,
    daemon,
    close: cleanup,
  };
}
