#!/usr/bin/env node
// Runs the project's tests with node's test runner, TypeScript loaded by tsx.
// Usage: node scripts/run-tests.mjs <unit|int|all> [dir ...]
//   unit: *.test.ts (no network), int: *.int.test.ts (real RabbitMQ/Redis), all: both.
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const [tier = 'all', ...dirs] = process.argv.slice(2);
if (!['unit', 'int', 'all'].includes(tier)) {
  console.error(`unknown test tier "${tier}": use unit, int or all`);
  process.exit(2);
}
const roots =
  dirs.length > 0 ? dirs.map((d) => resolve(d)) : ['libs', 'services'].map((d) => join(root, d));

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}

const files = roots
  .flatMap((r) => [...walk(r)])
  .filter((f) => {
    const isInt = f.endsWith('.int.test.ts');
    const isUnit = f.endsWith('.test.ts') && !isInt;
    return tier === 'all' ? isInt || isUnit : tier === 'int' ? isInt : isUnit;
  })
  .map((f) => relative(process.cwd(), f))
  .sort();

if (files.length === 0) {
  console.error(
    `no ${tier} test files under ${roots.map((r) => relative(root, r) || '.').join(', ')}`,
  );
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--conditions=source', '--import', 'tsx', '--test', '--test-concurrency=2', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
