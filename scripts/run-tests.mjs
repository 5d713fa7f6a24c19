#!/usr/bin/env node
// Runs the project's tests with node's test runner, TypeScript loaded by tsx.
// Usage: node scripts/run-tests.mjs <unit|int|fault|e2e|browser|all> [dir or file ...]
//   unit: *.test.ts (no network), int: *.int.test.ts (real RabbitMQ/Redis),
//   fault: *.fault.test.ts (restart the local RabbitMQ and Redis: run alone, one file at a time),
//   e2e: *.e2e.test.ts (server, devices, brokers and Prometheus end to end: run alone),
//   browser: *.browser.test.ts (pages in headless Chromium during a real run: run alone),
//   all: unit and int together, then fault, then e2e, then browser.
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const [tier = 'all', ...dirs] = process.argv.slice(2);
const ALONE = ['fault', 'e2e', 'browser'];
if (!['unit', 'int', ...ALONE, 'all'].includes(tier)) {
  console.error(`unknown test tier "${tier}": use unit, int, fault, e2e, browser or all`);
  process.exit(2);
}
const roots =
  dirs.length > 0
    ? dirs.map((d) => resolve(d))
    : ['libs', 'services', 'e2e'].map((d) => join(root, d));

function* walk(dir) {
  if (!statSync(dir).isDirectory()) {
    yield dir; // a single test file
    return;
  }
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}

const all = roots.flatMap((r) => [...walk(r)]);
const kind = (f) =>
  f.endsWith('.browser.test.ts')
    ? 'browser'
    : f.endsWith('.e2e.test.ts')
      ? 'e2e'
      : f.endsWith('.fault.test.ts')
        ? 'fault'
        : f.endsWith('.int.test.ts')
          ? 'int'
          : f.endsWith('.test.ts')
            ? 'unit'
            : undefined;
const pick = (kinds) =>
  all
    .filter((f) => kinds.includes(kind(f)))
    .map((f) => relative(process.cwd(), f))
    .sort();

// Fault suites restart the services the others use: never run them alongside.
const batches =
  tier === 'all'
    ? [
        { files: pick(['unit', 'int']), concurrency: 2 },
        { files: pick(['fault']), concurrency: 1 },
        { files: pick(['e2e']), concurrency: 1 },
        { files: pick(['browser']), concurrency: 1 },
      ]
    : [{ files: pick([tier]), concurrency: ALONE.includes(tier) ? 1 : 2 }];

if (batches.every((b) => b.files.length === 0)) {
  console.error(
    `no ${tier} test files under ${roots.map((r) => relative(root, r) || '.').join(', ')}`,
  );
  process.exit(1);
}
for (const b of batches) {
  if (b.files.length === 0) continue;
  const result = spawnSync(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${b.concurrency}`,
      ...b.files,
    ],
    { stdio: 'inherit' },
  );
  if (result.status !== 0) process.exit(result.status ?? 1);
}
