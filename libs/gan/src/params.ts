import * as tf from '@tensorflow/tfjs-core';
import type { FlatWeights, TensorSpec } from '@distgan/protocol';
import { readSync } from './read.js';

/** How a parameter tensor is initialised. */
export type Init =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  /** Normal(0, std), the DCGAN paper's N(0, 0.02). */
  | { kind: 'normal'; std: number }
  /** Glorot/Xavier uniform over fanIn + fanOut. */
  | { kind: 'glorot'; fanIn: number; fanOut: number };

export interface ParamDef extends TensorSpec {
  init: Init;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function initialValue(def: ParamDef, seed: number): tf.Tensor {
  const shape = [...def.shape];
  switch (def.init.kind) {
    case 'zeros':
      return tf.zeros(shape);
    case 'ones':
      return tf.ones(shape);
    case 'normal':
      return tf.randomNormal(shape, 0, def.init.std, 'float32', seed);
    case 'glorot': {
      const limit = Math.sqrt(6 / (def.init.fanIn + def.init.fanOut));
      return tf.randomUniform(shape, -limit, limit, 'float32', seed);
    }
  }
}

/**
 * The trainable tensors of one model, in a fixed order with stable names, so that a model's
 * weights are one flat, named vector (the unit that devices and the server exchange).
 */
export class ParamSet {
  readonly specs: readonly TensorSpec[];
  readonly vars: readonly tf.Variable[];
  readonly size: number;
  private readonly byName: ReadonlyMap<string, tf.Variable>;

  constructor(defs: readonly ParamDef[], seed: number) {
    const names = new Set<string>();
    for (const d of defs) {
      if (names.has(d.name)) throw new Error(`duplicate parameter name "${d.name}"`);
      names.add(d.name);
    }
    this.specs = defs.map((d) => ({ name: d.name, shape: [...d.shape] }));
    // Variables get engine-generated names: many devices' copies of one model live in one process.
    this.vars = defs.map((d, i) =>
      tf.tidy(() => tf.variable(initialValue(d, (seed * 7919 + i * 104729) >>> 0), true)),
    );
    this.size = this.specs.reduce((s, p) => s + size(p.shape), 0);
    this.byName = new Map(defs.map((d, i) => [d.name, this.vars[i]!]));
  }

  get(name: string): tf.Variable {
    const v = this.byName.get(name);
    if (!v) throw new Error(`no parameter named "${name}"`);
    return v;
  }

  /** All parameters as one flat vector in spec order (one copy out of the backend). */
  getFlat(out?: Float32Array): FlatWeights {
    if (out && out.length !== this.size) {
      throw new RangeError(`output buffer holds ${out.length} values, the model has ${this.size}`);
    }
    // One read of one concatenated tensor: per-variable reads each allocate and copy.
    const values = readSync(() => tf.concat(this.vars.map((v) => tf.reshape(v, [-1]))), out);
    return { specs: this.specs, values };
  }

  /** Loads a flat vector (same layout as `specs`) into the variables. */
  setFlat(values: Float32Array): void {
    if (values.length !== this.size) {
      throw new RangeError(
        `weight vector has ${values.length} values, the model needs ${this.size}`,
      );
    }
    let offset = 0;
    // The cpu backend keeps the array it is given (the others copy it into their own memory):
    // copy there, so that later writes to `values` (a reused receive buffer) never reach the model.
    const shares = tf.getBackend() === 'cpu';
    tf.tidy(() => {
      for (let i = 0; i < this.vars.length; i++) {
        const spec = this.specs[i]!;
        const n = size(spec.shape);
        const part = shares
          ? values.slice(offset, offset + n)
          : values.subarray(offset, offset + n);
        this.vars[i]!.assign(tf.tensor(part, [...spec.shape]));
        offset += n;
      }
    });
  }

  dispose(): void {
    for (const v of this.vars) v.dispose();
  }
}
