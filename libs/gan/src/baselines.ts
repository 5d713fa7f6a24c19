import * as tf from '@tensorflow/tfjs-core';
import { decodeWeights, encodeWeights, type FlatWeights, type TensorSpec } from '@distgan/protocol';
import { Adam, type AdamConfig } from './adam.js';
import { buildModel, type Model, type ModelSpec } from './models.js';
import { readSync } from './read.js';
import { deriveSeed } from './seeds.js';
import {
  discriminatorStepOnSamples,
  generatorFeedback,
  generatorStep,
  generatorStepFromFeedback,
  localDiscriminatorStep,
  type DiscriminatorLosses,
} from './steps.js';
import { averageWeights } from './aggregate.js';

/*
 * The methods the paper's one is compared with (docs/design.md §1), on the same models, the same
 * optimizer and the same steps, so that only the distribution method differs. They run in one
 * process; whatever would cross the network goes through the weight-blob codec (encoded, then
 * decoded and used), and its bytes are counted as the coordinator counts ours: down =
 * server → devices, up = devices → server, peer = device → device.
 */

export type BaselineMethod = 'md-gan' | 'fl-gan' | 'centralized';
export const BASELINE_METHODS: readonly BaselineMethod[] = ['md-gan', 'fl-gan', 'centralized'];

/** One device's data, as the baselines see it. */
export interface BaselineDevice {
  samples: number;
  /** `batchSize` real samples (flat NHWC) for local step `step` of round `round`. */
  realBatch(round: number, step: number): Float32Array;
}

export interface BaselineSettings {
  spec: ModelSpec;
  seed: number;
  batchSize: number;
  /** L: discriminator steps per device per round (FL-GAN: local iterations). */
  localSteps: number;
  /** M: generator steps per round (FL-GAN: per local iteration; MD-GAN: one G update). */
  generatorSteps: number;
  adamD: AdamConfig;
  adamG: AdamConfig;
  /** MD-GAN: fake batches the server generates per round (default max(2, ⌈log₂ N⌉)). */
  mdganBatches?: number;
  /** MD-GAN: rounds between discriminator swaps (0 = never; default one local epoch). */
  swapEvery?: number;
}

export interface BaselineRound {
  round: number;
  losses: { d: number; dReal: number; dFake: number; g: number };
  bytes: { down: number; up: number; peer: number };
  /** Milliseconds of computation on the devices (summed) and on the server. */
  computeMs: { devices: number; server: number };
}

export interface BaselineTrainer {
  readonly method: BaselineMethod;
  readonly spec: ModelSpec;
  round(): BaselineRound;
  /** Samples of the (global) generator for latent vectors z (count × latentDim). */
  sample(z: Float32Array): Float32Array;
  generatorWeights(): FlatWeights;
  /** The discriminator to save: the global one, or MD-GAN's first worker's. */
  discriminatorWeights(): FlatWeights;
  dispose(): void;
}

const latent = (batch: number, dim: number, seed: number): tf.Tensor2D =>
  tf.randomNormal([batch, dim], 0, 1, 'float32', seed);

/** Encode → decode: what the receiver gets, and what it cost on the wire. */
function transmit(
  w: FlatWeights,
  expect: readonly TensorSpec[],
): { values: Float32Array; bytes: number } {
  const blob = encodeWeights(w);
  return { values: decodeWeights(blob, { expect }).values, bytes: blob.length };
}

function sampleWith(generator: Model, z: Float32Array): Float32Array {
  const count = z.length / generator.spec.latentDim;
  return readSync(() => generator.apply(tf.tensor2d(z.slice(), [count, generator.spec.latentDim])));
}

function checkDevices(devices: readonly BaselineDevice[]): number {
  if (devices.length === 0) throw new RangeError('a baseline needs at least one device');
  const n = devices.reduce((s, d) => s + d.samples, 0);
  if (!(n > 0)) throw new RangeError('the devices hold no samples');
  return n;
}

const now = (): number => performance.now();

/** A centralized GAN on all the data: the quality ceiling. L D steps and M G steps per round. */
export class CentralizedGan implements BaselineTrainer {
  readonly method = 'centralized';
  readonly spec: ModelSpec;
  private readonly generator: Model;
  private readonly discriminator: Model;
  private readonly optG: Adam;
  private readonly optD: Adam;
  private t = 0;

  constructor(
    private readonly settings: BaselineSettings,
    private readonly data: BaselineDevice,
  ) {
    this.spec = settings.spec;
    this.generator = buildModel('generator', settings.spec, settings.seed);
    this.discriminator = buildModel('discriminator', settings.spec, settings.seed + 1);
    this.optG = new Adam(this.generator.params.vars, settings.adamG);
    this.optD = new Adam(this.discriminator.params.vars, settings.adamD);
  }

  round(): BaselineRound {
    const { batchSize, localSteps, generatorSteps, seed, spec } = this.settings;
    const t = this.t++;
    const start = now();
    const d = trainDiscriminator(this.discriminator, this.generator, this.optD, {
      steps: localSteps,
      batchSize,
      spec,
      real: (s) => this.data.realBatch(t, s),
      seedOf: (s) => deriveSeed(seed, 'fake', t, 'central', s),
    });
    let g = 0;
    for (let s = 0; s < generatorSteps; s++) {
      const z = latent(batchSize, spec.latentDim, deriveSeed(seed, 'generator', t, s));
      g += generatorStep(this.generator, this.discriminator, this.optG, z) / generatorSteps;
      z.dispose();
    }
    return {
      round: t,
      losses: { ...d, g },
      bytes: { down: 0, up: 0, peer: 0 },
      computeMs: { devices: 0, server: now() - start },
    };
  }

  sample(z: Float32Array): Float32Array {
    return sampleWith(this.generator, z);
  }
  generatorWeights(): FlatWeights {
    return this.generator.params.getFlat();
  }
  discriminatorWeights(): FlatWeights {
    return this.discriminator.params.getFlat();
  }
  dispose(): void {
    for (const x of [this.generator, this.discriminator, this.optG, this.optD]) x.dispose();
  }
}

function trainDiscriminator(
  discriminator: Model,
  generator: Model,
  optimizer: Adam,
  o: {
    steps: number;
    batchSize: number;
    spec: ModelSpec;
    real: (step: number) => Float32Array;
    seedOf: (step: number) => number;
  },
): DiscriminatorLosses {
  const sum = { d: 0, dReal: 0, dFake: 0 };
  for (let s = 0; s < o.steps; s++) {
    const real = tf.tensor(o.real(s).slice(), [o.batchSize, ...o.spec.sampleShape]);
    const z = latent(o.batchSize, o.spec.latentDim, o.seedOf(s));
    const l = localDiscriminatorStep(discriminator, generator, optimizer, real, z);
    real.dispose();
    z.dispose();
    sum.d += l.d / o.steps;
    sum.dReal += l.dReal / o.steps;
    sum.dFake += l.dFake / o.steps;
  }
  return sum;
}

interface FlDevice {
  data: BaselineDevice;
  generator: Model;
  discriminator: Model;
  optG: Adam;
  optD: Adam;
}

/**
 * FL-GAN: federated averaging of whole GANs. Each round every device loads the global G and D,
 * runs L local iterations (one D step, then M G steps against its own D) on its own data, and
 * sends both back; the server averages both, weighted by n_k. Each device keeps its own Adam
 * states between rounds, as ours does for its local D.
 */
export class FlGan implements BaselineTrainer {
  readonly method = 'fl-gan';
  readonly spec: ModelSpec;
  private readonly generator: Model;
  private readonly discriminator: Model;
  private readonly devices: FlDevice[];
  private readonly total: number;
  private t = 0;

  constructor(
    private readonly settings: BaselineSettings,
    data: readonly BaselineDevice[],
  ) {
    this.total = checkDevices(data);
    this.spec = settings.spec;
    this.generator = buildModel('generator', settings.spec, settings.seed);
    this.discriminator = buildModel('discriminator', settings.spec, settings.seed + 1);
    this.devices = data.map((d) => {
      const generator = buildModel('generator', settings.spec, 0);
      const discriminator = buildModel('discriminator', settings.spec, 0);
      return {
        data: d,
        generator,
        discriminator,
        optG: new Adam(generator.params.vars, settings.adamG),
        optD: new Adam(discriminator.params.vars, settings.adamD),
      };
    });
  }

  round(): BaselineRound {
    const { batchSize, localSteps, generatorSteps, seed, spec } = this.settings;
    const t = this.t++;
    const bytes = { down: 0, up: 0, peer: 0 };
    let deviceMs = 0;
    const serverStart = now();
    const gDown = transmit(this.generator.params.getFlat(), this.generator.params.specs);
    const dDown = transmit(this.discriminator.params.getFlat(), this.discriminator.params.specs);
    let serverMs = now() - serverStart;
    const gUpdates: { samples: number; values: Float32Array }[] = [];
    const dUpdates: { samples: number; values: Float32Array }[] = [];
    const losses = { d: 0, dReal: 0, dFake: 0, g: 0 };
    this.devices.forEach((dev, k) => {
      const start = now();
      bytes.down += gDown.bytes + dDown.bytes;
      dev.generator.params.setFlat(gDown.values);
      dev.discriminator.params.setFlat(dDown.values);
      const share = dev.data.samples / this.total;
      for (let e = 0; e < localSteps; e++) {
        const d = trainDiscriminator(dev.discriminator, dev.generator, dev.optD, {
          steps: 1,
          batchSize,
          spec,
          real: () => dev.data.realBatch(t, e),
          seedOf: () => deriveSeed(seed, 'fake', t, k, e),
        });
        losses.d += (share * d.d) / localSteps;
        losses.dReal += (share * d.dReal) / localSteps;
        losses.dFake += (share * d.dFake) / localSteps;
        for (let s = 0; s < generatorSteps; s++) {
          const z = latent(batchSize, spec.latentDim, deriveSeed(seed, 'local-g', t, k, e, s));
          const g = generatorStep(dev.generator, dev.discriminator, dev.optG, z);
          z.dispose();
          losses.g += (share * g) / (localSteps * generatorSteps);
        }
      }
      const gUp = transmit(dev.generator.params.getFlat(), this.generator.params.specs);
      const dUp = transmit(dev.discriminator.params.getFlat(), this.discriminator.params.specs);
      bytes.up += gUp.bytes + dUp.bytes;
      gUpdates.push({ samples: dev.data.samples, values: gUp.values });
      dUpdates.push({ samples: dev.data.samples, values: dUp.values });
      deviceMs += now() - start;
    });
    const aggregateStart = now();
    this.generator.params.setFlat(averageWeights(gUpdates));
    this.discriminator.params.setFlat(averageWeights(dUpdates));
    serverMs += now() - aggregateStart;
    return { round: t, losses, bytes, computeMs: { devices: deviceMs, server: serverMs } };
  }

  sample(z: Float32Array): Float32Array {
    return sampleWith(this.generator, z);
  }
  generatorWeights(): FlatWeights {
    return this.generator.params.getFlat();
  }
  discriminatorWeights(): FlatWeights {
    return this.discriminator.params.getFlat();
  }
  dispose(): void {
    this.generator.dispose();
    this.discriminator.dispose();
    for (const d of this.devices) {
      for (const x of [d.generator, d.discriminator, d.optG, d.optD]) x.dispose();
    }
  }
}

interface MdWorker {
  data: BaselineDevice;
  discriminator: Model;
  optD: Adam;
}

/**
 * MD-GAN (Hardy, Le Merrer, Sericola 2019): the server holds only G. Each round it generates k
 * fake batches and sends every worker two different ones, X_d to train its own discriminator
 * (L steps, never averaged) and X_g to compute the error feedback ∂ℓ_G/∂x, which the worker
 * sends back; the server averages the feedback and takes one Adam step on G along it. Every
 * `swapEvery` rounds the workers pass their discriminators on to one another (a seeded
 * rotation), as MD-GAN does every E epochs.
 */
export class MdGan implements BaselineTrainer {
  readonly method = 'md-gan';
  readonly spec: ModelSpec;
  private readonly generator: Model;
  private readonly optG: Adam;
  private readonly workers: MdWorker[];
  private readonly k: number;
  private readonly swapEvery: number;
  private t = 0;

  constructor(
    private readonly settings: BaselineSettings,
    data: readonly BaselineDevice[],
  ) {
    checkDevices(data);
    this.spec = settings.spec;
    this.generator = buildModel('generator', settings.spec, settings.seed);
    this.optG = new Adam(this.generator.params.vars, settings.adamG);
    this.workers = data.map((d, n) => {
      const discriminator = buildModel('discriminator', settings.spec, settings.seed + 1 + n);
      return { data: d, discriminator, optD: new Adam(discriminator.params.vars, settings.adamD) };
    });
    const n = data.length;
    this.k = settings.mdganBatches ?? Math.max(2, Math.ceil(Math.log2(n)));
    if (!Number.isSafeInteger(this.k) || this.k < 2) {
      throw new RangeError(`MD-GAN needs at least 2 fake batches per round, got ${this.k}`);
    }
    const meanShard = data.reduce((s, d) => s + d.samples, 0) / n;
    this.swapEvery =
      settings.swapEvery ??
      Math.max(1, Math.round(meanShard / (settings.batchSize * settings.localSteps)));
  }

  round(): BaselineRound {
    const { batchSize, localSteps, seed, spec } = this.settings;
    const t = this.t++;
    const bytes = { down: 0, up: 0, peer: 0 };
    const sampleSpec: TensorSpec[] = [{ name: 'samples', shape: [batchSize, ...spec.sampleShape] }];
    let serverMs = 0;
    let deviceMs = 0;

    // Server: k fake batches, each encoded once and sent to the workers that use it.
    let start = now();
    const zs = Array.from({ length: this.k }, (_, i) =>
      latent(batchSize, spec.latentDim, deriveSeed(seed, 'md-gan', t, i)),
    );
    const batches = zs.map((z) =>
      transmit(
        {
          specs: sampleSpec,
          values: readSync(() => this.generator.apply(z)),
        },
        sampleSpec,
      ),
    );
    serverMs += now() - start;

    const feedbackSum = zs.map(() => new Float32Array(batchSize * sampleSize(spec)));
    const losses = { d: 0, dReal: 0, dFake: 0, g: 0 };
    const n = this.workers.length;
    this.workers.forEach((w, i) => {
      start = now();
      const xd = batches[i % this.k]!;
      const gi = (i + 1) % this.k;
      const xg = batches[gi]!;
      bytes.down += xd.bytes + xg.bytes;
      const fake = tf.tensor(xd.values, [batchSize, ...spec.sampleShape]);
      for (let s = 0; s < localSteps; s++) {
        const real = tf.tensor(w.data.realBatch(t, s).slice(), [batchSize, ...spec.sampleShape]);
        const l = discriminatorStepOnSamples(w.discriminator, w.optD, real, fake);
        real.dispose();
        losses.d += l.d / (localSteps * n);
        losses.dReal += l.dReal / (localSteps * n);
        losses.dFake += l.dFake / (localSteps * n);
      }
      fake.dispose();
      const samples = tf.tensor(xg.values, [batchSize, ...spec.sampleShape]);
      const { feedback, loss } = generatorFeedback(w.discriminator, samples);
      samples.dispose();
      losses.g += loss / n;
      const up = transmit({ specs: sampleSpec, values: feedback }, sampleSpec);
      bytes.up += up.bytes;
      deviceMs += now() - start;
      start = now();
      const sum = feedbackSum[gi]!;
      for (let j = 0; j < sum.length; j++) sum[j]! += up.values[j]! / n;
      serverMs += now() - start;
    });

    start = now();
    const used = feedbackSum
      .map((f, i) => ({ z: zs[i]!, feedback: f }))
      .filter((_, i) => this.workers.some((__, w) => (w + 1) % this.k === i));
    const tensors = used.map((u) => ({
      z: u.z,
      feedback: tf.tensor(u.feedback, [batchSize, ...spec.sampleShape]),
    }));
    generatorStepFromFeedback(this.generator, this.optG, tensors);
    for (const x of tensors) x.feedback.dispose();
    for (const z of zs) z.dispose();
    serverMs += now() - start;

    if (this.swapEvery > 0 && (t + 1) % this.swapEvery === 0 && n > 1) {
      bytes.peer += this.swapDiscriminators(t);
    }
    return { round: t, losses, bytes, computeMs: { devices: deviceMs, server: serverMs } };
  }

  /** Rotates the discriminators (with their optimizer state) by a seeded offset in 1..n-1. */
  private swapDiscriminators(t: number): number {
    const n = this.workers.length;
    const offset = 1 + (deriveSeed(this.settings.seed, 'md-gan-swap', t) % (n - 1));
    const moved = this.workers.map((w) => ({
      weights: transmit(w.discriminator.params.getFlat(), w.discriminator.params.specs),
      state: w.optD.getState(),
    }));
    let bytes = 0;
    this.workers.forEach((w, i) => {
      const from = moved[(i + offset) % n]!;
      w.discriminator.params.setFlat(from.weights.values);
      w.optD.setState(from.state);
      bytes += from.weights.bytes;
    });
    return bytes;
  }

  get discriminatorSwapEvery(): number {
    return this.swapEvery;
  }
  get fakeBatches(): number {
    return this.k;
  }

  sample(z: Float32Array): Float32Array {
    return sampleWith(this.generator, z);
  }
  generatorWeights(): FlatWeights {
    return this.generator.params.getFlat();
  }
  discriminatorWeights(): FlatWeights {
    return this.workers[0]!.discriminator.params.getFlat();
  }
  dispose(): void {
    this.generator.dispose();
    this.optG.dispose();
    for (const w of this.workers) {
      w.discriminator.dispose();
      w.optD.dispose();
    }
  }
}

function sampleSize(spec: ModelSpec): number {
  return spec.sampleShape.reduce((a, b) => a * b, 1);
}

/** Builds a baseline trainer. Centralized training pools the devices' data into one. */
export function createBaseline(
  method: BaselineMethod,
  settings: BaselineSettings,
  devices: readonly BaselineDevice[],
  pooled?: BaselineDevice,
): BaselineTrainer {
  switch (method) {
    case 'md-gan':
      return new MdGan(settings, devices);
    case 'fl-gan':
      return new FlGan(settings, devices);
    case 'centralized':
      if (!pooled) throw new RangeError('centralized training needs the pooled data');
      return new CentralizedGan(settings, pooled);
    default:
      throw new RangeError(
        `unknown baseline "${String(method)}": use ${BASELINE_METHODS.join(', ')}`,
      );
  }
}
