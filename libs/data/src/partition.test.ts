import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  labelHistogram,
  partition,
  partitionDirichlet,
  partitionIid,
  partitionShards,
} from './partition.js';
import { drawBatch } from './dataset.js';
import { Rng } from './rng.js';
import { ringModeCoverage, ringOfGaussians, ringCenters } from './ring.js';

/** 10 classes of `perClass` samples each, interleaved as in a real file. */
function labels(perClass: number): Uint8Array {
  return Uint8Array.from({ length: 10 * perClass }, (_, i) => i % 10);
}

function assertExactCover(parts: Int32Array[], count: number): void {
  const seen = new Uint8Array(count);
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) {
      assert.ok(seen[p[i]!] === 0, `sample ${p[i]} is in two shards`);
      seen[p[i]!] = 1;
      if (i > 0) assert.ok(p[i - 1]! < p[i]!, 'shards are sorted');
    }
  }
  assert.equal(
    seen.reduce((a, b) => a + b, 0),
    count,
    'every sample is in a shard',
  );
}

function entropy(h: number[]): number {
  const n = h.reduce((a, b) => a + b, 0);
  return -h.reduce((s, c) => (c > 0 ? s + (c / n) * Math.log2(c / n) : s), 0);
}

describe('partitioners', () => {
  const lab = labels(100);
  const ds = { count: lab.length, labels: lab, numClasses: 10 };

  for (const scheme of ['iid', 'shards', 'dirichlet'] as const) {
    it(`${scheme}: disjoint, covering, deterministic for a seed, different for another`, () => {
      const a = partition(ds, { scheme, devices: 7, seed: 1, alpha: 0.5 });
      assertExactCover(a, lab.length);
      assert.equal(a.length, 7);
      assert.deepEqual(partition(ds, { scheme, devices: 7, seed: 1, alpha: 0.5 }), a);
      assert.notDeepEqual(partition(ds, { scheme, devices: 7, seed: 2, alpha: 0.5 }), a);
    });
  }

  it('iid: sizes differ by at most one and every device sees every label', () => {
    const parts = partitionIid(lab.length, 7, 3);
    const sizes = parts.map((p) => p.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
    for (const p of parts) assert.ok(labelHistogram(lab, p, 10).every((c) => c > 0));
  });

  it('shards: each device sees at most shardsPerDevice labels when shards align with classes', () => {
    // 10 classes × 100 samples, 5 devices × 2 shards = 10 shards of exactly one class each
    const parts = partitionShards(lab, 5, { shardsPerDevice: 2, seed: 4 });
    for (const p of parts) {
      assert.equal(p.length, 200);
      assert.ok(labelHistogram(lab, p, 10).filter((c) => c > 0).length <= 2);
    }
    // one shard per device: one label each, and all labels used
    const one = partitionShards(lab, 10, { shardsPerDevice: 1, seed: 4 });
    const owned = one.map((p) => labelHistogram(lab, p, 10).findIndex((c) => c > 0)).sort();
    assert.deepEqual(owned, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('dirichlet: small alpha skews the label mix, large alpha is close to uniform', () => {
    const big = labels(500);
    const meanEntropy = (alpha: number): number => {
      const parts = partitionDirichlet(big, 10, 10, { alpha, seed: 5 });
      return parts.reduce((s, p) => s + entropy(labelHistogram(big, p, 10)), 0) / parts.length;
    };
    const skewed = meanEntropy(0.1);
    const uniform = meanEntropy(100);
    assert.ok(skewed < 2, `α=0.1: mean label entropy ${skewed.toFixed(2)} bits`);
    assert.ok(
      uniform > 3.2,
      `α=100: mean label entropy ${uniform.toFixed(2)} bits (uniform: ${Math.log2(10).toFixed(2)})`,
    );
    for (const p of partitionDirichlet(big, 10, 10, { alpha: 100, seed: 6 })) {
      for (const c of labelHistogram(big, p, 10))
        assert.ok(c > 0.4 * (p.length / 10), 'α=100: every label near its share');
    }
  });

  it('refuses impossible requests with a clear error', () => {
    assert.throws(() => partitionIid(5, 6, 1), /6 devices cannot each hold a sample of 5/);
    assert.throws(() => partitionIid(5, 0, 1), /positive integer/);
    assert.throws(
      () => partitionDirichlet(lab, 10, 3, { alpha: 0, seed: 1 }),
      /alpha must be positive/,
    );
    assert.throws(
      () => partition(ds, { scheme: 'random' as 'iid', devices: 2, seed: 1 }),
      /unknown partition scheme/,
    );
  });
});

describe('Rng', () => {
  it('is deterministic for a seed and uniform enough', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 1000 }, () => a.next());
    assert.deepEqual(
      Array.from({ length: 1000 }, () => b.next()),
      xs,
    );
    assert.notDeepEqual(
      Array.from({ length: 10 }, () => new Rng(43).next()),
      xs.slice(0, 10),
    );
    const counts = new Array<number>(10).fill(0);
    const r = new Rng(7);
    for (let i = 0; i < 100_000; i++) counts[r.int(10)]! += 1;
    for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `bucket ${c}`);
    assert.throws(() => r.int(0), RangeError);
  });

  it('draws normals and gammas with the right moments', () => {
    const r = new Rng(9);
    const n = 50_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const v = r.normal();
      s += v;
      s2 += v * v;
    }
    assert.ok(Math.abs(s / n) < 0.02);
    assert.ok(Math.abs(s2 / n - 1) < 0.03);
    for (const shape of [0.1, 0.5, 1, 3]) {
      let g = 0;
      for (let i = 0; i < n; i++) g += r.gamma(shape);
      assert.ok(
        Math.abs(g / n - shape) < 0.05 * Math.max(1, shape),
        `gamma(${shape}) mean ${g / n}`,
      );
    }
  });

  it('forks independent, reproducible streams', () => {
    const a = new Rng(1).fork('device-0');
    const b = new Rng(1).fork('device-0');
    const c = new Rng(1).fork('device-1');
    const x = a.next();
    assert.equal(b.next(), x);
    assert.notEqual(c.next(), x);
  });
});

describe('drawBatch', () => {
  it('draws each sample with its own label, from the shard only, into reused buffers', () => {
    const ds = ringOfGaussians({ count: 400, seed: 2 });
    const shard = Int32Array.from({ length: 50 }, (_, i) => 100 + 3 * i);
    const first = drawBatch(ds, shard, 32, new Rng(5));
    const again = drawBatch(ds, shard, 32, new Rng(6), first);
    assert.equal(again.images, first.images, 'the buffers are reused');
    assert.equal(again.labels, first.labels);
    const centres = ringCenters();
    for (let i = 0; i < 32; i++) {
      // The sample's nearest centre is its label's mode (σ 0.02, modes 1.5 apart).
      const [x, y] = [again.images[2 * i]!, again.images[2 * i + 1]!];
      const m = again.labels[i]!;
      assert.ok(Math.hypot(x - centres[2 * m]!, y - centres[2 * m + 1]!) < 0.2, `sample ${i}`);
      const k = [...shard].find((j) => ds.images[2 * j] === x && ds.images[2 * j + 1] === y);
      assert.ok(k !== undefined, `sample ${i} is from the shard`);
      assert.equal(ds.labels[k], m);
    }
  });
});

describe('ring of Gaussians', () => {
  it('covers all 8 modes with high-quality points', () => {
    const ds = ringOfGaussians({ count: 4000, seed: 1 });
    assert.deepEqual(ds.sampleShape, [1, 1, 2]);
    const c = ringModeCoverage(ds.images);
    assert.equal(c.covered, 8);
    assert.ok(c.highQuality > 0.98);
    assert.deepEqual(
      labelHistogram(
        ds.labels,
        Int32Array.from({ length: 4000 }, (_, i) => i),
        8,
      ).every((h) => h > 400),
      true,
    );
  });

  it('counts one mode for points from one mode, none for points far away', () => {
    const centres = ringCenters();
    const one = new Float32Array(200);
    for (let i = 0; i < 100; i++) {
      one[2 * i] = centres[0]! + 0.01 * Math.sin(i);
      one[2 * i + 1] = centres[1]! + 0.01 * Math.cos(i);
    }
    assert.equal(ringModeCoverage(one).covered, 1);
    const far = new Float32Array(200).fill(0); // all at the centre of the ring
    const c = ringModeCoverage(far);
    assert.equal(c.covered, 0);
    assert.equal(c.highQuality, 0);
  });

  it('does not count a mode that gets only a few stray points', () => {
    const centres = ringCenters();
    const pts = new Float32Array(2 * 1000);
    for (let i = 0; i < 1000; i++) {
      const m = i < 995 ? 0 : 1; // 5 stray points at mode 1: below 1/(4·8) of 1000
      pts[2 * i] = centres[2 * m]!;
      pts[2 * i + 1] = centres[2 * m + 1]!;
    }
    assert.equal(ringModeCoverage(pts).covered, 1);
  });
});
