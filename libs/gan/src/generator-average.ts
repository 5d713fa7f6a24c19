import * as tf from '@tensorflow/tfjs-core';
import type { FlatWeights } from '@distgan/protocol';
import { buildModel, type Model, type ModelSpec } from './models.js';
import { readSync } from './read.js';

/**
 * An exponential moving average of the generator's weights over rounds (Yazıcı et al., "The
 * Unusual Effectiveness of Averaging in GAN Training", ICLR 2019): the iterates of GAN training
 * circle around a good generator, and their average is closer to it than any of them. Training
 * is untouched (the devices and the generator steps use the trained weights); samples, the
 * evaluation and the final generator use the average.
 *
 * The decay warms up, min(decay, (1 + n) / (10 + n)) at the n-th update, so that the first
 * rounds' random weights are soon forgotten.
 */
export class GeneratorAverage {
  private readonly model: Model;
  private average: Float32Array | undefined;
  private updates = 0;
  /** Whether `model` holds `average` (sampling loads it once per change). */
  private loaded = false;

  constructor(
    readonly spec: ModelSpec,
    readonly decay: number,
  ) {
    if (!(decay > 0 && decay < 1)) {
      throw new RangeError(`the generator average's decay must be in (0, 1), got ${decay}`);
    }
    this.model = buildModel('generator', spec, 0);
  }

  /** Folds the generator's weights after a round into the average. */
  update(weights: Float32Array): void {
    const size = this.model.params.size;
    if (weights.length !== size) {
      throw new RangeError(`the generator has ${size} weights, not ${weights.length}`);
    }
    this.updates += 1;
    if (!this.average) {
      this.average = weights.slice();
    } else {
      const a = this.average;
      const b = Math.min(this.decay, (1 + this.updates) / (10 + this.updates));
      for (let i = 0; i < a.length; i++) a[i] = b * a[i]! + (1 - b) * weights[i]!;
    }
    this.loaded = false;
  }

  get count(): number {
    return this.updates;
  }

  /** The generator's tensor specs: the layout of the average's values. */
  get specs(): FlatWeights['specs'] {
    return this.model.params.specs;
  }

  /** The averaged weights (a copy), or undefined before the first update. */
  weights(): FlatWeights | undefined {
    if (!this.average) return undefined;
    return { specs: this.model.params.specs, values: this.average.slice() };
  }

  /** Samples of the averaged generator from latent vectors (count × latentDim). */
  sample(z: Float32Array): Float32Array {
    if (!this.average) throw new Error('the generator average has no update yet');
    if (!this.loaded) {
      this.model.params.setFlat(this.average);
      this.loaded = true;
    }
    const count = z.length / this.spec.latentDim;
    return readSync(() => this.model.apply(tf.tensor2d(z.slice(), [count, this.spec.latentDim])));
  }

  /** What a checkpoint keeps: the update count and the average. */
  getState(): { count: number; values: Float32Array } | undefined {
    return this.average ? { count: this.updates, values: this.average.slice() } : undefined;
  }

  setState(state: { count: number; values: Float32Array }): void {
    if (state.values.length !== this.model.params.size) {
      throw new RangeError(
        `the generator has ${this.model.params.size} weights, the saved average ${state.values.length}`,
      );
    }
    this.average = state.values.slice();
    this.updates = state.count;
    this.loaded = false;
  }

  dispose(): void {
    this.model.dispose();
  }
}
