import jstat from 'jstat';
import { Rng } from '@distgan/data';

/*
 * The convergence benchmark's statistics over seeds: mean ± sd, the time each method needs to
 * reach an FID threshold (with the seeds that never reached it counted, not guessed), and the
 * comparison of two methods' times: the ratio of their means with a bootstrap interval, and
 * Welch's t-test.
 */

export interface MeanSd {
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1); NaN below two values. */
  sd: number;
}

export function meanSd(xs: readonly number[]): MeanSd {
  const n = xs.length;
  if (n === 0) return { n, mean: NaN, sd: NaN };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { n, mean, sd: NaN };
  const ss = xs.reduce((a, x) => a + (x - mean) ** 2, 0);
  return { n, mean, sd: Math.sqrt(ss / (n - 1)) };
}

export interface WelchResult {
  t: number;
  /** Welch–Satterthwaite degrees of freedom. */
  df: number;
  /** Two-sided p-value; NaN when a group has fewer than two values. */
  p: number;
}

/** Welch's two-sample t-test (unequal variances), two-sided; the t CDF is jstat's. */
export function welchTTest(a: readonly number[], b: readonly number[]): WelchResult {
  const x = meanSd(a);
  const y = meanSd(b);
  if (x.n < 2 || y.n < 2) return { t: NaN, df: NaN, p: NaN };
  const va = x.sd ** 2 / x.n;
  const vb = y.sd ** 2 / y.n;
  const diff = x.mean - y.mean;
  const se = Math.sqrt(va + vb);
  if (se === 0) {
    // Both groups constant: equal means are no evidence of a difference, different ones are.
    return diff === 0
      ? { t: 0, df: x.n + y.n - 2, p: 1 }
      : { t: Math.sign(diff) * Infinity, df: x.n + y.n - 2, p: 0 };
  }
  const t = diff / se;
  const df = (va + vb) ** 2 / (va ** 2 / (x.n - 1) + vb ** 2 / (y.n - 1));
  const p = Math.min(1, 2 * jstat.jStat.studentt.cdf(-Math.abs(t), df));
  return { t, df, p };
}

export interface RatioInterval {
  /** mean(numerator) / mean(denominator). */
  ratio: number;
  lo: number;
  hi: number;
  level: number;
  resamples: number;
}

export interface BootstrapOptions {
  resamples?: number;
  seed?: number;
  /** Confidence level, 0.95 by default. */
  level?: number;
}

export const DEFAULT_RESAMPLES = 10_000;

/**
 * The ratio of two groups' means with a percentile bootstrap interval: each resample draws each
 * group's values with replacement from that group alone (seeds stay in their method).
 */
export function bootstrapRatio(
  numerator: readonly number[],
  denominator: readonly number[],
  opts: BootstrapOptions = {},
): RatioInterval {
  const resamples = opts.resamples ?? DEFAULT_RESAMPLES;
  const level = opts.level ?? 0.95;
  if (numerator.length === 0 || denominator.length === 0)
    throw new RangeError('the bootstrap needs values in both groups');
  const rng = new Rng(opts.seed ?? 1);
  const meanOfResample = (xs: readonly number[]): number => {
    let s = 0;
    for (let i = 0; i < xs.length; i++) s += xs[rng.int(xs.length)]!;
    return s / xs.length;
  };
  const ratios = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++)
    ratios[r] = meanOfResample(numerator) / meanOfResample(denominator);
  ratios.sort();
  const at = (q: number): number => {
    // Linear interpolation between order statistics (numpy's default percentile).
    const pos = q * (resamples - 1);
    const i = Math.floor(pos);
    const f = pos - i;
    return i + 1 < resamples ? ratios[i]! * (1 - f) + ratios[i + 1]! * f : ratios[i]!;
  };
  return {
    ratio: meanSd(numerator).mean / meanSd(denominator).mean,
    lo: at((1 - level) / 2),
    hi: at(1 - (1 - level) / 2),
    level,
    resamples,
  };
}

/** One seed's time to a threshold; undefined when that seed never reached it. */
export type Censored = number | undefined;

export interface Reach {
  /** Seeds. */
  n: number;
  /** Seeds that reached the threshold. */
  reached: number;
  /** The values of the seeds that reached it. */
  values: number[];
  /** Mean ± sd over the seeds that reached it. */
  stats: MeanSd;
}

export function reachOf(times: readonly Censored[]): Reach {
  const values = times.filter((t): t is number => t !== undefined);
  return { n: times.length, reached: values.length, values, stats: meanSd(values) };
}

export type Verdict = 'faster' | 'slower' | 'no-difference';

export interface ComparedGroup {
  /** How the report names the method ("distgan serial", "FL-GAN"). */
  name: string;
  /** One time per seed; undefined where the seed did not reach the threshold. */
  times: readonly Censored[];
  /**
   * Each seed's whole run on the same time basis: a seed that did not reach the threshold did not
   * reach it within this time. Without it, such a seed says nothing about time.
   */
  runs?: readonly number[];
}

export type Comparison =
  | {
      status: 'compared';
      threshold: number;
      baseline: string;
      distgan: string;
      /** Mean baseline time / mean distgan time: above 1, distgan is faster. */
      ratio: number;
      ci: [number, number];
      p: number;
      t: number;
      df: number;
      n: { baseline: number; distgan: number };
      /** Significant when Welch's p < alpha and the bootstrap interval excludes 1. */
      verdict: Verdict;
      /** The two criteria disagree: one says significant, the other not. */
      split: boolean;
    }
  | {
      /**
       * Every seed of one method reached the threshold and no seed of the other did: no t-test
       * (the other's times are only known to exceed its runs). `verdict` is decided only when
       * every run that fell short is longer than every time of the method that reached it; the
       * ratio is then bounded by the runs: ≥ bound when distgan reached it, ≤ bound when the
       * baseline did.
       */
      status: 'one-sided';
      threshold: number;
      baseline: string;
      distgan: string;
      reachedBy: 'baseline' | 'distgan';
      /** Mean ± sd of the times of the method that reached it. */
      times: MeanSd;
      /** Mean ± sd of the runs of the method that did not. */
      runs: MeanSd;
      /** Mean runs / mean times (distgan reached it) or mean times / mean runs (the baseline). */
      bound: number;
      verdict?: 'faster' | 'slower';
    }
  | {
      status: 'not-compared';
      threshold: number;
      baseline: string;
      distgan: string;
      reached: { baseline: [number, number]; distgan: [number, number] };
    };

export interface CompareOptions extends BootstrapOptions {
  /** Significance level of the t-test, 0.05 by default (matching the 95% interval). */
  alpha?: number;
}

/**
 * A baseline's time to a threshold against distgan's. Compared only when every seed of both
 * reached the threshold: a seed that did not has no time, and none is made up for it. When every
 * seed of one reached it and no seed of the other did within its whole run (`runs`), the
 * comparison is one-sided: the one that reached it is faster when every run that fell short
 * outlasted every time of the other, with the runs bounding the ratio.
 */
export function compareTimes(
  threshold: number,
  baseline: ComparedGroup,
  distgan: ComparedGroup,
  opts: CompareOptions = {},
): Comparison {
  const a = reachOf(baseline.times);
  const b = reachOf(distgan.times);
  const names = { threshold, baseline: baseline.name, distgan: distgan.name };
  const oneSided = (
    reachedBy: 'baseline' | 'distgan',
    hit: Reach,
    runs: readonly number[] | undefined,
  ): Comparison | undefined => {
    if (!runs || runs.length === 0) return undefined;
    const times = hit.stats;
    const r = meanSd(runs);
    const separated = Math.min(...runs) > Math.max(...hit.values);
    return {
      status: 'one-sided',
      ...names,
      reachedBy,
      times,
      runs: r,
      bound: reachedBy === 'distgan' ? r.mean / times.mean : times.mean / r.mean,
      ...(separated ? { verdict: reachedBy === 'distgan' ? 'faster' : 'slower' } : {}),
    };
  };
  if (a.n > 0 && b.n > 0) {
    const one =
      a.reached === 0 && b.reached === b.n
        ? oneSided('distgan', b, baseline.runs)
        : b.reached === 0 && a.reached === a.n
          ? oneSided('baseline', a, distgan.runs)
          : undefined;
    if (one) return one;
  }
  if (a.reached < a.n || b.reached < b.n || a.n === 0 || b.n === 0) {
    return {
      status: 'not-compared',
      ...names,
      reached: { baseline: [a.reached, a.n], distgan: [b.reached, b.n] },
    };
  }
  const boot = bootstrapRatio(a.values, b.values, opts);
  const w = welchTTest(a.values, b.values);
  const alpha = opts.alpha ?? 0.05;
  const byTest = w.p < alpha;
  const byInterval = boot.lo > 1 || boot.hi < 1;
  const verdict: Verdict =
    byTest && byInterval ? (boot.ratio > 1 ? 'faster' : 'slower') : 'no-difference';
  return {
    status: 'compared',
    ...names,
    ratio: boot.ratio,
    ci: [boot.lo, boot.hi],
    p: w.p,
    t: w.t,
    df: w.df,
    n: { baseline: a.n, distgan: b.n },
    verdict,
    split: byTest !== byInterval,
  };
}

export function formatP(p: number): string {
  if (!Number.isFinite(p)) return 'p n/a (fewer than 2 seeds)';
  if (p < 0.001) return 'p < 0.001';
  return `p = ${p < 0.1 ? p.toFixed(3) : p.toFixed(2)}`;
}

const ratioText = (c: Extract<Comparison, { status: 'compared' }>): string =>
  `ratio ${c.ratio.toFixed(2)} [${c.ci[0].toFixed(2)}, ${c.ci[1].toFixed(2)}], ${formatP(c.p)}`;

/** A one-sided comparison's two methods: the one that reached the threshold, then the other. */
export function sidesOf(c: Extract<Comparison, { status: 'one-sided' }>): [string, string] {
  return c.reachedBy === 'distgan' ? [c.distgan, c.baseline] : [c.baseline, c.distgan];
}

/** "250.0 ± 50.0 s" (one value: no sd). */
export const secondsText = (s: MeanSd): string =>
  `${s.mean.toFixed(1)}${s.n < 2 ? '' : ` ± ${s.sd.toFixed(1)}`} s`;

export const fidAtMost = (threshold: number): string => `FID ≤ ${threshold}`;

/**
 * The comparison in words: "distgan serial is faster than FL-GAN to FID ≤ 100: ratio 1.80
 * [1.40, 2.30], p = 0.010", "no significant difference between …", or why it was not compared.
 */
export function describeComparison(c: Comparison): string {
  const to = fidAtMost(c.threshold);
  if (c.status === 'one-sided') {
    const [hit, short] = sidesOf(c);
    const facts =
      `every seed of ${hit} reached it (${secondsText(c.times)}), ` +
      `no seed of ${short} within its whole run (${secondsText(c.runs)})`;
    if (!c.verdict)
      return `${c.distgan} and ${c.baseline} to ${to}: no time verdict: ${facts}, but not every run of ${short} outlasted every time of ${hit}`;
    return (
      `${c.distgan} is ${c.verdict} than ${c.baseline} to ${to}: ${facts}: ratio ${c.verdict === 'faster' ? '≥' : '≤'} ` +
      `${c.bound.toFixed(2)} (no t-test: ${short}'s times are only known to exceed its runs)`
    );
  }
  if (c.status === 'not-compared') {
    const [ka, na] = c.reached.baseline;
    const [kb, nb] = c.reached.distgan;
    return (
      `${c.distgan} and ${c.baseline} to ${to}: not compared, not reached by every seed ` +
      `(${c.baseline} in ${ka} of ${na} seeds, ${c.distgan} in ${kb} of ${nb})`
    );
  }
  if (c.verdict === 'faster')
    return `${c.distgan} is faster than ${c.baseline} to ${to}: ${ratioText(c)}`;
  if (c.verdict === 'slower')
    return `${c.distgan} is slower than ${c.baseline} to ${to}: ${ratioText(c)}`;
  return `no significant difference between ${c.distgan} and ${c.baseline} to ${to}: ${ratioText(c)}${whyNotSignificant(c)}`;
}

/** Why a comparison is not significant, where the report owes a reason ('' where it does not). */
function whyNotSignificant(c: Extract<Comparison, { status: 'compared' }>): string {
  if (!Number.isFinite(c.p)) return ' (a single seed: no t-test, so no verdict)';
  if (!c.split) return '';
  return c.p < 0.05
    ? ' (the t-test rejects, but the bootstrap interval includes 1)'
    : ' (the bootstrap interval excludes 1, but the t-test does not reject)';
}

/** What a test over this few seeds can and cannot say; undefined from 5 seeds a group on. */
export function powerNote(seeds: number): string | undefined {
  if (seeds >= 5) return undefined;
  return (
    `With ${seeds} seed${seeds === 1 ? '' : 's'} per method these tests have little power: only ` +
    `differences of several standard deviations come out significant, and a bootstrap interval ` +
    `from ${seeds} value${seeds === 1 ? '' : 's'} is narrower than the true uncertainty. "No significant difference" ` +
    `therefore does not mean "the same"; more seeds (--seeds) would sharpen it.`
  );
}
