/**
 * The paper's comparison: FID against rounds and training time for distgan (serial, parallel),
 * MD-GAN, FL-GAN and a centralized GAN, per dataset and data split. Writes DIR/report.md, the
 * plots and DIR/results.json (and bench/results/convergence.json).
 *
 *   npm run bench:convergence [-- --quick] [--out DIR] [--data-root DIR] [--rounds N] ...
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { describeBackend, initBackend } from '@distgan/gan';
import {
  BENCH_DATASETS,
  BENCH_METHODS,
  BENCH_SPLITS,
  runConvergenceBench,
  type BenchOptions,
} from '@distgan/embedded';
import { writeResults } from './common.js';

const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('expected a positive whole number.');
  return n;
};
const list =
  <T extends string>(allowed: readonly T[]) =>
  (v: string): T[] => {
    const items = v.split(',').map((x) => x.trim());
    const bad = items.filter((x) => !allowed.includes(x as T));
    if (bad.length)
      throw new InvalidArgumentError(`unknown ${bad.join(', ')}; use ${allowed.join(', ')}.`);
    return items as T[];
  };
const numbers = (v: string): number[] => {
  const n = v.split(',').map(Number);
  if (n.some((x) => !(x > 0))) throw new InvalidArgumentError('expected positive numbers.');
  return n;
};

const program = new Command('bench:convergence')
  .description('FID against rounds and time: distgan vs MD-GAN, FL-GAN and centralized')
  .option(
    '--quick',
    'minutes, not hours: MNIST subset, fewer rounds and samples, IID and Dirichlet 0.1',
  )
  .option('--out <dir>', 'report folder', 'bench/results/convergence')
  .option(
    '--data-root <dir>',
    'folder with fashion-mnist/ and cifar-10-batches-bin/ (original formats)',
  )
  .addOption(
    new Option('--datasets <list>', `of ${BENCH_DATASETS.join(', ')}`).argParser(
      list(BENCH_DATASETS),
    ),
  )
  .addOption(
    new Option('--splits <list>', `of ${BENCH_SPLITS.join(', ')}`).argParser(list(BENCH_SPLITS)),
  )
  .addOption(
    new Option('--methods <list>', `of ${BENCH_METHODS.join(', ')}`).argParser(list(BENCH_METHODS)),
  )
  .addOption(new Option('--devices <k>', 'devices').argParser(int))
  .addOption(new Option('--rounds <n>', 'rounds per run').argParser(int))
  .addOption(new Option('--eval-every <n>', 'rounds between FID evaluations').argParser(int))
  .addOption(new Option('--eval-samples <n>', 'generated samples per FID').argParser(int))
  .addOption(new Option('--limit <n>', 'training samples used').argParser(int))
  .addOption(new Option('--model <arch>', 'models').choices(['mlp', 'dcgan']).default('mlp'))
  .addOption(new Option('--seed <n>', 'seed').argParser(int).default(1))
  .addOption(
    new Option('--thresholds <list>', 'FID thresholds (default: from the serial run)').argParser(
      numbers,
    ),
  )
  .parse();

const o = program.opts<{
  quick?: boolean;
  out: string;
  dataRoot?: string;
  datasets?: BenchOptions['datasets'];
  splits?: BenchOptions['splits'];
  methods?: BenchOptions['methods'];
  devices?: number;
  rounds?: number;
  evalEvery?: number;
  evalSamples?: number;
  limit?: number;
  model: BenchOptions['model'];
  seed: number;
  thresholds?: number[];
}>();

const quick = o.quick === true;
const options: BenchOptions = {
  out: o.out,
  dataRoot: o.dataRoot,
  datasets: o.datasets ?? (quick ? ['mnist'] : BENCH_DATASETS),
  splits: o.splits ?? (quick ? ['iid', 'dirichlet-0.1'] : BENCH_SPLITS),
  methods: o.methods ?? BENCH_METHODS,
  devices: o.devices ?? 4,
  rounds: o.rounds ?? (quick ? 40 : 1500),
  evalEvery: o.evalEvery ?? (quick ? 10 : 100),
  evalSamples: o.evalSamples ?? (quick ? 500 : 2000),
  limit: o.limit ?? (quick ? 8000 : undefined),
  model: o.model,
  seed: o.seed,
  thresholds: o.thresholds,
};

const backend = await initBackend({ forced: process.env['TFJS_BACKEND'] || undefined });
console.log(`backend: ${describeBackend(backend)}`);
const total = options.datasets.length * options.splits.length * options.methods.length;
let done = 0;
const t0 = performance.now();
const results = await runConvergenceBench({
  ...options,
  onRound: (k, line) => {
    if (line.fid !== undefined) {
      console.log(
        `[${done + 1}/${total}] ${k.dataset} ${k.split} ${k.method}: round ${line.round + 1}/${options.rounds} ` +
          `FID ${line.fid.toFixed(1)} (${line.trainS.toFixed(1)} s)`,
      );
    }
  },
  onRunDone: () => {
    done += 1;
  },
});
for (const a of results.absent) console.log(`${a.dataset}: absent (${a.reason})`);
const path = writeResults('convergence', {
  quick,
  options,
  runs: results.runs,
  absent: results.absent,
});
console.log(
  `report: ${options.out}/report.md, results: ${options.out}/results.json and ${path} ` +
    `(${((performance.now() - t0) / 60_000).toFixed(1)} min)`,
);
