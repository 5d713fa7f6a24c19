// IEEE 754 binary16 conversion (Node 20 has no Float16Array).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → float16 bits, rounding to nearest even; overflow gives ±Inf. */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: ±0
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) === 1)) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to Inf).
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half += 1;
  return sign | half;
}

/**
 * float32 → float16 over whole arrays, bit-identical to `toFloat16Bits` value by value, about
 * four times faster. Values that are normal in float16 (nearly all weights) are converted on
 * their integer bits without a data-dependent branch; zeros, subnormals, NaN, ±Inf and values
 * out of range go through the scalar function. Returns the index of the first finite value that
 * overflowed to ±Inf, or -1.
 */
export function toFloat16Array(src: Float32Array, out: Uint16Array): number {
  if (out.length < src.length) {
    throw new RangeError(`${src.length} values do not fit into ${out.length} float16 slots`);
  }
  // Int32, not Uint32: V8 keeps int32 elements as integers; uint32 above 2^31 become doubles.
  const bits = new Int32Array(src.buffer, src.byteOffset, src.length);
  const n = bits.length;
  const EXP = 0x7f800000;
  let flag = 0;
  let slowOverflow = -1;
  for (let i = 0; i < n; i++) {
    const x = bits[i]!;
    // |x| from float16's smallest normal (2^-14) up: negative below it, ≥ 0x0f000000 from 2^16.
    const a = (x & 0x7fffffff) - 0x38800000;
    if (a >= 0 && a < 0x0f000000) {
      // Rebias the exponent (127 → 15), then round to nearest even: adding 0xfff plus the lowest
      // kept bit carries exactly when the dropped 13 bits are above half, or half with an odd
      // kept bit; a carry out of the mantissa bumps the exponent, up to Inf (0x7c00).
      const b = a + 0x00800000;
      const half = (b + 0xfff + ((b >>> 13) & 1)) >>> 13;
      flag |= half + 0x400; // bit 15 set once any half reached 0x7c00
      out[i] = ((x >>> 16) & 0x8000) | half;
    } else {
      const h = toFloat16Bits(src[i]!);
      if (slowOverflow < 0 && (h & 0x7fff) === 0x7c00 && (x & EXP) !== EXP) slowOverflow = i;
      out[i] = h;
    }
  }
  if ((flag & 0x8000) === 0) return slowOverflow;
  for (let i = 0; i < n; i++) {
    if ((out[i]! & 0x7fff) === 0x7c00 && (bits[i]! & EXP) !== EXP) return i;
  }
  return -1;
}

let table: Float32Array | undefined;

/** float16 bits → float32, through a 64 Ki-entry table built on first use. */
export function float16Table(): Float32Array {
  if (table) return table;
  table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    let v: number;
    if (exp === 0) v = mant * 2 ** -24;
    else if (exp === 0x1f) v = mant ? NaN : Infinity;
    else v = (1 + mant / 1024) * 2 ** (exp - 15);
    table[h] = sign * v;
  }
  return table;
}

export function fromFloat16Bits(bits: number): number {
  return float16Table()[bits & 0xffff]!;
}
