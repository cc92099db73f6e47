// Helpers for the black-box mesh tests (test/e2e/mesh-*.test.ts): start mesh
// peers of the built binary on 127.0.0.1, count records, collect STATS.
import { run, exitOf, type Proc } from '../helpers/proc.js';

export type Peer = Proc & { port: number; name: string };

/** Waits in these tests default to 45 s, not 15: a CI box running every suite at once can be very slow. */
export const PATIENCE_MS = 45_000;

export function patient<T extends Proc>(p: T, ms = PATIENCE_MS): T {
  const waitFor = p.waitFor.bind(p);
  p.waitFor = (pred, what, timeoutMs = ms) => waitFor(pred, what, timeoutMs);
  p.waitRecord = (pred, what, timeoutMs = ms) => p.waitFor(() => p.records.find(pred), what, timeoutMs);
  return p;
}

/** run() with patient waits. */
export function prun(...args: Parameters<typeof run>): Proc {
  return patient(run(...args));
}

/**
 * `p2pcat listen 0 --bind 127.0.0.1 --json` as `name`, plus args (e.g. --peer).
 * Waits up to a minute for the listening line: a loaded CI box can be slow to start Node.
 */
export async function peer(name: string, args: string[] = [], opts: Parameters<typeof run>[1] = {}): Promise<Peer> {
  const p = prun(['listen', '0', '--bind', '127.0.0.1', '--json', ...args], { name, ...opts });
  const line = await p.waitFor(() => p.stderr.find((l) => /listening on /.test(l)), `${name}'s listening line`, 60_000);
  const port = Number(/:(\d+) /.exec(line)![1]);
  return Object.assign(p, { port, name });
}

export const chats = (p: Proc) => p.records.filter((r) => r.type === 'CHAT');
export const texts = (p: Proc) => chats(p).map((r) => r.message as string);
export const members = (p: Proc) => {
  const present = new Set<string>();
  for (const r of p.records) {
    if (r.type === 'MEMBER_UP') present.add(r.username);
    if (r.type === 'MEMBER_DOWN') present.delete(r.username);
  }
  return present;
};
export const neighbours = (p: Proc) => {
  const up = new Set<string>();
  for (const r of p.records) {
    if (r.type === 'PEER_UP') up.add(r.peer);
    if (r.type === 'PEER_DOWN') up.delete(r.peer);
  }
  return up.size;
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, wait, and return the STATS record it printed on stderr (needs --stats). */
export async function stop(p: Proc): Promise<Record<string, any> | undefined> {
  p.kill('SIGTERM');
  await exitOf(p, 20_000);
  for (const line of p.stderr) {
    if (!line.startsWith('{')) continue;
    try {
      const r = JSON.parse(line);
      if (r.type === 'STATS') return r;
    } catch {
      /* not a record */
    }
  }
  return undefined;
}

/** Lines of stderr that are ERROR records. */
export const errors = (p: Proc) =>
  p.stderr.filter((l) => l.startsWith('{')).flatMap((l) => {
    try {
      const r = JSON.parse(l);
      return r.type === 'ERROR' ? [r] : [];
    } catch {
      return [];
    }
  });
