// Black-box helpers: run the built p2pcat binary as a child process, feed it
// stdin, collect its stdout records and stderr lines, wait for things with
// bounded timeouts. Every test gets its own $P2PCAT_HOME.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN } from './paths.js';

export function tmpHome(prefix = 'p2pcat-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(d, 0o700);
  return d;
}

export interface Proc {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Parsed stdout records (lines that are not JSON are kept as {raw}). */
  records: Record<string, any>[];
  /** With { binary: true }: everything stdout carried, as bytes. */
  bytes(): Buffer;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitInfo?: { code: number | null; signal: NodeJS.Signals | null };
  waitFor<T>(pred: () => T | undefined | false, what: string, timeoutMs?: number): Promise<T>;
  waitRecord(pred: (r: Record<string, any>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, any>>;
  write(s: string | Uint8Array): void;
  end(s?: string | Uint8Array): void;
  kill(sig?: NodeJS.Signals): void;
}

export function run(args: string[], opts: { home?: string; env?: Record<string, string>; stdin?: 'pipe' | 'ignore'; spawn?: SpawnOptions; name?: string; binary?: boolean } = {}): Proc {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), P2PCAT_HOME: opts.home ?? tmpHome(), ...(opts.env ?? {}) };
  delete env.P2PCAT_SECRET;
  if (opts.env?.P2PCAT_SECRET) env.P2PCAT_SECRET = opts.env.P2PCAT_SECRET;
  if (opts.name) env.P2PCAT_NAME = opts.name;
  const child = spawn(process.execPath, [BIN, ...args], { stdio: [opts.stdin ?? 'pipe', 'pipe', 'pipe'], env, ...(opts.spawn ?? {}) });
  return procOf(child, { binary: opts.binary === true });
}

/**
 * Wrap any spawned child (a p2pcat, or `ip netns exec NS ...`): stdout as
 * bytes and, unless binary, as lines parsed into records; stderr as lines;
 * bounded waits.
 */
export function procOf(child: ChildProcess, opts: { binary?: boolean } = {}): Proc {
  const p: Proc = {
    child,
    stdout: [],
    stderr: [],
    records: [],
    bytes: () => Buffer.concat(outChunks),
    exited: undefined as never,
    waitFor(pred, what, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const started = Date.now();
        const tick = () => {
          let v: any;
          try {
            v = pred();
          } catch (e) {
            return reject(e);
          }
          if (v) return resolve(v);
          if (Date.now() - started > timeoutMs) {
            return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\nstdout:\n${p.stdout.join('\n')}\nstderr:\n${p.stderr.join('\n')}`));
          }
          setTimeout(tick, 20);
        };
        tick();
      });
    },
    waitRecord(pred, what, timeoutMs) {
      return p.waitFor(() => p.records.find(pred), what, timeoutMs);
    },
    write(s) {
      child.stdin!.write(s);
    },
    end(s) {
      child.stdin!.end(s);
    },
    kill(sig = 'SIGTERM') {
      if (p.exitInfo === undefined) child.kill(sig);
    },
  };
  child.stdin?.on('error', () => {
    /* the child may exit before reading everything */
  });
  let outBuf = '';
  const outChunks: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => {
    outChunks.push(b);
    if (opts.binary) return;
    outBuf += b.toString('utf8');
    let i;
    while ((i = outBuf.indexOf('\n')) !== -1) {
      const line = outBuf.slice(0, i);
      outBuf = outBuf.slice(i + 1);
      p.stdout.push(line);
      try {
        p.records.push(JSON.parse(line));
      } catch {
        p.records.push({ raw: line });
      }
    }
  });
  let errBuf = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    errBuf += d;
    let i;
    while ((i = errBuf.indexOf('\n')) !== -1) {
      p.stderr.push(errBuf.slice(0, i));
      errBuf = errBuf.slice(i + 1);
    }
  });
  p.exited = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      if (outBuf) p.stdout.push(outBuf);
      if (errBuf) p.stderr.push(errBuf);
      p.exitInfo = { code, signal };
      resolve(p.exitInfo);
    });
  });
  return p;
}

/** Start `p2pcat listen 0 --bind 127.0.0.1 ...` and wait for the port it prints on stderr. */
export async function listen(args: string[] = [], opts: Parameters<typeof run>[1] = {}): Promise<Proc & { port: number }> {
  const p = run(['listen', '0', '--bind', '127.0.0.1', '--json', ...args], opts);
  const line = await p.waitFor(() => p.stderr.find((l) => /listening on /.test(l)), 'the listening line');
  const port = Number(/:(\d+) /.exec(line)![1]);
  return Object.assign(p, { port });
}

/** Wait for a process to exit, killing it if it takes longer than timeoutMs. */
export async function exitOf(p: Proc, timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const t = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const r = await p.exited;
  clearTimeout(t);
  return r;
}

/** Kill every process a test started, at teardown. */
export function reap(procs: Proc[]): void {
  for (const p of procs) if (p.exitInfo === undefined) p.child.kill('SIGKILL');
}
