import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';
import type { Adam } from './adam.js';
import { readInto } from './read.js';
import { classCount, latentClasses, type Model } from './models.js';

export interface DiscriminatorLosses {
  /**
   * Total D loss: softplus(-D(x)) + softplus(D(G(z))), batch means, plus for a conditional model
   * the class losses on both batches.
   */
  d: number;
  /** Real part, mean softplus(-D(x)). */
  dReal: number;
  /** Fake part, mean softplus(D(G(z))). */
  dFake: number;
}

/**
 * The weight of a conditional model's class losses (ACGAN's auxiliary classifier) against the
 * real/fake loss: 1, as in ACGAN, which weighs the two log-likelihoods equally.
 */
export const CLASS_LOSS_WEIGHT = 1;

/** The real/fake logits of a discriminator's outputs. */
function realFakeLogit(discriminator: Model, out: tf.Tensor): tf.Tensor {
  return classCount(discriminator.spec) === 0 ? out : tf.slice(out, [0, 0], [-1, 1]);
}

/** A conditional discriminator's class loss on its outputs: softmax cross-entropy, batch mean. */
function classLoss(discriminator: Model, out: tf.Tensor, classes: tf.Tensor1D): tf.Scalar {
  const k = classCount(discriminator.spec);
  const logits = tf.slice(out, [0, 1], [-1, k]);
  return tf.mul(
    CLASS_LOSS_WEIGHT,
    tf.losses.softmaxCrossEntropy(tf.oneHot(tf.cast(classes, 'int32'), k), logits),
  );
}

/**
 * The discriminator's loss on a real and a fake batch (summed into `total`), its real and fake
 * parts kept for the report. A conditional model adds its class losses on the real samples'
 * labels and on the classes the fakes were asked for.
 */
function discriminatorLoss(
  discriminator: Model,
  batches: { real: tf.Tensor; fake: tf.Tensor; labels?: tf.Tensor1D; fakeClasses?: tf.Tensor1D },
): { total: tf.Scalar; realPart: tf.Scalar; fakePart: tf.Scalar } {
  const realOut = discriminator.apply(batches.real);
  const fakeOut = discriminator.apply(batches.fake);
  const realPart = tf.mean(tf.softplus(tf.neg(realFakeLogit(discriminator, realOut)))) as tf.Scalar;
  const fakePart = tf.mean(tf.softplus(realFakeLogit(discriminator, fakeOut))) as tf.Scalar;
  let total = tf.add(realPart, fakePart) as tf.Scalar;
  if (classCount(discriminator.spec) > 0) {
    if (!batches.labels || !batches.fakeClasses) {
      throw new RangeError(
        "a conditional discriminator trains on the real samples' labels and the fakes' classes",
      );
    }
    total = tf.add(
      total,
      tf.add(
        classLoss(discriminator, realOut, batches.labels),
        classLoss(discriminator, fakeOut, batches.fakeClasses),
      ),
    );
  }
  return { total, realPart, fakePart };
}

/**
 * The generator's loss on samples judged by `discriminator`: the non-saturating
 * softplus(-D(x)), plus for a conditional model the class loss on the classes they were asked for.
 */
function generatorLoss(discriminator: Model, samples: tf.Tensor, classes?: tf.Tensor1D): tf.Scalar {
  const out = discriminator.apply(samples);
  const loss = tf.mean(tf.softplus(tf.neg(realFakeLogit(discriminator, out)))) as tf.Scalar;
  if (classCount(discriminator.spec) === 0) return loss;
  if (!classes) throw new RangeError("a conditional generator loss needs the samples' classes");
  return tf.add(loss, classLoss(discriminator, out, classes));
}

/** The classes latent vectors ask for, when the model is conditional. */
function classesOf(model: Model, z: tf.Tensor2D): tf.Tensor1D | undefined {
  const k = classCount(model.spec);
  return k === 0 ? undefined : latentClasses(z, k);
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
  labels?: tf.Tensor1D,
): DiscriminatorLosses {
  const parts = tf.tidy(() => {
    const fake = generator.apply(z); // no gradient flows to G: only D's variables are differentiated
    const fakeClasses = classesOf(generator, z);
    let realPart!: tf.Scalar;
    let fakePart!: tf.Scalar;
    const { value, grads } = gradsFor(discriminator, () => {
      const l = discriminatorLoss(discriminator, { real, fake, labels, fakeClasses });
      // kept: the gradient scope disposes everything but its result
      realPart = tf.keep(l.realPart);
      fakePart = tf.keep(l.fakePart);
      return l.total;
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
      generatorLoss(discriminator, generator.apply(z), classesOf(generator, z)),
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
  classes?: { labels: tf.Tensor1D; fakeClasses: tf.Tensor1D },
): DiscriminatorLosses {
  const parts = tf.tidy(() => {
    let realPart!: tf.Scalar;
    let fakePart!: tf.Scalar;
    const { value, grads } = gradsFor(discriminator, () => {
      const l = discriminatorLoss(discriminator, { real, fake, ...classes });
      realPart = tf.keep(l.realPart);
      fakePart = tf.keep(l.fakePart);
      return l.total;
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
 * MD-GAN's error feedback: the gradient of the generator loss (the non-saturating mean
 * softplus(-D(x)), plus a conditional model's class loss on the classes the samples were asked
 * for) with respect to the samples x, and that loss.
 */
export function generatorFeedback(
  discriminator: Model,
  samples: tf.Tensor,
  classes?: tf.Tensor1D,
): { feedback: Float32Array; loss: number } {
  // Read outside the scope: tf.tidy walks a returned typed array element by element.
  const { value, grad } = tf.tidy(() =>
    tf.valueAndGrad((x: tf.Tensor) => generatorLoss(discriminator, x, classes))(samples),
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
