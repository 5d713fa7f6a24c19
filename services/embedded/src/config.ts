import type { ModelArch, Schedule } from '@distgan/gan';
import { METHODS as ENGINE_METHODS, type MethodName } from '@distgan/engine';
import type { DigestChoice } from '@distgan/protocol';

export type DatasetName = 'mnist' | 'fashion-mnist' | 'cifar10' | 'ring';
export type PartitionScheme = 'iid' | 'shards' | 'dirichlet';
/** The paper's method (with either schedule), or one of the baselines it is compared with. */
export type Method = MethodName;
export const METHODS: readonly Method[] = ENGINE_METHODS;

/** Everything an embedded run depends on; written to the run folder as config.json. */
export interface EmbeddedConfig {
  runId: string;
  /** Parent folder of the run folder. */
  out: string;
  devices: number;
  rounds: number;
  /** The distribution method; `schedule` applies to distgan only. */
  method: Method;
  schedule: Schedule;
  /** L: local discriminator steps per device per round. */
  localSteps: number;
  /** M: generator steps per round. */
  generatorSteps: number;
  batchSize: number;
  lrD: number;
  lrG: number;
  beta1: number;
  beta2: number;
  model: ModelArch;
  latentDim: number;
  dataset: DatasetName;
  dataDir?: string;
  /** Use only the first `limit` training samples (quick experiments). */
  limit?: number;
  /** Standard deviation of each mode of the synthetic ring (--dataset ring). */
  ringStd: number;
  partition: PartitionScheme;
  alpha: number;
  shardsPerDevice: number;
  seed: number;
  /** A sample grid every N rounds (and after the last). */
  sampleEvery: number;
  /** Images in each sample grid. */
  sampleCount: number;
  /** Precision of the device updates on the wire. */
  updateDtype: 'float32' | 'float16';
  /** Digest of the weight blobs (auto: BLAKE3 where it is native, else SHA-256). */
  blobDigest: DigestChoice;
  /** Worker threads that run the devices (0: the devices run in the main thread). */
  deviceThreads: number;
  /** Each device thread's V8 heap limit in MB (0: V8's default). */
  deviceThreadHeapMb: number;
  /** FID, mode coverage and class balance every N rounds and after the last (0: never). */
  evalEvery: number;
  /** Generated samples per evaluation. */
  evalSamples: number;
  /** A classifier card (JSON) for the FID instead of the committed one. */
  classifier?: string;
}

export const DEFAULTS = {
  devices: 4,
  rounds: 1500,
  method: 'distgan',
  schedule: 'serial',
  localSteps: 1,
  generatorSteps: 1,
  batchSize: 64,
  lrD: 2e-4,
  lrG: 2e-4,
  beta1: 0.5,
  beta2: 0.999,
  model: 'mlp',
  latentDim: 64,
  dataset: 'mnist',
  ringStd: 0.05,
  partition: 'iid',
  alpha: 0.5,
  shardsPerDevice: 2,
  seed: 1,
  sampleEvery: 250,
  sampleCount: 64,
  updateDtype: 'float32',
  blobDigest: 'auto',
  deviceThreads: 0,
  deviceThreadHeapMb: 0,
  evalEvery: 0,
  evalSamples: 2000,
  out: 'runs',
} as const satisfies Partial<EmbeddedConfig>;
