import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@distgan/data';
import {
  bootstrapRatio,
  compareTimes,
  describeComparison,
  meanSd,
  powerNote,
  reachOf,
  welchTTest,
} from './bench-stats.js';

const close = (actual: number, expected: number, tol: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);

describe('benchmark statistics', () => {
  it('mean and sample standard deviation', () => {
    const s = meanSd([2, 4, 4, 4, 5, 5, 7, 9]);
    assert.equal(s.mean, 5);
    close(s.sd, Math.sqrt(32 / 7), 1e-12, 'sd (n − 1)');
    assert.ok(Number.isNaN(meanSd([3]).sd));
    assert.ok(Number.isNaN(meanSd([]).mean));
  });

  it("Welch's t-test matches scipy.stats.ttest_ind(equal_var=False)", () => {
    // Wikipedia, "Welch's t-test", example 1; scipy 1.17: t = -2.455356, df = 24.9885, p = 0.021378.
    const a1 = [
      27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4,
    ];
    const a2 = [
      27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4,
    ];
    const w = welchTTest(a1, a2);
    close(w.t, -2.455356398286006, 1e-9, 't');
    close(w.df, 24.988529290231416, 1e-9, 'df');
    close(w.p, 0.021378001462866992, 1e-6, 'p');
    // Three seeds each, unequal spreads; scipy: t = 4.235543, df = 2.497272, p = 0.034376.
    const s = welchTTest([120.5, 98.2, 143.0], [60.1, 71.3, 55.9]);
    close(s.t, 4.235543148742465, 1e-9, 't (3 seeds)');
    close(s.df, 2.4972724843030374, 1e-9, 'df (3 seeds)');
    close(s.p, 0.03437593405710417, 1e-6, 'p (3 seeds)');
    // Symmetric in the groups' order, and undefined below two values.
    close(welchTTest(a2, a1).p, w.p, 1e-12, 'p swapped');
    assert.ok(Number.isNaN(welchTTest([1], [2, 3]).p));
  });

  it('the bootstrap interval of a ratio of means covers the true ratio (about 95% of the time)', () => {
    // Synthetic times: group A ~ N(200, 30), group B ~ N(100, 15): true ratio 2.
    const rng = new Rng(7);
    const draw = (n: number, mu: number, sd: number): number[] =>
      Array.from({ length: n }, () => mu + sd * rng.normal());
    let covered = 0;
    const trials = 60;
    for (let i = 0; i < trials; i++) {
      const ci = bootstrapRatio(draw(20, 200, 30), draw(20, 100, 15), { seed: i, resamples: 2000 });
      assert.ok(ci.lo <= ci.ratio && ci.ratio <= ci.hi, 'the estimate lies inside its interval');
      if (ci.lo <= 2 && 2 <= ci.hi) covered++;
    }
    // Binomial(60, 0.95): 51 or more covered with probability > 0.99.
    assert.ok(covered >= 51, `covered ${covered} of ${trials}`);
    // Ten thousand resamples by default, and the same interval for the same seed.
    const a = bootstrapRatio([10, 12, 11], [5, 6, 7], { seed: 3 });
    assert.equal(a.resamples, 10_000);
    assert.deepEqual(bootstrapRatio([10, 12, 11], [5, 6, 7], { seed: 3 }), a);
    close(a.ratio, 11 / 6, 1e-12, 'ratio of the means');
    // With no spread there is nothing to resample: the interval is the ratio itself.
    const flat = bootstrapRatio([4, 4], [2, 2]);
    assert.deepEqual([flat.lo, flat.hi], [2, 2]);
  });

  it('a seed that never reached a threshold is counted, not given a time', () => {
    const r = reachOf([120, undefined, 80]);
    assert.equal(r.n, 3);
    assert.equal(r.reached, 2);
    assert.deepEqual(r.values, [120, 80]);
    assert.equal(r.stats.mean, 100);

    const c = compareTimes(
      50,
      { name: 'FL-GAN', times: [300, undefined, 280] },
      { name: 'distgan serial', times: [100, 110, 120] },
    );
    assert.equal(c.status, 'not-compared');
    assert.equal(
      describeComparison(c),
      'distgan serial and FL-GAN to FID ≤ 50: not compared, not reached by every seed ' +
        '(FL-GAN in 2 of 3 seeds, distgan serial in 3 of 3)',
    );
  });

  it("a threshold one method never reached in runs longer than the other's times decides one-sidedly, with a bound", () => {
    // Every distgan seed reached FID 50; no MD-GAN seed did in runs of 1,000-1,200 s.
    const faster = compareTimes(
      50,
      { name: 'MD-GAN', times: [undefined, undefined, undefined], runs: [1000, 1100, 1200] },
      { name: 'distgan serial', times: [200, 300, 250], runs: [900, 950, 1000] },
    );
    assert.equal(faster.status, 'one-sided');
    if (faster.status !== 'one-sided') return;
    assert.equal(faster.verdict, 'faster');
    assert.equal(faster.reachedBy, 'distgan');
    assert.equal(faster.bound, 1100 / 250);
    assert.equal(
      describeComparison(faster),
      'distgan serial is faster than MD-GAN to FID ≤ 50: every seed of distgan serial reached it ' +
        '(250.0 ± 50.0 s), no seed of MD-GAN within its whole run (1100.0 ± 100.0 s): ratio ≥ 4.40 ' +
        "(no t-test: MD-GAN's times are only known to exceed its runs)",
    );
    // A run that ended before one of the other's times: nothing is decided.
    const open = compareTimes(
      50,
      { name: 'MD-GAN', times: [undefined, undefined, undefined], runs: [280, 1100, 1200] },
      { name: 'distgan serial', times: [200, 300, 250] },
    );
    assert.equal(open.status, 'one-sided');
    assert.equal(open.status === 'one-sided' && open.verdict, undefined);
    assert.match(describeComparison(open), /: no time verdict: .*but not every run of MD-GAN/);
    // The other way round: the baseline reached it, distgan never did; the ratio is at most the bound.
    const slower = compareTimes(
      20,
      { name: 'centralized', times: [100, 120, 110] },
      { name: 'distgan serial', times: [undefined, undefined, undefined], runs: [500, 550, 600] },
    );
    assert.equal(slower.status === 'one-sided' && slower.verdict, 'slower');
    assert.equal(slower.status === 'one-sided' && slower.bound, 110 / 550);
    assert.match(
      describeComparison(slower),
      /^distgan serial is slower than centralized to FID ≤ 20: .*ratio ≤ 0\.20/,
    );
    assert.match(
      describeComparison(slower),
      /: every seed of centralized reached it \(110\.0 ± 10\.0 s\), no seed of distgan serial within its whole run \(550\.0 ± 50\.0 s\): .*\(no t-test: distgan serial's times are only known to exceed its runs\)$/,
    );
    // Without the runs, or with some seeds of each reaching it, there is nothing to compare.
    const noRuns = compareTimes(
      50,
      { name: 'MD-GAN', times: [undefined, undefined] },
      { name: 'distgan serial', times: [200, 300] },
    );
    assert.equal(noRuns.status, 'not-compared');
    const partly = compareTimes(
      50,
      { name: 'MD-GAN', times: [undefined, undefined], runs: [1000, 1000] },
      { name: 'distgan serial', times: [200, undefined], runs: [900, 900] },
    );
    assert.equal(partly.status, 'not-compared');
  });

  it('says which method is faster only when both the test and the interval say so', () => {
    const faster = compareTimes(
      100,
      { name: 'FL-GAN', times: [210, 190, 200, 205, 195] },
      { name: 'distgan serial', times: [100, 98, 102, 101, 99] },
    );
    assert.equal(faster.status, 'compared');
    if (faster.status !== 'compared') return;
    assert.equal(faster.verdict, 'faster');
    assert.ok(faster.ci[0] > 1 && faster.p < 0.05);
    assert.match(
      describeComparison(faster),
      /^distgan serial is faster than FL-GAN to FID ≤ 100: ratio 2\.00 \[1\.9\d, 2\.0\d\], p < 0\.001$/,
    );

    const slower = compareTimes(
      100,
      { name: 'MD-GAN', times: [50, 52, 48] },
      { name: 'distgan serial', times: [100, 104, 96] },
    );
    assert.equal(slower.status === 'compared' && slower.verdict, 'slower');
    assert.match(
      describeComparison(slower),
      /^distgan serial is slower than MD-GAN to FID ≤ 100: ratio 0\.50/,
    );

    // Three seeds: the bootstrap interval excludes 1 (it is too narrow), the t-test does not
    // reject: not significant, and the report says why.
    const split = compareTimes(
      100,
      { name: 'FL-GAN', times: [150, 300, 210] },
      { name: 'distgan serial', times: [100, 110, 120] },
    );
    assert.ok(split.status === 'compared' && split.ci[0] > 1 && split.p > 0.05);
    assert.equal(split.status === 'compared' && split.verdict, 'no-difference');
    assert.match(
      describeComparison(split),
      /^no significant difference between distgan serial and FL-GAN to FID ≤ 100: ratio 2\.00 \[1\.\d\d, 2\.\d\d\], p = 0\.13 \(the bootstrap interval excludes 1, but the t-test does not reject\)$/,
    );

    // Seed noise as large as the difference: no verdict either way.
    const noisy = compareTimes(
      200,
      { name: 'MD-GAN', times: [100, 250, 180] },
      { name: 'distgan parallel', times: [150, 90, 220] },
    );
    assert.equal(noisy.status === 'compared' && noisy.verdict, 'no-difference');
    assert.match(
      describeComparison(noisy),
      /^no significant difference between distgan parallel and MD-GAN to FID ≤ 200: ratio 1\.15 \[\d\.\d\d, \d\.\d\d\], p = 0\.\d\d$/,
    );
  });

  it('says that a single seed has no t-test rather than a test that does not reject', () => {
    const one = compareTimes(
      100,
      { name: 'FL-GAN', times: [200] },
      { name: 'distgan serial', times: [100, 102, 98] },
    );
    assert.ok(one.status === 'compared' && one.ci[0] > 1 && !Number.isFinite(one.p));
    assert.equal(one.status === 'compared' && one.verdict, 'no-difference');
    assert.match(
      describeComparison(one),
      /, p n\/a \(fewer than 2 seeds\) \(a single seed: no t-test, so no verdict\)$/,
    );
  });

  it('warns that three seeds give a test little power', () => {
    assert.match(powerNote(3)!, /With 3 seeds per method these tests have little power/);
    assert.equal(powerNote(8), undefined);
  });
});
