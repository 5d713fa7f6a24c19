/**
 * Rounds per second of the distributed run and the share of round time spent outside
 * computation (messaging, Redis, codec), for 1, 4 and 8 device processes, MLP and DCGAN, both
 * schedules, against the RabbitMQ and Redis named by RABBITMQ_URL and REDIS_URL.
 *
 *   node --conditions=source --import tsx services/server/bench/rounds.ts [--rounds 10] [--devices 1,4,8] [--models mlp,dcgan]
 *
 * Computation on the critical path of a round: serial, the slowest device's local training plus
 * the generator steps; parallel, the larger of the two (they overlap). Everything else in the
 * round is outside computation. All processes share this machine's cores, so with more device
 * processes than cores the device compute itself slows down; that is reported, not hidden.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, killAll, runDistributed, uniqueRun, until } from '../src/process-harness.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    devices: { type: 'string', default: '1,4,8' },
    models: { type: 'string', default: 'mlp,dcgan' },
    schedules: { type: 'string', default: 'serial,parallel' },
  },
});
const rounds = Number(values.rounds);
interface Line {
  round: number;
  phases: { totalMs: number; deviceComputeMs: number; generatorMs: number };
}

console.log(
  '| model | schedule | devices | rounds/s | ms/round | device compute ms | G ms | outside computation |',
);
console.log('|---|---|---|---|---|---|---|---|');
try {
  for (const model of values.models.split(',')) {
    for (const schedule of values.schedules.split(',')) {
      for (const n of values.devices.split(',').map(Number)) {
        const runId = uniqueRun(`bench-${model}-${schedule}-${n}`);
        // +2 warm-up rounds, dropped from the figures
        const d = await runDistributed(
          runId,
          {
            DATASET: 'mnist',
            LIMIT: '8000',
            LATENT_DIM: '64',
            BATCH_SIZE: '64',
            MODEL: model,
            SCHEDULE: schedule,
            ROUNDS: String(rounds + 2),
            QUORUM: String(n),
            SAMPLE_EVERY: '100000',
            CHECKPOINT_EVERY: '100000',
            ROUND_DEADLINE_MS: '600000',
          },
          n,
        );
        await until(
          'the run',
          async () => ((await api(d.port)).status === 'finished' ? true : undefined),
          1_800_000,
        );
        const lines = readFileSync(join(d.out, runId, 'metrics.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Line)
          .slice(2);
        const mean = (f: (l: Line) => number): number =>
          lines.reduce((s, l) => s + f(l), 0) / lines.length;
        const total = mean((l) => l.phases.totalMs);
        const dev = mean((l) => l.phases.deviceComputeMs);
        const g = mean((l) => l.phases.generatorMs);
        const critical = mean((l) =>
          schedule === 'serial'
            ? l.phases.deviceComputeMs + l.phases.generatorMs
            : Math.max(l.phases.deviceComputeMs, l.phases.generatorMs),
        );
        const outside = Math.max(0, 1 - critical / total);
        console.log(
          `| ${model} | ${schedule} | ${n} | ${(1000 / total).toFixed(2)} | ${total.toFixed(0)} | ${dev.toFixed(0)} | ${g.toFixed(0)} | ${(100 * outside).toFixed(0)}% |`,
        );
        killAll('SIGTERM');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
} finally {
  killAll();
}
