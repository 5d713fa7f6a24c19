/**
 * @distgan/gan — the numeric core: models, losses, the local-discriminator and generator steps
 * (and MD-GAN's feedback steps), weighted averaging, the two schedules, and the TensorFlow.js
 * backend choice. The distribution methods built on them are plug-ins of @distgan/engine.
 *
 * ```ts
 * const gan = new GlobalGan({ arch: 'mlp', sampleShape: [28, 28, 1], latentDim: 64 }, opts);
 * const device = new LocalDiscriminatorTrainer(gan.spec, adam);
 * device.setGlobal(gan.generatorWeights().values, gan.discriminatorWeights().values);
 * ```
 */
export { Adam, type AdamConfig } from './adam.js';
export { averageWeights, StreamingAverage, type WeightedUpdate } from './aggregate.js';
export {
  buildModel,
  classCount,
  latentClasses,
  latentClassesOf,
  DEFAULT_MODEL_WIDTH,
  forwardFlops,
  modelWidth,
  stepFlops,
  type Model,
  type ModelArch,
  type ModelRole,
  type ModelSpec,
} from './models.js';
export { GeneratorAverage } from './generator-average.js';
export { ParamSet, type Init, type ParamDef } from './params.js';
export { runScheduledRound, SCHEDULES, type RoundPhases, type Schedule } from './schedules.js';
export { readInto, readSync } from './read.js';
export { deriveSeed } from '@distgan/protocol';
export {
  CLASS_LOSS_WEIGHT,
  discriminatorStepOnSamples,
  generatorFeedback,
  generatorStep,
  generatorStepFromFeedback,
  localDiscriminatorStep,
  type DiscriminatorLosses,
} from './steps.js';
export {
  GlobalGan,
  LocalDiscriminatorTrainer,
  realBatchTensors,
  type RealSamples,
} from './trainers.js';
export * from './backend/index.js';
