import type { FlatWeights, TensorSpec } from '@distgan/protocol';
import {
  Adam,
  averageWeights,
  buildModel,
  deriveSeed,
  generatorStep,
  type Model,
} from '@distgan/gan';
import type {
  DeviceMethod,
  DeviceResult,
  DeviceTask,
  ServerMethod,
  ServerRound,
} from '@distgan/engine';
import type { MethodSettings } from './settings.js';
import { GlobalModels, latent, trainDiscriminator } from './shared.js';

/*
 * FL-GAN: federated averaging of whole GANs. Round t: every device loads the global G and D,
 * runs L local iterations (one D step, then M G steps against its own D) on its own data, and
 * sends both back; the server averages both, weighted by n_k. Each device keeps its own Adam
 * states between consecutive rounds, as distgan's devices do for their local D.
 */

export class FlGanServer extends GlobalModels implements ServerMethod {
  readonly name = 'fl-gan';
  readonly usesDevices = true;
  protected readonly generator: Model;
  protected readonly discriminator: Model;

  constructor(private readonly settings: MethodSettings) {
    super();
    this.generator = buildModel('generator', settings.spec, settings.seed);
    this.discriminator = buildModel('discriminator', settings.spec, settings.seed + 1);
  }

  get spec(): MethodSettings['spec'] {
    return this.settings.spec;
  }

  async round(r: ServerRound): Promise<{ g: number }> {
    const { generatorSteps, adamG } = this.settings;
    const gSpecs = this.generator.params.specs;
    const dSpecs = this.discriminator.params.specs;
    await r.broadcast({
      blobs: {
        generator: { specs: gSpecs, write: (out) => this.generator.params.getFlat(out) },
        discriminator: { specs: dSpecs, write: (out) => this.discriminator.params.getFlat(out) },
      },
      shared: ['generator', 'discriminator'],
      outputs: { generator: gSpecs, discriminator: dSpecs },
      training: { generatorSteps, generatorLearningRate: adamG.learningRate },
    });
    const updates = await r.collect();
    const [g, d] = r.timed('aggregate', () =>
      (['generator', 'discriminator'] as const).map((name) =>
        averageWeights(updates.map((u) => ({ values: u.outputs[name]!, samples: u.samples }))),
      ),
    );
    r.timed('install', () => {
      this.generator.params.setFlat(g!);
      this.discriminator.params.setFlat(d!);
    });
    const total = updates.reduce((s, u) => s + u.samples, 0);
    return { g: updates.reduce((s, u) => s + (u.samples / total) * (u.losses.g ?? NaN), 0) };
  }

  state(): Record<string, FlatWeights> {
    return { g: this.generator.params.getFlat(), d: this.discriminator.params.getFlat() };
  }
  stateSpecs(): Record<string, readonly TensorSpec[]> {
    return { g: this.generator.params.specs, d: this.discriminator.params.specs };
  }
  restore(state: Record<string, Float32Array>): void {
    this.generator.params.setFlat(state['g']!);
    this.discriminator.params.setFlat(state['d']!);
  }

  dispose(): void {
    this.generator.dispose();
    this.discriminator.dispose();
  }
}

export class FlGanDevice implements DeviceMethod {
  readonly name = 'fl-gan';
  private readonly generator: Model;
  private readonly discriminator: Model;
  private optG: Adam | undefined;
  private optD: Adam | undefined;

  constructor(readonly spec: MethodSettings['spec']) {
    // Initial values are irrelevant: every round starts from the server's G and D.
    this.generator = buildModel('generator', spec, 0);
    this.discriminator = buildModel('discriminator', spec, 0);
  }

  inputSpecs(name: string): readonly TensorSpec[] | undefined {
    if (name === 'generator') return this.generator.params.specs;
    if (name === 'discriminator') return this.discriminator.params.specs;
    return undefined;
  }

  train(task: DeviceTask): DeviceResult {
    const { localSteps, batchSize, learningRate, beta1, beta2 } = task.training;
    const generatorSteps = task.training.generatorSteps ?? 1;
    const lrG = task.training.generatorLearningRate ?? learningRate;
    const fresh =
      task.resumed ||
      this.optD?.config.learningRate !== learningRate ||
      this.optG?.config.learningRate !== lrG ||
      this.optD.config.beta1 !== beta1 ||
      this.optD.config.beta2 !== beta2;
    if (fresh) {
      this.optG?.dispose();
      this.optD?.dispose();
      this.optG = new Adam(this.generator.params.vars, { learningRate: lrG, beta1, beta2 });
      this.optD = new Adam(this.discriminator.params.vars, { learningRate, beta1, beta2 });
    }
    const optG = this.optG!;
    const optD = this.optD!;
    this.generator.params.setFlat(task.inputs['generator']!);
    this.discriminator.params.setFlat(task.inputs['discriminator']!);
    const { round: t, rank, seed } = task;
    const losses = { d: 0, dReal: 0, dFake: 0, g: 0 };
    for (let e = 0; e < localSteps; e++) {
      const d = trainDiscriminator(this.discriminator, this.generator, optD, {
        steps: 1,
        batchSize,
        spec: this.spec,
        real: () => task.realBatch(e),
        seedOf: () => deriveSeed(seed, 'fake', t, rank, e),
      });
      losses.d += d.d / localSteps;
      losses.dReal += d.dReal / localSteps;
      losses.dFake += d.dFake / localSteps;
      for (let s = 0; s < generatorSteps; s++) {
        const z = latent(
          batchSize,
          this.spec.latentDim,
          deriveSeed(seed, 'local-g', t, rank, e, s),
        );
        losses.g +=
          generatorStep(this.generator, this.discriminator, optG, z) /
          (localSteps * generatorSteps);
        z.dispose();
      }
    }
    return {
      losses,
      optimizerReset: fresh,
      steps: localSteps,
      outputs: {
        generator: {
          specs: this.generator.params.specs,
          write: (out) => this.generator.params.getFlat(out),
        },
        discriminator: {
          specs: this.discriminator.params.specs,
          write: (out) => this.discriminator.params.getFlat(out),
        },
      },
    };
  }

  dispose(): void {
    for (const x of [this.generator, this.discriminator, this.optG, this.optD]) x?.dispose();
  }
}
