import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetFormatError, DatasetNotFoundError, type Dataset } from './dataset.js';
import type { Split } from './mnist.js';

export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
] as const;

const RECORD = 1 + 3 * 32 * 32;
const PLANE = 32 * 32;

function batchFiles(split: Split): string[] {
  return split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
}

/**
 * CIFAR-10, binary version: records of 1 label byte and 3,072 pixel bytes (the 1,024 red, then
 * green, then blue values of a 32×32 image, row-major), read into NHWC in [-1, 1]. The files may
 * sit in `dir` or in `dir/cifar-10-batches-bin` (as the archive unpacks).
 */
export function loadCifar10(opts: { dir: string; split?: Split; limit?: number }): Dataset {
  const split = opts.split ?? 'train';
  const files = batchFiles(split);
  const base = [opts.dir, join(opts.dir, 'cifar-10-batches-bin')].find((d) =>
    files.every((f) => existsSync(join(d, f))),
  );
  if (!base) {
    throw new DatasetNotFoundError(
      'CIFAR-10',
      opts.dir,
      files,
      'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
    );
  }
  const buffers = files.map((f) => {
    const path = join(base, f);
    const bytes = readFileSync(path);
    if (bytes.length === 0 || bytes.length % RECORD !== 0) {
      throw new DatasetFormatError(
        path,
        `${bytes.length} bytes is not a whole number of ${RECORD}-byte records`,
      );
    }
    return { path, bytes };
  });
  const total = buffers.reduce((s, b) => s + b.bytes.length / RECORD, 0);
  const count = opts.limit === undefined ? total : Math.min(total, opts.limit);
  const images = new Float32Array(count * 3 * PLANE);
  const labels = new Uint8Array(count);
  let k = 0;
  for (const { path, bytes } of buffers) {
    for (let r = 0; r < bytes.length / RECORD && k < count; r++, k++) {
      const o = r * RECORD;
      const label = bytes[o]!;
      if (label > 9) throw new DatasetFormatError(path, `label ${label} in record ${r} is not 0-9`);
      labels[k] = label;
      const dst = k * 3 * PLANE;
      for (let p = 0; p < PLANE; p++) {
        images[dst + 3 * p] = bytes[o + 1 + p]! / 127.5 - 1;
        images[dst + 3 * p + 1] = bytes[o + 1 + PLANE + p]! / 127.5 - 1;
        images[dst + 3 * p + 2] = bytes[o + 1 + 2 * PLANE + p]! / 127.5 - 1;
      }
    }
  }
  return {
    name: 'cifar10',
    sampleShape: [32, 32, 3],
    count,
    images,
    labels,
    numClasses: CIFAR10_CLASSES.length,
    classNames: CIFAR10_CLASSES,
  };
}
