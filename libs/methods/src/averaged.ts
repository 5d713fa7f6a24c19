import { GeneratorAverage } from '@distgan/gan';
import type { ServerMethod, ServerRound } from '@distgan/engine';
import type { FlatWeights, TensorSpec } from '@distgan/protocol';

const COUNT_SPEC: readonly TensorSpec[] = [{ name: 'g-avg/count', shape: [1] }];

/**
 * Any method with an average of its generator over rounds (G_AVERAGE): training is the method's
 * own, untouched; samples (the grids, the evaluation) come from the average, which is also the
 * final generator a run saves. The average is part of the checkpoint (parts `g-avg` and
 * `g-avg-count`), so a resumed run continues it where it was.
 */
export class AveragedGeneratorMethod implements ServerMethod {
  readonly name: ServerMethod['name'];
  readonly usesDevices: boolean;
  private readonly average: GeneratorAverage;
  private buffer: Float32Array | undefined;

  constructor(
    private readonly inner: ServerMethod,
    spec: ConstructorParameters<typeof GeneratorAverage>[0],
    decay: number,
  ) {
    this.name = inner.name;
    this.usesDevices = inner.usesDevices;
    this.average = new GeneratorAverage(spec, decay);
  }

  async round(r: ServerRound): ReturnType<ServerMethod['round']> {
    const result = await this.inner.round(r);
    const weights = this.inner.generatorWeights(this.buffer);
    this.buffer = weights.values;
    this.average.update(weights.values);
    return result;
  }

  /** Samples of the averaged generator (of the trained one before the first round). */
  sample(z: Float32Array): Float32Array {
    return this.average.count > 0 ? this.average.sample(z) : this.inner.sample(z);
  }

  /** The trained generator: what the method broadcasts and checkpoints as `g`. */
  generatorWeights(out?: Float32Array): FlatWeights {
    return this.inner.generatorWeights(out);
  }

  averagedGeneratorWeights(): FlatWeights {
    return this.average.weights() ?? this.inner.generatorWeights();
  }

  discriminatorWeights(): FlatWeights | undefined {
    return this.inner.discriminatorWeights();
  }

  state(): Record<string, FlatWeights> {
    const saved = this.average.getState();
    return {
      ...this.inner.state(),
      'g-avg': {
        specs: this.average.specs,
        values: saved?.values ?? this.inner.generatorWeights().values,
      },
      'g-avg-count': { specs: COUNT_SPEC, values: Float32Array.of(saved?.count ?? 0) },
    };
  }

  stateSpecs(): Record<string, readonly TensorSpec[]> {
    return {
      ...this.inner.stateSpecs(),
      'g-avg': this.average.specs,
      'g-avg-count': COUNT_SPEC,
    };
  }

  restore(state: Record<string, Float32Array>): void {
    const { 'g-avg': average, 'g-avg-count': counted, ...rest } = state;
    if (!average || !counted) {
      throw new RangeError(
        'the checkpoint has no generator average (parts g-avg, g-avg-count): it was written with G_AVERAGE 0',
      );
    }
    this.inner.restore(rest);
    const count = counted[0]!;
    if (count > 0) this.average.setState({ count, values: average });
  }

  dispose(): void {
    this.average.dispose();
    this.inner.dispose();
  }
}
