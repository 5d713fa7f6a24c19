import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { names, type TensorSpec } from '@distgan/protocol';
import {
  BlobCheckpointStore,
  directoryCheckpointStore,
  type Checkpoint,
  type CheckpointStore,
} from './checkpoint.js';
import { MemoryBlobStore } from './memory-blob-store.js';

const specs = {
  g: [{ name: 'g/w', shape: [3, 2] }] as TensorSpec[],
  d: [{ name: 'd/w', shape: [4] }] as TensorSpec[],
  opt: [{ name: 'adam', shape: [5] }] as TensorSpec[],
};
const checkpoint = (round: number): Checkpoint => ({
  round,
  parts: {
    g: Float32Array.from({ length: 6 }, (_, i) => round + i / 10),
    d: Float32Array.from({ length: 4 }, (_, i) => -round - i),
    opt: Float32Array.from({ length: 5 }, (_, i) => i * round),
  },
});

function memoryStore(): { store: CheckpointStore; blobs: MemoryBlobStore } {
  const blobs = new MemoryBlobStore();
  let pointer: string | null = null;
  const store = new BlobCheckpointStore(
    blobs,
    {
      read: () => Promise.resolve(pointer),
      write: (v) => {
        pointer = v;
        return Promise.resolve();
      },
    },
    'run-1',
  );
  return { store, blobs };
}

describe('checkpoints', () => {
  it('none before the first save', async () => {
    assert.equal(await memoryStore().store.load(specs), undefined);
  });

  it('loads the last checkpoint saved, and deletes the blobs of the one before', async () => {
    const { store, blobs } = memoryStore();
    await store.save(checkpoint(4), specs);
    await store.save(checkpoint(9), specs);
    const loaded = await store.load(specs);
    assert.deepEqual(loaded, checkpoint(9));
    for (const part of ['g', 'd', 'opt'] as const)
      assert.equal(await blobs.get(names('run-1').checkpointBlobKey(4, part)), null, part);
  });

  it('refuses a checkpoint written for another model layout', async () => {
    const { store } = memoryStore();
    await store.save(checkpoint(2), specs);
    await assert.rejects(store.load({ ...specs, g: [{ name: 'g/w', shape: [2, 3] }] }), /shape/i);
  });

  it("refuses a checkpoint of another method's parts, naming both", async () => {
    const { store } = memoryStore();
    await store.save(checkpoint(2), specs);
    await assert.rejects(
      store.load({ g: specs.g, opt: specs.opt }),
      /holds \[d, g, opt\], this run's method needs \[g, opt\]/,
    );
  });

  it('in a directory: survives a new store on the same folder (a restarted server)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'distgan-ckpt-'));
    try {
      await directoryCheckpointStore(dir, 'run-1').save(checkpoint(3), specs);
      await directoryCheckpointStore(dir, 'run-1').save(checkpoint(7), specs);
      assert.deepEqual(await directoryCheckpointStore(dir, 'run-1').load(specs), checkpoint(7));
      // The pointer and round 7's three blobs; round 3's are gone, no temporary file is left.
      const files = readdirSync(dir).sort();
      assert.equal(files.length, 4, files.join(', '));
      assert.ok(existsSync(join(dir, 'checkpoint.json')));
      assert.ok(files.every((f) => !f.endsWith('.tmp')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('in a directory: a missing blob is an error that names the round, not a silent restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'distgan-ckpt-'));
    try {
      await directoryCheckpointStore(dir, 'run-1').save(checkpoint(5), specs);
      const blob = readdirSync(dir).find((f) => f.endsWith('%3Ad.dgwb'))!;
      rmSync(join(dir, blob));
      await assert.rejects(
        directoryCheckpointStore(dir, 'run-1').load(specs),
        /round 5 is incomplete/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
