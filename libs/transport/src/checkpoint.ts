import {
  decodeWeights,
  encodeWeights,
  names,
  type RunNames,
  type TensorSpec,
} from '@distgan/protocol';
import type { RedisBlobStore } from './redis-blob-store.js';

export interface Checkpoint {
  /** The last completed round. */
  round: number;
  generator: Float32Array;
  discriminator: Float32Array;
  /** The generator's Adam state. */
  optimizer: Float32Array;
}

/**
 * Checkpoints in Redis (DESIGN.md §3): the blobs of round t are written first, then one SET
 * switches the pointer to them, so a crash during a checkpoint leaves the previous one intact.
 * No TTL. Older checkpoints' blobs are deleted after the switch.
 */
export class CheckpointStore {
  private readonly names: RunNames;

  constructor(
    private readonly redis: RedisBlobStore,
    runId: string,
  ) {
    this.names = names(runId);
  }

  async save(
    c: Checkpoint,
    specs: { generator: readonly TensorSpec[]; discriminator: readonly TensorSpec[] },
  ): Promise<void> {
    const keys = {
      g: this.names.checkpointBlobKey(c.round, 'g'),
      d: this.names.checkpointBlobKey(c.round, 'd'),
      opt: this.names.checkpointBlobKey(c.round, 'opt'),
    };
    await this.redis.put(keys.g, encodeWeights({ specs: specs.generator, values: c.generator }));
    await this.redis.put(
      keys.d,
      encodeWeights({ specs: specs.discriminator, values: c.discriminator }),
    );
    await this.redis.put(
      keys.opt,
      encodeWeights({
        specs: [{ name: 'adam', shape: [c.optimizer.length] }],
        values: c.optimizer,
      }),
    );
    const previous = await this.pointer();
    await this.redis.client.set(this.names.checkpointKey, JSON.stringify({ round: c.round, keys }));
    if (previous && previous.round !== c.round)
      await this.redis.delete(Object.values(previous.keys));
  }

  /** The last checkpoint, verified against the model's layout; undefined when there is none. */
  async load(specs: {
    generator: readonly TensorSpec[];
    discriminator: readonly TensorSpec[];
  }): Promise<Checkpoint | undefined> {
    const p = await this.pointer();
    if (!p) return undefined;
    const [g, d, opt] = await Promise.all([
      this.redis.get(p.keys.g),
      this.redis.get(p.keys.d),
      this.redis.get(p.keys.opt),
    ]);
    if (!g || !d || !opt)
      throw new Error(
        `checkpoint of round ${p.round} is incomplete in Redis (${JSON.stringify(p.keys)})`,
      );
    const context = { run: this.names.runId, round: p.round };
    return {
      round: p.round,
      generator: decodeWeights(g, { expect: specs.generator, context }).values.slice(),
      discriminator: decodeWeights(d, { expect: specs.discriminator, context }).values.slice(),
      optimizer: decodeWeights(opt, { context }).values.slice(),
    };
  }

  private async pointer(): Promise<
    { round: number; keys: { g: string; d: string; opt: string } } | undefined
  > {
    const raw = await this.redis.client.get(this.names.checkpointKey);
    return raw
      ? (JSON.parse(raw) as { round: number; keys: { g: string; d: string; opt: string } })
      : undefined;
  }
}
