import { defaultDigestAlgorithm, digestBytes, type DigestAlgorithm } from './digest.js';
import { BlobIntegrityError, type ErrorContext } from './errors.js';
import { float16Table, toFloat16Array } from './float16.js';
import { describeLayoutMismatch, totalSize, type FlatWeights, type TensorSpec } from './weights.js';

/*
 * Weight blob, format version 2 (all integers little-endian):
 *   0  magic "DGWB"             4 bytes
 *   4  format version           u16
 *   6  dtype                    u8   0 = float32, 1 = float16
 *   7  digest algorithm         u8   0 = SHA-256, 1 = BLAKE3-256
 *   8  header length            u32  bytes of the header JSON
 *  12  digest                   32 bytes, of everything after this field (header, padding, data)
 *  44  header JSON              {"tensors":[{"name","shape"}…],"count":N}
 *      zero padding to a multiple of 8
 *      data                     N values of dtype
 * Version 1 is the same layout with byte 7 reserved as 0 and the digest always SHA-256: blobs
 * written by earlier builds (saved models, checkpoints) still decode.
 * The digest covers the header as well as the tensor data, so a corrupted name or shape is
 * caught even when the reader has no expected layout to compare with.
 */
const MAGIC = [0x44, 0x47, 0x57, 0x42]; // "DGWB"
export const BLOB_FORMAT_VERSION = 2;
const PREFIX = 44;
const DTYPES = { float32: 0, float16: 1 } as const;
export type BlobDtype = keyof typeof DTYPES;
const DIGESTS: Record<DigestAlgorithm, number> = { sha256: 0, blake3: 1 };
const DIGEST_BY_CODE = new Map(
  (Object.entries(DIGESTS) as [DigestAlgorithm, number][]).map(([a, code]) => [code, a]),
);
const DIGEST_NAMES: Record<DigestAlgorithm, string> = { sha256: 'SHA-256', blake3: 'BLAKE3' };

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('the weight-blob codec needs a little-endian host');
}

const hex = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

export interface EncodeOptions {
  /** Payload precision. float16 halves the bytes; values beyond ±65504 are refused. */
  dtype?: BlobDtype;
  /** Content digest. Default: BLAKE3 where it runs natively, else SHA-256 (digest.ts). */
  digest?: DigestAlgorithm;
}

/** Encodes weights into one blob (one allocation; float32 data copied once). */
export function encodeWeights(w: FlatWeights, opts: EncodeOptions = {}): Uint8Array {
  if (totalSize(w.specs) !== w.values.length) {
    throw new RangeError(
      `weights hold ${w.values.length} values but their specs describe ${totalSize(w.specs)}`,
    );
  }
  return encodeWeightsWith(w.specs, (out) => out.set(w.values), opts);
}

/**
 * Encodes weights that `fill` writes into the float32 array it is given (count values in spec
 * order). For float32 blobs that array is the blob's own data region, so weights read straight
 * from a model land in the blob with no intermediate copy or allocation.
 */
export function encodeWeightsWith(
  specs: readonly TensorSpec[],
  fill: (values: Float32Array) => void,
  opts: EncodeOptions = {},
): Uint8Array {
  const dtype = opts.dtype ?? 'float32';
  const digest = opts.digest ?? defaultDigestAlgorithm();
  const count = totalSize(specs);
  const header = new TextEncoder().encode(
    JSON.stringify({ tensors: specs.map((s) => ({ name: s.name, shape: s.shape })), count }),
  );
  const dataOffset = align8(PREFIX + header.length);
  const bytesPer = dtype === 'float32' ? 4 : 2;
  const blob = new Uint8Array(dataOffset + count * bytesPer);
  blob.set(MAGIC, 0);
  const view = new DataView(blob.buffer);
  view.setUint16(4, BLOB_FORMAT_VERSION, true);
  blob[6] = DTYPES[dtype];
  blob[7] = DIGESTS[digest];
  view.setUint32(8, header.length, true);
  blob.set(header, PREFIX);
  if (dtype === 'float32') {
    fill(new Float32Array(blob.buffer, dataOffset, count));
  } else {
    const v = new Float32Array(count);
    fill(v);
    const bad = toFloat16Array(v, new Uint16Array(blob.buffer, dataOffset, count));
    if (bad >= 0) {
      throw new RangeError(
        `value ${v[bad]} at index ${bad} is beyond float16's range (±65504): encode these weights as float32`,
      );
    }
  }
  blob.set(digestBytes(digest, blob.subarray(PREFIX)), 12);
  return blob;
}

export interface DecodeOptions {
  /** The layout the reader's model has; a blob with another layout is refused. */
  expect?: readonly TensorSpec[];
  /** The digest the message announced (hex); it must equal the blob's. */
  digest?: string;
  /** Run/round/device, for error messages. */
  context?: ErrorContext;
}

interface Parsed {
  dtype: BlobDtype;
  specs: TensorSpec[];
  count: number;
  dataOffset: number;
  algorithm: DigestAlgorithm;
  digest: string;
}

function parseHeader(blob: Uint8Array, ctx: ErrorContext): Parsed {
  const fail = (reason: BlobIntegrityError['reason'], detail: string): never => {
    throw new BlobIntegrityError(reason, detail, ctx);
  };
  if (blob.length < PREFIX)
    fail('truncated', `${blob.length} bytes is shorter than the ${PREFIX}-byte prefix`);
  if (MAGIC.some((b, i) => blob[i] !== b)) fail('bad-magic', 'this is not a distgan weight blob');
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const version = view.getUint16(4, true);
  if (version !== 1 && version !== BLOB_FORMAT_VERSION) {
    fail(
      'unsupported-version',
      `format version ${version}; this build reads versions 1 to ${BLOB_FORMAT_VERSION}`,
    );
  }
  // Version 1 knew SHA-256 only (its byte 7 was reserved as 0).
  const digestCode = blob[7]!;
  const known = DIGEST_BY_CODE.get(digestCode);
  const algorithm =
    known && (version >= 2 || known === 'sha256')
      ? known
      : fail('bad-header', `unknown digest algorithm ${digestCode} in a version ${version} blob`);
  const dtypeCode = blob[6];
  const dtype =
    dtypeCode === 0
      ? 'float32'
      : dtypeCode === 1
        ? 'float16'
        : fail('bad-header', `unknown dtype ${dtypeCode}`);
  const headerLength = view.getUint32(8, true);
  if (PREFIX + headerLength > blob.length)
    fail('truncated', `header of ${headerLength} bytes runs past the end`);
  const storedDigest = (): string => hex(blob.subarray(12, PREFIX));
  // A header that does not parse was most likely damaged on the way: say so when the digest agrees.
  const badHeader = (detail: string): never => {
    const actual = hex(digestBytes(algorithm, blob.subarray(PREFIX)));
    if (actual !== storedDigest())
      fail(
        'checksum-mismatch',
        `content digest (${DIGEST_NAMES[algorithm]}) ${actual} differs from the header's`,
      );
    return fail('bad-header', detail);
  };
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(
        blob.subarray(PREFIX, PREFIX + headerLength),
      ),
    );
  } catch {
    badHeader('the header is not valid JSON');
  }
  const h = header as { tensors?: unknown; count?: unknown };
  const okSpec = (s: unknown): s is TensorSpec =>
    typeof s === 'object' &&
    s !== null &&
    typeof (s as TensorSpec).name === 'string' &&
    Array.isArray((s as TensorSpec).shape) &&
    (s as TensorSpec).shape.every((d) => Number.isInteger(d) && d >= 0);
  if (!Array.isArray(h.tensors) || !h.tensors.every(okSpec) || typeof h.count !== 'number') {
    badHeader('the header does not list tensors and a value count');
  }
  const specs = h.tensors as TensorSpec[];
  const count = h.count as number;
  if (totalSize(specs) !== count)
    badHeader(`tensor shapes add up to ${totalSize(specs)} values, header says ${count}`);
  const dataOffset = align8(PREFIX + headerLength);
  const expectedLength = dataOffset + count * (dtype === 'float32' ? 4 : 2);
  if (blob.length < expectedLength)
    fail('truncated', `${blob.length} bytes, the header describes ${expectedLength}`);
  if (blob.length > expectedLength)
    fail('bad-header', `${blob.length - expectedLength} unexpected bytes after the data`);
  const digest = storedDigest();
  return { dtype, specs, count, dataOffset, algorithm, digest };
}

/** The digest (hex) a blob carries in its header, for the message that announces it. */
export function blobDigestHex(blob: Uint8Array): string {
  return parseHeader(blob, {}).digest;
}

/** The algorithm of the digest a blob carries. */
export function blobDigestAlgorithm(blob: Uint8Array): DigestAlgorithm {
  return parseHeader(blob, {}).algorithm;
}

/**
 * Decodes and verifies a blob: digest (the blob's own, and the message's if given), layout
 * (against `expect` if given), finite values. Anything wrong throws BlobIntegrityError and
 * nothing is returned, so a bad blob never reaches a model or an average. float32 data is
 * returned as a view into `blob` when aligned (no copy); float16 is widened to float32.
 */
export function decodeWeights(blob: Uint8Array, opts: DecodeOptions = {}): FlatWeights {
  const ctx = opts.context ?? {};
  const p = parseHeader(blob, ctx);
  const actual = hex(digestBytes(p.algorithm, blob.subarray(PREFIX)));
  if (actual !== p.digest) {
    throw new BlobIntegrityError(
      'checksum-mismatch',
      `content digest (${DIGEST_NAMES[p.algorithm]}) ${actual} differs from the header's ${p.digest}`,
      ctx,
    );
  }
  if (opts.digest !== undefined && opts.digest !== p.digest) {
    throw new BlobIntegrityError(
      'checksum-mismatch',
      `blob digest ${p.digest} differs from the message's ${opts.digest}`,
      ctx,
    );
  }
  if (opts.expect) {
    const mismatch = describeLayoutMismatch(opts.expect, p.specs);
    if (mismatch)
      throw new BlobIntegrityError('shape-mismatch', `${mismatch} (a different model?)`, ctx);
  }
  let values: Float32Array;
  const start = blob.byteOffset + p.dataOffset;
  if (p.dtype === 'float32') {
    values =
      start % 4 === 0
        ? new Float32Array(blob.buffer, start, p.count)
        : new Float32Array(copyBytes(blob, p.dataOffset).buffer, 0, p.count);
  } else {
    const bits =
      start % 2 === 0
        ? new Uint16Array(blob.buffer, start, p.count)
        : new Uint16Array(copyBytes(blob, p.dataOffset).buffer, 0, p.count);
    const table = float16Table();
    values = new Float32Array(p.count);
    for (let i = 0; i < p.count; i++) values[i] = table[bits[i]!]!;
  }
  const bad = firstNonFinite(values);
  if (bad >= 0) {
    const at = locate(p.specs, bad);
    throw new BlobIntegrityError(
      'non-finite',
      `value ${values[bad]} in tensor "${at}" (index ${bad})`,
      ctx,
    );
  }
  return { specs: p.specs, values };
}

/**
 * The index of the first NaN or ±Infinity in `values`, or -1. A float32 is not finite when its
 * exponent bits are all ones, and then adding 1 to the exponent carries into the sign bit: OR-ing
 * that over four values at a time finds any (5× faster than testing v - v value by value).
 */
export function firstNonFinite(values: Float32Array): number {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const n = bits.length;
  const EXP = 0x7f800000;
  const ONE = 0x00800000;
  let m = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    m |=
      ((bits[i]! & EXP) + ONE) |
      ((bits[i + 1]! & EXP) + ONE) |
      ((bits[i + 2]! & EXP) + ONE) |
      ((bits[i + 3]! & EXP) + ONE);
  }
  for (; i < n; i++) m |= (bits[i]! & EXP) + ONE;
  if ((m & 0x80000000) === 0) return -1;
  for (let j = 0; j < n; j++) if ((bits[j]! & EXP) === EXP) return j;
  return -1;
}

function locate(specs: readonly TensorSpec[], index: number): string {
  let offset = 0;
  for (const s of specs) {
    offset += s.shape.reduce((a, b) => a * b, 1);
    if (index < offset) return s.name;
  }
  return '?';
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** A real copy (Buffer#slice, unlike Uint8Array#slice, returns a view). */
function copyBytes(blob: Uint8Array, from: number): Uint8Array {
  const out = new Uint8Array(blob.length - from);
  out.set(blob.subarray(from));
  return out;
}
