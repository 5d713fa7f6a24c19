import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DatasetFormatError, type Dataset } from './dataset.js';

const IDX_UBYTE = 0x08;

/**
 * The IDX format of MNIST and Fashion-MNIST: a big-endian magic (0, 0, type 0x08 = unsigned
 * byte, number of dimensions), one big-endian uint32 per dimension, then the bytes.
 */
export function readIdx(
  buffer: Uint8Array,
  file = 'IDX file',
): { dims: number[]; data: Uint8Array } {
  if (buffer.length < 4)
    throw new DatasetFormatError(file, `${buffer.length} bytes is too short for an IDX header`);
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  if (buffer[0] !== 0 || buffer[1] !== 0 || buffer[2] !== IDX_UBYTE) {
    throw new DatasetFormatError(
      file,
      `bad magic 0x${view.getUint32(0).toString(16).padStart(8, '0')} (expected 0x0000080N)`,
    );
  }
  const rank = buffer[3]!;
  if (rank < 1 || rank > 4)
    throw new DatasetFormatError(file, `unsupported number of dimensions ${rank}`);
  const offset = 4 + 4 * rank;
  if (buffer.length < offset) throw new DatasetFormatError(file, 'truncated header');
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const size = dims.reduce((a, b) => a * b, 1);
  if (buffer.length - offset < size) {
    throw new DatasetFormatError(
      file,
      `truncated: dimensions [${dims.join(', ')}] need ${size} bytes, found ${buffer.length - offset}`,
    );
  }
  if (buffer.length - offset > size) {
    throw new DatasetFormatError(
      file,
      `${buffer.length - offset - size} unexpected bytes after the data`,
    );
  }
  return { dims, data: buffer.subarray(offset) };
}

/** Reads `path`, or `path.gz` (gunzipped) when only that exists; undefined when neither does. */
export function readMaybeGzipped(path: string): { bytes: Uint8Array; file: string } | undefined {
  if (existsSync(path)) return { bytes: readFileSync(path), file: path };
  if (existsSync(`${path}.gz`))
    return { bytes: gunzipSync(readFileSync(`${path}.gz`)), file: `${path}.gz` };
  return undefined;
}

export function readIdxFile(path: string): { dims: number[]; data: Uint8Array } {
  const found = readMaybeGzipped(path);
  if (!found) throw new DatasetFormatError(path, 'file not found (nor a .gz of it)');
  return readIdx(found.bytes, found.file);
}

export interface IdxDatasetSpec {
  name: string;
  imagesPath: string;
  labelsPath: string;
  numClasses: number;
  classNames?: readonly string[];
  limit?: number;
}

/** An IDX image file and its label file as a Dataset, pixels scaled to [-1, 1]. */
export function loadIdxDataset(spec: IdxDatasetSpec): Dataset {
  const images = readIdxFile(spec.imagesPath);
  const labels = readIdxFile(spec.labelsPath);
  if (images.dims.length !== 3) {
    throw new DatasetFormatError(
      spec.imagesPath,
      `expected 3 dimensions (count, rows, cols), got ${images.dims.length}`,
    );
  }
  if (labels.dims.length !== 1)
    throw new DatasetFormatError(
      spec.labelsPath,
      `expected 1 dimension, got ${labels.dims.length}`,
    );
  const [count, rows, cols] = images.dims as [number, number, number];
  if (labels.dims[0] !== count) {
    throw new DatasetFormatError(spec.labelsPath, `${labels.dims[0]} labels for ${count} images`);
  }
  const n = spec.limit === undefined ? count : Math.min(count, spec.limit);
  const pixels = new Float32Array(n * rows * cols);
  const src = images.data;
  for (let i = 0; i < pixels.length; i++) pixels[i] = src[i]! / 127.5 - 1;
  const lab = labels.data.slice(0, n);
  for (let i = 0; i < n; i++) {
    if (lab[i]! >= spec.numClasses)
      throw new DatasetFormatError(spec.labelsPath, `label ${lab[i]} at ${i} ≥ ${spec.numClasses}`);
  }
  return {
    name: spec.name,
    sampleShape: [rows, cols, 1],
    count: n,
    images: pixels,
    labels: lab,
    numClasses: spec.numClasses,
    ...(spec.classNames ? { classNames: spec.classNames } : {}),
  };
}
