import * as tf from '@tensorflow/tfjs-core';
import {
  ProtocolError,
  type FlatWeights,
  type RoundTask,
  type TensorSpec,
} from '@distgan/protocol';
import {
  Adam,
  buildModel,
  classCount,
  deriveSeed,
  discriminatorStepOnSamples,
  generatorFeedback,
  generatorStepFromFeedback,
  latentClasses,
  readSync,
  realBatchTensors,
  type Model,
  type ModelSpec,
} from '@distgan/gan';
import type {
  CollectedUpdate,
  DeviceMethod,
  DeviceResult,
  DeviceTask,
  ServerMethod,
  ServerRound,
} from '@distgan/engine';
import type { MethodSettings } from './settings.js';
import { adamSpec, latent, sampleWith } from './shared.js';

/*
 * MD-GAN (Hardy, Le Merrer, Sericola 2019): the server holds only G. Round t: it generates k
 * fake batches and sends every worker two different ones, `fake-d` to train its own
 * discriminator (L steps; never averaged) and `fake-g` to compute the error feedback ∂ℓ_G/∂x,
 * which the worker sends back; the server averages the feedback and takes one Adam step on G
 * along it. Every `swapEvery` rounds the workers pass their discriminators (with their Adam
 * state) on to one another by a seeded rotation, as MD-GAN does every E epochs: here the swap
 * goes through the server, a worker's `swap` output of round t becoming another's `swap` input
 * of round t+1, which it loads before training. With a conditional model a fake batch carries
 * the classes its samples were asked for (`classes`, after `samples`): the worker's
 * discriminator learns them and its feedback includes the class loss.
 */

/** The feedback's layout: one gradient per sample value. */
const feedbackSpec = (spec: ModelSpec, batchSize: number): TensorSpec[] => [
  { name: 'samples', shape: [batchSize, ...spec.sampleShape] },
];

/** A fake batch's values split by its layout: the samples, then a conditional model's classes. */
function splitFake(
  spec: ModelSpec,
  batchSize: number,
  values: Float32Array,
): { samples: Float32Array; classes: Float32Array } {
  const size = totalSize(feedbackSpec(spec, batchSize));
  return { samples: values.subarray(0, size), classes: values.subarray(size) };
}

/** A fake batch's layout: the samples, then a conditional model's classes (as numbers). */
const fakeSpec = (spec: ModelSpec, batchSize: number): TensorSpec[] => [
  ...feedbackSpec(spec, batchSize),
  ...(classCount(spec) > 0 ? [{ name: 'classes', shape: [batchSize] }] : []),
];

export class MdGanServer implements ServerMethod {
  readonly name = 'md-gan';
  readonly usesDevices = true;
  private readonly generator: Model;
  private readonly optG: Adam;
  /** Round t-1's swap outputs, by the rank each goes to in round t. */
  private pendingSwap: Map<string, Float32Array> | undefined;
  /** Mean shard size, learnt from the first updates (it sets the default swap period). */
  private meanShard: number | undefined;
  private lastDiscriminator: Float32Array | undefined;
  /** The layout of a worker's discriminator with its Adam state: the swap blob. */
  private readonly swapSpecs: TensorSpec[];

  constructor(private readonly settings: MethodSettings) {
    this.generator = buildModel('generator', settings.spec, settings.seed);
    this.optG = new Adam(this.generator.params.vars, settings.adamG);
    this.swapSpecs = swapSpecs(settings);
  }

  get spec(): MethodSettings['spec'] {
    return this.settings.spec;
  }

  /** Fake batches per round for n workers. */
  fakeBatches(n: number): number {
    const k = this.settings.mdganBatches ?? Math.max(2, Math.ceil(Math.log2(n)));
    if (!Number.isSafeInteger(k) || k < 2) {
      throw new RangeError(`MD-GAN needs at least 2 fake batches per round, got ${k}`);
    }
    return k;
  }

  /** Rounds between discriminator swaps (0 = never); undefined until the shard sizes are known. */
  get swapEvery(): number | undefined {
    if (this.settings.swapEvery !== undefined) return this.settings.swapEvery;
    if (this.meanShard === undefined) return undefined;
    const { batchSize, localSteps } = this.settings;
    return Math.max(1, Math.round(this.meanShard / (batchSize * localSteps)));
  }

  async round(r: ServerRound): Promise<{ g: number }> {
    const { batchSize, seed, spec } = this.settings;
    const t = r.t;
    const n = r.participants.length;
    const k = this.fakeBatches(n);
    const specs = fakeSpec(spec, batchSize);
    const classes = classCount(spec);
    const every = this.swapEvery;
    const swapOut = every !== undefined && every > 0 && (t + 1) % every === 0 && n > 1;
    const zs = Array.from({ length: k }, (_, i) =>
      latent(batchSize, spec.latentDim, deriveSeed(seed, 'md-gan', t, i)),
    );
    try {
      const blobs: Record<string, FlatWeights> = {};
      r.timed('generator', () =>
        zs.forEach((z, i) => {
          blobs[`fake-${i}`] = {
            specs,
            values: readSync(() => {
              const samples = this.generator.apply(z);
              if (classes === 0) return samples;
              const asked = tf.cast(latentClasses(z, classes), 'float32');
              return tf.concat([tf.reshape(samples, [-1]), asked]);
            }),
          };
        }),
      );
      const swapIn = this.pendingSwap;
      this.pendingSwap = undefined;
      for (const [id, values] of swapIn ?? []) {
        if (r.participants.includes(id))
          blobs[`swap-${r.participants.indexOf(id)}`] = { specs: this.swapSpecs, values };
      }
      await r.broadcast({
        blobs,
        shared: [],
        perDevice: (id, rank) => ({
          'fake-d': `fake-${rank % k}`,
          'fake-g': `fake-${(rank + 1) % k}`,
          ...(blobs[`swap-${rank}`] ? { swap: `swap-${rank}` } : {}),
        }),
        outputs: {
          feedback: feedbackSpec(spec, batchSize),
          ...(swapOut ? { swap: this.swapSpecs } : {}),
        },
      });
      const updates = await r.collect();
      this.meanShard ??= updates.reduce((s, u) => s + u.samples, 0) / updates.length;
      r.timed('generator', () => this.step(updates, zs, k));
      const first = updates.find((u) => u.outputs['swap']);
      if (first) this.lastDiscriminator = first.outputs['swap']!.slice(0, this.discriminatorSize);
      if (swapOut) this.prepareSwap(t, updates);
      const m = updates.length;
      return { g: updates.reduce((s, u) => s + (u.losses.g ?? NaN) / m, 0) };
    } finally {
      for (const z of zs) z.dispose();
    }
  }

  /** One Adam step on G along the averaged feedback of the batches the workers judged. */
  private step(updates: readonly CollectedUpdate[], zs: readonly tf.Tensor2D[], k: number): void {
    const { batchSize, spec } = this.settings;
    const n = updates.length;
    const size = totalSize(feedbackSpec(spec, batchSize));
    const sums = zs.map(() => new Float32Array(size));
    for (const u of updates) {
      const sum = sums[(u.rank + 1) % k]!;
      const feedback = u.outputs['feedback']!;
      for (let j = 0; j < size; j++) sum[j]! += feedback[j]! / n;
    }
    const used = new Set(updates.map((u) => (u.rank + 1) % k));
    const batches = [...used]
      .sort((a, b) => a - b)
      .map((i) => ({ z: zs[i]!, feedback: tf.tensor(sums[i]!, [batchSize, ...spec.sampleShape]) }));
    generatorStepFromFeedback(this.generator, this.optG, batches);
    for (const b of batches) b.feedback.dispose();
  }

  /** Rotates the workers' discriminators by a seeded offset in 1..n-1, for the next round. */
  private prepareSwap(t: number, updates: readonly CollectedUpdate[]): void {
    const n = updates.length;
    if (n < 2) return;
    const offset = 1 + (deriveSeed(this.settings.seed, 'md-gan-swap', t) % (n - 1));
    this.pendingSwap = new Map(
      updates.map((u, i) => [u.deviceId, updates[(i + offset) % n]!.outputs['swap']!.slice()]),
    );
  }

  private get discriminatorSize(): number {
    return totalSize(this.swapSpecs.slice(0, -1));
  }

  sample(z: Float32Array): Float32Array {
    return sampleWith(this.generator, z);
  }
  generatorWeights(out?: Float32Array): FlatWeights {
    return this.generator.params.getFlat(out);
  }
  /** The last discriminator a worker sent in a swap, if any did yet. */
  discriminatorWeights(): FlatWeights | undefined {
    if (!this.lastDiscriminator) return undefined;
    return { specs: this.swapSpecs.slice(0, -1), values: this.lastDiscriminator };
  }

  state(): Record<string, FlatWeights> {
    const opt = this.optG.getState();
    return {
      g: this.generator.params.getFlat(),
      opt: { specs: [adamSpec(opt.length)], values: opt },
    };
  }
  stateSpecs(): Record<string, readonly TensorSpec[]> {
    return {
      g: this.generator.params.specs,
      opt: [adamSpec(this.optG.stateSize)],
    };
  }
  restore(state: Record<string, Float32Array>): void {
    this.generator.params.setFlat(state['g']!);
    this.optG.setState(state['opt']!);
  }

  dispose(): void {
    this.generator.dispose();
    this.optG.dispose();
  }
}

function totalSize(specs: readonly TensorSpec[]): number {
  return specs.reduce((s, x) => s + x.shape.reduce((a, b) => a * b, 1), 0);
}

/** A discriminator's tensors followed by its Adam state. */
function swapSpecs(settings: MethodSettings): TensorSpec[] {
  const d = buildModel('discriminator', settings.spec, 0);
  const specs = [...d.params.specs, adamSpec(Adam.stateSizeFor(d.params.size))];
  d.dispose();
  return specs;
}

export class MdGanDevice implements DeviceMethod {
  readonly name = 'md-gan';
  private readonly discriminator: Model;
  private optD: Adam | undefined;
  /** Whether the discriminator holds this worker's own state (set at its first task). */
  private initialised = false;

  constructor(readonly spec: MethodSettings['spec']) {
    this.discriminator = buildModel('discriminator', spec, 0);
  }

  inputSpecs(name: string, training: RoundTask['training']): readonly TensorSpec[] | undefined {
    if (name === 'fake-d' || name === 'fake-g') return fakeSpec(this.spec, training.batchSize);
    if (name === 'swap') {
      const size = Adam.stateSizeFor(this.discriminator.params.size);
      return [...this.discriminator.params.specs, adamSpec(size)];
    }
    return undefined;
  }

  train(task: DeviceTask): DeviceResult {
    const { localSteps, batchSize, learningRate, beta1, beta2 } = task.training;
    // Before anything moves: a fake batch's classes must be classes (the digest says who wrote
    // them, not that they make sense).
    for (const name of ['fake-d', 'fake-g']) this.checkClasses(name, task.inputs[name]!, batchSize);
    const fresh =
      !this.optD ||
      this.optD.config.learningRate !== learningRate ||
      this.optD.config.beta1 !== beta1 ||
      this.optD.config.beta2 !== beta2;
    if (fresh) {
      this.optD?.dispose();
      this.optD = new Adam(this.discriminator.params.vars, { learningRate, beta1, beta2 });
    }
    const optD = this.optD!;
    if (!this.initialised) {
      // A worker's own discriminator, never averaged: seeded by the run and its rank.
      const init = buildModel('discriminator', this.spec, task.seed + 1 + task.rank);
      this.discriminator.params.setFlat(init.params.getFlat().values);
      init.dispose();
      this.initialised = true;
    }
    const swap = task.inputs['swap'];
    if (swap) {
      const size = this.discriminator.params.size;
      this.discriminator.params.setFlat(swap.subarray(0, size));
      optD.setState(swap.slice(size));
    }
    const fake = this.fakeBatch(task.inputs['fake-d']!, batchSize);
    const losses = { d: 0, dReal: 0, dFake: 0, g: 0 };
    for (let s = 0; s < localSteps; s++) {
      const { real, labels } = realBatchTensors(this.spec, batchSize, task.realBatch(s));
      const l = discriminatorStepOnSamples(
        this.discriminator,
        optD,
        real,
        fake.samples,
        labels && fake.classes ? { labels, fakeClasses: fake.classes } : undefined,
      );
      real.dispose();
      labels?.dispose();
      losses.d += l.d / localSteps;
      losses.dReal += l.dReal / localSteps;
      losses.dFake += l.dFake / localSteps;
    }
    fake.samples.dispose();
    fake.classes?.dispose();
    const judged = this.fakeBatch(task.inputs['fake-g']!, batchSize);
    const { feedback, loss } = generatorFeedback(
      this.discriminator,
      judged.samples,
      judged.classes,
    );
    judged.samples.dispose();
    judged.classes?.dispose();
    losses.g = loss;
    const outputs: DeviceResult['outputs'] = {
      feedback: { specs: feedbackSpec(this.spec, batchSize), values: feedback },
    };
    if (task.outputs.includes('swap')) {
      const size = this.discriminator.params.size;
      const state = optD.getState();
      outputs['swap'] = {
        specs: [...this.discriminator.params.specs, adamSpec(state.length)],
        write: (out) => {
          this.discriminator.params.getFlat(out.subarray(0, size));
          out.set(state, size);
        },
      };
    }
    return { losses, optimizerReset: fresh, steps: localSteps, outputs };
  }

  /** Refuses a fake batch whose classes are not whole numbers in [0, k). */
  private checkClasses(name: string, values: Float32Array, batchSize: number): void {
    const k = classCount(this.spec);
    if (k === 0) return;
    const { classes } = splitFake(this.spec, batchSize, values);
    const bad = classes.findIndex((c) => !Number.isInteger(c) || c < 0 || c >= k);
    if (bad >= 0) {
      throw new ProtocolError(
        `${name}'s class ${bad} is ${classes[bad]}, not a whole number in [0, ${k})`,
        {},
        `/inputs/${name}`,
      );
    }
  }

  /** A fake batch as tensors: its samples, and a conditional model's classes. */
  private fakeBatch(
    values: Float32Array,
    batchSize: number,
  ): { samples: tf.Tensor; classes?: tf.Tensor1D } {
    const parts = splitFake(this.spec, batchSize, values);
    const samples = tf.tensor(parts.samples.slice(), [batchSize, ...this.spec.sampleShape]);
    if (classCount(this.spec) === 0) return { samples };
    return { samples, classes: tf.tensor1d(Int32Array.from(parts.classes), 'int32') };
  }

  dispose(): void {
    this.discriminator.dispose();
    this.optD?.dispose();
  }
}
