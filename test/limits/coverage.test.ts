// Every export of src/limits.ts is classified in test/limits/registry.ts; every
// bound named there points at a test that exists. A new limit without a test
// (or an explicit reason why it is not a bound) fails here.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import * as L from '../../src/limits.js';
import { REGISTRY, MAX_GAPS } from './registry.js';
import { REPO_ROOT } from '../helpers/paths.js';

t.test('every export of src/limits.ts is covered by a test, a listed gap, or is not a bound', async (t) => {
  const exported = Object.keys(L).sort();
  const missing = exported.filter((k) => !(k in REGISTRY));
  t.same(missing, [], 'unclassified limits: give each a test (or say in the registry why it is not a bound)');
  t.same(Object.keys(REGISTRY).filter((k) => !(k in L)), [], 'the registry names only limits that exist');
});

t.test('each covering test exists, with that title', async (t) => {
  const sources = new Map<string, string>();
  for (const [name, e] of Object.entries(REGISTRY)) {
    if (!('test' in e)) continue;
    const file = path.join(REPO_ROOT, e.test);
    if (!sources.has(file)) sources.set(file, fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
    t.ok(sources.get(file)!.includes(e.title), `${name}: "${e.title}" in ${e.test}`);
  }
});

t.test('gaps do not grow', async (t) => {
  const gaps = Object.entries(REGISTRY).filter(([, e]) => 'gap' in e);
  t.ok(gaps.length <= MAX_GAPS, `${gaps.length} bounds without a test (at most ${MAX_GAPS}): ${gaps.map(([k]) => k).join(', ')}`);
});
