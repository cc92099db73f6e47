// A real terminal for chat-view tests: tmux on a private server socket
// (send-keys to type, capture-pane to read the screen), with bounded waits.
import { execFileSync } from 'node:child_process';

export const hasTmux = (() => {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export interface Terminal {
  tmux(...args: string[]): string;
  /** The pane "chat", with `history` lines of scrollback. */
  screen(): string;
  waitScreen(re: RegExp, what: string, timeoutMs?: number): Promise<string>;
  /** Type a line and press Enter. */
  type(line: string): void;
  kill(): void;
}

export function terminal(name: string, opts: { history?: number; timeoutMs?: number } = {}): Terminal {
  const sock = `p2pcat-${name}-${process.pid}`;
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', sock, ...args], { encoding: 'utf8' });
  const screen = () => tmux('capture-pane', '-p', '-t', 'chat', ...(opts.history ? ['-S', `-${opts.history}`] : []));
  return {
    tmux,
    screen,
    async waitScreen(re, what, timeoutMs = opts.timeoutMs ?? 15_000) {
      const t0 = Date.now();
      for (;;) {
        const s = screen();
        if (re.test(s)) return s;
        if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}; screen:\n${s}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    type: (line) => void tmux('send-keys', '-t', 'chat', line, 'Enter'),
    kill() {
      try {
        tmux('kill-server');
      } catch {
        /* already gone */
      }
    },
  };
}
