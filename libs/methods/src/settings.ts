import type { AdamConfig, ModelSpec } from '@distgan/gan';
import type { LocalTraining, Schedule } from '@distgan/engine';

/** The hyper-parameters every method reads. */
export interface MethodSettings {
  spec: ModelSpec;
  /** Seeds the initial models and every random draw of the run. */
  seed: number;
  batchSize: number;
  /**
   * Minibatch of the server's generator steps (distgan, centralized); undefined: batchSize.
   * MD-GAN's generator update is fed back from the devices' batches and FL-GAN's generator steps
   * run on the devices, so both refuse it.
   */
  generatorBatchSize?: number;
  /** L: discriminator steps per device per round (FL-GAN: local iterations). */
  localSteps: number;
  /** M: generator steps per round (FL-GAN: per local iteration; MD-GAN: one G update). */
  generatorSteps: number;
  adamD: AdamConfig;
  adamG: AdamConfig;
  /** distgan only: which discriminator the generator trains against, and what overlaps. */
  schedule: Schedule;
  /**
   * Decay of the generator's average over rounds that samples come from (0: none, the trained
   * generator itself); see GeneratorAverage.
   */
  generatorAverage: number;
  /** MD-GAN: fake batches the server generates per round (default max(2, ⌈log₂ N⌉)). */
  mdganBatches?: number;
  /** MD-GAN: rounds between discriminator swaps (0 = never; default one local epoch). */
  swapEvery?: number;
}

/** The training settings as the run layer holds them (TRAINING_SETTINGS, in domain keys). */
export interface TrainingSettings {
  seed: number;
  batchSize: number;
  /** 0 or absent: batchSize. */
  generatorBatchSize?: number;
  localSteps: number;
  generatorSteps: number;
  lrD: number;
  lrG: number;
  beta1: number;
  beta2: number;
  schedule: Schedule;
  gAverage: number;
}

/** A method's settings from a run's training settings: the embedded run and the server alike. */
export function methodSettingsOf(c: TrainingSettings, spec: ModelSpec): MethodSettings {
  return {
    spec,
    seed: c.seed,
    batchSize: c.batchSize,
    ...(c.generatorBatchSize ? { generatorBatchSize: c.generatorBatchSize } : {}),
    localSteps: c.localSteps,
    generatorSteps: c.generatorSteps,
    adamD: { learningRate: c.lrD, beta1: c.beta1, beta2: c.beta2 },
    adamG: { learningRate: c.lrG, beta1: c.beta1, beta2: c.beta2 },
    schedule: c.schedule,
    generatorAverage: c.gAverage,
  };
}

/** What every task tells the devices about their local training. */
export function localTrainingOf(c: TrainingSettings): LocalTraining {
  return {
    localSteps: c.localSteps,
    batchSize: c.batchSize,
    learningRate: c.lrD,
    beta1: c.beta1,
    beta2: c.beta2,
  };
}
