import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { classCountOf, loadDataset, Rng, sampleSize } from '@distgan/data';
import { committedClassifierPath, loadEvaluator, type EvaluationProtocol } from '@distgan/eval';
import { deriveSeed, forwardFlops, type ModelArch } from '@distgan/gan';
import { DEFAULTS, type DatasetName, type EmbeddedConfig, type PartitionScheme } from './config.js';
import { runEmbedded, type RoundLine } from './run.js';
import { writeReport, type DeploymentTimeModel } from './convergence-report.js';

/*
 * The paper's experiment, over seeds: FID against rounds and training time for each dataset,
 * data split, method and seed. Each (dataset, split, method, seed) is a cell, trained once and
 * kept as its own JSON file under <out>/cells/, so that an interrupted benchmark resumes where it
 * stopped and the report can be rebuilt from the cells alone (convergence-report.ts).
 */

export const BENCH_METHODS = ['serial', 'parallel', 'md-gan', 'fl-gan', 'centralized'] as const;
export type BenchMethod = (typeof BENCH_METHODS)[number];
export const BENCH_SPLITS = ['iid', 'dirichlet-1', 'dirichlet-0.1', 'shards'] as const;
export type BenchSplit = (typeof BENCH_SPLITS)[number];
export const BENCH_DATASETS = ['mnist', 'fashion-mnist', 'cifar10'] as const;
export type BenchDataset = (typeof BENCH_DATASETS)[number];
/** Centralized training sees all the data: one cell per seed, whatever the split. */
export const POOLED = 'pooled';
export type CellSplit = BenchSplit | typeof POOLED;

/**
 * FID thresholds, fixed in absolute FID (the classifier's scale), never taken from a curve. On
 * that scale real test digits score about 3.5, real digits of nine classes about 17, uniform noise
 * 782. The class-conditional default models are below FID 90 at the first evaluation (round 133)
 * with every method (measured 2026-12-06), so 200 and 100 would no longer separate anything.
 */
export const DEFAULT_THRESHOLDS: readonly number[] = [50, 35, 25, 20];
export const DEFAULT_SEEDS: readonly number[] = [1, 2, 3];
/** Bumped when a cell's content changes meaning: older cells are then stale. */
export const CELL_FORMAT = 1;

const SAMPLE_SHAPES: Record<BenchDataset, [number, number, number]> = {
  mnist: [28, 28, 1],
  'fashion-mnist': [28, 28, 1],
  cifar10: [32, 32, 3],
};

export interface BenchOptions {
  /** The report's folder; the cells are in <out>/cells, the reference levels in references.json. */
  out: string;
  /** Parent folder of the cells' run folders (metrics, grids, weights); default runs/convergence. */
  runsDir?: string;
  datasets: readonly BenchDataset[];
  splits: readonly BenchSplit[];
  methods: readonly BenchMethod[];
  seeds: readonly number[];
  devices: number;
  rounds: number;
  /**
   * Rounds of a split's cells where they differ from `rounds` (centralized, split `pooled`,
   * always runs `rounds`): a split on which the methods converge more slowly runs longer.
   */
  roundsBySplit?: Partial<Record<BenchSplit, number>>;
  evalEvery: number;
  evalSamples: number;
  /** Default: the embedded run's (DEFAULTS.model). */
  model?: ModelArch;
  /** Training samples used (all when absent). */
  limit?: number;
  /** Folder holding fashion-mnist/ and cifar-10-batches-bin/ in their original formats. */
  dataRoot?: string;
  /** Default DEFAULT_THRESHOLDS. */
  thresholds?: readonly number[];
  /** Build the report from the cells on disk: train nothing. */
  reportOnly?: boolean;
  /**
   * The cells the report covers besides those this call trains: the whole benchmark, when a call
   * trains only some of its cells (a few seeds, one method). Its finished cells are read from disk
   * after training, so a report written last includes what other processes finished meanwhile;
   * its unfinished ones are listed as missing. Default: only the cells this call plans.
   */
  reportScope?: Pick<BenchOptions, 'datasets' | 'splits' | 'methods' | 'seeds'>;
  /** The machine, as the report names it. */
  machine?: string;
  /** The backend the cells trained on (recorded in each new cell). */
  backend?: string;
  /** Progress lines; default: none. */
  log?(line: string): void;
  /** Trains one cell; default: runEmbedded. Tests pass a stand-in. */
  train?: CellTrainer;
  /** The reference levels of one dataset and seed; default: with the runs' evaluator. */
  references?: ReferenceComputer;
  /** Modelled deployment time per network profile, when a time model is available. */
  timeModel?: DeploymentTimeModel;
}

export type CellTrainer = (
  config: EmbeddedConfig,
  onLine: (line: RoundLine) => void,
) => Promise<{ protocol?: EvaluationProtocol }>;

export type ReferenceComputer = (
  dataset: BenchDataset,
  o: { dataDir?: string; samples: number; seeds: readonly number[] },
) => Promise<ReferenceLevel[]>;

export interface CellKey {
  dataset: BenchDataset;
  split: CellSplit;
  method: BenchMethod;
  seed: number;
}

export interface FidPoint {
  /** Rounds done (1-based). */
  round: number;
  /** Training seconds since the start (evaluations and sample grids excluded). */
  trainS: number;
  fid: number;
  modes: number;
  classBalance: number;
  inceptionScore: number;
  confidentShare?: number;
  smallestClassShare?: number;
}

/** What the fingerprint covers: the run's configuration less paths and output settings. */
export type CellSettings = Omit<
  EmbeddedConfig,
  'runId' | 'out' | 'dataDir' | 'sampleEvery' | 'sampleCount' | 'blobDigest' | 'deviceThreadHeapMb'
> & {
  /** Forward FLOPs per sample of G and D: a model change without a setting change shows here. */
  architecture: { generatorFlops: number; discriminatorFlops: number };
};

/** One finished cell: <out>/cells/<dataset>-<split>-<method>-seed<seed>.json. */
export interface Cell {
  format: number;
  key: CellKey;
  fingerprint: string;
  settings: CellSettings;
  /** When the cell finished (ISO 8601). */
  finishedAt: string;
  backend?: string;
  protocol?: EvaluationProtocol;
  /** Rounds trained. */
  rounds: number;
  /** Wall seconds of the whole cell, evaluations included. */
  wallS: number;
  points: FidPoint[];
  /** Training milliseconds per round (evaluations excluded). */
  msPerRound: number;
  /** Mean bytes per round, server → devices and devices → server. */
  bytesPerRound: { down: number; up: number };
  /** Devices of the run (0: centralized, which has none). */
  devices: number;
  /**
   * What a deployment time model needs (time-model.ts), as means per round over the rounds after
   * the first (the warm-up round, when there are others): each phase of RoundLine.phases (ms),
   * the bytes, the devices accepted, and the slowest device's codec time (verify + encode, ms).
   */
  roundMeans: {
    rounds: number;
    phases: Record<string, number>;
    bytes: { down: number; up: number };
    participants: number;
    deviceCodecMs: number;
  };
  /** The last evaluation. */
  final?: FidPoint;
}

export interface ReferenceLevel {
  dataset: BenchDataset;
  samples: number;
  seed: number;
  /**
   * FID of `samples` real training images drawn with the seed: what a generator that had learnt
   * its training data perfectly would score against the test set.
   */
  floor: number;
  /**
   * Where the floor's images come from. Always 'train': a floor of test images measured against
   * statistics that include those same images comes out lower than any generator can reach
   * (about 2 against 3.5 with 2,000 MNIST images); levels stored without it are recomputed.
   */
  floorSplit?: 'train';
  /** FID of `samples` images of uniform noise in [-1, 1]. */
  noise: number;
  protocol?: Omit<EvaluationProtocol, 'samples'>;
}

export interface MissingCell {
  key: CellKey;
  /** absent: no file; stale: a file with other settings; failed: training threw. */
  why: 'absent' | 'stale' | 'failed';
  detail?: string;
}

export interface AbsentDataset {
  dataset: BenchDataset;
  reason: string;
}

export interface BenchResults {
  cells: Cell[];
  missing: MissingCell[];
  absent: AbsentDataset[];
  references: ReferenceLevel[];
  /** Cells trained by this call. */
  trained: number;
}

export function dataDirOf(dataset: BenchDataset, root?: string): string | undefined {
  if (dataset === 'mnist' || !root) return undefined;
  return join(root, dataset === 'cifar10' ? 'cifar-10-batches-bin' : 'fashion-mnist');
}

export function splitOf(method: BenchMethod, split: BenchSplit): CellSplit {
  return method === 'centralized' ? POOLED : split;
}

export const cellName = (k: CellKey): string => `${k.dataset}-${k.split}-${k.method}-seed${k.seed}`;
export const cellPath = (out: string, k: CellKey): string =>
  join(out, 'cells', `${cellName(k)}.json`);

function partitionOf(split: CellSplit): { partition: PartitionScheme; alpha: number } {
  if (split.startsWith('dirichlet-'))
    return { partition: 'dirichlet', alpha: Number(split.slice('dirichlet-'.length)) };
  // A pooled (centralized) cell ignores the partition: the defaults, fixed.
  if (split === POOLED) return { partition: DEFAULTS.partition, alpha: DEFAULTS.alpha };
  return { partition: split as PartitionScheme, alpha: DEFAULTS.alpha };
}

/** The cells the options ask for, seeds outermost (a partial benchmark covers all methods). */
export function planCells(
  o: Pick<BenchOptions, 'datasets' | 'splits' | 'methods' | 'seeds'>,
): CellKey[] {
  const keys: CellKey[] = [];
  const seen = new Set<string>();
  for (const seed of o.seeds)
    for (const dataset of o.datasets)
      for (const s of o.splits)
        for (const method of o.methods) {
          const k: CellKey = { dataset, split: splitOf(method, s), method, seed };
          if (seen.has(cellName(k))) continue;
          seen.add(cellName(k));
          keys.push(k);
        }
  return keys;
}

/** The rounds of a split's cells. */
function roundsOf(o: Pick<BenchOptions, 'rounds' | 'roundsBySplit'>, split: CellSplit): number {
  return (split === POOLED ? undefined : o.roundsBySplit?.[split]) ?? o.rounds;
}

/** The embedded run of a cell: the embedded run's defaults, with the benchmark's settings. */
export function cellConfig(o: BenchOptions, k: CellKey): EmbeddedConfig {
  const rounds = roundsOf(o, k.split);
  return {
    ...DEFAULTS,
    runId: cellName(k).replace(/\./g, '_'),
    out: o.runsDir ?? join('runs', 'convergence'),
    devices: o.devices,
    rounds,
    method: k.method === 'serial' || k.method === 'parallel' ? 'distgan' : k.method,
    schedule: k.method === 'parallel' ? 'parallel' : 'serial',
    model: o.model ?? DEFAULTS.model,
    dataset: k.dataset as DatasetName,
    dataDir: dataDirOf(k.dataset, o.dataRoot),
    limit: o.limit,
    ...partitionOf(k.split),
    seed: k.seed,
    evalEvery: o.evalEvery,
    evalSamples: o.evalSamples,
    sampleEvery: Math.max(o.evalEvery, Math.ceil(rounds / 4)),
  };
}

export function cellSettings(config: EmbeddedConfig): CellSettings {
  const {
    runId: _r,
    out: _o,
    dataDir: _d,
    sampleEvery: _s,
    sampleCount: _c,
    blobDigest: _b,
    deviceThreadHeapMb: _h,
    ...rest
  } = config;
  const spec = {
    arch: config.model,
    sampleShape: SAMPLE_SHAPES[config.dataset as BenchDataset] ?? [2],
    latentDim: config.latentDim,
    width: config.modelWidth,
    ...(config.conditional ? { classes: classCountOf(config.dataset) } : {}),
  };
  return {
    ...rest,
    architecture: {
      generatorFlops: forwardFlops('generator', spec),
      discriminatorFlops: forwardFlops('discriminator', spec),
    },
  };
}

/** A stable hash of the settings (keys sorted) and the cell format. */
export function fingerprintOf(settings: CellSettings): string {
  const sorted = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
        )
      : v;
  return createHash('sha256')
    .update(JSON.stringify({ format: CELL_FORMAT, settings: sorted(settings) }))
    .digest('hex')
    .slice(0, 16);
}

/** Writes `value` as JSON through a temporary file and a rename: never half a file. */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, path);
}

export type CellState =
  { state: 'done'; cell: Cell } | { state: 'absent' } | { state: 'stale'; detail: string };

/** A cell on disk is used only when its fingerprint is the one these settings give. */
export function readCell(path: string, fingerprint: string): CellState {
  if (!existsSync(path)) return { state: 'absent' };
  let cell: Cell;
  try {
    cell = JSON.parse(readFileSync(path, 'utf8')) as Cell;
  } catch (err) {
    return { state: 'stale', detail: `unreadable: ${(err as Error).message}` };
  }
  if (cell.format !== CELL_FORMAT)
    return { state: 'stale', detail: `cell format ${cell.format}, expected ${CELL_FORMAT}` };
  if (cell.fingerprint !== fingerprint)
    return {
      state: 'stale',
      detail: `fingerprint ${cell.fingerprint}, these settings give ${fingerprint}`,
    };
  return { state: 'done', cell };
}

/** A finished cell from its round lines. */
export function cellFromLines(
  key: CellKey,
  settings: CellSettings,
  lines: readonly RoundLine[],
  extra: { protocol?: EvaluationProtocol; wallS: number; backend?: string; finishedAt?: Date },
): Cell {
  const n = Math.max(1, lines.length);
  const points: FidPoint[] = lines
    .filter((l) => l.fid !== undefined && l.eval)
    .map((l) => ({
      round: l.round + 1,
      trainS: l.trainS,
      fid: l.fid!,
      modes: l.eval!.modesCovered,
      classBalance: l.eval!.classBalance,
      inceptionScore: l.eval!.inceptionScore,
      ...(l.eval!.confidentShare !== undefined ? { confidentShare: l.eval!.confidentShare } : {}),
      ...(l.eval!.smallestClassShare !== undefined
        ? { smallestClassShare: l.eval!.smallestClassShare }
        : {}),
    }));
  // Sums first, divided once: a constant per round comes out exact.
  const bytesPerRound = { down: 0, up: 0 };
  for (const l of lines) {
    bytesPerRound.down += l.bytes.down;
    bytesPerRound.up += l.bytes.up;
  }
  bytesPerRound.down /= n;
  bytesPerRound.up /= n;
  const used = lines.length > 1 ? lines.slice(1) : lines;
  const m = Math.max(1, used.length);
  const roundMeans: Cell['roundMeans'] = {
    rounds: used.length,
    phases: {},
    bytes: { down: 0, up: 0 },
    participants: 0,
    deviceCodecMs: 0,
  };
  for (const l of used) {
    for (const [name, ms] of Object.entries(l.phases))
      if (typeof ms === 'number') roundMeans.phases[name] = (roundMeans.phases[name] ?? 0) + ms;
    roundMeans.bytes.down += l.bytes.down;
    roundMeans.bytes.up += l.bytes.up;
    roundMeans.participants += l.participants;
    roundMeans.deviceCodecMs += Math.max(
      0,
      ...l.accepted.map((a) => (a.timings ? a.timings.verifyMs + a.timings.encodeMs : 0)),
    );
  }
  for (const name of Object.keys(roundMeans.phases)) roundMeans.phases[name]! /= m;
  roundMeans.bytes.down /= m;
  roundMeans.bytes.up /= m;
  roundMeans.participants /= m;
  roundMeans.deviceCodecMs /= m;
  return {
    format: CELL_FORMAT,
    key,
    fingerprint: fingerprintOf(settings),
    settings,
    finishedAt: (extra.finishedAt ?? new Date()).toISOString(),
    ...(extra.backend ? { backend: extra.backend } : {}),
    ...(extra.protocol ? { protocol: extra.protocol } : {}),
    rounds: lines.length,
    wallS: extra.wallS,
    points,
    msPerRound: (1000 * (lines.at(-1)?.trainS ?? 0)) / n,
    bytesPerRound,
    devices: key.method === 'centralized' ? 0 : settings.devices,
    roundMeans,
    ...(points.length ? { final: points.at(-1)! } : {}),
  };
}

const trainEmbedded: CellTrainer = async (config, onLine) => {
  const summary = await runEmbedded(config, { onRound: onLine });
  return summary.evalProtocol ? { protocol: summary.evalProtocol } : {};
};

/**
 * The reference levels with the evaluator the runs use (the committed classifier's features, the
 * whole test split as reference): `samples` real training images drawn with each seed (what the
 * generators learn from, so the best they can score), and as many images of uniform noise in
 * [-1, 1].
 */
export const computeReferences: ReferenceComputer = async (dataset, o) => {
  const evaluator = await loadEvaluator({ dataset, dataDir: o.dataDir });
  try {
    const train = await loadDataset({ name: dataset, dir: o.dataDir, split: 'train' });
    const size = sampleSize(train);
    const n = Math.min(o.samples, train.count);
    return o.seeds.map((seed) => {
      const order = new Rng(deriveSeed(seed, 'reference-floor')).shuffle(
        Int32Array.from({ length: train.count }, (_, i) => i),
      );
      const real = new Float32Array(n * size);
      for (let i = 0; i < n; i++)
        real.set(train.images.subarray(order[i]! * size, (order[i]! + 1) * size), i * size);
      const rng = new Rng(deriveSeed(seed, 'reference-noise'));
      const noise = Float32Array.from({ length: o.samples * size }, () => 2 * rng.next() - 1);
      return {
        dataset,
        samples: o.samples,
        seed,
        floor: evaluator.evaluate(real).fid,
        noise: evaluator.evaluate(noise).fid,
        protocol: evaluator.protocol,
      };
    });
  } finally {
    evaluator.dispose();
  }
};

/** <out>/references.json: computed once per dataset, sample count and seed, then reused. */
async function referencesFor(
  o: BenchOptions,
  datasets: readonly BenchDataset[],
): Promise<ReferenceLevel[]> {
  const path = join(o.out, 'references.json');
  let stored: ReferenceLevel[] = [];
  if (existsSync(path)) {
    try {
      stored = (JSON.parse(readFileSync(path, 'utf8')) as { levels: ReferenceLevel[] }).levels;
      // Floors measured on test images (before floorSplit existed) are dropped and recomputed.
      stored = stored.filter((r) => r.floorSplit === 'train');
    } catch {
      stored = [];
    }
  }
  const compute = o.references ?? computeReferences;
  const found = (d: BenchDataset, seed: number): ReferenceLevel | undefined =>
    stored.find((r) => r.dataset === d && r.samples === o.evalSamples && r.seed === seed);
  let added = false;
  for (const dataset of datasets) {
    const seeds = o.seeds.filter((s) => !found(dataset, s));
    if (seeds.length === 0) continue;
    o.log?.(`reference levels of ${dataset} (${o.evalSamples} samples, seeds ${seeds.join(', ')})`);
    const levels = await compute(dataset, {
      dataDir: dataDirOf(dataset, o.dataRoot),
      samples: o.evalSamples,
      seeds,
    });
    stored.push(...levels.map((l) => ({ ...l, floorSplit: 'train' as const })));
    added = true;
  }
  if (added) writeJsonAtomic(path, { format: 1, levels: stored });
  return datasets.flatMap((d) =>
    o.seeds.map((s) => found(d, s)).filter((r): r is ReferenceLevel => r !== undefined),
  );
}

/** Why a dataset cannot be part of the experiment here, or undefined when it can. */
async function absence(dataset: BenchDataset, root?: string): Promise<string | undefined> {
  const card = fileURLToPath(committedClassifierPath(dataset));
  try {
    await loadDataset({ name: dataset, dir: dataDirOf(dataset, root), split: 'test', limit: 1 });
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  if (!existsSync(card)) {
    return `no FID classifier for ${dataset} (${card}): train one with npm run train:classifier -- --dataset ${dataset} --data-dir DIR`;
  }
  return undefined;
}

const duration = (s: number): string =>
  s < 90
    ? `${s.toFixed(0)} s`
    : s < 5400
      ? `${(s / 60).toFixed(1)} min`
      : `${(s / 3600).toFixed(1)} h`;
const label = (k: CellKey): string => `${k.dataset} ${k.split} ${k.method} seed ${k.seed}`;

/**
 * Trains the cells that are missing or stale (all of them unless reportOnly is set), then writes
 * the report, its plots and results.json from every finished cell.
 */
export async function runConvergenceBench(o: BenchOptions): Promise<BenchResults> {
  mkdirSync(join(o.out, 'cells'), { recursive: true });
  const log = o.log ?? ((): void => {});
  const train = o.train ?? trainEmbedded;
  const scope = scopeOf(o);
  const absent: AbsentDataset[] = [];
  const datasets: BenchDataset[] = [];
  for (const d of scope.datasets) {
    const why = await absence(d, o.dataRoot);
    if (why) absent.push({ dataset: d, reason: why });
    else datasets.push(d);
  }
  const plan = planCells({ ...o, datasets: o.datasets.filter((d) => datasets.includes(d)) });
  const cells = new Map<string, Cell>();
  const todo: { key: CellKey; config: EmbeddedConfig; settings: CellSettings; stale?: string }[] =
    [];
  const missing: MissingCell[] = [];
  for (const key of plan) {
    const config = cellConfig(o, key);
    const settings = cellSettings(config);
    const s = readCell(cellPath(o.out, key), fingerprintOf(settings));
    if (s.state === 'done') cells.set(cellName(key), s.cell);
    else todo.push({ key, config, settings, ...(s.state === 'stale' ? { stale: s.detail } : {}) });
  }
  const stale = todo.filter((t) => t.stale).length;
  log(
    `${plan.length} cells: ${cells.size} done, ${todo.length - stale} missing, ${stale} stale` +
      (o.reportOnly ? ' (report only: training none)' : ''),
  );
  const references = await referencesFor({ ...o, seeds: scope.seeds }, datasets);

  let trained = 0;
  if (!o.reportOnly) {
    const done0 = cells.size;
    const known = [...cells.values()].map((c) => c.wallS);
    for (const [i, t] of todo.entries()) {
      const position = `[cell ${done0 + i + 1}/${plan.length}]`;
      log(
        `${position} ${label(t.key)}: start (${t.config.rounds} rounds, FID every ${t.config.evalEvery})` +
          (t.stale ? `; replaces a stale cell (${t.stale})` : ''),
      );
      const lines: RoundLine[] = [];
      const t0 = performance.now();
      try {
        const { protocol } = await train(t.config, (line) => {
          lines.push(line);
          if (line.fid !== undefined)
            log(
              `  ${label(t.key)}: round ${line.round + 1}/${t.config.rounds} FID ${line.fid.toFixed(1)} ` +
                `(${line.trainS.toFixed(1)} s training)`,
            );
        });
        const wallS = (performance.now() - t0) / 1000;
        const cell = cellFromLines(t.key, t.settings, lines, {
          protocol,
          wallS,
          backend: o.backend,
        });
        writeJsonAtomic(cellPath(o.out, t.key), cell);
        cells.set(cellName(t.key), cell);
        known.push(wallS);
        trained++;
        const left = todo.length - i - 1;
        const eta = (known.reduce((a, b) => a + b, 0) / known.length) * left;
        log(
          `${position} ${label(t.key)}: done in ${duration(wallS)}, final FID ${cell.final?.fid.toFixed(1) ?? '—'}; ` +
            `${cells.size} of ${plan.length} cells done, ${left} left` +
            (left ? `, ETA ${duration(eta)}` : ''),
        );
      } catch (err) {
        const detail = err instanceof Error ? err.message : String(err);
        log(`${position} ${label(t.key)}: FAILED (${detail}); going on with the next cell`);
        missing.push({ key: t.key, why: 'failed', detail });
      }
    }
  }
  // The report's cells: this call's, then the rest of its scope as they are on disk now.
  const reportPlan = planCells({ ...scope, datasets });
  const failed = new Set(missing.map((m) => cellName(m.key)));
  for (const key of reportPlan) {
    const name = cellName(key);
    if (cells.has(name) || failed.has(name)) continue;
    const s = readCell(cellPath(o.out, key), fingerprintOf(cellSettings(cellConfig(o, key))));
    if (s.state === 'done') cells.set(name, s.cell);
    else missing.push({ key, why: s.state, ...(s.state === 'stale' ? { detail: s.detail } : {}) });
  }
  const finished = reportPlan.map((k) => cells.get(cellName(k))).filter((c): c is Cell => !!c);
  if (reportPlan.length > plan.length)
    log(`report: ${finished.length} of the ${reportPlan.length} cells of the whole benchmark`);
  // No cell at all: keep whatever report the folder has (an earlier benchmark's) untouched.
  if (finished.length === 0) {
    log('no finished cells: the report is not written');
    return { cells: finished, missing, absent, references, trained };
  }
  writeReport(o.out, {
    datasets,
    splits: scope.splits,
    methods: scope.methods,
    seeds: scope.seeds,
    thresholds: o.thresholds ?? DEFAULT_THRESHOLDS,
    machine: o.machine,
    cells: finished,
    missing,
    absent,
    references,
    timeModel: o.timeModel,
  });
  return { cells: finished, missing, absent, references, trained };
}

/**
 * The report's scope: the planned cells together with reportScope's, each list in its canonical
 * order (BENCH_DATASETS, BENCH_SPLITS, BENCH_METHODS, seeds ascending).
 */
function scopeOf(o: BenchOptions): Pick<BenchOptions, 'datasets' | 'splits' | 'methods' | 'seeds'> {
  const r = o.reportScope;
  if (!r) return o;
  const union = <T>(all: readonly T[], a: readonly T[], b: readonly T[]): T[] =>
    all.filter((x) => a.includes(x) || b.includes(x));
  return {
    datasets: union(BENCH_DATASETS, o.datasets, r.datasets),
    splits: union(BENCH_SPLITS, o.splits, r.splits),
    methods: union(BENCH_METHODS, o.methods, r.methods),
    seeds: [...new Set([...o.seeds, ...r.seeds])].sort((a, b) => a - b),
  };
}
