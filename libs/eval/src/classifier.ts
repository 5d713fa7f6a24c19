import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Adam, ParamSet, readInto, type ParamDef } from '@distgan/gan';
import { decodeWeights, encodeWeights, type FlatWeights } from '@distgan/protocol';

/**
 * The feature extractor of the FID: a small CNN trained on the real data (for MNIST-like data
 * Inception features do not apply). Two stride-2 4×4 convolutions, a dense layer of
 * FEATURE_DIM units whose ReLU output is the feature space, and a softmax over the classes.
 */
export const FEATURE_DIM = 128;
/** The layer whose activations are the FID's features, named in every report. */
export const FEATURE_LAYER = 'dense0 (ReLU, 128 units)';

export interface ClassifierSpec {
  /** H × W × C of one image. */
  inputShape: readonly [number, number, number];
  numClasses: number;
}

/** What is stored beside the weights: the spec and how well the classifier did. */
export interface ClassifierCard extends ClassifierSpec {
  dataset: string;
  featureLayer: string;
  testAccuracy: number;
  testSamples: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  backend: string;
  trainSeconds: number;
  /** File name of the weight blob, beside the card. */
  weights: string;
}

const CHANNELS = [32, 64] as const;

function defs(spec: ClassifierSpec): ParamDef[] {
  const [h, w, c] = spec.inputShape;
  if (h % 4 !== 0 || w % 4 !== 0) {
    throw new RangeError(`the classifier takes images whose sides divide by 4, not ${h}×${w}`);
  }
  const flat = (h / 4) * (w / 4) * CHANNELS[1];
  const normal = (std: number) => ({ kind: 'normal' as const, std });
  const glorot = (fanIn: number, fanOut: number) => ({ kind: 'glorot' as const, fanIn, fanOut });
  return [
    { name: 'conv0/kernel', shape: [4, 4, c, CHANNELS[0]], init: normal(Math.sqrt(2 / (16 * c))) },
    { name: 'conv0/bias', shape: [CHANNELS[0]], init: { kind: 'zeros' } },
    {
      name: 'conv1/kernel',
      shape: [4, 4, CHANNELS[0], CHANNELS[1]],
      init: normal(Math.sqrt(2 / (16 * CHANNELS[0]))),
    },
    { name: 'conv1/bias', shape: [CHANNELS[1]], init: { kind: 'zeros' } },
    { name: 'dense0/kernel', shape: [flat, FEATURE_DIM], init: glorot(flat, FEATURE_DIM) },
    { name: 'dense0/bias', shape: [FEATURE_DIM], init: { kind: 'zeros' } },
    {
      name: 'logits/kernel',
      shape: [FEATURE_DIM, spec.numClasses],
      init: glorot(FEATURE_DIM, spec.numClasses),
    },
    { name: 'logits/bias', shape: [spec.numClasses], init: { kind: 'zeros' } },
  ];
}

/** Features and class probabilities of a set of images. */
export interface Embedding {
  count: number;
  /** count × FEATURE_DIM */
  features: Float32Array;
  /** count × numClasses, softmax */
  probs: Float32Array;
}

export class Classifier {
  readonly params: ParamSet;
  private readonly flat: number;

  constructor(
    readonly spec: ClassifierSpec,
    seed = 0,
  ) {
    this.params = new ParamSet(defs(spec), seed);
    const [h, w] = spec.inputShape;
    this.flat = (h / 4) * (w / 4) * CHANNELS[1];
  }

  /** The feature layer's activations for a batch of images [b, H, W, C] in [-1, 1]. */
  features(x: tf.Tensor4D): tf.Tensor2D {
    const p = this.params;
    const conv = (h: tf.Tensor4D, name: string): tf.Tensor4D =>
      tf.relu(
        tf.add<tf.Tensor4D>(
          tf.conv2d(h, p.get(`${name}/kernel`) as tf.Tensor4D, 2, 'same'),
          p.get(`${name}/bias`),
        ),
      );
    const h = tf.reshape(conv(conv(x, 'conv0'), 'conv1'), [-1, this.flat]) as tf.Tensor2D;
    return tf.relu(tf.add<tf.Tensor2D>(tf.matMul(h, p.get('dense0/kernel')), p.get('dense0/bias')));
  }

  logitsOf(features: tf.Tensor2D): tf.Tensor2D {
    return tf.add(
      tf.matMul(features, this.params.get('logits/kernel')),
      this.params.get('logits/bias'),
    );
  }

  /** Features and probabilities of `count` images (flat NHWC), in batches of `batchSize`. */
  embed(images: Float32Array, batchSize = 500): Embedding {
    const [h, w, c] = this.spec.inputShape;
    const size = h * w * c;
    if (images.length % size !== 0) {
      throw new RangeError(
        `${images.length} values are not a whole number of ${h}×${w}×${c} images`,
      );
    }
    const count = images.length / size;
    const features = new Float32Array(count * FEATURE_DIM);
    const probs = new Float32Array(count * this.spec.numClasses);
    for (let from = 0; from < count; from += batchSize) {
      const n = Math.min(batchSize, count - from);
      // Tensors out of the scope, read after it: tf.tidy walks returned typed arrays slowly.
      const [feats, p] = tf.tidy(() => {
        const x = tf.tensor4d(images.subarray(from * size, (from + n) * size), [n, h, w, c]);
        const f = this.features(x);
        return [f, tf.softmax(this.logitsOf(f))];
      });
      readInto(feats, features.subarray(from * FEATURE_DIM, (from + n) * FEATURE_DIM));
      readInto(p, probs.subarray(from * this.spec.numClasses, (from + n) * this.spec.numClasses));
      feats.dispose();
      p.dispose();
    }
    return { count, features, probs };
  }

  /** Share of the images whose most probable class is their label. */
  accuracy(images: Float32Array, labels: Uint8Array): number {
    const { probs, count } = this.embed(images);
    if (count !== labels.length) {
      throw new RangeError(`${count} images but ${labels.length} labels`);
    }
    const k = this.spec.numClasses;
    let right = 0;
    for (let i = 0; i < count; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (probs[i * k + j]! > probs[i * k + best]!) best = j;
      if (best === labels[i]) right += 1;
    }
    return right / count;
  }

  /**
   * One Adam step of softmax cross-entropy on a labelled batch; returns the batch loss.
   */
  trainStep(optimizer: Adam, images: Float32Array, labels: Uint8Array): number {
    const [h, w, c] = this.spec.inputShape;
    const n = labels.length;
    const loss = tf.tidy(() => {
      const x = tf.tensor4d(images.slice(), [n, h, w, c]);
      const y = tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), this.spec.numClasses);
      const vars = this.params.vars as tf.Variable[];
      const { value, grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(y, this.logitsOf(this.features(x))) as tf.Scalar,
        vars,
      );
      optimizer.apply(vars.map((v) => grads[v.name]!));
      return value;
    });
    const l = loss.dataSync()[0]!;
    loss.dispose();
    return l;
  }

  weights(): FlatWeights {
    return this.params.getFlat();
  }

  dispose(): void {
    this.params.dispose();
  }
}

/** Loads a classifier from its card (JSON) and the weight blob beside it. */
export function loadClassifier(cardPath: string | URL): {
  classifier: Classifier;
  card: ClassifierCard;
} {
  const card = JSON.parse(readFileSync(cardPath, 'utf8')) as ClassifierCard;
  const classifier = new Classifier(card);
  try {
    const blob = readFileSync(new URL(card.weights, toUrl(cardPath)));
    const w = decodeWeights(blob, { expect: classifier.params.specs });
    classifier.params.setFlat(w.values);
  } catch (err) {
    classifier.dispose();
    throw err;
  }
  return { classifier, card };
}

/** Encodes a classifier's weights for the repository (float16: half the bytes, same accuracy). */
export function encodeClassifier(classifier: Classifier): Uint8Array {
  return encodeWeights(classifier.weights(), { dtype: 'float16' });
}

function toUrl(path: string | URL): URL {
  return path instanceof URL ? path : pathToFileURL(resolve(path));
}

/** The classifiers committed with the project, by dataset. */
export const CLASSIFIERS_DIR = new URL('../classifiers/', import.meta.url);

export function committedClassifierPath(dataset: string): URL {
  return new URL(`${dataset}.json`, CLASSIFIERS_DIR);
}
