import type { FlatWeights, TensorSpec } from '@distgan/protocol';
import {
  Adam,
  buildModel,
  deriveSeed,
  generatorStep,
  type Model,
  type RealSamples,
} from '@distgan/gan';
import type { ServerMethod, ServerRound } from '@distgan/engine';
import type { MethodSettings } from './settings.js';
import { adamSpec, GlobalModels, latent, trainDiscriminator } from './shared.js';

/*
 * Centralized training, the quality reference: one GAN on all the data, on the server, with no
 * devices. Round t: L discriminator steps, then M generator steps.
 */

/** All the data, as the server sees it in centralized training. */
export interface PooledData {
  /** `batchSize` real samples (flat NHWC) and labels for step `step` of round `round` (reused). */
  realBatch(round: number, step: number): RealSamples;
}

export class CentralizedServer extends GlobalModels implements ServerMethod {
  readonly name = 'centralized';
  readonly usesDevices = false;
  protected readonly generator: Model;
  protected readonly discriminator: Model;
  private readonly optG: Adam;
  private readonly optD: Adam;

  constructor(
    private readonly settings: MethodSettings,
    private readonly data: PooledData,
  ) {
    super();
    this.generator = buildModel('generator', settings.spec, settings.seed);
    this.discriminator = buildModel('discriminator', settings.spec, settings.seed + 1);
    this.optG = new Adam(this.generator.params.vars, settings.adamG);
    this.optD = new Adam(this.discriminator.params.vars, settings.adamD);
  }

  get spec(): MethodSettings['spec'] {
    return this.settings.spec;
  }

  round(r: ServerRound): Promise<{ g: number; d: { d: number; dReal: number; dFake: number } }> {
    const { batchSize, generatorBatchSize, localSteps, generatorSteps, seed, spec } = this.settings;
    const t = r.t;
    const d = r.timed('aggregate', () =>
      trainDiscriminator(this.discriminator, this.generator, this.optD, {
        steps: localSteps,
        batchSize,
        spec,
        real: (s) => this.data.realBatch(t, s),
        seedOf: (s) => deriveSeed(seed, 'fake', t, 'central', s),
      }),
    );
    const g = r.timed('generator', () => {
      let sum = 0;
      for (let s = 0; s < generatorSteps; s++) {
        const z = latent(
          generatorBatchSize ?? batchSize,
          spec.latentDim,
          deriveSeed(seed, 'generator', t, s),
        );
        sum += generatorStep(this.generator, this.discriminator, this.optG, z) / generatorSteps;
        z.dispose();
      }
      return sum;
    });
    return Promise.resolve({ g, d });
  }

  state(): Record<string, FlatWeights> {
    const optG = this.optG.getState();
    const optD = this.optD.getState();
    return {
      g: this.generator.params.getFlat(),
      d: this.discriminator.params.getFlat(),
      opt: { specs: [adamSpec(optG.length)], values: optG },
      'opt-d': { specs: [adamSpec(optD.length)], values: optD },
    };
  }
  stateSpecs(): Record<string, readonly TensorSpec[]> {
    return {
      g: this.generator.params.specs,
      d: this.discriminator.params.specs,
      opt: [adamSpec(this.optG.stateSize)],
      'opt-d': [adamSpec(this.optD.stateSize)],
    };
  }
  restore(state: Record<string, Float32Array>): void {
    this.generator.params.setFlat(state['g']!);
    this.discriminator.params.setFlat(state['d']!);
    this.optG.setState(state['opt']!);
    this.optD.setState(state['opt-d']!);
  }

  dispose(): void {
    for (const x of [this.generator, this.discriminator, this.optG, this.optD]) x.dispose();
  }
}
