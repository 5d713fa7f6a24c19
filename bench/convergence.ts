/**
 * The paper's comparison over seeds: FID against rounds and training time for distgan (serial,
 * parallel), MD-GAN, FL-GAN and a centralized GAN, per dataset, data split and seed. Each
 * (dataset, split, method, seed) cell is kept in OUT/cells/ as it finishes: a rerun trains only
 * the missing or stale cells. Writes OUT/report.md, its plots, OUT/results.json and
 * OUT/references.json, over every cell of the whole benchmark on disk (subset flags such as
 * --seeds or --methods narrow what is trained, not what is reported; --quick reports its own).
 *
 *   npm run bench:convergence [-- --quick] [--report-only] [--seeds 1,2,3] [--out DIR] ...
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { describeBackend, initBackend } from '@distgan/gan';
import { choicesOf } from '@distgan/protocol';
import {
  BENCH_DATASETS,
  BENCH_METHODS,
  BENCH_SPLITS,
  DEFAULT_MACHINE,
  DEFAULT_SEEDS,
  DEFAULT_THRESHOLDS,
  DEFAULTS,
  EMBEDDED_SETTINGS,
  deploymentTimeModel,
  runConvergenceBench,
  type BenchOptions,
} from '@distgan/embedded';

/**
 * Rounds per cell: the embedded run's 2,000, by which the best distributed method (distgan
 * serial) is below FID 25 on IID shards with the conditional models (docs/default-model.md).
 * On Dirichlet(0.1) shards it was still at FID 34.6 and falling at round 2,000 (seed 1,
 * 2026-12-06), so those cells run 4,000. The unconditional models of
 * docs/convergence-unconditional needed 3,000 to level out. The committed cells' lengths: other
 * values give cells of another fingerprint. FID is evaluated every 2,000 / 15 rounds on every
 * split, so that the thresholds are resolved alike.
 */
const BENCH_ROUNDS = 2000;
const BENCH_ROUNDS_BY_SPLIT: NonNullable<BenchOptions['roundsBySplit']> = {
  'dirichlet-0.1': 4000,
};

/** The whole benchmark: what a run without subset flags trains, and what every report covers. */
const BENCHMARK: NonNullable<BenchOptions['reportScope']> = {
  datasets: ['mnist'],
  splits: ['iid', 'dirichlet-0.1'],
  methods: BENCH_METHODS,
  seeds: DEFAULT_SEEDS,
};

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
const seeds = (v: string): number[] => {
  const n = v.split(',').map(Number);
  if (n.some((x) => !Number.isSafeInteger(x) || x < 0))
    throw new InvalidArgumentError('expected whole numbers, e.g. 1,2,3.');
  return [...new Set(n)];
};

const program = new Command('bench:convergence')
  .description(
    'FID against rounds and time over seeds: distgan vs MD-GAN, FL-GAN and centralized, resumable',
  )
  .option(
    '--quick',
    'minutes, not hours (CI): MNIST subset, mlp, 2 seeds, 20 rounds, 200 FID samples; out bench/results/convergence-quick',
  )
  .option('--report-only', 'build the report from the cells on disk, train nothing')
  .option(
    '--out <dir>',
    'report folder, cells in DIR/cells (default docs/convergence; --quick: bench/results/convergence-quick)',
  )
  .option('--runs-dir <dir>', "parent folder of the cells' run folders", 'runs/convergence')
  .option(
    '--data-root <dir>',
    'folder with fashion-mnist/ and cifar-10-batches-bin/ (original formats)',
  )
  .addOption(
    new Option('--datasets <list>', `of ${BENCH_DATASETS.join(', ')} (default mnist)`).argParser(
      list(BENCH_DATASETS),
    ),
  )
  .addOption(
    new Option(
      '--splits <list>',
      `of ${BENCH_SPLITS.join(', ')} (default iid,dirichlet-0.1)`,
    ).argParser(list(BENCH_SPLITS)),
  )
  .addOption(
    new Option('--methods <list>', `of ${BENCH_METHODS.join(', ')} (default all)`).argParser(
      list(BENCH_METHODS),
    ),
  )
  .addOption(
    new Option('--seeds <list>', `seeds (default ${DEFAULT_SEEDS.join(',')})`).argParser(seeds),
  )
  .addOption(new Option('--devices <k>', 'devices (default 4)').argParser(int))
  .addOption(
    new Option(
      '--rounds <n>',
      `rounds of every cell (default ${BENCH_ROUNDS}, ${Object.entries(BENCH_ROUNDS_BY_SPLIT)
        .map(([split, r]) => `${split} ${r}`)
        .join(', ')}: until the best distributed method is below FID 25 or levels out)`,
    ).argParser(int),
  )
  .addOption(
    new Option(
      '--eval-every <n>',
      'rounds between FID evaluations (default rounds / 15)',
    ).argParser(int),
  )
  .addOption(
    new Option(
      '--eval-samples <n>',
      `generated samples per FID (default ${DEFAULTS.evalSamples}, the embedded run's)`,
    ).argParser(int),
  )
  .addOption(new Option('--limit <n>', 'training samples used (default all)').argParser(int))
  .addOption(
    new Option('--model <arch>', `models (default ${DEFAULTS.model}, the embedded run's)`).choices(
      choicesOf(EMBEDDED_SETTINGS.MODEL) ?? [DEFAULTS.model],
    ),
  )
  .addOption(
    new Option(
      '--thresholds <list>',
      `FID thresholds, absolute (default ${DEFAULT_THRESHOLDS.join(',')})`,
    ).argParser(numbers),
  )
  .option('--machine <text>', 'the machine, as the report names it', DEFAULT_MACHINE)
  .parse();

const o = program.opts<{
  quick?: boolean;
  reportOnly?: boolean;
  out?: string;
  runsDir: string;
  dataRoot?: string;
  datasets?: BenchOptions['datasets'];
  splits?: BenchOptions['splits'];
  methods?: BenchOptions['methods'];
  seeds?: number[];
  devices?: number;
  rounds?: number;
  evalEvery?: number;
  evalSamples?: number;
  limit?: number;
  model?: BenchOptions['model'];
  thresholds?: number[];
  machine: string;
}>();

const quick = o.quick === true;
const rounds = o.rounds ?? (quick ? 20 : BENCH_ROUNDS);
const options: BenchOptions = {
  out: o.out ?? (quick ? 'bench/results/convergence-quick' : 'docs/convergence'),
  runsDir: o.runsDir,
  dataRoot: o.dataRoot,
  datasets: o.datasets ?? BENCHMARK.datasets,
  splits: o.splits ?? BENCHMARK.splits,
  methods: o.methods ?? BENCHMARK.methods,
  seeds: o.seeds ?? (quick ? [1, 2] : BENCHMARK.seeds),
  devices: o.devices ?? 4,
  rounds,
  // --rounds sets every cell's length; --quick's cells are all alike.
  ...(o.rounds === undefined && !quick ? { roundsBySplit: BENCH_ROUNDS_BY_SPLIT } : {}),
  evalEvery: o.evalEvery ?? (quick ? 5 : Math.max(1, Math.round(rounds / 15))),
  evalSamples: o.evalSamples ?? (quick ? 200 : DEFAULTS.evalSamples),
  limit: o.limit ?? (quick ? 2000 : undefined),
  model: o.model ?? (quick ? 'mlp' : DEFAULTS.model),
  thresholds: o.thresholds ?? DEFAULT_THRESHOLDS,
  reportOnly: o.reportOnly === true,
  // The report covers the whole benchmark, whichever of its cells this process trains.
  ...(quick ? {} : { reportScope: BENCHMARK }),
  machine: o.machine,
  log: (line) => console.log(line),
};

const backend = await initBackend({ forced: process.env['TFJS_BACKEND'] || undefined });
options.backend = describeBackend(backend).split(';')[0];
console.log(`backend: ${options.backend}`);
// Modelled seconds per network profile (docs/time-model.md) beside the measured ones.
options.timeModel = deploymentTimeModel();
const t0 = performance.now();
const results = await runConvergenceBench(options);
for (const a of results.absent) console.log(`${a.dataset}: absent (${a.reason})`);
for (const m of results.missing)
  console.log(
    `missing: ${m.key.dataset}-${m.key.split}-${m.key.method}-seed${m.key.seed} (${m.why}${m.detail ? `: ${m.detail}` : ''})`,
  );
console.log(
  `report: ${options.out}/report.md, results: ${options.out}/results.json; trained ${results.trained} cells, ` +
    `${results.cells.length} in the report, ${results.missing.length} missing ` +
    `(${((performance.now() - t0) / 60_000).toFixed(1)} min)`,
);
if (results.missing.some((m) => m.why === 'failed')) process.exitCode = 1;
