import type { Dataset } from './dataset.js';
import { Rng } from './rng.js';

export interface RingSpec {
  modes: number;
  radius: number;
  std: number;
}

export const DEFAULT_RING: RingSpec = { modes: 8, radius: 2, std: 0.02 };

/** Centres of the ring's modes as flat [x0, y0, x1, y1, …]. */
export function ringCenters(
  modes = DEFAULT_RING.modes,
  radius = DEFAULT_RING.radius,
): Float32Array {
  const c = new Float32Array(2 * modes);
  for (let m = 0; m < modes; m++) {
    c[2 * m] = radius * Math.cos((2 * Math.PI * m) / modes);
    c[2 * m + 1] = radius * Math.sin((2 * Math.PI * m) / modes);
  }
  return c;
}

/**
 * The synthetic mixture of Gaussians on a ring (the mode-collapse benchmark of the unrolled-GAN
 * and VEEGAN papers): `count` points, each from a mode chosen uniformly, label = mode.
 */
export function ringOfGaussians(
  opts: Partial<RingSpec> & { count: number; seed: number },
): Dataset {
  const { modes, radius, std } = { ...DEFAULT_RING, ...opts };
  const rng = new Rng(opts.seed);
  const centres = ringCenters(modes, radius);
  const images = new Float32Array(2 * opts.count);
  const labels = new Uint8Array(opts.count);
  for (let i = 0; i < opts.count; i++) {
    const m = rng.int(modes);
    labels[i] = m;
    images[2 * i] = centres[2 * m]! + std * rng.normal();
    images[2 * i + 1] = centres[2 * m + 1]! + std * rng.normal();
  }
  return {
    name: 'ring',
    sampleShape: [1, 1, 2],
    count: opts.count,
    images,
    labels,
    numClasses: modes,
  };
}

export interface RingCoverage {
  /** Modes that received at least the minimum share of high-quality samples. */
  covered: number;
  /** High-quality samples per mode. */
  perMode: number[];
  /** Share of samples within 3σ of their nearest centre. */
  highQuality: number;
}

/**
 * Mode coverage as in the unrolled-GAN and VEEGAN papers: a sample is high quality when it lies
 * within 3σ of its nearest centre; a mode is covered when it holds at least a quarter of the
 * high-quality samples a uniform generator would put there (1 / (4 · modes) of all samples),
 * so that a handful of stray points does not count as a mode.
 */
export function ringModeCoverage(points: Float32Array, spec: Partial<RingSpec> = {}): RingCoverage {
  const { modes, radius, std } = { ...DEFAULT_RING, ...spec };
  const centres = ringCenters(modes, radius);
  const perMode = new Array<number>(modes).fill(0);
  const total = points.length / 2;
  let good = 0;
  const limit2 = (3 * std) ** 2;
  for (let i = 0; i < total; i++) {
    const x = points[2 * i]!;
    const y = points[2 * i + 1]!;
    let best = Infinity;
    let bestM = 0;
    for (let m = 0; m < modes; m++) {
      const d = (x - centres[2 * m]!) ** 2 + (y - centres[2 * m + 1]!) ** 2;
      if (d < best) {
        best = d;
        bestM = m;
      }
    }
    if (best <= limit2) {
      good++;
      perMode[bestM]! += 1;
    }
  }
  const minimum = Math.max(1, total / (4 * modes));
  return {
    covered: perMode.filter((c) => c >= minimum).length,
    perMode,
    highQuality: total ? good / total : 0,
  };
}
