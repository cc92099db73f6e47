// The p2pcat command line: one yargs module per command (src/cli/commands/),
// each loading its implementation only when it runs, so `--help` stays fast.
import { createRequire } from 'node:module';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { P2pcatError, isP2pcatError, EXIT } from '../errors.js';
import { installStdoutGuards } from './io.js';
import { commands } from './commands/index.js';
import { applyFileLayer } from '../config/config.js';

export const VERSION: string = createRequire(import.meta.url)('../../../package.json').version;

export function buildCli(args: string[]) {
  let y = yargs(args)
    .scriptName('p2pcat')
    .usage('$0 <command> [options]\n\nnetcat-style, end-to-end encrypted chat with no server: every peer listens and dials.')
    .strict()
    .demandCommand(1, 'p2pcat: P2PCAT_ERR_USAGE: name a command (see p2pcat --help)')
    .recommendCommands()
    .version(VERSION)
    .alias('h', 'help')
    .alias('V', 'version')
    .epilogue('Records on stdout are NDJSON; diagnostics go to stderr. See man p2pcat.')
    .wrap(Math.min(100, process.stdout.columns || 100))
    .exitProcess(false)
    .middleware(((argv: Record<string, unknown>, y: unknown) => applyFileLayer(argv, y)) as never, true)
    .fail((msg, err) => {
      if (err) throw err;
      throw P2pcatError.usage(msg);
    });
  for (const c of commands) y = y.command(c as never);
  y = y
    .example('$0 listen 5050', 'accept peers on port 5050 and chat on stdin/stdout')
    .example('$0 connect host:5050', 'dial a peer')
    .example('echo hi | $0 connect host:5050 --room ops --secret-file ~/.ops-secret', 'send one message to a private room');
  return y;
}

export async function main(args: string[]): Promise<void> {
  installStdoutGuards();
  try {
    await buildCli(hideBin(['node', 'p2pcat', ...args])).parseAsync();
  } catch (e) {
    if (isP2pcatError(e)) {
      process.stderr.write(e.toLine() + '\n');
      process.exitCode = e.exitCode;
      return;
    }
    const err = e as Error;
    process.stderr.write(`p2pcat: P2PCAT_ERR_INTERNAL: ${err?.stack ?? String(e)}\n`);
    process.exitCode = EXIT.SOFTWARE;
  }
}
