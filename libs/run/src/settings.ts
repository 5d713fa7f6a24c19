import { loadDataset, partition, type Dataset } from '@distgan/data';
import type { ModelArch, ModelSpec } from '@distgan/gan';
import { DIGEST_CHOICES, setting, types } from '@distgan/protocol';

/*
 * The settings the processes of a run share, in groups (docs/configuration.md is generated from
 * them). The data settings every process must agree on: the server publishes the training
 * settings in every task, but not these, since a device builds its model and shard first.
 */

export const CONNECTION_SETTINGS = {
  RABBITMQ_URL: setting(types.url('amqp', 'amqps'), {
    help: 'the RabbitMQ broker, e.g. amqp://guest:guest@127.0.0.1:5672',
  }),
  RABBITMQ_PASSWORD: setting(types.text(), {
    default: '',
    help: "a password this process puts into RABBITMQ_URL (percent-encoded: it may hold @ / : # and the like), replacing the URL's own; for a password kept apart from the URL, e.g. in a Secret",
  }),
  REDIS_URL: setting(types.url('redis', 'rediss'), {
    help: 'the Redis blob store, e.g. redis://127.0.0.1:6379',
  }),
  REDIS_PASSWORD: setting(types.text(), {
    default: '',
    help: "a password this process puts into REDIS_URL (percent-encoded: it may hold @ / : # and the like), replacing the URL's own",
  }),
  RUN_ID: setting(types.id(), {
    help: 'the run: queue and key names are prefixed with it',
  }),
  BLOB_DIGEST: setting(types.oneOf(...DIGEST_CHOICES), {
    default: 'auto',
    help: "digest of the weight blobs this process writes (auto: BLAKE3 where it is native, else SHA-256; sha256 for FIPS); either is read. The server writes a round's blobs in another digest when its participants cannot all verify this one (docs/protocol.md §5.1)",
  }),
};

/**
 * `url` with `password` as its password, percent-encoded so that `@ / : #` and the like survive
 * (amqplib, ioredis and RedisBlobConnection decode it); '' leaves the URL as it is. The password
 * comes apart from the URL so that a deployment never has to splice a secret into a URL itself
 * (Kubernetes' `$(VAR)` substitution would not encode it).
 */
export function withPassword(url: string, password: string): string {
  if (password === '') return url;
  const u = new URL(url);
  // The setter leaves '%' as it is: encoding first makes '%' itself survive too.
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** The connection settings with RABBITMQ_PASSWORD and REDIS_PASSWORD put into their URLs. */
export function withBrokerPasswords<
  V extends {
    RABBITMQ_URL: string;
    RABBITMQ_PASSWORD: string;
    REDIS_URL: string;
    REDIS_PASSWORD: string;
  },
>(values: V): V {
  return {
    ...values,
    RABBITMQ_URL: withPassword(values.RABBITMQ_URL, values.RABBITMQ_PASSWORD),
    REDIS_URL: withPassword(values.REDIS_URL, values.REDIS_PASSWORD),
  };
}

const BACKENDS = [
  '',
  'tensorflow-gpu',
  'gpu',
  'node-gpu',
  'tensorflow',
  'node',
  'wasm',
  'cpu',
] as const;

/** Each process's own: which TensorFlow.js backend it runs. */
export const BACKEND_SETTINGS = {
  TFJS_BACKEND: setting(types.oneOf(...BACKENDS), {
    default: '',
    help: 'the TensorFlow.js backend (default: the fastest that loads, in the order tensorflow-gpu, tensorflow, wasm, cpu)',
  }),
};

/** Which data, how it is split, which model and method: every process of a run must agree. */
export const DATA_SETTINGS = {
  DATASET: setting(types.oneOf('mnist', 'fashion-mnist', 'cifar10', 'ring'), {
    default: 'mnist',
    help: 'training data',
  }),
  DATA_DIR: setting(types.text(), {
    default: '',
    help: 'folder with the Fashion-MNIST or CIFAR-10 files',
  }),
  LIMIT: setting(types.integer(0), {
    default: 0,
    help: 'use only the first n training samples (0: all)',
  }),
  RING_STD: setting(types.number({ exclusiveMinimum: 0 }), {
    default: 0.05,
    help: 'standard deviation of each mode of the ring dataset',
  }),
  PARTITION: setting(types.oneOf('iid', 'shards', 'dirichlet'), {
    default: 'iid',
    help: 'how the data is split across devices',
  }),
  ALPHA: setting(types.number({ exclusiveMinimum: 0 }), {
    default: 0.5,
    help: 'Dirichlet concentration (smaller: more skewed)',
  }),
  SHARDS_PER_DEVICE: setting(types.integer(1, 1000), {
    default: 2,
    help: 'label shards per device (shards partition)',
  }),
  SEED: setting(types.integer(0, 0xffffffff), {
    default: 1,
    help: 'seed of every random draw',
  }),
  MODEL: setting(types.oneOf('mlp', 'dcgan'), {
    default: 'dcgan',
    help: 'model family: dcgan (convolutional, 28×28 and 32×32 images) or mlp (any sample shape; the 2D ring needs it)',
  }),
  MODEL_WIDTH: setting(types.integer(1, 1024), {
    default: 32,
    help: "the models' size: dcgan's narrowest layer's channels, doubling towards the latent (28×28: 64 → 32); mlp's hidden layers 8× and 16× it for images (256, 512), 4× for 2D points",
  }),
  LATENT_DIM: setting(types.integer(1, 4096), {
    default: 64,
    help: 'length of the latent vector z',
  }),
  CONDITIONAL: setting(types.boolean(), {
    default: true,
    help: "class-conditional models (ACGAN): z's first coordinates choose each sample's class, and the discriminator also classifies, trained on the devices' own labels (--no-conditional, CONDITIONAL=false: unconditional models)",
  }),
  METHOD: setting(types.oneOf('distgan', 'md-gan', 'fl-gan', 'centralized'), {
    default: 'distgan',
    help: "distribution method: distgan is the paper's (with its schedule); centralized trains on the server alone, on all the data",
  }),
};

/** How the run trains: the server and the embedded run read them, devices get them in tasks. */
export const TRAINING_SETTINGS = {
  ROUNDS: setting(types.integer(1), { default: 3000, help: 'training rounds' }),
  SCHEDULE: setting(types.oneOf('serial', 'parallel'), {
    default: 'serial',
    help: 'update schedule (distgan): G against the new average φ_{t+1} (serial) or φ_t, overlapped with the devices (parallel)',
  }),
  G_AVERAGE: setting(types.number({ minimum: 0, exclusiveMaximum: 1 }), {
    default: 0.999,
    help: "decay of the generator's average over rounds that samples, the evaluation and the final generator come from (0: the trained generator itself); training is unchanged",
  }),
  LOCAL_STEPS: setting(types.integer(1, 10_000), {
    default: 1,
    help: 'L: local discriminator steps per device per round',
  }),
  GENERATOR_STEPS: setting(types.integer(1, 10_000), {
    default: 1,
    help: 'M: generator steps per round',
  }),
  BATCH_SIZE: setting(types.integer(1, 4096), { default: 32, help: 'minibatch size' }),
  GENERATOR_BATCH_SIZE: setting(types.integer(0, 4096), {
    default: 0,
    help: "minibatch of the server's generator steps (distgan and centralized; MD-GAN and FL-GAN refuse it: their generator update takes BATCH_SIZE); 0: BATCH_SIZE",
  }),
  LR_D: setting(types.number({ exclusiveMinimum: 0 }), {
    default: 2e-3,
    help: 'discriminator learning rate (Adam)',
  }),
  LR_G: setting(types.number({ exclusiveMinimum: 0 }), {
    default: 2e-3,
    help: 'generator learning rate (Adam)',
  }),
  BETA1: setting(types.number({ minimum: 0, exclusiveMaximum: 1 }), {
    default: 0,
    help: "Adam's β1",
  }),
  BETA2: setting(types.number({ minimum: 0, exclusiveMaximum: 1 }), {
    default: 0.99,
    help: "Adam's β2",
  }),
};

/** What a run writes and measures: the server and the embedded run alike. */
export const RUN_OUTPUT_SETTINGS = {
  OUT: setting(types.text(), {
    default: 'runs',
    help: 'parent folder of the run folder (metrics, grids, final generator)',
  }),
  SAMPLE_EVERY: setting(types.integer(1), {
    default: 50,
    help: 'rounds between sample grids (and after the last)',
  }),
  EVAL_EVERY: setting(types.integer(0), {
    default: 0,
    help: 'rounds between evaluations (FID, modes, class balance; ring: mode coverage), and after the last; 0: never',
  }),
  EVAL_SAMPLES: setting(types.integer(10, 100_000), {
    default: 2000,
    help: 'generated samples per evaluation',
  }),
  CLASSIFIER: setting(types.text(), {
    default: '',
    help: 'FID classifier card (JSON) instead of the committed one',
  }),
};

export interface DataConfig {
  dataset: 'mnist' | 'fashion-mnist' | 'cifar10' | 'ring';
  dataDir?: string;
  limit?: number;
  ringStd: number;
  seed: number;
  model: ModelArch;
  modelWidth: number;
  latentDim: number;
  conditional: boolean;
}

/** The data settings as a service read them (DATA_SETTINGS, in domain keys). */
export interface DataSettings {
  dataset: DataConfig['dataset'];
  dataDir: string;
  limit: number;
  ringStd: number;
  seed: number;
  model: ModelArch;
  modelWidth: number;
  latentDim: number;
  conditional: boolean;
}

/** The data settings a service read, as the config the loaders take ('' and 0: not set). */
export function dataConfigOf(s: DataSettings): DataConfig {
  return {
    dataset: s.dataset,
    dataDir: s.dataDir || undefined,
    limit: s.limit || undefined,
    ringStd: s.ringStd,
    seed: s.seed,
    model: s.model,
    modelWidth: s.modelWidth,
    latentDim: s.latentDim,
    conditional: s.conditional,
  };
}

export async function loadRunDataset(c: DataConfig): Promise<Dataset> {
  return loadDataset({
    name: c.dataset,
    dir: c.dataDir,
    split: 'train',
    limit: c.limit,
    seed: c.seed,
    ringStd: c.ringStd,
  });
}

/**
 * The model spec for a dataset: 2D points are plain vectors, images keep their shape; a
 * conditional model has the dataset's classes (the ring's: its modes).
 */
export function modelSpecFor(
  config: Pick<DataConfig, 'model' | 'latentDim'> & { modelWidth?: number; conditional?: boolean },
  dataset: Pick<Dataset, 'name' | 'sampleShape' | 'numClasses'>,
): ModelSpec {
  if (config.model === 'dcgan' && dataset.name === 'ring') {
    throw new RangeError('the dcgan model needs images: use the mlp model with the ring dataset');
  }
  if (config.conditional && config.latentDim <= dataset.numClasses) {
    throw new RangeError(
      `a conditional model (CONDITIONAL=true) over ${dataset.name}'s ${dataset.numClasses} classes needs LATENT_DIM above ${dataset.numClasses} (its first ${dataset.numClasses} coordinates choose the class), got ${config.latentDim}: set a longer LATENT_DIM or CONDITIONAL=false`,
    );
  }
  const sampleShape = dataset.name === 'ring' ? [2] : [...dataset.sampleShape];
  return {
    arch: config.model,
    sampleShape,
    latentDim: config.latentDim,
    ...(config.modelWidth === undefined ? {} : { width: config.modelWidth }),
    ...(config.conditional ? { classes: dataset.numClasses } : {}),
  };
}

/** Device k's shard of the partition, as every process computes it from the same settings. */
export function shardOf(
  dataset: Dataset,
  opts: {
    scheme: 'iid' | 'shards' | 'dirichlet';
    devices: number;
    index: number;
    seed: number;
    alpha: number;
    shardsPerDevice: number;
  },
): Int32Array {
  if (opts.index >= opts.devices) {
    throw new RangeError(
      `device index ${opts.index} is not below the device count ${opts.devices}`,
    );
  }
  return partition(dataset, {
    scheme: opts.scheme,
    devices: opts.devices,
    seed: opts.seed,
    alpha: opts.alpha,
    shardsPerDevice: opts.shardsPerDevice,
  })[opts.index]!;
}
