import * as tf from '@tensorflow/tfjs-core';
import { readInto } from './read.js';
import { ADAM_UPDATE } from './backend/wasm-kernels.js';

export interface AdamConfig {
  /** Step size. DCGAN default 2e-4. */
  learningRate: number;
  /** First-moment decay. DCGAN default 0.5. */
  beta1: number;
  /** Second-moment decay. Default 0.999. */
  beta2: number;
  /** Denominator epsilon. Default 1e-8. */
  epsilon?: number;
}

/**
 * Adam over an explicit list of variables. Its state (m, v, step count) belongs to one model
 * copy, so that each device keeps its own optimizer for its local discriminator and the server
 * keeps G's, and the state can be reset or checkpointed.
 */
export class Adam {
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  private t = 0;
  private readonly epsilon: number;

  constructor(
    private readonly vars: readonly tf.Variable[],
    readonly config: AdamConfig,
  ) {
    this.epsilon = config.epsilon ?? 1e-8;
    this.m = vars.map((x) => tf.variable(tf.zerosLike(x), false));
    this.v = vars.map((x) => tf.variable(tf.zerosLike(x), false));
  }

  get step(): number {
    return this.t;
  }

  /** Length of the state vector of an Adam over `params` values: [t, m..., v...]. */
  static stateSizeFor(params: number): number {
    return 1 + 2 * params;
  }

  /** Length of getState()'s vector, without reading the state. */
  get stateSize(): number {
    return Adam.stateSizeFor(this.m.reduce((s, x) => s + x.size, 0));
  }

  apply(grads: readonly tf.Tensor[]): void {
    if (grads.length !== this.vars.length) {
      throw new Error(`Adam got ${grads.length} gradients for ${this.vars.length} variables`);
    }
    this.t += 1;
    const { learningRate, beta1, beta2 } = this.config;
    const lrT = (learningRate * Math.sqrt(1 - beta2 ** this.t)) / (1 - beta1 ** this.t);
    if (tf.getKernel(ADAM_UPDATE, tf.getBackend())) {
      const attrs = { beta1, beta2, stepSize: lrT, epsilon: this.epsilon };
      for (let i = 0; i < grads.length; i++) {
        const inputs = { w: this.vars[i]!, m: this.m[i]!, v: this.v[i]!, g: grads[i]! };
        const [w, m, v] = tf.engine().runKernel(ADAM_UPDATE, inputs, attrs) as tf.Tensor[];
        this.vars[i]!.assign(w!);
        this.m[i]!.assign(m!);
        this.v[i]!.assign(v!);
        tf.dispose([w!, m!, v!]);
      }
      return;
    }
    tf.tidy(() => {
      for (let i = 0; i < grads.length; i++) {
        const g = grads[i]!;
        const m = this.m[i]!.mul(beta1).add(g.mul(1 - beta1));
        const v = this.v[i]!.mul(beta2).add(g.square().mul(1 - beta2));
        this.m[i]!.assign(m);
        this.v[i]!.assign(v);
        this.vars[i]!.assign(this.vars[i]!.sub(m.mul(lrT).div(v.sqrt().add(this.epsilon))));
      }
    });
  }

  /** Forgets all history (a new or returning device starts its optimizer afresh). */
  reset(): void {
    this.t = 0;
    tf.tidy(() => {
      for (const x of [...this.m, ...this.v]) x.assign(tf.zerosLike(x));
    });
  }

  /** The state as one flat vector: [t, m..., v...] (into `into` when given, a reused buffer). */
  getState(into?: Float32Array): Float32Array {
    const n = this.m.reduce((s, x) => s + x.size, 0);
    if (into && into.length !== 1 + 2 * n) {
      throw new RangeError(`state buffer holds ${into.length} values, expected ${1 + 2 * n}`);
    }
    const out = into ?? new Float32Array(1 + 2 * n);
    out[0] = this.t;
    let offset = 1;
    for (const x of [...this.m, ...this.v]) {
      readInto(x, out.subarray(offset, offset + x.size));
      offset += x.size;
    }
    return out;
  }

  setState(state: Float32Array): void {
    const n = this.m.reduce((s, x) => s + x.size, 0);
    if (state.length !== 1 + 2 * n) {
      throw new RangeError(`optimizer state has ${state.length} values, expected ${1 + 2 * n}`);
    }
    this.t = state[0]!;
    let offset = 1;
    tf.tidy(() => {
      for (const x of [...this.m, ...this.v]) {
        x.assign(tf.tensor(state.slice(offset, offset + x.size), x.shape));
        offset += x.size;
      }
    });
  }

  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
  }
}
