import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Rng } from '@distgan/data';
import { featureStats, frechetDistance } from './fid.js';

interface Reference {
  dim: number;
  a: number[];
  b: number[];
  fid: number;
  computedWith: string;
}

function gaussianRows(count: number, dim: number, seed: number, scale: number[]): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(count * dim);
  for (let i = 0; i < count; i++) {
    let shared = rng.normal();
    for (let j = 0; j < dim; j++) {
      // Correlated coordinates, and a last one that is constant (a singular covariance).
      out[i * dim + j] = j === dim - 1 ? 0.5 : scale[j % scale.length]! * (rng.normal() + shared);
      shared *= 0.5;
    }
  }
  return out;
}

describe('Fréchet distance', () => {
  it('matches numpy/scipy on two fixed Gaussian feature sets', () => {
    const ref = JSON.parse(
      readFileSync(new URL('./fixtures/fid-reference.json', import.meta.url), 'utf8'),
    ) as Reference;
    const a = featureStats(Float32Array.from(ref.a), ref.dim);
    const b = featureStats(Float32Array.from(ref.b), ref.dim);
    const fid = frechetDistance(a, b);
    assert.ok(
      Math.abs(fid - ref.fid) < 1e-6 * Math.max(1, ref.fid),
      `FID ${fid}, reference ${ref.fid} (${ref.computedWith})`,
    );
    // Symmetric in its arguments.
    assert.ok(Math.abs(frechetDistance(b, a) - fid) < 1e-9);
  });

  it('is zero for a set against itself, singular covariance included', () => {
    const x = featureStats(gaussianRows(500, 16, 3, [1, 2, 0.1]), 16);
    assert.ok(frechetDistance(x, x) < 1e-8, `FID of a set with itself: ${frechetDistance(x, x)}`);
  });

  it('is the closed form for Gaussians with diagonal covariances', () => {
    // Two point sets with exactly known statistics: ±σ on each axis around a mean.
    const rows = (mean: number[], sd: number[]): Float32Array => {
      const out: number[] = [];
      for (const sign of [1, -1])
        for (const s2 of [1, -1]) out.push(mean[0]! + sign * sd[0]!, mean[1]! + s2 * sd[1]!);
      return Float32Array.from(out);
    };
    // Unbiased covariance of these 4 rows: sd² · 4/3 on the diagonal, 0 off it.
    const a = featureStats(rows([0, 0], [1, 2]), 2);
    const b = featureStats(rows([3, -1], [2, 0.5]), 2);
    const k = 4 / 3;
    const expected = 9 + 1 + k * ((1 - 2) ** 2 + (2 - 0.5) ** 2);
    assert.ok(
      Math.abs(frechetDistance(a, b) - expected) < 1e-5,
      `${frechetDistance(a, b)} ≠ ${expected}`,
    );
  });

  it('refuses rows that do not fit and sets of different sizes', () => {
    assert.throws(() => featureStats(new Float32Array(7), 2), /whole number/);
    assert.throws(() => featureStats(new Float32Array(2), 2), /at least 2/);
    assert.throws(
      () =>
        frechetDistance(featureStats(new Float32Array(8), 2), featureStats(new Float32Array(9), 3)),
      /differ/,
    );
  });
});
