/** Name and shape of one tensor of a model. */
export interface TensorSpec {
  name: string;
  shape: readonly number[];
}

/** A model's weights as one flat vector: all tensors concatenated in `specs` order. */
export interface FlatWeights {
  specs: readonly TensorSpec[];
  values: Float32Array;
}

export function specSize(spec: TensorSpec): number {
  return spec.shape.reduce((a, b) => a * b, 1);
}

export function totalSize(specs: readonly TensorSpec[]): number {
  return specs.reduce((s, x) => s + specSize(x), 0);
}

/** Why two layouts differ, or undefined when they are the same. */
export function describeLayoutMismatch(
  expected: readonly TensorSpec[],
  got: readonly TensorSpec[],
): string | undefined {
  if (expected.length !== got.length)
    return `expected ${expected.length} tensors, got ${got.length}`;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const g = got[i]!;
    if (e.name !== g.name) return `tensor ${i} is "${g.name}", expected "${e.name}"`;
    if (e.shape.length !== g.shape.length || e.shape.some((d, j) => d !== g.shape[j])) {
      return `tensor "${e.name}" has shape [${g.shape.join(', ')}], expected [${e.shape.join(', ')}]`;
    }
  }
  return undefined;
}

export function sameLayout(a: readonly TensorSpec[], b: readonly TensorSpec[]): boolean {
  return describeLayoutMismatch(a, b) === undefined;
}
