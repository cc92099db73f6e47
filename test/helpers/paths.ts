// Where tests find the repository, the built binary and ../shared (outside truth).
import { fileURLToPath } from 'node:url';
import path from 'node:path';

// Compiled to dist/test/helpers/paths.js: three levels below the repository root.
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const SHARED_DIR = process.env.P2PCAT_SHARED_DIR ?? path.resolve(REPO_ROOT, '..', 'shared');
export const VECTORS_DIR = path.join(SHARED_DIR, 'vectors');
export const BIN = path.join(REPO_ROOT, 'bin', 'p2pcat.js');
