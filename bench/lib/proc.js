// Child processes for the benchmarks: every child runs in its own process
// group (detached), is tracked until it exits, and is killed with its group
// when the run ends, whatever way it ends (killAll() on exit, on SIGINT and
// SIGTERM, and from run.js's watchdog). Every wait takes a timeout.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

const live = new Set();

/** Quote one argument the way a POSIX shell would need it (for command lines in the report). */
export function shq(s) {
  const str = String(s);
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(str) ? str : `'${str.replace(/'/g, `'\\''`)}'`;
}

/** A command line as one copy-pasteable string, with the environment variables that matter. */
export function cmdline(cmd, args, envShown = {}) {
  const env = Object.entries(envShown).map(([k, v]) => `${k}=${shq(v)}`);
  return [...env, cmd, ...args].map((x, i) => (i < env.length ? x : shq(x))).join(' ');
}

/** Splits a readable stream into lines; listeners see each line with its arrival time. */
export class LineTap {
  #partial = '';
  #listeners = new Set();
  #tail = [];
  #rawSinks = new Set();

  constructor(stream) {
    this.stream = stream;
    stream.setEncoding('latin1');
    stream.on('data', (s) => this.#onData(s));
  }

  #onData(s) {
    const t = performance.now();
    for (const sink of this.#rawSinks) sink(s, t);
    let text = this.#partial + s;
    let nl = text.indexOf('\n');
    let start = 0;
    while (nl !== -1) {
      const line = text.slice(start, nl);
      if (this.#tail.length >= 20) this.#tail.shift();
      this.#tail.push(line.length > 300 ? line.slice(0, 300) + '…' : line);
      for (const fn of this.#listeners) fn(line, t);
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    this.#partial = text.slice(start);
  }

  /** fn(line, t) for every later line; returns an unsubscribe function. */
  onLine(fn) {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** fn(chunkLatin1, t) for every later chunk; returns an unsubscribe function. */
  onRaw(fn) {
    this.#rawSinks.add(fn);
    return () => this.#rawSinks.delete(fn);
  }

  /** The last lines seen, for error messages. */
  get tail() {
    return this.#tail.join('\n');
  }

  /** Resolves with { line, t, match } for the first later line that matches. */
  waitFor(re, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const off = this.onLine((line, t) => {
        const m = typeof re === 'function' ? re(line) : line.match(re);
        if (m) {
          off();
          clearTimeout(timer);
          resolve({ line, t, match: m });
        }
      });
      const timer = setTimeout(() => {
        off();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last lines:\n${this.tail}`));
      }, timeoutMs);
    });
  }
}

/**
 * Start a child in its own process group. stdio entries: 'pipe', 'ignore',
 * or a file descriptor. Returns a handle with taps on piped stdout/stderr
 * (tapStdout: false leaves stdout untouched).
 */
export function start(cmd, args, { env = process.env, stdin = 'pipe', stdout = 'pipe', stderr = 'pipe', cwd, tapStdout = true } = {}) {
  const t0 = performance.now();
  const child = spawn(cmd, args, { env, cwd, stdio: [stdin, stdout, stderr], detached: true });
  const p = {
    cmd,
    args,
    child,
    pid: child.pid,
    t0,
    exited: false,
    code: null,
    signal: null,
    // tapStdout: false leaves a piped stdout as raw Buffers for the caller (bulk byte counts).
    out: child.stdout && tapStdout ? new LineTap(child.stdout) : undefined,
    err: child.stderr ? new LineTap(child.stderr) : undefined,
  };
  p.exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      p.exited = true;
      p.code = code;
      p.signal = signal;
      p.tExit = performance.now();
      live.delete(p);
      resolve(p);
    });
    child.on('error', (e) => {
      p.spawnError = e;
      p.exited = true;
      live.delete(p);
      resolve(p);
    });
  });
  if (child.stdin) child.stdin.on('error', () => {}); // EPIPE when the child is gone
  if (child.pid !== undefined) live.add(p);
  return p;
}

export function signalGroup(p, sig) {
  if (p.exited || p.pid === undefined) return;
  try {
    process.kill(-p.pid, sig);
  } catch {
    try {
      process.kill(p.pid, sig);
    } catch {
      /* already gone */
    }
  }
}

function timeout(ms) {
  return new Promise((r) => setTimeout(() => r('timeout'), ms).unref());
}

/** Wait for exit up to ms; true when it exited. */
export async function waitExit(p, ms) {
  if (p.exited) return true;
  return (await Promise.race([p.exit.then(() => 'exit'), timeout(ms)])) === 'exit';
}

/**
 * Stop a child: close its stdin and give it graceMs to exit by itself, then
 * SIGTERM its group, then SIGKILL. Resolves once it is gone.
 */
export async function stop(p, { graceMs = 0, termMs = 2000 } = {}) {
  if (!p || p.exited) return p;
  try {
    p.child.stdin?.end();
  } catch {
    /* ignore */
  }
  if (graceMs > 0 && (await waitExit(p, graceMs))) return p;
  signalGroup(p, 'SIGTERM');
  if (await waitExit(p, termMs)) return p;
  signalGroup(p, 'SIGKILL');
  await waitExit(p, 2000);
  return p;
}

/** Kill every child still running (synchronous, safe in an 'exit' handler). */
export function killAll() {
  for (const p of [...live]) signalGroup(p, 'SIGKILL');
}

export function liveCount() {
  return live.size;
}

/** Peak resident set size (VmHWM) in KiB from /proc, or null once the process is gone. */
export function peakRssKiB(pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmHWM:\s+(\d+)\s+kB/m);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

let clockTicks;
/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat, or null. */
export function cpuSeconds(pid) {
  try {
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / clockTicks;
  } catch {
    return null;
  }
}

/** A loopback TCP port that was free a moment ago (for tools that cannot listen on port 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Write to a child's stdin, resolving when the data has been handed to the pipe. */
export function writeAll(p, data) {
  return new Promise((resolve) => {
    if (p.child.stdin.write(data)) resolve();
    else p.child.stdin.once('drain', resolve);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
