import { encode } from 'fast-png';

export interface GridOptions {
  /** Columns of the grid; default: the square root of the count, rounded up. */
  columns?: number;
  /** Pixels of background between tiles. Default 2. */
  padding?: number;
  /** Integer upscaling of every pixel, so small images are visible. Default 2. */
  scale?: number;
}

/**
 * Tiles `count` images (flat NHWC, values in [-1, 1], 1 or 3 channels) into one PNG: how a
 * person sees what the generator makes.
 */
export function renderSampleGrid(
  images: Float32Array,
  count: number,
  sampleShape: readonly number[],
  opts: GridOptions = {},
): Uint8Array {
  const [h, w, c] = sampleShape;
  if (sampleShape.length !== 3 || !h || !w || (c !== 1 && c !== 3)) {
    throw new RangeError(
      `a sample grid takes H×W×1 or H×W×3 images, not [${sampleShape.join(', ')}]`,
    );
  }
  if (images.length < count * h * w * c) {
    throw new RangeError(`${images.length} values cannot hold ${count} images of ${h}×${w}×${c}`);
  }
  const cols = opts.columns ?? Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / cols);
  const pad = opts.padding ?? 2;
  const scale = opts.scale ?? 2;
  const tileW = w * scale;
  const tileH = h * scale;
  const width = cols * tileW + (cols + 1) * pad;
  const height = rows * tileH + (rows + 1) * pad;
  const out = new Uint8Array(width * height * c).fill(64);
  for (let i = 0; i < count; i++) {
    const x0 = pad + (i % cols) * (tileW + pad);
    const y0 = pad + Math.floor(i / cols) * (tileH + pad);
    const base = i * h * w * c;
    for (let y = 0; y < tileH; y++) {
      const sy = Math.floor(y / scale);
      for (let x = 0; x < tileW; x++) {
        const sx = Math.floor(x / scale);
        const src = base + (sy * w + sx) * c;
        const dst = ((y0 + y) * width + x0 + x) * c;
        for (let k = 0; k < c; k++) {
          const v = Math.round(((images[src + k]! + 1) / 2) * 255);
          out[dst + k] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
    }
  }
  return encode({ width, height, data: out, depth: 8, channels: c });
}

/**
 * Plots 2D points (flat [x0, y0, x1, y1, …]) as a scatter image over [-extent, extent]², with
 * optional reference points (e.g. the ring's mode centres) in another colour.
 */
export function renderScatter(
  points: Float32Array,
  opts: { size?: number; extent?: number; reference?: Float32Array } = {},
): Uint8Array {
  const size = opts.size ?? 320;
  const extent = opts.extent ?? 3;
  const data = new Uint8Array(size * size * 3).fill(255);
  const plot = (x: number, y: number, rgb: readonly number[], radius: number): void => {
    const px = Math.round(((x + extent) / (2 * extent)) * (size - 1));
    const py = Math.round(((extent - y) / (2 * extent)) * (size - 1));
    for (let dy = -radius; dy <= radius; dy++) {
      for (let dx = -radius; dx <= radius; dx++) {
        const X = px + dx;
        const Y = py + dy;
        if (X < 0 || Y < 0 || X >= size || Y >= size) continue;
        data.set(rgb, (Y * size + X) * 3);
      }
    }
  };
  const ref = opts.reference ?? new Float32Array(0);
  for (let i = 0; i + 1 < ref.length; i += 2) plot(ref[i]!, ref[i + 1]!, [230, 60, 60], 3);
  for (let i = 0; i + 1 < points.length; i += 2) plot(points[i]!, points[i + 1]!, [30, 80, 200], 0);
  return encode({ width: size, height: size, data, depth: 8, channels: 3 });
}
