import type { FlatWeights, TensorSpec } from '@distgan/protocol';
import {
  Adam,
  deriveSeed,
  GlobalGan,
  LocalDiscriminatorTrainer,
  runScheduledRound,
  averageWeights,
} from '@distgan/gan';
import type {
  DeviceMethod,
  DeviceResult,
  DeviceTask,
  ServerMethod,
  ServerRound,
} from '@distgan/engine';
import type { MethodSettings } from './settings.js';
import { adamSpec } from './shared.js';

/*
 * distgan, the paper's method (docs/design.md §1). Round t: the server sends (θ_t, φ_t); every
 * device loads them, takes L local discriminator steps on its shard against fakes of θ_t, and
 * sends its φ_k back; the server averages them weighted by n_k into φ_{t+1} and takes M generator
 * steps, against φ_{t+1} (`serial`) or against φ_t while the devices train (`parallel`).
 */

export class DistganServer implements ServerMethod {
  readonly name = 'distgan';
  readonly usesDevices = true;
  readonly gan: GlobalGan;
  /** θ_t of the round in progress, reused every round (megabytes). */
  private generatorBuffer: Float32Array | undefined;
  /** G's optimizer state before a parallel round's G steps, reused every round. */
  private optimizerBuffer: Float32Array | undefined;
  /** The average's buffer, reused every round (megabytes). */
  private average: Float32Array | undefined;

  /** `gan`: the global models to train (tests instrument them); by default new ones. */
  constructor(
    private readonly settings: MethodSettings,
    gan?: GlobalGan,
  ) {
    this.gan =
      gan ?? new GlobalGan(settings.spec, { seed: settings.seed, generatorAdam: settings.adamG });
  }

  get spec(): MethodSettings['spec'] {
    return this.settings.spec;
  }

  async round(r: ServerRound): Promise<{ g: number }> {
    const { schedule, generatorSteps, batchSize, generatorBatchSize, seed } = this.settings;
    const gan = this.gan;
    this.generatorBuffer ??= new Float32Array(gan.generator.params.size);
    // θ_t is kept to roll a failed round back; in `parallel` the G steps run before it may fail.
    const generatorBefore = gan.generatorWeights(this.generatorBuffer);
    const optimizerBefore =
      schedule === 'parallel'
        ? (this.optimizerBuffer = gan.getOptimizerState(this.optimizerBuffer))
        : undefined;
    const discriminatorSpecs = gan.discriminator.params.specs;
    let g = NaN;
    try {
      await runScheduledRound<Float32Array>(schedule, {
        broadcast: () =>
          r.broadcast({
            blobs: {
              generator: generatorBefore,
              discriminator: {
                specs: discriminatorSpecs,
                write: (out) => gan.discriminatorWeights(out),
              },
            },
            shared: ['generator', 'discriminator'],
            outputs: { discriminator: discriminatorSpecs },
          }),
        collect: async () => {
          const updates = await r.collect();
          return r.timed('aggregate', () => {
            const size = updates[0]!.outputs['discriminator']!.length;
            if (this.average?.length !== size) this.average = new Float32Array(size);
            // Installing copies the values into the model: the buffer is free again next round.
            return averageWeights(
              updates.map((u) => ({ values: u.outputs['discriminator']!, samples: u.samples })),
              this.average,
            );
          });
        },
        generatorSteps: async () => {
          g = r.timed('generator', () =>
            gan.generatorSteps(generatorSteps, generatorBatchSize ?? batchSize, (s) =>
              deriveSeed(seed, 'generator', r.t, s),
            ),
          );
        },
        install: (average) => r.timed('install', () => gan.setDiscriminator(average)),
      });
    } catch (err) {
      if (optimizerBefore) {
        gan.setGenerator(generatorBefore.values);
        gan.setOptimizerState(optimizerBefore);
      }
      throw err;
    }
    return { g };
  }

  sample(z: Float32Array): Float32Array {
    return this.gan.sample(z);
  }
  generatorWeights(out?: Float32Array): FlatWeights {
    return this.gan.generatorWeights(out);
  }
  discriminatorWeights(): FlatWeights {
    return this.gan.discriminatorWeights();
  }

  state(): Record<string, FlatWeights> {
    const opt = this.gan.getOptimizerState();
    return {
      g: this.gan.generatorWeights(),
      d: this.gan.discriminatorWeights(),
      opt: { specs: [adamSpec(opt.length)], values: opt },
    };
  }
  stateSpecs(): Record<string, readonly TensorSpec[]> {
    return {
      g: this.gan.generator.params.specs,
      d: this.gan.discriminator.params.specs,
      opt: [adamSpec(Adam.stateSizeFor(this.gan.generator.params.size))],
    };
  }
  restore(state: Record<string, Float32Array>): void {
    this.gan.setGenerator(state['g']!);
    this.gan.setDiscriminator(state['d']!);
    this.gan.setOptimizerState(state['opt']!);
  }

  dispose(): void {
    this.gan.dispose();
  }
}

export class DistganDevice implements DeviceMethod {
  readonly name = 'distgan';
  readonly trainer: LocalDiscriminatorTrainer;

  constructor(readonly spec: MethodSettings['spec']) {
    // The Adam settings come with every task (configure); these are replaced at the first one.
    this.trainer = new LocalDiscriminatorTrainer(spec, {
      learningRate: 2e-4,
      beta1: 0.5,
      beta2: 0.999,
    });
  }

  inputSpecs(name: string): readonly TensorSpec[] | undefined {
    if (name === 'generator') return this.trainer.generator.params.specs;
    if (name === 'discriminator') return this.trainer.discriminator.params.specs;
    return undefined;
  }

  train(task: DeviceTask): DeviceResult {
    const { localSteps, batchSize, learningRate, beta1, beta2 } = task.training;
    const trainer = this.trainer;
    trainer.configure({ learningRate, beta1, beta2 });
    // Adam state is kept between consecutive rounds and reset for a new or returning device.
    if (task.resumed) trainer.resetOptimizer();
    trainer.setGlobal(task.inputs['generator']!, task.inputs['discriminator']!);
    const losses = trainer.train(localSteps, batchSize, task.realBatch, (step) =>
      deriveSeed(task.seed, 'fake', task.round, task.deviceId, step),
    );
    return {
      losses,
      optimizerReset: task.resumed,
      steps: localSteps,
      outputs: {
        discriminator: {
          specs: trainer.discriminator.params.specs,
          write: (out) => trainer.discriminatorWeights(out),
        },
      },
    };
  }

  dispose(): void {
    this.trainer.dispose();
  }
}
