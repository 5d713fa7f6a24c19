import { CIFAR10_CLASSES, loadCifar10 } from './cifar10.js';
import type { Dataset } from './dataset.js';
import {
  FASHION_MNIST_CLASSES,
  loadFashionMnist,
  loadMnist,
  MNIST_CLASSES,
  type Split,
} from './mnist.js';
import { DEFAULT_RING, ringOfGaussians } from './ring.js';

export type DatasetName = 'mnist' | 'fashion-mnist' | 'cifar10' | 'ring';

/**
 * The classes of a dataset, known before it is loaded: the lists its reader labels it with (the
 * ring's classes are its modes).
 */
export function classCountOf(name: DatasetName): number {
  const counts: Record<DatasetName, number> = {
    mnist: MNIST_CLASSES.length,
    'fashion-mnist': FASHION_MNIST_CLASSES.length,
    cifar10: CIFAR10_CLASSES.length,
    ring: DEFAULT_RING.modes,
  };
  return counts[name];
}

export interface LoadOptions {
  name: DatasetName;
  /** Folder with the original files (Fashion-MNIST, CIFAR-10). */
  dir?: string;
  split?: Split;
  limit?: number;
  /** Seed of the synthetic ring. */
  seed?: number;
  /** Standard deviation of the ring's modes. */
  ringStd?: number;
}

export async function loadDataset(opts: LoadOptions): Promise<Dataset> {
  switch (opts.name) {
    case 'mnist':
      return loadMnist({ split: opts.split, limit: opts.limit });
    case 'fashion-mnist':
      return loadFashionMnist({ dir: requireDir(opts), split: opts.split, limit: opts.limit });
    case 'cifar10':
      return loadCifar10({ dir: requireDir(opts), split: opts.split, limit: opts.limit });
    case 'ring':
      return ringOfGaussians({
        count: opts.limit ?? 20_000,
        seed: (opts.seed ?? 0) + (opts.split === 'test' ? 1 : 0),
        ...(opts.ringStd === undefined ? {} : { std: opts.ringStd }),
      });
    default:
      throw new RangeError(
        `unknown dataset "${String(opts.name)}": use mnist, fashion-mnist, cifar10 or ring`,
      );
  }
}

function requireDir(opts: LoadOptions): string {
  if (!opts.dir)
    throw new RangeError(`the ${opts.name} dataset is read from a folder: give its directory`);
  return opts.dir;
}
