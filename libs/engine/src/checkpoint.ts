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
  /** The method's server state by part (distgan: `g`, `d`, and G's Adam state `opt`). */
  parts: Record<string, Float32Array>;
}

/** The layout of each part, which a checkpoint is written with and checked against. */
export type CheckpointSpecs = Record<string, readonly TensorSpec[]>;

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
  /** Part name → blob key. */
  keys: Record<string, string>;
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
    const keys: Record<string, string> = {};
    for (const [part, values] of Object.entries(c.parts)) {
      const partSpecs = specs[part];
      if (!partSpecs) throw new RangeError(`checkpoint part "${part}" has no layout`);
      keys[part] = this.names.checkpointBlobKey(c.round, part);
      await this.blobs.put(keys[part], encodeWeights({ specs: partSpecs, values }));
    }
    const previous = await this.current();
    await this.pointer.write(JSON.stringify({ round: c.round, keys } satisfies PointerValue));
    if (previous && previous.round !== c.round)
      await this.blobs.delete(Object.values(previous.keys));
  }

  async load(specs: CheckpointSpecs): Promise<Checkpoint | undefined> {
    const p = await this.current();
    if (!p) return undefined;
    const want = Object.keys(specs).sort().join(', ');
    const have = Object.keys(p.keys).sort().join(', ');
    if (want !== have) {
      throw new Error(
        `checkpoint of round ${p.round} holds [${have}], this run's method needs [${want}]: was it written by another method?`,
      );
    }
    const context = { run: this.names.runId, round: p.round };
    const parts: Record<string, Float32Array> = {};
    for (const [part, key] of Object.entries(p.keys)) {
      const blob = await this.blobs.get(key);
      if (!blob)
        throw new Error(
          `checkpoint of round ${p.round} is incomplete (${part}: ${key} is missing)`,
        );
      parts[part] = decodeWeights(blob, { expect: specs[part], context }).values.slice();
    }
    return { round: p.round, parts };
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
