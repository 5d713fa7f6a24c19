import * as tf from '@tensorflow/tfjs-core';
import type { FlatWeights } from '@distgan/protocol';
import {
  localDiscriminatorStep,
  readSync,
  realBatchTensors,
  type RealSamples,
  type Adam,
  type DiscriminatorLosses,
  type Model,
  type ModelSpec,
} from '@distgan/gan';

/** A seeded latent batch (batch × latentDim, standard normal). */
export const latent = (batch: number, dim: number, seed: number): tf.Tensor2D =>
  tf.randomNormal([batch, dim], 0, 1, 'float32', seed);

/** Samples of `generator` for latent vectors z (count × latentDim), flat NHWC. */
export function sampleWith(generator: Model, z: Float32Array): Float32Array {
  const count = z.length / generator.spec.latentDim;
  return readSync(() => generator.apply(tf.tensor2d(z.slice(), [count, generator.spec.latentDim])));
}

/**
 * `steps` discriminator steps against fakes of `generator`: real minibatches (with their labels)
 * from `real(step)`,
 * latent batches seeded by `seedOf(step)`. Returns the losses averaged over the steps.
 */
export function trainDiscriminator(
  discriminator: Model,
  generator: Model,
  optimizer: Adam,
  o: {
    steps: number;
    batchSize: number;
    spec: ModelSpec;
    real: (step: number) => RealSamples;
    seedOf: (step: number) => number;
  },
): DiscriminatorLosses {
  const sum = { d: 0, dReal: 0, dFake: 0 };
  for (let s = 0; s < o.steps; s++) {
    const { real, labels } = realBatchTensors(o.spec, o.batchSize, o.real(s));
    const z = latent(o.batchSize, o.spec.latentDim, o.seedOf(s));
    const l = localDiscriminatorStep(discriminator, generator, optimizer, real, z, labels);
    real.dispose();
    labels?.dispose();
    z.dispose();
    sum.d += l.d / o.steps;
    sum.dReal += l.dReal / o.steps;
    sum.dFake += l.dFake / o.steps;
  }
  return sum;
}

/** An Adam state as one tensor of a blob. */
export const adamSpec = (length: number): { name: string; shape: number[] } => ({
  name: 'adam',
  shape: [length],
});

/** A server side that holds a global G and D: what sampling and saving read from them. */
export abstract class GlobalModels {
  protected abstract readonly generator: Model;
  protected abstract readonly discriminator: Model;

  sample(z: Float32Array): Float32Array {
    return sampleWith(this.generator, z);
  }
  generatorWeights(out?: Float32Array): FlatWeights {
    return this.generator.params.getFlat(out);
  }
  discriminatorWeights(): FlatWeights {
    return this.discriminator.params.getFlat();
  }
}
