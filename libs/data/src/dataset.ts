/** Images (or points) in memory, ready for training. */
export interface Dataset {
  name: string;
  /** Shape of one sample, H × W × C (the 2D ring: 1 × 1 × 2). */
  sampleShape: readonly [number, number, number];
  count: number;
  /** count × H × W × C values, NHWC, scaled to [-1, 1]. */
  images: Float32Array;
  labels: Uint8Array;
  numClasses: number;
  classNames?: readonly string[];
}

export function sampleSize(ds: Pick<Dataset, 'sampleShape'>): number {
  return ds.sampleShape[0] * ds.sampleShape[1] * ds.sampleShape[2];
}

/** Copies the chosen samples contiguously (into `out` when given, which is reused). */
export function gatherBatch(
  ds: Dataset,
  indices: Int32Array | readonly number[],
  out?: Float32Array,
): Float32Array {
  const size = sampleSize(ds);
  const batch = out ?? new Float32Array(indices.length * size);
  if (batch.length !== indices.length * size) {
    throw new RangeError(
      `output holds ${batch.length} values, ${indices.length} samples need ${indices.length * size}`,
    );
  }
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i]!;
    if (!(k >= 0 && k < ds.count))
      throw new RangeError(`sample index ${k} is outside [0, ${ds.count})`);
    batch.set(ds.images.subarray(k * size, (k + 1) * size), i * size);
  }
  return batch;
}

/** The chosen samples as a dataset of their own (copied). */
export function subset(ds: Dataset, indices: Int32Array | readonly number[]): Dataset {
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) labels[i] = ds.labels[indices[i]!]!;
  return { ...ds, count: indices.length, images: gatherBatch(ds, indices), labels };
}

/** A dataset file or folder that is not there: says what to fetch and where to put it. */
export class DatasetNotFoundError extends Error {
  readonly code = 'DATASET_NOT_FOUND';
  constructor(dataset: string, dir: string, files: readonly string[], source: string) {
    super(
      `${dataset} was not found in "${dir}": expected ${files.join(', ')}. Download it from ${source} ` +
        'and pass that folder with --data-dir.',
    );
    this.name = 'DatasetNotFoundError';
  }
}

/** A dataset file that is there but not in the expected format. */
export class DatasetFormatError extends Error {
  readonly code = 'DATASET_FORMAT';
  constructor(file: string, detail: string) {
    super(`${file} is not a valid dataset file: ${detail}`);
    this.name = 'DatasetFormatError';
  }
}

/** A minibatch of real samples with their labels (the device's own; they never leave it). */
export interface RealBatch {
  /** batchSize × H × W × C values, NHWC. */
  images: Float32Array;
  labels: Uint8Array;
}

/**
 * `batchSize` samples and their labels drawn uniformly with replacement from `indices` (a
 * device's shard) by `rng`, copied into `out` when its buffers have the right sizes (reused).
 */
export function drawBatch(
  ds: Dataset,
  indices: Int32Array | readonly number[],
  batchSize: number,
  rng: { int(n: number): number },
  out?: RealBatch,
): RealBatch {
  if (indices.length === 0) throw new RangeError('cannot draw a batch from an empty shard');
  const picks = new Int32Array(batchSize);
  for (let i = 0; i < batchSize; i++) picks[i] = indices[rng.int(indices.length)]!;
  const size = batchSize * sampleSize(ds);
  const images = gatherBatch(ds, picks, out && out.images.length === size ? out.images : undefined);
  const labels = out && out.labels.length === batchSize ? out.labels : new Uint8Array(batchSize);
  for (let i = 0; i < batchSize; i++) labels[i] = ds.labels[picks[i]!]!;
  return { images, labels };
}
