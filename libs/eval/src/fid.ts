import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

/** Mean and covariance of a set of feature vectors, in float64. */
export interface GaussianStats {
  dim: number;
  count: number;
  mean: Float64Array;
  /** dim × dim, row-major, unbiased (divided by count − 1, as numpy.cov). */
  cov: Float64Array;
}

/** Statistics of `features`: count × dim values, one row per sample. */
export function featureStats(features: Float32Array | Float64Array, dim: number): GaussianStats {
  if (!Number.isSafeInteger(dim) || dim < 1)
    throw new RangeError(`dim must be positive, got ${dim}`);
  if (features.length % dim !== 0) {
    throw new RangeError(`${features.length} values are not a whole number of ${dim}-d rows`);
  }
  const count = features.length / dim;
  if (count < 2) throw new RangeError(`a covariance needs at least 2 samples, got ${count}`);
  const mean = new Float64Array(dim);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < dim; j++) mean[j]! += features[i * dim + j]!;
  }
  for (let j = 0; j < dim; j++) mean[j]! /= count;
  const cov = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < dim; j++) row[j] = features[i * dim + j]! - mean[j]!;
    // Upper triangle only; mirrored below.
    for (let a = 0; a < dim; a++) {
      const ra = row[a]!;
      if (ra === 0) continue; // ReLU features are often exactly zero
      const base = a * dim;
      for (let b = a; b < dim; b++) cov[base + b]! += ra * row[b]!;
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = cov[a * dim + b]! / (count - 1);
      cov[a * dim + b] = v;
      cov[b * dim + a] = v;
    }
  }
  return { dim, count, mean, cov };
}

function toMatrix(values: Float64Array, n: number): Matrix {
  const m = new Matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m.set(i, j, values[i * n + j]!);
  return m;
}

/** Eigen-decomposition of a symmetric matrix (symmetrised first against rounding). */
function symmetricEigen(m: Matrix): { values: number[]; vectors: Matrix } {
  const sym = m.add(m.transpose()).mul(0.5);
  const e = new EigenvalueDecomposition(sym, { assumeSymmetric: true });
  return { values: e.realEigenvalues, vectors: e.eigenvectorMatrix };
}

/**
 * The square root of a symmetric positive semi-definite matrix through its eigen-decomposition,
 * negative eigenvalues (rounding) clamped to zero.
 */
export function sqrtPsd(m: Matrix): Matrix {
  const { values, vectors } = symmetricEigen(m);
  const scaled = vectors.clone();
  for (let j = 0; j < values.length; j++) {
    const s = Math.sqrt(Math.max(values[j]!, 0));
    for (let i = 0; i < scaled.rows; i++) scaled.set(i, j, scaled.get(i, j) * s);
  }
  return scaled.mmul(vectors.transpose());
}

/**
 * The Fréchet distance between two Gaussians,
 *   ‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2 Tr (Σ₁ Σ₂)^½.
 * Tr (Σ₁ Σ₂)^½ is computed as Tr (Σ₁^½ Σ₂ Σ₁^½)^½: the inner matrix is symmetric positive
 * semi-definite, so both roots come from symmetric eigen-decompositions with real, clamped
 * eigenvalues. This stays stable where the general square root of the non-symmetric product
 * Σ₁Σ₂ (scipy.linalg.sqrtm, in the reference implementation) returns complex parts on
 * near-singular covariances.
 */
export function frechetDistance(a: GaussianStats, b: GaussianStats): number {
  if (a.dim !== b.dim) throw new RangeError(`feature sizes differ: ${a.dim} and ${b.dim}`);
  const n = a.dim;
  let meanTerm = 0;
  for (let j = 0; j < n; j++) meanTerm += (a.mean[j]! - b.mean[j]!) ** 2;
  let traces = 0;
  for (let j = 0; j < n; j++) traces += a.cov[j * n + j]! + b.cov[j * n + j]!;
  const rootA = sqrtPsd(toMatrix(a.cov, n));
  const inner = rootA.mmul(toMatrix(b.cov, n)).mmul(rootA);
  const { values } = symmetricEigen(inner);
  let traceRoot = 0;
  for (const v of values) traceRoot += Math.sqrt(Math.max(v, 0));
  // Rounding can leave a tiny negative value for identical inputs.
  return Math.max(meanTerm + traces - 2 * traceRoot, 0);
}
