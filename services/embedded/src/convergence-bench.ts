import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDataset } from '@distgan/data';
import { committedClassifierPath, renderLinePlot, type EvaluationProtocol } from '@distgan/eval';
import { DEFAULTS, type DatasetName, type EmbeddedConfig, type PartitionScheme } from './config.js';
import { runEmbedded, type RoundLine } from './run.js';

/*
 * The paper's experiment: FID against rounds and against training time for each dataset, data
 * split and method, with the time each method needs to reach given FID thresholds and its ratio
 * to the paper's method (serial schedule).
 */

export const BENCH_METHODS = ['serial', 'parallel', 'md-gan', 'fl-gan', 'centralized'] as const;
export type BenchMethod = (typeof BENCH_METHODS)[number];
export const BENCH_SPLITS = ['iid', 'dirichlet-1', 'dirichlet-0.1', 'shards'] as const;
export type BenchSplit = (typeof BENCH_SPLITS)[number];
export const BENCH_DATASETS = ['mnist', 'fashion-mnist', 'cifar10'] as const;
export type BenchDataset = (typeof BENCH_DATASETS)[number];

export interface BenchOptions {
  out: string;
  datasets: readonly BenchDataset[];
  splits: readonly BenchSplit[];
  methods: readonly BenchMethod[];
  devices: number;
  rounds: number;
  evalEvery: number;
  evalSamples: number;
  model: EmbeddedConfig['model'];
  /** Training samples used (all when absent). */
  limit?: number;
  /** Folder holding fashion-mnist/ and cifar-10-batches-bin/ in their original formats. */
  dataRoot?: string;
  seed: number;
  /** FID thresholds; default: what the serial method reached at 25%, 50% and 100% of the rounds. */
  thresholds?: readonly number[];
  onRound?(run: RunKey, line: RoundLine): void;
  onRunDone?(run: RunResult): void;
}

export interface RunKey {
  dataset: BenchDataset;
  split: BenchSplit;
  method: BenchMethod;
}

export interface FidPoint {
  round: number;
  /** Training seconds since the start (evaluations excluded). */
  seconds: number;
  fid: number;
  modes: number;
  classBalance: number;
  inceptionScore: number;
}

export interface RunResult extends RunKey {
  rounds: number;
  points: FidPoint[];
  msPerRound: number;
  /** Mean bytes per round: server → devices, devices → server, device → device. */
  /** MD-GAN's discriminator swaps go through the server: counted in `down` and `up`. */
  bytesPerRound: { down: number; up: number };
  runDir: string;
}

export interface AbsentDataset {
  dataset: BenchDataset;
  reason: string;
}

export interface BenchResults {
  settings: Omit<BenchOptions, 'onRound' | 'onRunDone'>;
  protocol?: EvaluationProtocol;
  runs: RunResult[];
  absent: AbsentDataset[];
}

export function dataDirOf(dataset: BenchDataset, root?: string): string | undefined {
  if (dataset === 'mnist' || !root) return undefined;
  return join(root, dataset === 'cifar10' ? 'cifar-10-batches-bin' : 'fashion-mnist');
}

function partitionOf(split: BenchSplit): { partition: PartitionScheme; alpha: number } {
  if (split.startsWith('dirichlet-'))
    return { partition: 'dirichlet', alpha: Number(split.slice(10)) };
  return { partition: split as PartitionScheme, alpha: DEFAULTS.alpha };
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

export async function runConvergenceBench(opts: BenchOptions): Promise<BenchResults> {
  mkdirSync(opts.out, { recursive: true });
  const { onRound: _r, onRunDone: _d, ...settings } = opts;
  const results: BenchResults = { settings, runs: [], absent: [] };
  for (const dataset of opts.datasets) {
    const why = await absence(dataset, opts.dataRoot);
    if (why) {
      results.absent.push({ dataset, reason: why });
      continue;
    }
    for (const split of opts.splits) {
      for (const method of opts.methods) {
        const key = { dataset, split, method };
        const config: EmbeddedConfig = {
          ...DEFAULTS,
          runId: `${dataset}-${split}-${method}`.replace(/\./g, '_'),
          out: join(opts.out, 'runs'),
          devices: opts.devices,
          rounds: opts.rounds,
          method: method === 'serial' || method === 'parallel' ? 'distgan' : method,
          schedule: method === 'parallel' ? 'parallel' : 'serial',
          model: opts.model,
          dataset: dataset as DatasetName,
          dataDir: dataDirOf(dataset, opts.dataRoot),
          limit: opts.limit,
          ...partitionOf(split),
          seed: opts.seed,
          evalEvery: opts.evalEvery,
          evalSamples: opts.evalSamples,
          sampleEvery: Math.max(opts.evalEvery, Math.ceil(opts.rounds / 4)),
        };
        const lines: RoundLine[] = [];
        const summary = await runEmbedded(config, {
          onRound: (line) => {
            lines.push(line);
            opts.onRound?.(key, line);
          },
        });
        results.protocol ??= summary.evalProtocol;
        const points = lines
          .filter((l) => l.fid !== undefined && l.eval)
          .map((l) => ({
            round: l.round + 1,
            seconds: l.trainS,
            fid: l.fid!,
            modes: l.eval!.modesCovered,
            classBalance: l.eval!.classBalance,
            inceptionScore: l.eval!.inceptionScore,
          }));
        const sum = { down: 0, up: 0 };
        for (const l of lines) {
          sum.down += l.bytes.down;
          sum.up += l.bytes.up;
        }
        const run: RunResult = {
          ...key,
          rounds: lines.length,
          points,
          msPerRound: (1000 * (lines.at(-1)?.trainS ?? 0)) / Math.max(1, lines.length),
          bytesPerRound: {
            down: sum.down / lines.length,
            up: sum.up / lines.length,
          },
          runDir: summary.runDir,
        };
        results.runs.push(run);
        opts.onRunDone?.(run);
      }
    }
  }
  writeReport(opts.out, results);
  return results;
}

/** The first evaluation at which the FID is at or below `threshold`. */
export function timeToThreshold(
  points: readonly FidPoint[],
  threshold: number,
): FidPoint | undefined {
  return points.find((p) => p.fid <= threshold);
}

/** Default thresholds: the serial method's FID at 25%, 50% and 100% of its evaluations. */
export function defaultThresholds(reference: readonly FidPoint[]): number[] {
  if (reference.length === 0) return [];
  const at = (q: number): number =>
    reference[Math.min(reference.length - 1, Math.max(0, Math.ceil(q * reference.length) - 1))]!
      .fid;
  return [...new Set([at(0.25), at(0.5), at(1)])].sort((a, b) => b - a);
}

const COLORS: Record<BenchMethod, readonly [number, number, number]> = {
  serial: [214, 39, 40],
  parallel: [255, 127, 14],
  'md-gan': [31, 119, 180],
  'fl-gan': [44, 160, 44],
  centralized: [120, 120, 120],
};

const fmt = (v: number | undefined, digits = 1): string =>
  v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
const mb = (bytes: number): string => (bytes / 1e6).toFixed(bytes < 1e5 && bytes > 0 ? 3 : 2);

/** Writes results.json, report.md and the plots into `dir`. */
export function writeReport(dir: string, results: BenchResults): void {
  mkdirSync(dir, { recursive: true });
  const s = results.settings;
  const md: string[] = [
    '# Convergence: distgan against MD-GAN, FL-GAN and centralized training',
    '',
    `${s.devices} devices, ${s.rounds} rounds, ${s.model} models, batch ${DEFAULTS.batchSize}, ` +
      `L = ${DEFAULTS.localSteps}, M = ${DEFAULTS.generatorSteps}, Adam (lr ${DEFAULTS.lrD}, β = ${DEFAULTS.beta1}, ${DEFAULTS.beta2}), seed ${s.seed}` +
      (s.limit ? `, first ${s.limit} training samples` : ', all training samples') +
      '. All methods run in one process on the same machine, one after another.',
    '',
  ];
  if (results.protocol) {
    const p = results.protocol;
    md.push(
      `FID: ${s.evalSamples} generated samples against the ${p.referenceSamples} ${p.referenceSplit} images, ` +
        `in the features of ${p.featureLayer} of a classifier trained on the real data; evaluated every ` +
        `${s.evalEvery} rounds. Time is training time: evaluations and sample grids are not counted.`,
      '',
    );
  }
  for (const a of results.absent) md.push(`**${a.dataset}: absent.** ${a.reason}`, '');

  const groups = new Map<string, RunResult[]>();
  for (const r of results.runs) {
    const k = `${r.dataset}|${r.split}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const thresholdsUsed: Record<string, number[]> = {};
  for (const [k, runs] of groups) {
    const [dataset, split] = k.split('|') as [BenchDataset, BenchSplit];
    const reference = runs.find((r) => r.method === 'serial') ?? runs[0]!;
    const thresholds = s.thresholds?.length
      ? [...s.thresholds]
      : defaultThresholds(reference.points);
    thresholdsUsed[k] = thresholds;
    const base = `fid-${dataset}-${split}`.replace(/\./g, '_');
    for (const [axis, label] of [
      ['rounds', 'round'],
      ['seconds', 'training seconds'],
    ] as const) {
      writeFileSync(
        join(dir, `${base}-${axis}.png`),
        renderLinePlot(
          runs.map((r) => ({
            label: r.method,
            color: COLORS[r.method],
            x: r.points.map((p) => (axis === 'rounds' ? p.round : p.seconds)),
            y: r.points.map((p) => p.fid),
          })),
          { title: `FID, ${dataset}, ${split} (log scale)`, xLabel: label, logY: true },
        ),
      );
    }
    const checkpoints = [
      ...new Set(
        [0.25, 0.5, 1].map(
          (q) => reference.points[Math.max(0, Math.ceil(q * reference.points.length) - 1)]?.round,
        ),
      ),
    ].filter((r): r is number => r !== undefined);
    md.push(
      `## ${dataset}, ${split}`,
      '',
      `![FID against rounds](${base}-rounds.png) ![FID against time](${base}-seconds.png)`,
      '',
    );
    md.push(
      `| method | ${checkpoints.map((r) => `FID @${r}`).join(' | ')} | modes @end | ms/round | MB down/up per round | ${thresholds
        .map((t) => `s to FID ≤ ${fmt(t)} (× serial)`)
        .join(' | ')} |`,
      `|---|${checkpoints.map(() => '---:').join('|')}|---:|---:|---:|${thresholds.map(() => '---:').join('|')}|`,
    );
    for (const r of runs) {
      const fidAt = checkpoints.map((c) => fmt(r.points.find((p) => p.round === c)?.fid));
      const end = r.points.at(-1);
      const times = thresholds.map((t) => {
        const hit = timeToThreshold(r.points, t);
        if (!hit) return 'not reached';
        const ref = timeToThreshold(reference.points, t);
        const ratio = ref && ref.seconds > 0 ? ` (${(hit.seconds / ref.seconds).toFixed(2)}×)` : '';
        return `${hit.seconds.toFixed(1)}${ratio}`;
      });
      md.push(
        `| ${r.method} | ${fidAt.join(' | ')} | ${end ? `${end.modes}` : '—'} | ${r.msPerRound.toFixed(0)} | ${mb(r.bytesPerRound.down)} / ${mb(r.bytesPerRound.up)} | ${times.join(' | ')} |`,
      );
    }
    md.push('');
  }
  md.push(
    '× serial: time to the threshold divided by the serial method’s (above 1: slower than the paper’s method). ' +
      'Thresholds, unless given: the FID the serial method reached at 25%, 50% and 100% of its evaluations. ' +
      'In one process the parallel schedule cannot overlap the devices and the server (they share the cores); ' +
      'it differs from serial only in training G against φ_t.',
    '',
  );
  writeFileSync(join(dir, 'report.md'), md.join('\n'));
  writeFileSync(
    join(dir, 'results.json'),
    JSON.stringify({ ...results, thresholds: thresholdsUsed }, null, 2) + '\n',
  );
}
