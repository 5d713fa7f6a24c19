import { loadDataset, partition, type Dataset } from '@distgan/data';
import type { ModelArch, ModelSpec } from '@distgan/gan';
import { DIGEST_CHOICES, parsers, type DigestChoice, type Setting } from '@distgan/protocol';

/*
 * The settings a distributed run shares between the server and the devices: which data, how it
 * is split, which model. Both sides must agree on them (the server publishes the training
 * settings in every task; these it cannot, since a device builds its model and shard first).
 */

export const CONNECTION_SETTINGS = {
  RABBITMQ_URL: {
    parse: parsers.url('amqp', 'amqps'),
    help: 'the RabbitMQ broker, e.g. amqp://guest:guest@127.0.0.1:5672',
  } as Setting<string>,
  REDIS_URL: {
    parse: parsers.url('redis', 'rediss'),
    help: 'the Redis blob store, e.g. redis://127.0.0.1:6379',
  } as Setting<string>,
  RUN_ID: {
    parse: parsers.id,
    help: 'the run: queue and key names are prefixed with it',
  } as Setting<string>,
  BLOB_DIGEST: {
    parse: parsers.oneOf(...DIGEST_CHOICES),
    default: 'auto',
    help: 'digest of the weight blobs this process writes (auto: BLAKE3 where it is native, else SHA-256; sha256 for FIPS); either is read',
  } as Setting<DigestChoice>,
};

const BACKENDS = ['', 'tensorflow-gpu', 'gpu', 'node-gpu', 'tensorflow', 'node', 'wasm', 'cpu'];

/** Each process's own: which TensorFlow.js backend it runs. */
export const BACKEND_SETTINGS = {
  TFJS_BACKEND: {
    parse: (raw: string): string => parsers.oneOf(...BACKENDS)(raw.toLowerCase()),
    default: '',
    help: 'the TensorFlow.js backend (default: the fastest that loads: tensorflow-gpu, tensorflow, wasm, cpu)',
  } as Setting<string>,
};

export const DATA_SETTINGS = {
  DATASET: {
    parse: parsers.oneOf('mnist', 'fashion-mnist', 'cifar10', 'ring'),
    default: 'mnist',
    help: 'training data',
  } as Setting<'mnist' | 'fashion-mnist' | 'cifar10' | 'ring'>,
  DATA_DIR: {
    parse: parsers.text,
    default: '',
    help: 'folder with the Fashion-MNIST or CIFAR-10 files',
  } as Setting<string>,
  LIMIT: {
    parse: parsers.integer(0),
    default: 0,
    help: 'use only the first n training samples (0: all)',
  } as Setting<number>,
  RING_STD: {
    parse: parsers.number((n) => n > 0, 'greater than 0'),
    default: 0.05,
    help: 'standard deviation of the ring dataset',
  } as Setting<number>,
  PARTITION: {
    parse: parsers.oneOf('iid', 'shards', 'dirichlet'),
    default: 'iid',
    help: 'how the data is split across devices',
  } as Setting<'iid' | 'shards' | 'dirichlet'>,
  ALPHA: {
    parse: parsers.number((n) => n > 0, 'greater than 0'),
    default: 0.5,
    help: 'Dirichlet concentration',
  } as Setting<number>,
  SHARDS_PER_DEVICE: {
    parse: parsers.integer(1, 1000),
    default: 2,
    help: 'label shards per device',
  } as Setting<number>,
  SEED: {
    parse: parsers.integer(0, 0xffffffff),
    default: 1,
    help: 'seed of every random draw',
  } as Setting<number>,
  MODEL: {
    parse: parsers.oneOf('mlp', 'dcgan'),
    default: 'mlp',
    help: 'model family',
  } as Setting<ModelArch>,
  LATENT_DIM: {
    parse: parsers.integer(1, 4096),
    default: 64,
    help: 'length of the latent vector z',
  } as Setting<number>,
  METHOD: {
    parse: parsers.oneOf('distgan', 'md-gan', 'fl-gan', 'centralized'),
    default: 'distgan',
    help: "distribution method: distgan (the paper's, with SCHEDULE), md-gan, fl-gan, or centralized (the server alone, on all the data)",
  } as Setting<'distgan' | 'md-gan' | 'fl-gan' | 'centralized'>,
};

export interface DataConfig {
  dataset: 'mnist' | 'fashion-mnist' | 'cifar10' | 'ring';
  dataDir?: string;
  limit?: number;
  ringStd: number;
  seed: number;
  model: ModelArch;
  latentDim: number;
}

/** The data settings as read from the environment (names of DATA_SETTINGS). */
export interface DataSettings {
  DATASET: DataConfig['dataset'];
  DATA_DIR: string;
  LIMIT: number;
  RING_STD: number;
  SEED: number;
  MODEL: ModelArch;
  LATENT_DIM: number;
}

/** The data settings a service read, as the config the loaders take ('' and 0: not set). */
export function dataConfigOf(s: DataSettings): DataConfig {
  return {
    dataset: s.DATASET,
    dataDir: s.DATA_DIR || undefined,
    limit: s.LIMIT || undefined,
    ringStd: s.RING_STD,
    seed: s.SEED,
    model: s.MODEL,
    latentDim: s.LATENT_DIM,
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

/** The model spec for a dataset: 2D points are plain vectors, images keep their shape. */
export function modelSpecFor(
  config: Pick<DataConfig, 'model' | 'latentDim'>,
  dataset: Pick<Dataset, 'name' | 'sampleShape'>,
): ModelSpec {
  if (config.model === 'dcgan' && dataset.name === 'ring') {
    throw new RangeError('the dcgan model needs images: use the mlp model with the ring dataset');
  }
  const sampleShape = dataset.name === 'ring' ? [2] : [...dataset.sampleShape];
  return { arch: config.model, sampleShape, latentDim: config.latentDim };
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
