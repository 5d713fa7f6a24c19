import type { ModelArch, Schedule } from '@distgan/gan';
import { METHODS as ENGINE_METHODS, type MethodName } from '@distgan/engine';
import { keyOf, setting, types, type DigestChoice } from '@distgan/protocol';
import {
  CONNECTION_SETTINGS,
  DATA_SETTINGS,
  RUN_OUTPUT_SETTINGS,
  TRAINING_SETTINGS,
} from '@distgan/run';

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
  /** Decay of the generator's average over rounds that samples come from (0: none). */
  gAverage: number;
  /** L: local discriminator steps per device per round. */
  localSteps: number;
  /** M: generator steps per round. */
  generatorSteps: number;
  batchSize: number;
  /** Minibatch of the generator steps (distgan, centralized); absent: batchSize. */
  generatorBatchSize?: number;
  lrD: number;
  lrG: number;
  beta1: number;
  beta2: number;
  model: ModelArch;
  /** The models' size (MODEL_WIDTH). */
  modelWidth: number;
  latentDim: number;
  /**
   * Class-conditional models (CONDITIONAL). Absent in the config.json of a run from before the
   * setting, whose models are unconditional.
   */
  conditional?: boolean;
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

/**
 * The embedded run's settings: the same entries as the services' (libs/run), plus its own.
 * The CLI's flags, the defaults below and docs/configuration.md are generated from them.
 */
export const EMBEDDED_SETTINGS = {
  DEVICES: setting(types.integer(1, 1024), { default: 4, help: 'simulated devices' }),
  ...TRAINING_SETTINGS,
  // Sized to finish within 10 minutes on the slowest 2-core machine measured (235–239 ms per
  // round there: 2,000 rounds took 8 min 9 s, 3,000 took 11 min 55 s); the FID is level from
  // round 2,000 on (docs/default-model.md).
  ROUNDS: setting(types.integer(1), { default: 2000, help: 'training rounds' }),
  ...DATA_SETTINGS,
  ...RUN_OUTPUT_SETTINGS,
  // The default run ends with its final generator's FID and the two label numbers (quality.json).
  EVAL_EVERY: setting(types.integer(0), {
    default: 500,
    help: 'rounds between evaluations (FID, modes, class balance, confidence; ring: mode coverage), and after the last; 0: never',
  }),
  RUN_ID: setting(types.id(), {
    default: '',
    help: 'name of the run folder (default: dataset-schedule-time)',
  }),
  SAMPLE_COUNT: setting(types.integer(1, 1024), { default: 64, help: 'images per sample grid' }),
  UPDATE_DTYPE: setting(types.oneOf('float32', 'float16'), {
    default: 'float32',
    help: 'precision of device updates on the wire',
  }),
  BLOB_DIGEST: CONNECTION_SETTINGS.BLOB_DIGEST,
  DEVICE_THREADS: setting(types.autoOrInteger(0, 64), {
    default: 'auto',
    help: 'worker threads that run the devices, each with its own backend (0: the main thread; auto: one per core on a machine with several, at most one per device)',
  }),
  DEVICE_THREAD_HEAP_MB: setting(types.integer(0, 65536), {
    default: 0,
    help: "each device thread's V8 heap limit (0: V8's default); 256 about halves the peak memory of the default run, for 3-7% more time per round",
  }),
};

/** The settings of the CLI only: the live dashboard and what the terminal shows. */
export const CLI_SETTINGS = {
  DASHBOARD_PORT: setting(types.integer(0, 65535), {
    default: 8080,
    help: 'port of the live dashboard in the browser (0: a free port)',
  }),
  DASHBOARD_HOST: setting(types.text(), {
    default: '127.0.0.1',
    help: 'address the dashboard listens on',
  }),
  DASHBOARD: setting(types.boolean(), {
    default: true,
    help: 'the live dashboard (--no-dashboard: no HTTP server)',
  }),
  PROGRESS: setting(types.boolean(), {
    default: true,
    help: 'a progress bar (--no-progress: one line every 10% instead)',
  }),
  WASM_KERNELS: setting(types.boolean(), {
    default: true,
    help: "wasm: the project's kernels (--no-wasm-kernels: the backend's stock kernels, to measure the difference)",
  }),
};

/** Settings whose default means "not set": absent from the domain object then. */
export const UNSET_BY_DEFAULT = [
  'RUN_ID',
  'DATA_DIR',
  'LIMIT',
  'CLASSIFIER',
  'GENERATOR_BATCH_SIZE',
];

/**
 * The defaults of an embedded run, keyed as in EmbeddedConfig (LOCAL_STEPS → localSteps), for
 * the programmatic API; the CLI resolves DEVICE_THREADS=auto to the machine's cores.
 */
export const DEFAULTS = {
  ...(Object.fromEntries(
    Object.entries(EMBEDDED_SETTINGS)
      .filter(([name]) => !UNSET_BY_DEFAULT.includes(name))
      .map(([name, s]) => [keyOf(name), s.default]),
  ) as Omit<
    EmbeddedConfig,
    'runId' | 'dataDir' | 'limit' | 'classifier' | 'generatorBatchSize' | 'deviceThreads'
  >),
  deviceThreads: 0,
};
