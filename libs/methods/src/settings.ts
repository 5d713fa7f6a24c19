import type { AdamConfig, ModelSpec } from '@distgan/gan';
import type { Schedule } from '@distgan/engine';

/** The hyper-parameters every method reads. */
export interface MethodSettings {
  spec: ModelSpec;
  /** Seeds the initial models and every random draw of the run. */
  seed: number;
  batchSize: number;
  /** L: discriminator steps per device per round (FL-GAN: local iterations). */
  localSteps: number;
  /** M: generator steps per round (FL-GAN: per local iteration; MD-GAN: one G update). */
  generatorSteps: number;
  adamD: AdamConfig;
  adamG: AdamConfig;
  /** distgan only: which discriminator the generator trains against, and what overlaps. */
  schedule: Schedule;
  /** MD-GAN: fake batches the server generates per round (default max(2, ⌈log₂ N⌉)). */
  mdganBatches?: number;
  /** MD-GAN: rounds between discriminator swaps (0 = never; default one local epoch). */
  swapEvery?: number;
}
