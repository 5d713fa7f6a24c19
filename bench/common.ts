import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where every benchmark writes its figures: bench/results/<name>.json (stable keys). */
export function writeResults(name: string, results: Record<string, unknown>): string {
  const path = join(dirname(fileURLToPath(import.meta.url)), 'results', `${name}.json`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(
    path,
    JSON.stringify(
      { benchmark: name, at: new Date().toISOString(), node: process.version, ...results },
      null,
      2,
    ) + '\n',
  );
  return path;
}

/**
 * Medians of several functions measured side by side: one call of each per repetition, in an
 * order that rotates, so that slow spells of the machine (or of a server they share) fall on all
 * of them alike rather than on whichever ran during them.
 */
export async function interleavedMedianMs(
  fs: readonly (() => unknown)[],
  reps: number,
  warmup = 5,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) for (const f of fs) await f();
  const times: number[][] = fs.map(() => []);
  for (let i = 0; i < reps; i++) {
    for (let j = 0; j < fs.length; j++) {
      const k = (i + j) % fs.length;
      const t0 = performance.now();
      await fs[k]!();
      times[k]!.push(performance.now() - t0);
    }
  }
  return times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!);
}

/** Median of `reps` timings of `f` (ms), after `warmup` untimed calls. */
export async function medianMs(f: () => unknown, reps: number, warmup = 5): Promise<number> {
  for (let i = 0; i < warmup; i++) await f();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}
