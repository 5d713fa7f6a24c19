import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  decodeWeights,
  encodeWeights,
  names,
  type RunNames,
  type TensorSpec,
} from '@distgan/protocol';
import type { BlobStore } from './blob-store.js';

export interface Checkpoint {
  /** The last completed round. */
  round: number;
  generator: Float32Array;
  discriminator: Float32Array;
  /** The generator's Adam state. */
  optimizer: Float32Array;
}

/** The layouts a checkpoint is written with and checked against. */
export interface CheckpointSpecs {
  generator: readonly TensorSpec[];
  discriminator: readonly TensorSpec[];
}

/** Where a run's last checkpoint lives: Redis, a directory (a mounted volume), or memory. */
export interface CheckpointStore {
  save(c: Checkpoint, specs: CheckpointSpecs): Promise<void>;
  /** The last checkpoint, verified against the model's layout; undefined when there is none. */
  load(specs: CheckpointSpecs): Promise<Checkpoint | undefined>;
}

/** The one value that names the current checkpoint; written in one step. */
export interface CheckpointPointer {
  read(): Promise<string | null>;
  write(value: string): Promise<void>;
}

interface PointerValue {
  round: number;
  keys: { g: string; d: string; opt: string };
}

/**
 * Checkpoints as weight blobs in a blob store (docs/design.md §3): the blobs of round t are written
 * first, then one pointer write switches to them, so a crash during a checkpoint leaves the
 * previous one intact. No TTL. The previous checkpoint's blobs are deleted after the switch.
 */
export class BlobCheckpointStore implements CheckpointStore {
  private readonly names: RunNames;

  constructor(
    private readonly blobs: BlobStore,
    private readonly pointer: CheckpointPointer,
    runId: string,
  ) {
    this.names = names(runId);
  }

  async save(c: Checkpoint, specs: CheckpointSpecs): Promise<void> {
    const keys = {
      g: this.names.checkpointBlobKey(c.round, 'g'),
      d: this.names.checkpointBlobKey(c.round, 'd'),
      opt: this.names.checkpointBlobKey(c.round, 'opt'),
    };
    await this.blobs.put(keys.g, encodeWeights({ specs: specs.generator, values: c.generator }));
    await this.blobs.put(
      keys.d,
      encodeWeights({ specs: specs.discriminator, values: c.discriminator }),
    );
    await this.blobs.put(
      keys.opt,
      encodeWeights({
        specs: [{ name: 'adam', shape: [c.optimizer.length] }],
        values: c.optimizer,
      }),
    );
    const previous = await this.current();
    await this.pointer.write(JSON.stringify({ round: c.round, keys } satisfies PointerValue));
    if (previous && previous.round !== c.round)
      await this.blobs.delete(Object.values(previous.keys));
  }

  async load(specs: CheckpointSpecs): Promise<Checkpoint | undefined> {
    const p = await this.current();
    if (!p) return undefined;
    const [g, d, opt] = await Promise.all([
      this.blobs.get(p.keys.g),
      this.blobs.get(p.keys.d),
      this.blobs.get(p.keys.opt),
    ]);
    if (!g || !d || !opt)
      throw new Error(`checkpoint of round ${p.round} is incomplete (${JSON.stringify(p.keys)})`);
    const context = { run: this.names.runId, round: p.round };
    return {
      round: p.round,
      generator: decodeWeights(g, { expect: specs.generator, context }).values.slice(),
      discriminator: decodeWeights(d, { expect: specs.discriminator, context }).values.slice(),
      optimizer: decodeWeights(opt, { context }).values.slice(),
    };
  }

  private async current(): Promise<PointerValue | undefined> {
    const raw = await this.pointer.read();
    return raw ? (JSON.parse(raw) as PointerValue) : undefined;
  }
}

/**
 * A blob store in a directory: one file a key, written to a temporary name and renamed, so a
 * reader never sees half a blob. TTLs are not kept (checkpoints have none).
 */
export class DirectoryBlobStore implements BlobStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  private file(key: string): string {
    return join(this.dir, `${encodeURIComponent(key)}.dgwb`);
  }

  put(key: string, bytes: Uint8Array): Promise<void> {
    writeAtomically(this.file(key), bytes);
    return Promise.resolve();
  }

  get(key: string): Promise<Uint8Array | null> {
    try {
      return Promise.resolve(new Uint8Array(readFileSync(this.file(key))));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Promise.resolve(null);
      throw err;
    }
  }

  delete(keys: readonly string[]): Promise<void> {
    for (const k of keys) rmSync(this.file(k), { force: true });
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function writeAtomically(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

/**
 * Checkpoints in a directory, such as a mounted volume: the blobs as files, and the pointer as
 * `checkpoint.json`, replaced by a rename.
 */
export function directoryCheckpointStore(dir: string, runId: string): CheckpointStore {
  const pointerFile = join(dir, 'checkpoint.json');
  return new BlobCheckpointStore(
    new DirectoryBlobStore(dir),
    {
      read: () => {
        try {
          return Promise.resolve(readFileSync(pointerFile, 'utf8'));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Promise.resolve(null);
          throw err;
        }
      },
      write: (value) => {
        writeAtomically(pointerFile, value);
        return Promise.resolve();
      },
    },
    runId,
  );
}
