// `npm run gen`: regenerate everything derived from the code.
//   completions/p2pcat.bash, completions/_p2pcat, completions/p2pcat.fish
//     from the yargs command modules (./model.ts, ./completions.ts);
//   the marked regions of man/*.1 (ERRORS, EXIT STATUS, LIMITS)
//     from src/errors.ts and src/limits.ts (./man.ts).
// Usage: node dist/src/cli/gen/run.js [--check]
//   --check writes nothing; it names each stale file on stderr and exits 1.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliModel } from './model.js';
import { completionFiles } from './completions.js';
import { renderErrors, renderExitStatus, renderLimits, rewriteRegions } from './man.js';

/** The repository root, seen from dist/src/cli/gen/. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** Every generated file (path relative to root) with the content it should have now. */
export function generatedFiles(root = ROOT): Record<string, string> {
  const files: Record<string, string> = { ...completionFiles(cliModel()) };
  const limitsSource = fs.readFileSync(path.join(root, 'src', 'limits.ts'), 'utf8');
  const renderers = {
    errors: renderErrors,
    'exit-status': renderExitStatus,
    limits: () => renderLimits(limitsSource),
  };
  const manDir = path.join(root, 'man');
  const pages = fs.existsSync(manDir) ? fs.readdirSync(manDir).filter((f) => /\.[1-9]$/.test(f)).sort() : [];
  for (const p of pages) {
    const rel = path.posix.join('man', p);
    files[rel] = rewriteRegions(fs.readFileSync(path.join(root, rel), 'utf8'), renderers, rel);
  }
  return files;
}

/** Files whose content on disk differs from what generation gives. */
export function staleFiles(root = ROOT): string[] {
  return Object.entries(generatedFiles(root))
    .filter(([rel, want]) => {
      const file = path.join(root, rel);
      return !fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== want;
    })
    .map(([rel]) => rel);
}

function main(args: string[]): number {
  const check = args.includes('--check');
  const unknown = args.filter((a) => a !== '--check');
  if (unknown.length) {
    process.stderr.write(`p2pcat-gen: P2PCAT_ERR_USAGE: unknown argument ${unknown[0]} (usage: gen [--check])\n`);
    return 64;
  }
  const stale = staleFiles();
  if (check) {
    for (const f of stale) process.stderr.write(`p2pcat-gen: ${f} is stale: run npm run gen\n`);
    return stale.length ? 1 : 0;
  }
  const files = generatedFiles();
  for (const rel of stale) {
    const file = path.join(ROOT, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, files[rel]!);
    process.stderr.write(`p2pcat-gen: wrote ${rel}\n`);
  }
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
