import type { Dataset } from './dataset.js';
import { Rng } from './rng.js';

/*
 * Partitioners: which samples each device holds. All are deterministic for a seed, return one
 * sorted index array per device, and the arrays are disjoint and together cover the data. A
 * device's shard is picked by its index (its StatefulSet ordinal on Kubernetes).
 */

function checkDevices(count: number, devices: number): void {
  if (!Number.isSafeInteger(devices) || devices < 1)
    throw new RangeError(`devices must be a positive integer, got ${devices}`);
  if (devices > count)
    throw new RangeError(`${devices} devices cannot each hold a sample of ${count}`);
}

const sorted = (a: number[]): Int32Array => Int32Array.from(a).sort();

/** IID: a seeded shuffle cut into near-equal parts (sizes differ by at most one). */
export function partitionIid(count: number, devices: number, seed: number): Int32Array[] {
  checkDevices(count, devices);
  const order = new Rng(seed).shuffle(Int32Array.from({ length: count }, (_, i) => i));
  return Array.from({ length: devices }, (_, k) => {
    const from = Math.floor((k * count) / devices);
    const to = Math.floor(((k + 1) * count) / devices);
    return order.slice(from, to).sort();
  });
}

/**
 * Label shards (McMahan et al., FedAvg): samples sorted by label are cut into
 * devices × shardsPerDevice equal shards, and each device gets shardsPerDevice of them at
 * random, so that it sees only a few labels.
 */
export function partitionShards(
  labels: Uint8Array,
  devices: number,
  opts: { shardsPerDevice?: number; seed: number },
): Int32Array[] {
  const per = opts.shardsPerDevice ?? 2;
  if (!Number.isSafeInteger(per) || per < 1)
    throw new RangeError(`shardsPerDevice must be a positive integer, got ${per}`);
  const shardCount = devices * per;
  checkDevices(labels.length, devices);
  if (shardCount > labels.length)
    throw new RangeError(`${shardCount} shards cannot be cut from ${labels.length} samples`);
  const rng = new Rng(opts.seed);
  // Stable sort by label, ties broken by a seeded shuffle so that shards are not file-ordered.
  const order = rng.shuffle(Array.from({ length: labels.length }, (_, i) => i));
  order.sort((a, b) => labels[a]! - labels[b]!);
  const shards = rng.shuffle(Array.from({ length: shardCount }, (_, i) => i));
  return Array.from({ length: devices }, (_, k) => {
    const mine: number[] = [];
    for (let j = 0; j < per; j++) {
      const s = shards[k * per + j]!;
      const from = Math.floor((s * labels.length) / shardCount);
      const to = Math.floor(((s + 1) * labels.length) / shardCount);
      for (let i = from; i < to; i++) mine.push(order[i]!);
    }
    return sorted(mine);
  });
}

/**
 * Dirichlet(α) label skew (Hsu et al. 2019): for every class, the shares of its samples across
 * devices are drawn from Dir(α, …, α). Small α: each device sees few classes; large α: close to
 * IID. Draws again (up to 100 times) until every device holds at least `minSize` samples.
 */
export function partitionDirichlet(
  labels: Uint8Array,
  numClasses: number,
  devices: number,
  opts: { alpha: number; seed: number; minSize?: number },
): Int32Array[] {
  checkDevices(labels.length, devices);
  if (!(opts.alpha > 0) || !Number.isFinite(opts.alpha))
    throw new RangeError(`alpha must be positive, got ${opts.alpha}`);
  const minSize = opts.minSize ?? 1;
  if (minSize * devices > labels.length) {
    throw new RangeError(
      `${devices} devices cannot each hold ${minSize} of ${labels.length} samples`,
    );
  }
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  labels.forEach((l, i) => {
    if (l >= numClasses)
      throw new RangeError(`label ${l} at ${i} is not below numClasses ${numClasses}`);
    byClass[l]!.push(i);
  });
  const rng = new Rng(opts.seed);
  for (let attempt = 0; attempt < 100; attempt++) {
    const parts: number[][] = Array.from({ length: devices }, () => []);
    for (const members of byClass) {
      if (members.length === 0) continue;
      const idx = rng.shuffle([...members]);
      const g = Array.from({ length: devices }, () => rng.gamma(opts.alpha));
      const sum = g.reduce((a, b) => a + b, 0);
      let start = 0;
      let acc = 0;
      for (let k = 0; k < devices; k++) {
        acc += g[k]! / sum;
        const end = k === devices - 1 ? idx.length : Math.round(acc * idx.length);
        for (let i = start; i < end; i++) parts[k]!.push(idx[i]!);
        start = Math.max(start, end);
      }
    }
    if (parts.every((p) => p.length >= minSize)) return parts.map(sorted);
  }
  throw new RangeError(
    `no Dirichlet(α=${opts.alpha}) partition gave every one of ${devices} devices ${minSize} samples in 100 draws: raise alpha or lower the device count`,
  );
}

export type PartitionScheme = 'iid' | 'shards' | 'dirichlet';

export interface PartitionOptions {
  scheme: PartitionScheme;
  devices: number;
  seed: number;
  /** Dirichlet concentration. */
  alpha?: number;
  shardsPerDevice?: number;
}

export function partition(
  ds: Pick<Dataset, 'count' | 'labels' | 'numClasses'>,
  opts: PartitionOptions,
): Int32Array[] {
  switch (opts.scheme) {
    case 'iid':
      return partitionIid(ds.count, opts.devices, opts.seed);
    case 'shards':
      return partitionShards(ds.labels, opts.devices, {
        shardsPerDevice: opts.shardsPerDevice,
        seed: opts.seed,
      });
    case 'dirichlet':
      return partitionDirichlet(ds.labels, ds.numClasses, opts.devices, {
        alpha: opts.alpha ?? 0.5,
        seed: opts.seed,
      });
    default:
      throw new RangeError(
        `unknown partition scheme "${String((opts as { scheme: unknown }).scheme)}": use iid, shards or dirichlet`,
      );
  }
}

/** Samples per label among `indices`, for reports (config.json shows each device's mix). */
export function labelHistogram(
  labels: Uint8Array,
  indices: Int32Array,
  numClasses: number,
): number[] {
  const h = new Array<number>(numClasses).fill(0);
  for (const i of indices) h[labels[i]!]! += 1;
  return h;
}
