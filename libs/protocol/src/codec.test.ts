import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  blobDigestAlgorithm,
  blobDigestHex,
  decodeWeights,
  encodeWeights,
  firstNonFinite,
} from './codec.js';
import {
  DIGEST_ALGORITHMS,
  defaultDigestAlgorithm,
  digestBytes,
  digestImplementations,
  portableBlake3Digest,
} from './digest.js';
import { BlobIntegrityError } from './errors.js';
import { fromFloat16Bits, toFloat16Array, toFloat16Bits } from './float16.js';
import type { FlatWeights } from './weights.js';

function weights(seed = 1): FlatWeights {
  const specs = [
    { name: 'dense0/kernel', shape: [3, 4] },
    { name: 'dense0/bias', shape: [4] },
    { name: 'out/kernel', shape: [4, 1] },
  ];
  const values = new Float32Array(20);
  let s = seed;
  for (let i = 0; i < values.length; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    values[i] = (s / 2 ** 31 - 0.5) * 4;
  }
  return { specs, values };
}

function refusal(fn: () => unknown, reason: BlobIntegrityError['reason']): BlobIntegrityError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(
    caught instanceof BlobIntegrityError,
    `expected a BlobIntegrityError, got ${String(caught)}`,
  );
  assert.equal(caught.reason, reason, caught.message);
  assert.equal(caught.code, 'BLOB_INTEGRITY');
  return caught;
}

describe('weight-blob codec', () => {
  it('round-trips float32 exactly, with names and shapes', () => {
    const w = weights();
    const blob = encodeWeights(w);
    const back = decodeWeights(blob, { expect: w.specs, digest: blobDigestHex(blob) });
    assert.deepEqual(back.specs, w.specs);
    assert.deepEqual(Array.from(back.values), Array.from(w.values));
  });

  it('round-trips float16 within half precision and half the payload', () => {
    const w = weights(7);
    const b32 = encodeWeights(w);
    const b16 = encodeWeights(w, { dtype: 'float16' });
    const back = decodeWeights(b16, { expect: w.specs });
    for (let i = 0; i < w.values.length; i++) {
      const v = w.values[i]!;
      assert.ok(
        Math.abs(back.values[i]! - v) <= Math.abs(v) * 2 ** -11 + 1e-7,
        `index ${i}: ${back.values[i]} vs ${v}`,
      );
    }
    assert.ok(b16.length < b32.length);
    assert.equal(b32.length - b16.length, w.values.length * 2);
  });

  it('converts float16 with round-to-nearest-even, subnormals and infinities', () => {
    assert.equal(fromFloat16Bits(toFloat16Bits(1)), 1);
    assert.equal(fromFloat16Bits(toFloat16Bits(65504)), 65504);
    assert.equal(fromFloat16Bits(toFloat16Bits(2 ** -24)), 2 ** -24);
    assert.equal(fromFloat16Bits(toFloat16Bits(1 + 2 ** -11)), 1); // tie → even
    assert.equal(fromFloat16Bits(toFloat16Bits(1 + 3 * 2 ** -11)), 1 + 2 ** -9); // tie → even (up)
    assert.equal(fromFloat16Bits(toFloat16Bits(-Infinity)), -Infinity);
  });

  it('converts whole arrays to float16 with the same bits as the scalar conversion', () => {
    // A million float32 bit patterns spread over all 2^32 (every sign, exponent and rounding
    // case), the patterns around float16's rounding boundaries, and the special values.
    const patterns: number[] = [];
    for (let b = 0; b < 2 ** 32; b += 4093) patterns.push(b);
    for (const exp of [102, 103, 112, 113, 127, 142, 143, 254, 255]) {
      for (const low of [0, 1, 0xfff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x3000, 0x7fe000, 0x7fffff]) {
        patterns.push((exp << 23) | low, ((exp << 23) | low | 0x80000000) >>> 0);
      }
    }
    const bits = Uint32Array.from(patterns);
    const src = new Float32Array(bits.buffer);
    const out = new Uint16Array(src.length);
    toFloat16Array(src, out);
    let mismatches = 0;
    for (let i = 0; i < src.length; i++) {
      const want = toFloat16Bits(src[i]!);
      // NaN payloads need not agree, only NaN-ness.
      const bothNaN = (want & 0x7c00) === 0x7c00 && want & 0x3ff && (out[i]! & 0x3ff) !== 0;
      if (out[i] !== want && !bothNaN) mismatches += 1;
    }
    assert.equal(mismatches, 0);
  });

  it('reports the first finite value that overflows float16, and only those', () => {
    const at = (values: number[]): number =>
      toFloat16Array(Float32Array.from(values), new Uint16Array(values.length));
    assert.equal(at([1, 65504, -65504, Infinity, -Infinity, NaN, 0, -0, 1e-9]), -1);
    assert.equal(at([Math.fround(65519.99)]), -1); // rounds down to 65504
    assert.equal(at([1, 65520, 2, 1e6]), 1); // 65520 rounds up to Inf
    assert.equal(at([-1e30, 3]), 0);
    assert.throws(() => toFloat16Array(new Float32Array(4), new Uint16Array(3)), RangeError);
  });

  it('refuses float16 encoding of values beyond its range instead of writing Infinity', () => {
    const w = weights();
    w.values[3] = 1e6;
    assert.throws(() => encodeWeights(w, { dtype: 'float16' }), /beyond float16's range/);
  });

  it('refuses a flipped byte anywhere in the payload or header, under either digest', () => {
    const w = weights();
    for (const digest of DIGEST_ALGORITHMS) {
      const blob = encodeWeights(w, { digest });
      assert.equal(blobDigestAlgorithm(blob), digest);
      for (const at of [20, 50, blob.length - 1]) {
        const bad = blob.slice();
        bad[at]! ^= 0x10;
        const err = refusal(() => decodeWeights(bad, { expect: w.specs }), 'checksum-mismatch');
        assert.match(err.message, digest === 'blake3' ? /BLAKE3/ : /SHA-256/);
      }
    }
  });

  it('hashes with BLAKE3 by default where it is native, and both digests decode', () => {
    // This machine has the native BLAKE3; where it has not, SHA-256 is the default.
    assert.match(digestImplementations().blake3, /native/);
    assert.equal(defaultDigestAlgorithm(), 'blake3');
    const w = weights();
    const byDefault = encodeWeights(w);
    assert.equal(blobDigestAlgorithm(byDefault), 'blake3');
    const sha = encodeWeights(w, { digest: 'sha256' });
    // Same layout and data, different digest field and algorithm byte.
    assert.equal(sha.length, byDefault.length);
    assert.notEqual(blobDigestHex(sha), blobDigestHex(byDefault));
    assert.deepEqual(sha.subarray(44), byDefault.subarray(44));
    for (const blob of [byDefault, sha]) {
      const back = decodeWeights(blob, { expect: w.specs, digest: blobDigestHex(blob) });
      assert.deepEqual(Array.from(back.values), Array.from(w.values));
    }
    // The digest field really is that algorithm's digest of the rest.
    assert.equal(
      blobDigestHex(sha),
      Buffer.from(digestBytes('sha256', sha.subarray(44))).toString('hex'),
    );
  });

  it('computes the published digests, natively and in pure JS alike', () => {
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    const empty = new Uint8Array(0);
    // BLAKE3 and SHA-256 of the empty input, from their specifications' test vectors.
    const blake3Empty = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';
    assert.equal(hex(digestBytes('blake3', empty)), blake3Empty);
    assert.equal(hex(portableBlake3Digest(empty)), blake3Empty);
    assert.equal(
      hex(digestBytes('sha256', empty)),
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    // Around BLAKE3's 64-byte blocks and 1024-byte chunks, and a many-chunk input from a view.
    const data = new Uint8Array(70_000).map((_, i) => (i * 2654435761) >>> 24);
    for (const n of [1, 63, 64, 65, 1023, 1024, 1025, 2048, 3073, 65_536, 69_999]) {
      const bytes = data.subarray(70_000 - n);
      assert.equal(hex(digestBytes('blake3', bytes)), hex(portableBlake3Digest(bytes)), `n=${n}`);
    }
  });

  it('decodes format-1 blobs of earlier builds (SHA-256), and refuses unknown digest codes', () => {
    const w = weights();
    // A version-1 blob is a version-2 SHA-256 blob with the version field 1 (the field is
    // outside the digest).
    const v1 = encodeWeights(w, { digest: 'sha256' });
    v1[4] = 1;
    assert.equal(blobDigestAlgorithm(v1), 'sha256');
    assert.deepEqual(
      Array.from(decodeWeights(v1, { expect: w.specs }).values),
      Array.from(w.values),
    );
    // Version 1 had no BLAKE3: byte 7 was reserved.
    const v1b3 = encodeWeights(w, { digest: 'blake3' });
    v1b3[4] = 1;
    refusal(() => decodeWeights(v1b3), 'bad-header');
    const unknown = encodeWeights(w);
    unknown[7] = 9;
    const err = refusal(() => decodeWeights(unknown), 'bad-header');
    assert.match(err.message, /unknown digest algorithm 9/);
  });

  it("refuses a blob whose digest differs from the message's", () => {
    const a = encodeWeights(weights(1));
    const b = encodeWeights(weights(2));
    refusal(() => decodeWeights(a, { digest: blobDigestHex(b) }), 'checksum-mismatch');
  });

  it('refuses a blob of another model (wrong shape or tensor count)', () => {
    const w = weights();
    const blob = encodeWeights(w);
    const other = [w.specs[0]!, { name: 'dense0/bias', shape: [5] }, w.specs[2]!];
    const err = refusal(() => decodeWeights(blob, { expect: other }), 'shape-mismatch');
    assert.match(err.message, /dense0\/bias.*\[4\].*\[5\]/);
    refusal(() => decodeWeights(blob, { expect: w.specs.slice(0, 2) }), 'shape-mismatch');
  });

  it('refuses NaN and Infinity, naming the tensor', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const w = weights();
      w.values[18] = bad;
      const blob = encodeWeights(w); // a device could send this: the receiver must catch it
      const err = refusal(() => decodeWeights(blob, { expect: w.specs }), 'non-finite');
      assert.match(err.message, /out\/kernel/);
    }
  });

  it('finds the first NaN or ±Infinity at any position, and passes every finite value', () => {
    const finite = [0, -0, 1, -1, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -1e-45];
    for (const n of [1, 3, 4, 5, 8, 37]) {
      const v = Float32Array.from({ length: n }, (_, i) => finite[i % finite.length]!);
      assert.equal(firstNonFinite(v), -1, `all finite, n=${n}`);
      for (const bad of [NaN, Infinity, -Infinity]) {
        for (const at of new Set([0, n >> 1, n - 1])) {
          const w = v.slice();
          w[at] = bad;
          if (at + 1 < n) w[n - 1] = NaN; // a later one too: the first is reported
          assert.equal(firstNonFinite(w), at, `${bad} at ${at} of ${n}`);
        }
      }
    }
    // a view that does not start at the buffer's beginning
    const big = new Float32Array(16);
    big[13] = Infinity;
    assert.equal(firstNonFinite(big.subarray(5)), 8);
  });

  it('refuses truncated blobs at every length', () => {
    const blob = encodeWeights(weights());
    for (const len of [0, 3, 43, 44, 60, blob.length - 1]) {
      assert.throws(
        () => decodeWeights(blob.subarray(0, len)),
        (e: unknown) =>
          e instanceof BlobIntegrityError &&
          (e.reason === 'truncated' || e.reason === 'bad-header'),
        `length ${len}`,
      );
    }
  });

  it('refuses bytes that are not a blob, or a future format', () => {
    refusal(
      () =>
        decodeWeights(
          new TextEncoder().encode('{"json": "this is not a weight blob at all, clearly not"}'),
        ),
      'bad-magic',
    );
    const blob = encodeWeights(weights());
    const future = blob.slice();
    future[4] = 9;
    refusal(() => decodeWeights(future), 'unsupported-version');
  });

  it('decodes from an unaligned view (as from a network buffer)', () => {
    const w = weights();
    const blob = encodeWeights(w);
    const shifted = new Uint8Array(blob.length + 1);
    shifted.set(blob, 1);
    const back = decodeWeights(shifted.subarray(1), { expect: w.specs });
    assert.deepEqual(Array.from(back.values), Array.from(w.values));
    // a Node Buffer (what a Redis client returns), also unaligned: Buffer#slice is a view
    const buf = Buffer.alloc(blob.length + 3);
    buf.set(blob, 3);
    const fromBuffer = decodeWeights(buf.subarray(3), { expect: w.specs });
    assert.deepEqual(Array.from(fromBuffer.values), Array.from(w.values));
  });

  it('refuses values that do not match their specs when encoding', () => {
    const w = weights();
    assert.throws(
      () => encodeWeights({ specs: w.specs, values: w.values.subarray(1) }),
      RangeError,
    );
  });
});
