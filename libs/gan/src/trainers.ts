import * as tf from '@tensorflow/tfjs-core';
import type { FlatWeights } from '@distgan/protocol';
import { Adam, type AdamConfig } from './adam.js';
import { readSync } from './read.js';
import { buildModel, classCount, type Model, type ModelSpec } from './models.js';
import { generatorStep, localDiscriminatorStep, type DiscriminatorLosses } from './steps.js';

function latent(batch: number, dim: number, seed: number): tf.Tensor2D {
  return tf.randomNormal([batch, dim], 0, 1, 'float32', seed);
}

/** Real samples with their labels, as a device draws them (@distgan/data's RealBatch). */
export interface RealSamples {
  /** batchSize × sample values, flat NHWC. */
  images: Float32Array;
  labels: Uint8Array;
}

/**
 * A real minibatch as tensors: the samples, and their labels when the model is conditional (an
 * unconditional model never reads them). The caller disposes both.
 */
export function realBatchTensors(
  spec: ModelSpec,
  batchSize: number,
  batch: RealSamples,
): { real: tf.Tensor; labels?: tf.Tensor1D } {
  const real = tf.tensor(batch.images.slice(), [batchSize, ...spec.sampleShape]);
  if (classCount(spec) === 0) return { real };
  return { real, labels: tf.tensor1d(Int32Array.from(batch.labels), 'int32') };
}

function sameAdam(a: AdamConfig, b: AdamConfig): boolean {
  return a.learningRate === b.learningRate && a.beta1 === b.beta1 && a.beta2 === b.beta2;
}

/**
 * The server's side of the method: the global generator with its Adam state, and the global
 * discriminator φ (the devices' weighted average) that the generator trains against.
 */
export class GlobalGan {
  readonly generator: Model;
  readonly discriminator: Model;
  private readonly optimizer: Adam;

  constructor(
    readonly spec: ModelSpec,
    opts: { seed: number; generatorAdam: AdamConfig },
  ) {
    this.generator = buildModel('generator', spec, opts.seed);
    this.discriminator = buildModel('discriminator', spec, opts.seed + 1);
    this.optimizer = new Adam(this.generator.params.vars, opts.generatorAdam);
  }

  generatorWeights(out?: Float32Array): FlatWeights {
    return this.generator.params.getFlat(out);
  }

  discriminatorWeights(out?: Float32Array): FlatWeights {
    return this.discriminator.params.getFlat(out);
  }

  setGenerator(values: Float32Array): void {
    this.generator.params.setFlat(values);
  }

  setDiscriminator(values: Float32Array): void {
    this.discriminator.params.setFlat(values);
  }

  /** M generator steps against the current global discriminator; returns the mean G loss. */
  generatorSteps(steps: number, batchSize: number, seedOf: (step: number) => number): number {
    let sum = 0;
    for (let s = 0; s < steps; s++) {
      const z = latent(batchSize, this.spec.latentDim, seedOf(s));
      sum += generatorStep(this.generator, this.discriminator, this.optimizer, z);
      z.dispose();
    }
    return sum / steps;
  }

  /** Samples from given latent vectors (count × latentDim), flat NHWC in [-1, 1]. */
  sample(z: Float32Array): Float32Array {
    const count = z.length / this.spec.latentDim;
    return readSync(() =>
      this.generator.apply(tf.tensor2d(z.slice(), [count, this.spec.latentDim])),
    );
  }

  /** A fixed latent batch for sample grids that show progress over rounds. */
  latentBatch(count: number, seed: number): Float32Array {
    return readSync(() => latent(count, this.spec.latentDim, seed));
  }

  get optimizerStep(): number {
    return this.optimizer.step;
  }

  getOptimizerState(into?: Float32Array): Float32Array {
    return this.optimizer.getState(into);
  }

  setOptimizerState(state: Float32Array): void {
    this.optimizer.setState(state);
  }

  dispose(): void {
    this.generator.dispose();
    this.discriminator.dispose();
    this.optimizer.dispose();
  }
}

/**
 * A device's side: a local discriminator with its own Adam state kept between rounds, and an
 * inference copy of the global generator to make its own fake minibatches.
 */
export class LocalDiscriminatorTrainer {
  readonly generator: Model;
  readonly discriminator: Model;
  private optimizer: Adam;

  constructor(
    readonly spec: ModelSpec,
    adam: AdamConfig,
  ) {
    // Initial values are irrelevant: every round starts from the server's θ_t and φ_t.
    this.generator = buildModel('generator', spec, 0);
    this.discriminator = buildModel('discriminator', spec, 0);
    this.optimizer = new Adam(this.discriminator.params.vars, adam);
  }

  /** Uses the given Adam settings, starting a fresh optimizer if they changed. */
  configure(adam: AdamConfig): void {
    if (sameAdam(this.optimizer.config, adam)) return;
    this.optimizer.dispose();
    this.optimizer = new Adam(this.discriminator.params.vars, adam);
  }

  resetOptimizer(): void {
    this.optimizer.reset();
  }

  get optimizerStep(): number {
    return this.optimizer.step;
  }

  setGlobal(generator: Float32Array, discriminator: Float32Array): void {
    this.generator.params.setFlat(generator);
    this.discriminator.params.setFlat(discriminator);
  }

  /**
   * L local steps. `realBatch(step)` returns batchSize samples (flat NHWC) and their labels from
   * the device's shard; `seedOf(step)` seeds the latent batch. Returns the losses averaged over
   * the steps.
   */
  train(
    steps: number,
    batchSize: number,
    realBatch: (step: number) => RealSamples,
    seedOf: (step: number) => number,
  ): DiscriminatorLosses {
    const sum = { d: 0, dReal: 0, dFake: 0 };
    for (let s = 0; s < steps; s++) {
      const { real, labels } = realBatchTensors(this.spec, batchSize, realBatch(s));
      const z = latent(batchSize, this.spec.latentDim, seedOf(s));
      const l = localDiscriminatorStep(
        this.discriminator,
        this.generator,
        this.optimizer,
        real,
        z,
        labels,
      );
      real.dispose();
      labels?.dispose();
      z.dispose();
      sum.d += l.d;
      sum.dReal += l.dReal;
      sum.dFake += l.dFake;
    }
    return { d: sum.d / steps, dReal: sum.dReal / steps, dFake: sum.dFake / steps };
  }

  discriminatorWeights(out?: Float32Array): FlatWeights {
    return this.discriminator.params.getFlat(out);
  }

  dispose(): void {
    this.generator.dispose();
    this.discriminator.dispose();
    this.optimizer.dispose();
  }
}
