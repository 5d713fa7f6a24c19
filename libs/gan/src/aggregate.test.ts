import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { averageWeights, StreamingAverage } from './aggregate.js';
import { scratchKernels, useSimdKernels } from './backend/simd.js';

describe('weighted averaging', () => {
  it('is the exact weighted mean Σ (n_k / n) φ_k on hand-made weights', () => {
    const a = new Float32Array([1, 2, -4, 0.5]);
    const b = new Float32Array([3, 6, 4, -0.5]);
    const c = new Float32Array([-1, 0, 8, 2]);
    // n = 1 + 2 + 5 = 8
    const avg = averageWeights([
      { values: a, samples: 1 },
      { values: b, samples: 2 },
      { values: c, samples: 5 },
    ]);
    assert.deepEqual(Array.from(avg), [
      (1 * 1 + 2 * 3 + 5 * -1) / 8, // 0.25
      (1 * 2 + 2 * 6 + 5 * 0) / 8, // 1.75
      (1 * -4 + 2 * 4 + 5 * 8) / 8, // 5.5
      (1 * 0.5 + 2 * -0.5 + 5 * 2) / 8, // 1.1875
    ]);
  });

  it('weights proportional to n_k: doubling every count changes nothing, one count moves the mean toward it', () => {
    const u = [new Float32Array([0, 10]), new Float32Array([10, 0])];
    const equal = averageWeights([
      { values: u[0]!, samples: 300 },
      { values: u[1]!, samples: 300 },
    ]);
    assert.deepEqual(Array.from(equal), [5, 5]);
    const skewed = averageWeights([
      { values: u[0]!, samples: 100 },
      { values: u[1]!, samples: 300 },
    ]);
    assert.deepEqual(Array.from(skewed), [7.5, 2.5]);
    const doubled = averageWeights([
      { values: u[0]!, samples: 200 },
      { values: u[1]!, samples: 600 },
    ]);
    assert.deepEqual(Array.from(doubled), Array.from(skewed));
  });

  it('does not depend on the order of arrival beyond float64 rounding', () => {
    const rnd = (seed: number): Float32Array => {
      const v = new Float32Array(1000);
      let s = seed;
      for (let i = 0; i < v.length; i++)
        v[i] = ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * 10;
      return v;
    };
    const ups = [1, 2, 3, 4].map((k) => ({ values: rnd(k), samples: 100 * k + 7 }));
    const fwd = averageWeights(ups);
    const rev = averageWeights([...ups].reverse());
    assert.deepEqual(Array.from(fwd), Array.from(rev));
  });

  it('streams: adding updates one by one equals averaging them at once', () => {
    const s = new StreamingAverage(3);
    s.add(new Float32Array([1, 1, 1]), 1);
    s.add(new Float32Array([4, 4, 4]), 3);
    assert.equal(s.updates, 2);
    assert.equal(s.samples, 4);
    assert.deepEqual(Array.from(s.result()), [3.25, 3.25, 3.25]);
  });

  it('refuses empty averages, wrong sizes and non-positive counts', () => {
    assert.throws(() => averageWeights([]), /zero updates/);
    assert.throws(() => new StreamingAverage(2).result(), /zero updates/);
    const s = new StreamingAverage(2);
    assert.throws(() => s.add(new Float32Array(3), 1), RangeError);
    assert.throws(() => s.add(new Float32Array(2), 0), RangeError);
    assert.throws(() => s.add(new Float32Array(2), NaN), RangeError);
    assert.equal(s.updates, 0);
  });

  it('gives the same bits in WebAssembly SIMD as in JavaScript, for any count and size', () => {
    assert.ok(scratchKernels(1), 'WebAssembly SIMD is not available here');
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    for (const count of [1, 2, 4, 5, 8, 9, 13]) {
      for (const size of [3, 4, 4099, 2 * 4096 + 6]) {
        const ups = Array.from({ length: count }, (_, k) => ({
          values: Float32Array.from({ length: size }, () => rand() * 10 ** (k % 3)),
          samples: 1 + ((k * 7919) % 1000),
        }));
        const simd = averageWeights(ups);
        useSimdKernels(false);
        let js: Float32Array;
        try {
          js = averageWeights(ups);
        } finally {
          useSimdKernels(true);
        }
        assert.deepEqual(
          new Uint32Array(simd.buffer),
          new Uint32Array(js.buffer),
          `${count} updates of ${size}`,
        );
      }
    }
  });
});
