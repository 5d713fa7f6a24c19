import * as tf from '@tensorflow/tfjs-core';
import { ParamSet, type ParamDef } from './params.js';

/** Model families. `mlp` works for any sample shape (images are flattened, 2D points as is). */
export type ModelArch = 'mlp' | 'dcgan';
export type ModelRole = 'generator' | 'discriminator';

export interface ModelSpec {
  arch: ModelArch;
  /** Shape of one sample: [28, 28, 1], [32, 32, 3] or [2] for the synthetic ring. */
  sampleShape: readonly number[];
  /** Length of the latent vector z. */
  latentDim: number;
  /**
   * The models' size (default DEFAULT_MODEL_WIDTH): dcgan's narrowest layer has this many
   * channels, doubling towards the latent side (28×28: G 7×7×2w → 14×14×w → image; D the
   * reverse); mlp's hidden layers are 8w and 16w units wide for images, 4w for 2D points.
   */
  width?: number;
  /**
   * Class-conditional models (ACGAN, Odena et al. 2017) over this many classes; 0 or absent:
   * unconditional. The generator takes its class from the latent vector itself, the index of the
   * largest of z's first `classes` coordinates (uniform over the classes for z ~ N(0, I)), as a
   * one-hot code in place of those coordinates; the discriminator also classifies, with
   * `classes` logits after its real/fake logit.
   */
  classes?: number;
}

/** The width of the default models: dcgan 64 → 32 channels, mlp 256 and 512 units (images). */
export const DEFAULT_MODEL_WIDTH = 32;

/** The width a spec asks for, checked. */
export function modelWidth(spec: ModelSpec): number {
  const w = spec.width ?? DEFAULT_MODEL_WIDTH;
  if (!Number.isInteger(w) || w < 1)
    throw new RangeError(`the model width must be a positive integer, got ${w}`);
  return w;
}

/** The class count of a conditional spec, checked; 0 for an unconditional one. */
export function classCount(spec: ModelSpec): number {
  const k = spec.classes ?? 0;
  if (k === 0) return 0;
  if (!Number.isInteger(k) || k < 2)
    throw new RangeError(`a conditional model needs at least 2 classes, got ${k}`);
  if (spec.latentDim <= k) {
    throw new RangeError(
      `a conditional model over ${k} classes needs a latent longer than ${k} (its first ${k} coordinates choose the class), got ${spec.latentDim}`,
    );
  }
  return k;
}

/** The class each latent vector asks for (see ModelSpec.classes): int32 [b]. */
export function latentClasses(z: tf.Tensor2D, classes: number): tf.Tensor1D {
  return tf.argMax(tf.slice(z, [0, 0], [-1, classes]), 1);
}

/** The same as `latentClasses`, for latent vectors held as count × latentDim values. */
export function latentClassesOf(z: Float32Array, latentDim: number, classes: number): Int32Array {
  const count = z.length / latentDim;
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++)
      if (z[i * latentDim + c]! > z[i * latentDim + best]!) best = c;
    out[i] = best;
  }
  return out;
}

/** What the generator's first layer reads: z, or a conditional model's one-hot class and the rest of z. */
function generatorInput(spec: ModelSpec, z: tf.Tensor): tf.Tensor {
  const k = classCount(spec);
  if (k === 0) return z;
  const code = tf.cast(tf.oneHot(latentClasses(z as tf.Tensor2D, k), k), 'float32');
  return tf.concat([code, tf.slice(z, [0, k], [-1, spec.latentDim - k])], 1);
}

/** The discriminator's outputs: one real/fake logit, then a conditional model's class logits. */
function discriminatorOutputs(spec: ModelSpec): number {
  return 1 + classCount(spec);
}

/** A model is its parameters and a pure forward function over them. */
export interface Model {
  readonly role: ModelRole;
  readonly spec: ModelSpec;
  readonly params: ParamSet;
  /**
   * Generator: z [b, latentDim] → samples [b, ...sampleShape]. Discriminator: samples → logits
   * [b, 1 + classes]: real/fake, then a conditional model's classes.
   */
  apply(x: tf.Tensor): tf.Tensor;
  dispose(): void;
}

interface Architecture {
  defs: ParamDef[];
  forward: (p: ParamSet, x: tf.Tensor) => tf.Tensor;
}

const LEAK = 0.2;
const BN_EPSILON = 1e-5;
const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

function dense(name: string, inDim: number, outDim: number, std?: number): ParamDef[] {
  const init = std
    ? { kind: 'normal' as const, std }
    : { kind: 'glorot' as const, fanIn: inDim, fanOut: outDim };
  return [
    { name: `${name}/kernel`, shape: [inDim, outDim], init },
    { name: `${name}/bias`, shape: [outDim], init: { kind: 'zeros' } },
  ];
}

function conv(name: string, k: number, inC: number, outC: number, transpose = false): ParamDef[] {
  // conv2d filters are [h, w, in, out]; conv2dTranspose filters are [h, w, out, in].
  const shape = transpose ? [k, k, outC, inC] : [k, k, inC, outC];
  return [
    { name: `${name}/kernel`, shape, init: { kind: 'normal', std: 0.02 } },
    { name: `${name}/bias`, shape: [outC], init: { kind: 'zeros' } },
  ];
}

function batchNorm(name: string, channels: number): ParamDef[] {
  return [
    { name: `${name}/gamma`, shape: [channels], init: { kind: 'ones' } },
    { name: `${name}/beta`, shape: [channels], init: { kind: 'zeros' } },
  ];
}

function applyDense(p: ParamSet, name: string, x: tf.Tensor): tf.Tensor2D {
  return tf.add(tf.matMul(x as tf.Tensor2D, p.get(`${name}/kernel`)), p.get(`${name}/bias`));
}

/**
 * Batch normalisation with the statistics of the batch itself, in training and sampling alike:
 * the generator has no running statistics, so its weights are its whole state.
 */
function applyBatchNorm(p: ParamSet, name: string, x: tf.Tensor): tf.Tensor {
  const axes = x.rank === 4 ? [0, 1, 2] : [0];
  const { mean, variance } = tf.moments(x, axes);
  return tf.add(
    tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, BN_EPSILON))), p.get(`${name}/gamma`)),
    p.get(`${name}/beta`),
  );
}

function applyConv(p: ParamSet, name: string, x: tf.Tensor4D): tf.Tensor4D {
  return tf.add(
    tf.conv2d(x, p.get(`${name}/kernel`) as tf.Tensor4D, 2, 'same'),
    p.get(`${name}/bias`),
  );
}

function applyConvTranspose(p: ParamSet, name: string, x: tf.Tensor4D, outC: number): tf.Tensor4D {
  const [b, h, w] = x.shape;
  return tf.add(
    tf.conv2dTranspose(
      x,
      p.get(`${name}/kernel`) as tf.Tensor4D,
      [b, h * 2, w * 2, outC],
      2,
      'same',
    ),
    p.get(`${name}/bias`),
  );
}

function mlpHidden(spec: ModelSpec): number[] {
  const w = modelWidth(spec);
  return spec.sampleShape.length === 1 ? [4 * w, 4 * w] : [8 * w, 16 * w];
}

function mlpGenerator(spec: ModelSpec): Architecture {
  const out = prod(spec.sampleShape);
  const widths = [spec.latentDim, ...mlpHidden(spec), out];
  const defs = widths.slice(1).flatMap((w, i) => dense(`g/dense${i}`, widths[i]!, w));
  const isImage = spec.sampleShape.length > 1;
  return {
    defs,
    forward: (p, z) => {
      let h: tf.Tensor = generatorInput(spec, z);
      for (let i = 0; i < widths.length - 1; i++) {
        h = applyDense(p, `g/dense${i}`, h);
        if (i < widths.length - 2) h = tf.leakyRelu(h, LEAK);
      }
      // Images live in [-1, 1]; 2D points are unbounded.
      return isImage ? tf.reshape(tf.tanh(h), [-1, ...spec.sampleShape]) : h;
    },
  };
}

function mlpDiscriminator(spec: ModelSpec): Architecture {
  const inDim = prod(spec.sampleShape);
  const widths = [inDim, ...mlpHidden(spec).reverse(), discriminatorOutputs(spec)];
  const defs = widths.slice(1).flatMap((w, i) => dense(`d/dense${i}`, widths[i]!, w));
  return {
    defs,
    forward: (p, x) => {
      let h: tf.Tensor = tf.reshape(x, [-1, inDim]);
      for (let i = 0; i < widths.length - 1; i++) {
        h = applyDense(p, `d/dense${i}`, h);
        if (i < widths.length - 2) h = tf.leakyRelu(h, LEAK);
      }
      return h;
    },
  };
}

/** DCGAN channel plan for 28×28 (two upsamplings from 7×7) and 32×32 (three from 4×4). */
function dcganPlan(spec: ModelSpec): { base: number; channels: number[]; outC: number } {
  const [h, w, c] = spec.sampleShape;
  const width = modelWidth(spec);
  if (spec.sampleShape.length !== 3 || h !== w || (h !== 28 && h !== 32) || !c) {
    throw new RangeError(
      `the dcgan models take 28×28×C or 32×32×C images, not [${spec.sampleShape.join(', ')}]; use --model mlp`,
    );
  }
  return h === 28
    ? { base: 7, channels: [2 * width, width], outC: c }
    : { base: 4, channels: [4 * width, 2 * width, width], outC: c };
}

function dcganGenerator(spec: ModelSpec): Architecture {
  const { base, channels, outC } = dcganPlan(spec);
  const first = base * base * channels[0]!;
  const defs: ParamDef[] = [
    ...dense('g/project', spec.latentDim, first, 0.02),
    ...batchNorm('g/bn0', channels[0]!),
  ];
  for (let i = 1; i < channels.length; i++) {
    defs.push(...conv(`g/deconv${i}`, 4, channels[i - 1]!, channels[i]!, true));
    defs.push(...batchNorm(`g/bn${i}`, channels[i]!));
  }
  defs.push(...conv('g/out', 4, channels[channels.length - 1]!, outC, true));
  return {
    defs,
    forward: (p, z) => {
      const input = generatorInput(spec, z);
      let h: tf.Tensor = tf.reshape(applyDense(p, 'g/project', input), [
        -1,
        base,
        base,
        channels[0]!,
      ]);
      h = tf.relu(applyBatchNorm(p, 'g/bn0', h));
      for (let i = 1; i < channels.length; i++) {
        h = applyConvTranspose(p, `g/deconv${i}`, h as tf.Tensor4D, channels[i]!);
        h = tf.relu(applyBatchNorm(p, `g/bn${i}`, h));
      }
      return tf.tanh(applyConvTranspose(p, 'g/out', h as tf.Tensor4D, outC));
    },
  };
}

function dcganDiscriminator(spec: ModelSpec): Architecture {
  const { base, channels, outC } = dcganPlan(spec);
  const down = [...channels].reverse(); // e.g. [64, 128] for 28×28
  const defs: ParamDef[] = [];
  down.forEach((ch, i) => defs.push(...conv(`d/conv${i}`, 4, i === 0 ? outC : down[i - 1]!, ch)));
  const flat = base * base * down[down.length - 1]!;
  defs.push(...dense('d/logit', flat, discriminatorOutputs(spec), 0.02));
  return {
    defs,
    forward: (p, x) => {
      let h = x as tf.Tensor4D;
      for (let i = 0; i < down.length; i++) h = tf.leakyRelu(applyConv(p, `d/conv${i}`, h), LEAK);
      return applyDense(p, 'd/logit', tf.reshape(h, [-1, flat]));
    },
  };
}

const builders: Record<ModelArch, Record<ModelRole, (s: ModelSpec) => Architecture>> = {
  mlp: { generator: mlpGenerator, discriminator: mlpDiscriminator },
  dcgan: { generator: dcganGenerator, discriminator: dcganDiscriminator },
};

/** Builds a generator or discriminator with weights initialised deterministically from `seed`. */
export function buildModel(role: ModelRole, spec: ModelSpec, seed: number): Model {
  if (!Number.isInteger(spec.latentDim) || spec.latentDim < 1) {
    throw new RangeError(`latentDim must be a positive integer, got ${spec.latentDim}`);
  }
  classCount(spec);
  const arch = builders[spec.arch]?.[role];
  if (!arch) throw new RangeError(`unknown model "${spec.arch}": use mlp or dcgan`);
  const { defs, forward } = arch(spec);
  const params = new ParamSet(defs, seed);
  return {
    role,
    spec,
    params,
    apply: (x) => forward(params, x),
    dispose: () => params.dispose(),
  };
}

/**
 * Multiply-add FLOPs (2 per multiply-add) of one forward pass of one sample: dense layers and
 * convolutions only (activations, batch norm and biases are a small share and not counted). A
 * conv-transpose counts the work of its non-zero inputs, 2·H_in·W_in·k²·C_in·C_out.
 */
export function forwardFlops(role: ModelRole, spec: ModelSpec): number {
  if (spec.arch === 'mlp') {
    const hidden = mlpHidden(spec);
    const widths =
      role === 'generator'
        ? [spec.latentDim, ...hidden, prod(spec.sampleShape)]
        : [prod(spec.sampleShape), ...[...hidden].reverse(), discriminatorOutputs(spec)];
    let f = 0;
    for (let i = 0; i + 1 < widths.length; i++) f += 2 * widths[i]! * widths[i + 1]!;
    return f;
  }
  const { base, channels, outC } = dcganPlan(spec);
  const k2 = 16;
  let f = 0;
  if (role === 'generator') {
    f += 2 * spec.latentDim * base * base * channels[0]!;
    let side = base;
    const chain = [...channels, outC];
    for (let i = 0; i + 1 < chain.length; i++) {
      f += 2 * side * side * k2 * chain[i]! * chain[i + 1]!;
      side *= 2;
    }
    return f;
  }
  const down = [...channels].reverse();
  let side = spec.sampleShape[0]!;
  let inC = outC;
  for (const ch of down) {
    side /= 2;
    f += 2 * side * side * k2 * inC * ch;
    inC = ch;
  }
  return f + 2 * base * base * down[down.length - 1]! * discriminatorOutputs(spec);
}

/**
 * FLOPs of the training steps on a batch: a backward pass costs twice its forward pass (input
 * and weight gradients), a pass that only propagates gradients once.
 * - local D step: G forward on b latents, D forward and backward on b real and b fake samples;
 * - G step: G forward and backward, D forward and input-gradient backward, on b samples.
 */
export function stepFlops(spec: ModelSpec, batch: number): { d: number; g: number } {
  const g = forwardFlops('generator', spec);
  const d = forwardFlops('discriminator', spec);
  return { d: batch * (g + 3 * 2 * d), g: batch * (3 * g + 2 * d) };
}
