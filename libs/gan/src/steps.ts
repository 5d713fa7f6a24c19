import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';
import type { Adam } from './adam.js';
import { readInto } from './read.js';
import type { Model } from './models.js';

export interface DiscriminatorLosses {
  /** Total D loss: softplus(-D(x)) + softplus(D(G(z))), batch means. */
  d: number;
  /** Real part, mean softplus(-D(x)). */
  dReal: number;
  /** Fake part, mean softplus(D(G(z))). */
  dFake: number;
}

function gradsFor(model: Model, lossFn: () => tf.Scalar): { value: tf.Scalar; grads: tf.Tensor[] } {
  const { value, grads } = tf.variableGrads(lossFn, model.params.vars as tf.Variable[]);
  return { value, grads: model.params.vars.map((v) => grads[v.name]!) };
}

/**
 * One local discriminator step on a device: real minibatch from its shard, fake minibatch that
 * the device generates itself with the current global generator. Only D's weights move.
 */
export function localDiscriminatorStep(
  discriminator: Model,
  generator: Model,
  optimizer: Adam,
  real: tf.Tensor,
  z: tf.Tensor2D,
): DiscriminatorLosses {
  const parts = tf.tidy(() => {
    const fake = generator.apply(z); // no gradient flows to G: only D's variables are differentiated
    let realPart!: tf.Scalar;
    let fakePart!: tf.Scalar;
    const { value, grads } = gradsFor(discriminator, () => {
      // kept: the gradient scope disposes everything but its result
      realPart = tf.keep(tf.mean(tf.softplus(tf.neg(discriminator.apply(real)))));
      fakePart = tf.keep(tf.mean(tf.softplus(discriminator.apply(fake))));
      return tf.add(realPart, fakePart);
    });
    optimizer.apply(grads);
    const stacked = tf.stack([value, realPart, fakePart]);
    realPart.dispose();
    fakePart.dispose();
    return stacked;
  });
  const [d, dReal, dFake] = parts.dataSync();
  parts.dispose();
  return { d: d!, dReal: dReal!, dFake: dFake! };
}

/**
 * One generator step against a (global) discriminator with the non-saturating loss
 * softplus(-D(G(z))). Only G's weights move; D is read, never changed.
 */
export function generatorStep(
  generator: Model,
  discriminator: Model,
  optimizer: Adam,
  z: tf.Tensor2D,
): number {
  const loss = tf.tidy(() => {
    const { value, grads } = gradsFor(generator, () =>
      tf.mean(tf.softplus(tf.neg(discriminator.apply(generator.apply(z))))),
    );
    optimizer.apply(grads);
    return value;
  });
  const g = loss.dataSync()[0]!;
  loss.dispose();
  return g;
}

/**
 * One discriminator step on given fake samples (MD-GAN: the server generated them). Same loss as
 * `localDiscriminatorStep`.
 */
export function discriminatorStepOnSamples(
  discriminator: Model,
  optimizer: Adam,
  real: tf.Tensor,
  fake: tf.Tensor,
): DiscriminatorLosses {
  const parts = tf.tidy(() => {
    let realPart!: tf.Scalar;
    let fakePart!: tf.Scalar;
    const { value, grads } = gradsFor(discriminator, () => {
      realPart = tf.keep(tf.mean(tf.softplus(tf.neg(discriminator.apply(real)))));
      fakePart = tf.keep(tf.mean(tf.softplus(discriminator.apply(fake))));
      return tf.add(realPart, fakePart);
    });
    optimizer.apply(grads);
    const stacked = tf.stack([value, realPart, fakePart]);
    realPart.dispose();
    fakePart.dispose();
    return stacked;
  });
  const [d, dReal, dFake] = parts.dataSync();
  parts.dispose();
  return { d: d!, dReal: dReal!, dFake: dFake! };
}

/**
 * MD-GAN's error feedback: the gradient of the non-saturating generator loss
 * mean softplus(-D(x)) with respect to the samples x, and that loss.
 */
export function generatorFeedback(
  discriminator: Model,
  samples: tf.Tensor,
): { feedback: Float32Array; loss: number } {
  // Read outside the scope: tf.tidy walks a returned typed array element by element.
  const { value, grad } = tf.tidy(() =>
    tf.valueAndGrad((x: tf.Tensor) => tf.mean(tf.softplus(tf.neg(discriminator.apply(x)))))(
      samples,
    ),
  );
  const feedback = readInto(grad);
  const loss = value.dataSync()[0]!;
  grad.dispose();
  value.dispose();
  return { feedback, loss };
}

/**
 * MD-GAN's generator update: one Adam step along Σ_i J_G(z_i)ᵀ e_i, the generator gradient that
 * the feedback e_i (already scaled by the server's averaging) on the samples G(z_i) implies.
 */
export function generatorStepFromFeedback(
  generator: Model,
  optimizer: Adam,
  batches: readonly { z: tf.Tensor2D; feedback: tf.Tensor }[],
): void {
  tf.tidy(() => {
    const { grads } = gradsFor(generator, () =>
      batches
        .map((b) => tf.sum(tf.mul(generator.apply(b.z), b.feedback)) as tf.Scalar)
        .reduce((a, b) => tf.add(a, b)),
    );
    optimizer.apply(grads);
  });
}
