import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@distgan/gan';
import {
  defaultThresholds,
  runConvergenceBench,
  timeToThreshold,
  type BenchResults,
  type FidPoint,
} from './convergence-bench.js';

const PNG = [0x89, 0x50, 0x4e, 0x47];
const point = (round: number, fid: number): FidPoint => ({
  round,
  seconds: round / 10,
  fid,
  modes: 10,
  classBalance: 1,
  inceptionScore: 5,
});

describe('the convergence benchmark', () => {
  it('a quick run writes the table, the plots and results.json, and reports absent datasets', async () => {
    await initBackend();
    const out = mkdtempSync(join(tmpdir(), 'distgan-conv-'));
    const empty = mkdtempSync(join(tmpdir(), 'distgan-nodata-'));
    await runConvergenceBench({
      out,
      datasets: ['mnist', 'fashion-mnist'],
      splits: ['iid', 'dirichlet-0.1'],
      methods: ['serial', 'md-gan', 'fl-gan'],
      devices: 2,
      rounds: 4,
      evalEvery: 2,
      evalSamples: 100,
      limit: 1000,
      model: 'mlp',
      seed: 2,
      dataRoot: empty,
    });
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as BenchResults;
    assert.equal(results.runs.length, 6);
    for (const r of results.runs) {
      assert.deepEqual(
        r.points.map((p) => p.round),
        [2, 4],
      );
      assert.ok(r.points.every((p) => Number.isFinite(p.fid) && p.fid > 0 && p.seconds > 0));
      assert.ok(r.points[1]!.seconds > r.points[0]!.seconds);
      assert.ok(r.bytesPerRound.up > 0, `${r.method} moved bytes`);
    }
    // MD-GAN's traffic is batches of samples, ours and FL-GAN's are models.
    const iid = (m: string) => results.runs.find((r) => r.split === 'iid' && r.method === m)!;
    assert.ok(iid('md-gan').bytesPerRound.up < iid('serial').bytesPerRound.up);
    assert.ok(iid('fl-gan').bytesPerRound.up > iid('serial').bytesPerRound.up);
    assert.equal(results.absent.length, 1);
    assert.equal(results.absent[0]!.dataset, 'fashion-mnist');
    assert.match(results.absent[0]!.reason, /not found/);

    const report = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(report, /\*\*fashion-mnist: absent\.\*\*/);
    for (const split of ['iid', 'dirichlet-0.1']) {
      assert.match(report, new RegExp(`## mnist, ${split.replace('.', '\\.')}`));
      for (const m of ['serial', 'md-gan', 'fl-gan'])
        assert.match(report, new RegExp(`\\| ${m} \\| \\d`));
    }
    assert.match(report, /FID: 100 generated samples against the 10000 test images/);
    for (const f of [
      'fid-mnist-iid-rounds.png',
      'fid-mnist-iid-seconds.png',
      'fid-mnist-dirichlet-0_1-rounds.png',
      'fid-mnist-dirichlet-0_1-seconds.png',
    ]) {
      assert.ok(existsSync(join(out, f)), f);
      assert.deepEqual([...readFileSync(join(out, f)).subarray(0, 4)], PNG, f);
    }
  });

  it('finds the time to a threshold, and derives thresholds from the reference curve', () => {
    const curve = [point(10, 300), point(20, 200), point(30, 120), point(40, 100)];
    assert.equal(timeToThreshold(curve, 150)?.round, 30);
    assert.equal(timeToThreshold(curve, 100)?.seconds, 4);
    assert.equal(timeToThreshold(curve, 99), undefined);
    assert.deepEqual(defaultThresholds(curve), [300, 200, 100]);
    assert.deepEqual(defaultThresholds([]), []);
  });
});
