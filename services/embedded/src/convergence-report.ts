import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderLinePlot, type HLine, type Series } from '@distgan/eval';
import {
  compareTimes,
  secondsText,
  sidesOf,
  describeComparison,
  fidAtMost,
  formatP,
  meanSd,
  powerNote,
  reachOf,
  type Censored,
  type Comparison,
  type MeanSd,
  type Reach,
} from './bench-stats.js';
import type {
  AbsentDataset,
  BenchDataset,
  BenchMethod,
  BenchSplit,
  Cell,
  CellKey,
  FidPoint,
  MissingCell,
  ReferenceLevel,
} from './convergence-bench.js';

/*
 * The convergence benchmark's report, built from its cells alone: report.md, results.json and
 * two plots per dataset and split. No training happens here.
 */

/**
 * Modelled deployment time: how long a cell's round would take on a network profile
 * (convergence-time.ts puts time-model.ts behind it). Without one, the report measures only.
 */
export interface DeploymentTimeModel {
  profiles: readonly { name: string; label: string }[];
  /** Modelled milliseconds of one round of this cell's method on the profile. */
  roundMs(cell: Cell, profile: { name: string; label: string }): number;
}

export interface ReportInput {
  datasets: readonly BenchDataset[];
  splits: readonly BenchSplit[];
  methods: readonly BenchMethod[];
  seeds: readonly number[];
  thresholds: readonly number[];
  machine?: string;
  cells: readonly Cell[];
  missing: readonly MissingCell[];
  absent: readonly AbsentDataset[];
  references: readonly ReferenceLevel[];
  timeModel?: DeploymentTimeModel;
}

export const DEFAULT_MACHINE = '2-core machine, no GPU, wasm backend';

export const METHOD_NAMES: Record<BenchMethod, string> = {
  serial: 'distgan serial',
  parallel: 'distgan parallel',
  'md-gan': 'MD-GAN',
  'fl-gan': 'FL-GAN',
  centralized: 'centralized',
};

const COLORS: Record<BenchMethod, readonly [number, number, number]> = {
  serial: [214, 39, 40],
  parallel: [255, 127, 14],
  'md-gan': [31, 119, 180],
  'fl-gan': [44, 160, 44],
  centralized: [120, 120, 120],
};

/** (baseline, distgan) pairs: each baseline against both schedules, and parallel against serial. */
export const COMPARISONS: readonly [BenchMethod, BenchMethod][] = [
  ['md-gan', 'serial'],
  ['md-gan', 'parallel'],
  ['fl-gan', 'serial'],
  ['fl-gan', 'parallel'],
  ['centralized', 'serial'],
  ['centralized', 'parallel'],
  ['parallel', 'serial'],
];
const BASELINES: readonly BenchMethod[] = ['md-gan', 'fl-gan', 'centralized'];

/** A time basis: measured in this process, or modelled for a network profile. */
interface Basis {
  name: string;
  label: string;
  /** Seconds to the threshold of a cell, given the evaluation point that reached it. */
  seconds(cell: Cell, hit: FidPoint): number;
}

const splitOfCell = (method: BenchMethod, split: BenchSplit): string =>
  method === 'centralized' ? 'pooled' : split;
const nameOf = (k: CellKey): string => `${k.dataset}-${k.split}-${k.method}-seed${k.seed}`;

/** The first evaluation at which the FID is at or below `threshold`. */
export function timeToThreshold(
  points: readonly FidPoint[],
  threshold: number,
): FidPoint | undefined {
  return points.find((p) => p.fid <= threshold);
}

const num = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : '—');
/** "412.3 ± 35.1" (one value: no sd; none: —). */
export function pm(s: MeanSd, digits = 1): string {
  if (s.n === 0) return '—';
  return s.n < 2 ? num(s.mean, digits) : `${num(s.mean, digits)} ± ${num(s.sd, digits)}`;
}
/** A reach over seeds: mean ± sd, with how many seeds reached when not all did. */
export function reachText(r: Reach, digits: number): string {
  if (r.n === 0) return '—';
  if (r.reached === 0) return `not reached (0 of ${r.n} seeds)`;
  const v = pm(r.stats, digits);
  return r.reached === r.n ? v : `${v} (${r.reached} of ${r.n} seeds reached)`;
}
const mb = (bytes: number): string => (bytes / 1e6).toFixed(bytes < 1e5 && bytes > 0 ? 3 : 2);

interface MethodSummary {
  method: BenchMethod;
  cells: Cell[];
  finalFid: MeanSd;
  /** FID at the evaluation nearest two thirds of the run: beside the final, whether it levelled out. */
  twoThirdsFid: MeanSd;
  msPerRound: MeanSd;
  mbDown: MeanSd;
  mbUp: MeanSd;
  /** Per basis, each cell's whole run in seconds (to its last evaluation). */
  runs: Record<string, number[]>;
  /** Per threshold: rounds, and seconds per basis, one value per seed (undefined: not reached). */
  reach: {
    threshold: number;
    rounds: Censored[];
    seconds: Record<string, Censored[]>;
  }[];
}

function summarize(
  method: BenchMethod,
  cells: Cell[],
  thresholds: readonly number[],
  bases: readonly Basis[],
): MethodSummary {
  return {
    method,
    cells,
    finalFid: meanSd(cells.flatMap((c) => (c.final ? [c.final.fid] : []))),
    twoThirdsFid: meanSd(cells.flatMap((c) => fidNear(c, (2 * c.rounds) / 3))),
    msPerRound: meanSd(cells.map((c) => c.msPerRound)),
    mbDown: meanSd(cells.map((c) => c.bytesPerRound.down / 1e6)),
    mbUp: meanSd(cells.map((c) => c.bytesPerRound.up / 1e6)),
    runs: Object.fromEntries(
      bases.map((b) => [
        b.name,
        cells.flatMap((c) => {
          const last = c.points.at(-1);
          return last ? [b.seconds(c, last)] : [];
        }),
      ]),
    ),
    reach: thresholds.map((threshold) => {
      const hits = cells.map((c) => ({ c, hit: timeToThreshold(c.points, threshold) }));
      return {
        threshold,
        rounds: hits.map((h) => h.hit?.round),
        seconds: Object.fromEntries(
          bases.map((b) => [b.name, hits.map((h) => (h.hit ? b.seconds(h.c, h.hit) : undefined))]),
        ),
      };
    }),
  };
}

/** The FID of the evaluation nearest `round` (none when the cell has no evaluation). */
function fidNear(cell: Cell, round: number): number[] {
  if (cell.points.length === 0) return [];
  const p = cell.points.reduce((a, b) =>
    Math.abs(b.round - round) < Math.abs(a.round - round) ? b : a,
  );
  return [p.fid];
}

/** How long the cells ran: one length, or each split's (centralized's apart). */
function roundsText(cells: readonly Cell[]): string {
  const bySplit = new Map<string, Set<number>>();
  for (const c of cells) {
    const split = c.key.method === 'centralized' ? 'centralized' : c.key.split;
    const set = bySplit.get(split) ?? new Set<number>();
    set.add(c.settings.rounds);
    bySplit.set(split, set);
  }
  const all = new Set(cells.map((c) => c.settings.rounds));
  if (all.size === 1) return `${[...all][0]} rounds per cell`;
  const parts = [...bySplit].map(
    ([split, r]) => `${split} ${[...r].sort((a, b) => a - b).join(' and ')}`,
  );
  return `rounds per cell: ${parts.join(', ')}`;
}

/** Mean FID over seeds at the rounds every cell evaluated, with the min and max. */
function meanCurve(cells: readonly Cell[]): {
  rounds: number[];
  seconds: number[];
  mean: number[];
  lo: number[];
  hi: number[];
} {
  const rounds = (cells[0]?.points ?? [])
    .map((p) => p.round)
    .filter((r) => cells.every((c) => c.points.some((p) => p.round === r)));
  const at = (r: number) => cells.map((c) => c.points.find((p) => p.round === r)!);
  return {
    rounds,
    seconds: rounds.map((r) => meanSd(at(r).map((p) => p.trainS)).mean),
    mean: rounds.map((r) => meanSd(at(r).map((p) => p.fid)).mean),
    lo: rounds.map((r) => Math.min(...at(r).map((p) => p.fid))),
    hi: rounds.map((r) => Math.max(...at(r).map((p) => p.fid))),
  };
}

export interface SplitComparison {
  dataset: BenchDataset;
  split: BenchSplit;
  basis: string;
  comparison: Comparison;
}

export interface BuiltReport {
  markdown: string;
  results: unknown;
  plots: { name: string; png: Uint8Array }[];
}

/** The report, results.json's content and the plots, from the cells. */
export function buildReport(input: ReportInput): BuiltReport {
  const { cells, thresholds } = input;
  const bases: Basis[] = [
    { name: 'measured', label: 'in-process, measured', seconds: (_c, hit) => hit.trainS },
    ...(input.timeModel?.profiles ?? []).map((p) => ({
      name: p.name,
      label: `modelled: ${p.label}`,
      seconds: (c: Cell, hit: FidPoint) => (hit.round * input.timeModel!.roundMs(c, p)) / 1000,
    })),
  ];
  const planned = input.datasets.length * input.seeds.length;
  const expected =
    planned *
    (input.splits.length * input.methods.filter((m) => m !== 'centralized').length +
      (input.methods.includes('centralized') ? 1 : 0));
  const md: string[] = [
    '# Convergence over seeds: distgan against MD-GAN, FL-GAN and centralized training',
    '',
  ];
  if (input.missing.length > 0) {
    md.push(
      `**Partial report: ${input.missing.length} of ${expected} cells are missing or stale** ` +
        '(see [Missing cells](#missing-cells)).',
      '',
    );
  }

  // Setup, read from the cells (they all share the fingerprinted settings but the key).
  md.push('## Setup', '');
  const first = cells[0];
  if (!first) {
    md.push('No finished cells yet: run `npm run bench:convergence` to train them.', '');
  } else {
    const s = first.settings;
    const dates = cells.map((c) => c.finishedAt.slice(0, 10)).sort();
    const backends = [...new Set(cells.map((c) => c.backend).filter(Boolean))];
    const mflops = (f: number): string => `${(f / 1e6).toFixed(2)} MFLOPs`;
    md.push(
      `- Model: ${s.model}${s.conditional ? ', class-conditional (ACGAN)' : ''} (forward pass per sample: G ${mflops(s.architecture.generatorFlops)}, ` +
        `D ${mflops(s.architecture.discriminatorFlops)}), latent ${s.latentDim}; batch ${s.batchSize}, ` +
        `L = ${s.localSteps}, M = ${s.generatorSteps}, Adam (lr D ${s.lrD}, lr G ${s.lrG}, β = ${s.beta1}, ${s.beta2}).`,
      `- ${s.devices} devices, ${roundsText(cells)}, ` +
        (s.limit ? `the first ${s.limit} training samples` : 'all training samples') +
        `; seeds ${input.seeds.join(', ')}; splits ${input.splits.join(', ')}.`,
      `- FID of ${s.evalSamples} generated samples every ${s.evalEvery === 1 ? 'round' : `${s.evalEvery} rounds`} and after the last` +
        (first.protocol
          ? `, against the ${first.protocol.referenceSamples} ${first.protocol.referenceSplit} images in the features of ${first.protocol.featureLayer} of a classifier trained on the real data.`
          : '.'),
      `- Machine: ${input.machine ?? DEFAULT_MACHINE}` +
        (backends.length ? ` (backend recorded in the cells: ${backends.join(', ')})` : '') +
        `. Cells finished ${dates[0]}${dates.at(-1) !== dates[0] ? ` to ${dates.at(-1)}` : ''}.`,
      '- All methods run in one process, one cell after another. Time is training time: evaluations ' +
        'and sample grids are not counted. In one process the parallel schedule cannot overlap the ' +
        'devices and the server (they share the cores); it differs from serial only in training G against φ_t.',
      '- Centralized training does not depend on the split: it is trained once per seed (cells ' +
        '`…-pooled-centralized-seedN`) and shown in every split’s table as the reference.',
      '',
    );
  }
  for (const a of input.absent) md.push(`**${a.dataset}: absent.** ${a.reason}`, '');

  // Reference levels.
  md.push('## Reference levels', '');
  if (input.references.length === 0) {
    md.push('Not computed (no references.json).', '');
  } else {
    md.push(
      'The same evaluator as the runs (same classifier features, same test-set statistics). ' +
        'Real-data floor: FID of as many real training images as generated samples, drawn with each ' +
        'seed (what a generator that had learnt its training data perfectly would score). ' +
        'Noise: FID of images of uniform noise in [-1, 1].',
      '',
      '| dataset | samples | real-data floor | uniform noise | per seed (floor / noise) |',
      '|---|---:|---:|---:|---|',
    );
    for (const d of input.datasets) {
      const levels = input.references.filter((r) => r.dataset === d);
      if (levels.length === 0) continue;
      md.push(
        `| ${d} | ${levels[0]!.samples} | ${pm(meanSd(levels.map((r) => r.floor)), 2)} | ` +
          `${pm(meanSd(levels.map((r) => r.noise)), 1)} | ` +
          `${levels.map((r) => `seed ${r.seed}: ${r.floor.toFixed(2)} / ${r.noise.toFixed(1)}`).join('; ')} |`,
      );
    }
    md.push('');
  }
  md.push(
    `Thresholds (fixed, absolute FID): ${thresholds.map((t) => fidAtMost(t)).join(', ')}. ` +
      'A seed that never reaches a threshold gets no time: the tables say how many seeds reached it, ' +
      'and comparisons use only thresholds that every seed of both methods reached, or that every ' +
      'seed of one reached and no seed of the other within its whole run (one-sided: the first is ' +
      'faster when every run that fell short outlasted its times, the runs bounding the ratio).',
    '',
  );

  const plots: BuiltReport['plots'] = [];
  const comparisons: SplitComparison[] = [];
  const summaries: Record<string, Record<string, MethodSummary>> = {};
  const seedsPerMethod: number[] = [];
  for (const dataset of input.datasets) {
    for (const split of input.splits) {
      const byMethod = input.methods.map((m) =>
        summarize(
          m,
          cells.filter(
            (c) =>
              c.key.dataset === dataset &&
              c.key.method === m &&
              c.key.split === splitOfCell(m, split),
          ),
          thresholds,
          bases,
        ),
      );
      summaries[`${dataset}/${split}`] = Object.fromEntries(byMethod.map((s) => [s.method, s]));
      for (const s of byMethod) if (s.cells.length) seedsPerMethod.push(s.cells.length);
      const base = `fid-${dataset}-${split}`.replace(/\./g, '_');
      md.push(`## ${dataset}, ${split}`, '');
      const withCells = byMethod.filter((s) => s.cells.length > 0);
      if (withCells.length === 0) {
        md.push('No finished cells.', '');
        continue;
      }

      // Plots: mean over seeds, min–max band, reference levels and thresholds.
      const refs = input.references.filter((r) => r.dataset === dataset);
      const hLines: HLine[] = [];
      if (refs.length) {
        const floor = meanSd(refs.map((r) => r.floor)).mean;
        const noise = meanSd(refs.map((r) => r.noise)).mean;
        hLines.push(
          { y: floor, label: `real-data floor ${floor.toFixed(1)}`, style: 'dashed' },
          { y: noise, label: `uniform noise ${noise.toFixed(0)}`, style: 'dashed' },
        );
      }
      for (const t of thresholds) hLines.push({ y: t, label: `FID ${t}`, style: 'faint' });
      const seedCounts = [...new Set(withCells.map((s) => s.cells.length))].join('/');
      for (const axis of ['rounds', 'seconds'] as const) {
        const series: Series[] = withCells.map((s) => {
          const c = meanCurve(s.cells);
          return {
            label: s.method,
            color: COLORS[s.method],
            x: axis === 'rounds' ? c.rounds : c.seconds,
            y: c.mean,
            band: { lo: c.lo, hi: c.hi },
          };
        });
        plots.push({
          name: `${base}-${axis}.png`,
          png: renderLinePlot(series, {
            title: `FID, ${dataset}, ${split} (log scale)`,
            xLabel: axis === 'rounds' ? 'round' : 'training seconds (mean over seeds)',
            logY: true,
            hLines,
            legendNote: `line: mean of ${seedCounts} seeds, band: min-max`,
            width: 800,
            height: 440,
          }),
        });
      }
      md.push(
        `![FID against rounds](${base}-rounds.png) ![FID against training time](${base}-seconds.png)`,
        '',
        'Lines: mean FID over seeds at each evaluation; shaded bands: min–max over seeds; dashed: ' +
          'the real-data floor and uniform noise; dotted: the thresholds. On the time plot x is the ' +
          'mean training time of the seeds at that evaluation.',
        '',
        'FID at ⅔ of the run beside the final FID: where the two agree within their spread, the ' +
          'method had levelled out before the run ended.',
        '',
        '| method | seeds | FID at ⅔ of the run | final FID | ms/round | MB down / up per round |',
        '|---|---:|---:|---:|---:|---:|',
      );
      for (const s of withCells) {
        md.push(
          `| ${METHOD_NAMES[s.method]} | ${s.cells.length} | ${pm(s.twoThirdsFid)} | ${pm(s.finalFid)} | ${pm(s.msPerRound, 0)} | ` +
            `${mb(s.mbDown.mean * 1e6)} / ${mb(s.mbUp.mean * 1e6)} |`,
        );
      }
      md.push('');
      const header = `| method | ${thresholds.map((t) => fidAtMost(t)).join(' | ')} |`;
      const rule = `|---|${thresholds.map(() => '---:').join('|')}|`;
      md.push('Rounds to each threshold (mean ± sd over seeds):', '', header, rule);
      for (const s of withCells)
        md.push(
          `| ${METHOD_NAMES[s.method]} | ${s.reach.map((r) => reachText(reachOf(r.rounds), 0)).join(' | ')} |`,
        );
      md.push('');
      for (const b of bases) {
        md.push(`Seconds to each threshold, ${b.label} (mean ± sd over seeds):`, '', header, rule);
        for (const s of withCells)
          md.push(
            `| ${METHOD_NAMES[s.method]} | ${s.reach.map((r) => reachText(reachOf(r.seconds[b.name]!), 1)).join(' | ')} |`,
          );
        md.push('');
      }

      // Comparisons: the ratio of mean times (baseline / distgan), its interval and Welch's p.
      md.push(
        'Comparisons of the time to each threshold (ratio = baseline / distgan: above 1, distgan is faster):',
        '',
      );
      for (const b of bases) {
        md.push(`*${b.label}*`, '');
        for (const [baseline, distgan] of COMPARISONS) {
          const x = summaries[`${dataset}/${split}`]![baseline];
          const y = summaries[`${dataset}/${split}`]![distgan];
          if (!x?.cells.length || !y?.cells.length) continue;
          for (const [i, threshold] of thresholds.entries()) {
            const comparison = compareTimes(
              threshold,
              {
                name: METHOD_NAMES[baseline],
                times: x.reach[i]!.seconds[b.name]!,
                runs: x.runs[b.name]!,
              },
              {
                name: METHOD_NAMES[distgan],
                times: y.reach[i]!.seconds[b.name]!,
                runs: y.runs[b.name]!,
              },
            );
            comparisons.push({ dataset, split, basis: b.name, comparison });
            md.push(`- ${describeComparison(comparison)}`);
          }
        }
        md.push('');
      }
    }
  }
  const minSeeds = seedsPerMethod.length ? Math.min(...seedsPerMethod) : 0;
  const note = powerNote(minSeeds);
  if (note) md.push(`*${note}*`, '');

  // Deployment time.
  md.push('## Deployment time', '');
  if (!input.timeModel) {
    md.push(
      'Not modelled in this report (no time model was given). The cells store ' +
        'what the time model needs (devices, the mean of each round phase, bytes per round); with it ' +
        '(`npm run bench:convergence -- --report-only`) this section gives modelled seconds to each ' +
        'threshold per network profile, with the same comparisons and verdicts. The seconds above are ' +
        'measured in one process, where no bytes cross a network.',
      '',
    );
  } else {
    md.push(
      'Modelled seconds to a threshold = rounds to the threshold × the modelled round time of the ' +
        'method on the profile (docs/time-model.md; from each cell’s mean round phases and bytes, ' +
        'warm-up round excluded). Profiles: ' +
        input.timeModel.profiles.map((p) => `${p.label} (\`${p.name}\`)`).join(', ') +
        '. The tables above give them beside the measured seconds.',
      '',
    );
  }

  // Verdict.
  md.push('## Verdict', '');
  const verdictLines = verdicts(input, bases, comparisons);
  md.push(...(verdictLines.length ? verdictLines : ['No comparisons: no cells.']), '');

  // Missing cells.
  md.push('## Missing cells', '');
  if (input.missing.length === 0) {
    md.push(`None: all ${cells.length} cells are in.`, '');
  } else {
    md.push(
      `This report is partial: ${input.missing.length} of ${expected} cells are missing or stale ` +
        '(rerun `npm run bench:convergence` with the same settings to train them):',
      '',
    );
    for (const m of input.missing)
      md.push(`- \`${nameOf(m.key)}\`: ${m.why}${m.detail ? ` (${m.detail})` : ''}`);
    md.push('');
  }

  const results = {
    format: 1,
    settings: {
      datasets: input.datasets,
      splits: input.splits,
      methods: input.methods,
      seeds: input.seeds,
      thresholds: input.thresholds,
      machine: input.machine ?? DEFAULT_MACHINE,
      timeBases: bases.map((b) => ({ name: b.name, label: b.label })),
    },
    references: input.references,
    absent: input.absent,
    missing: input.missing,
    summary: Object.fromEntries(
      Object.entries(summaries).map(([k, byMethod]) => [
        k,
        Object.fromEntries(
          Object.entries(byMethod).map(([m, s]) => [
            m,
            {
              seeds: s.cells.map((c) => c.key.seed),
              finalFid: s.finalFid,
              twoThirdsFid: s.twoThirdsFid,
              msPerRound: s.msPerRound,
              mbDownPerRound: s.mbDown,
              mbUpPerRound: s.mbUp,
              reach: s.reach,
            },
          ]),
        ),
      ]),
    ),
    comparisons,
    cells,
  };
  return { markdown: md.join('\n'), results, plots };
}

type Compared = Extract<Comparison, { status: 'compared' }>;
type OneSided = Extract<Comparison, { status: 'one-sided' }>;
/** A comparison that decided something: tested over seeds, or one-sided with a verdict. */
type Decided = Compared | (OneSided & { verdict: 'faster' | 'slower' });
const decided = (cs: readonly Comparison[]): Decided[] =>
  cs.filter(
    (c): c is Decided => c.status === 'compared' || (c.status === 'one-sided' && !!c.verdict),
  );
const boundText = (c: OneSided): string =>
  `ratio ${c.verdict === 'slower' ? '≤' : '≥'} ${c.bound.toFixed(2)}, ` +
  `${sidesOf(c)[1]} never reached it`;
const stat = (c: Decided): string =>
  c.status === 'one-sided'
    ? boundText(c)
    : `ratio ${c.ratio.toFixed(2)} [${c.ci[0].toFixed(2)}, ${c.ci[1].toFixed(2)}], ${formatP(c.p)}`;

/**
 * For each baseline, split and basis: distgan serial and parallel, faster, slower or neither. A
 * table first (the verdict and the ratio at the lowest threshold compared), then each in words.
 */
function verdicts(
  input: ReportInput,
  bases: readonly Basis[],
  comparisons: readonly SplitComparison[],
): string[] {
  const rows: string[] = [];
  const out: string[] = [];
  const distgans = (['serial', 'parallel'] as const).filter((m) => input.methods.includes(m));
  for (const baseline of BASELINES.filter((b) => input.methods.includes(b))) {
    for (const dataset of input.datasets)
      for (const split of input.splits)
        for (const b of bases) {
          const parts: string[] = [];
          const cells: string[] = [];
          for (const distgan of distgans) {
            const cs = comparisons
              .filter(
                (c) =>
                  c.dataset === dataset &&
                  c.split === split &&
                  c.basis === b.name &&
                  c.comparison.baseline === METHOD_NAMES[baseline] &&
                  c.comparison.distgan === METHOD_NAMES[distgan],
              )
              .map((c) => c.comparison);
            cells.push(cs.length ? verdictCell(cs) : '—');
            if (cs.length === 0) continue;
            parts.push(`${METHOD_NAMES[distgan]}: ${verdictOf(cs)}`);
          }
          if (parts.length) {
            rows.push(
              `| ${METHOD_NAMES[baseline]} | ${dataset} ${split} | ${b.label} | ${cells.join(' | ')} |`,
            );
            out.push(
              `- **${METHOD_NAMES[baseline]}, ${dataset} ${split}, ${b.label}.** ${parts.join(' ')}`,
            );
          }
        }
  }
  if (rows.length === 0) return [];
  return [
    'Is distgan faster to the thresholds than each baseline? (The ratio is baseline time / distgan ' +
      'time at the lowest threshold both reached with every seed, with its 95% bootstrap interval. ' +
      "A difference is significant only where Welch's t-test rejects at p < 0.05 and the interval " +
      'excludes 1: from three seeds the bootstrap interval alone is too narrow. Where one method ' +
      'never reached a threshold that every seed of the other reached, before runs longer than ' +
      "the other's times, the verdict says so and the ratio is a bound (×≥, ×≤) from those runs.)",
    '',
    `| baseline | split | time | ${distgans.map((m) => METHOD_NAMES[m]).join(' | ')} |`,
    `|---|---|---|${distgans.map(() => '---').join('|')}|`,
    ...rows,
    '',
    ...out,
  ];
}

/** The verdict's head and the ratio at the lowest threshold compared, for the table. */
export function verdictCell(cs: readonly Comparison[]): string {
  const ds = decided(cs);
  if (ds.length === 0) {
    const open = cs.filter((c): c is OneSided => c.status === 'one-sided');
    if (open.length === 0) return 'no verdict (thresholds not reached by every seed)';
    const c = open[0]!;
    const [hit, short] = sidesOf(c);
    return `no time verdict (${open.map((x) => fidAtMost(x.threshold)).join(', ')} reached only by ${hit}, some seed later than a whole run of ${short})`;
  }
  const head = verdictHead(ds);
  const compared = ds.filter((c): c is Compared => c.status === 'compared');
  const lowest = <T extends { threshold: number }>(xs: readonly T[]): T =>
    xs.reduce((a, c) => (c.threshold < a.threshold ? c : a));
  if (compared.length === 0) {
    const hardest = lowest(ds as OneSided[]);
    return `${head}; ×${hardest.verdict === 'slower' ? '≤' : '≥'}${hardest.bound.toFixed(2)} to ${fidAtMost(hardest.threshold)}`;
  }
  const hardest = lowest(compared);
  return (
    `${head}; ×${hardest.ratio.toFixed(2)} [${hardest.ci[0].toFixed(2)}, ` +
    `${hardest.ci[1].toFixed(2)}] to ${fidAtMost(hardest.threshold)}`
  );
}

/**
 * One phrase for the thresholds decided: all faster, all slower, none different, or mixed. A
 * one-sided comparison (one method never reached the threshold) has no t-test: where it decides
 * alone the head says so instead of "significantly".
 */
function verdictHead(ds: readonly Decided[]): string {
  const all = (v: Compared['verdict']): boolean => ds.every((c) => c.verdict === v);
  const oneSided = ds.filter((c): c is OneSided & Decided => c.status === 'one-sided');
  if (oneSided.length === ds.length && (all('faster') || all('slower'))) {
    const c = oneSided[0]!;
    const short = sidesOf(c)[1];
    return `${c.verdict} (${short} never reached ${oneSided.map((x) => fidAtMost(x.threshold)).join(', ')})`;
  }
  if (all('faster')) return 'significantly faster';
  if (all('slower')) return 'significantly slower';
  if (all('no-difference')) return 'not distinguishable';
  return 'mixed';
}

export function verdictOf(cs: readonly Comparison[]): string {
  const ds = decided(cs);
  const skipped = cs.filter((c) => c.status === 'not-compared').map((c) => c.threshold);
  const open = cs.filter((c): c is OneSided => c.status === 'one-sided' && !c.verdict);
  const skippedText =
    (skipped.length
      ? ` Not compared at ${skipped.map((t) => fidAtMost(t)).join(', ')} (not reached by every seed of both).`
      : '') +
    open
      .map((c) => {
        const [hit, short] = sidesOf(c);
        return ` No time verdict at ${fidAtMost(c.threshold)}: reached only by ${hit}, but not every run of ${short} (${secondsText(c.runs)}) outlasted every time of ${hit} (${secondsText(c.times)}).`;
      })
      .join('');
  if (ds.length === 0)
    return open.length
      ? `no verdict.${skippedText}`
      : `no verdict: no threshold was reached by every seed of both.${skippedText}`;
  const at = (v: Compared['verdict']): Decided[] => ds.filter((c) => c.verdict === v);
  const list = (xs: Decided[]): string =>
    xs.map((c) => `${fidAtMost(c.threshold)} (${stat(c)})`).join(', ');
  const faster = at('faster');
  const slower = at('slower');
  const same = at('no-difference');
  const head = verdictHead(ds);
  const details = [
    faster.length ? `faster at ${list(faster)}` : '',
    slower.length ? `slower at ${list(slower)}` : '',
    same.length ? `no significant difference at ${list(same)}` : '',
  ].filter(Boolean);
  return `${head}: ${details.join('; ')}.${skippedText}`;
}

/** Writes report.md, results.json and the plots into `dir`. */
export function writeReport(dir: string, input: ReportInput): BuiltReport {
  mkdirSync(dir, { recursive: true });
  const built = buildReport(input);
  for (const p of built.plots) writeFileSync(join(dir, p.name), p.png);
  writeFileSync(join(dir, 'report.md'), built.markdown);
  writeFileSync(join(dir, 'results.json'), JSON.stringify(built.results, null, 2) + '\n');
  return built;
}
