/*
 * The deployment time model (docs/time-model.md) applied to finished run folders: each run's
 * measured round (means over its rounds after the first) and its modelled round time in each
 * network profile, as markdown.
 *
 *   npm run bench:time-model -- runs/<serial-run> runs/<parallel-run> runs/<md-gan-run> ...
 *
 * The first run is the reference of the "× first" column.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RoundLine } from '@distgan/embedded';
// The model's own module: it loads nothing else (no backend, no bench).
import {
  benchMethodOf,
  measuredRoundOf,
  timeModelTable,
  type MeasuredRound,
} from '../services/embedded/src/time-model.js';

const dirs = process.argv.slice(2).filter((a) => a !== '--');
if (dirs.length === 0) {
  console.error('usage: npm run bench:time-model -- <run folder> [<run folder> ...]');
  process.exit(2);
}

const rounds: MeasuredRound[] = dirs.map((dir) => {
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
    method: RoundLine['method'];
    schedule: RoundLine['schedule'];
    devices: number;
  };
  const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as RoundLine);
  const method = benchMethodOf(config);
  return measuredRoundOf(method, method === 'centralized' ? 0 : config.devices, lines);
});

const f = (x: number): string => x.toFixed(1);
const mb = (x: number): string => `${(x / 1e6).toFixed(2)} MB`;
console.log(
  '| method | rounds | device train ms | device codec ms | server pre ms | aggregate ms | G ms | down | up | in-process ms |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const m of rounds) {
  console.log(
    `| ${m.method} | ${m.rounds} | ${f(m.deviceComputeMs)} | ${f(m.deviceCodecMs)} | ` +
      `${f(m.serverPreMs)} | ${f(m.aggregateMs)} | ${f(m.generatorMs)} | ${mb(m.bytesDown)} | ` +
      `${mb(m.bytesUp)} | ${f(m.inProcessMs)} |`,
  );
}
console.log();
console.log(timeModelTable(rounds));
