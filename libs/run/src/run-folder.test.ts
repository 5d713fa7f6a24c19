import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWeights } from '@distgan/protocol';
import { RunFolder } from './run-folder.js';

const weights = (n: number, v: number) => ({
  specs: [{ name: 'w', shape: [n] }],
  values: new Float32Array(n).fill(v),
});

describe('the run folder', () => {
  it('a new run starts metrics.jsonl empty; a resumed one appends to it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'distgan-folder-'));
    try {
      new RunFolder(dir, { fresh: true }).appendMetrics({ round: 0 });
      new RunFolder(dir, { fresh: false }).appendMetrics({ round: 1 });
      assert.equal(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'), '{"round":0}\n{"round":1}\n');
      new RunFolder(dir, { fresh: true });
      assert.equal(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'), '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names grids, the final weights and the resume record as the docs say', () => {
    const dir = mkdtempSync(join(tmpdir(), 'distgan-folder-'));
    try {
      const f = new RunFolder(dir, { fresh: true });
      assert.equal(f.writeGrid(250, new Uint8Array([1])), join(dir, 'samples', 'round-000250.png'));
      const path = f.writeFinal({
        generator: weights(3, 1),
        discriminator: weights(2, 2),
        spec: { arch: 'mlp', sampleShape: [1, 1, 2], latentDim: 2 },
        round: 9,
        runId: 'r',
      });
      assert.equal(path, join(dir, 'generator.dgwb'));
      assert.deepEqual(Array.from(decodeWeights(readFileSync(path)).values), [1, 1, 1]);
      assert.deepEqual(JSON.parse(readFileSync(join(dir, 'generator.json'), 'utf8')), {
        modelSpec: { arch: 'mlp', sampleShape: [1, 1, 2], latentDim: 2 },
        round: 9,
        runId: 'r',
        blob: 'generator.dgwb',
      });
      assert.equal(f.writeResumed(40, weights(3, 5)), 'resumed-round-000040-generator.dgwb');
      assert.deepEqual(readdirSync(dir).sort(), [
        'discriminator.dgwb',
        'generator.dgwb',
        'generator.json',
        'metrics.jsonl',
        'resumed-round-000040-generator.dgwb',
        'samples',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
