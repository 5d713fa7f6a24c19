import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ringCenters } from '@distgan/data';
import { initBackend, latentClassesOf } from '@distgan/gan';
import { latentVectors } from '@distgan/run';
import { DEFAULTS, type EmbeddedConfig } from './config.js';
import { loadGenerator } from './load.js';
import { runEmbedded } from './run.js';

/**
 * The method converges: on the ring of 8 Gaussians (radius 2, σ = 0.1, so neighbouring modes
 * are 15σ apart), 4 devices with IID shards cover at least 7 modes with mostly high-quality
 * samples (within 3σ of a centre) after a bounded number of rounds, with either schedule.
 */
const ROUNDS = 1000;

function ringConfig(
  schedule: EmbeddedConfig['schedule'],
  method: EmbeddedConfig['method'] = 'distgan',
): EmbeddedConfig {
  return {
    ...DEFAULTS,
    method,
    runId: `ring-${method}-${schedule}`,
    out: mkdtempSync(join(tmpdir(), 'distgan-ring-')),
    dataset: 'ring',
    model: 'mlp',
    ringStd: 0.1,
    devices: 4,
    rounds: ROUNDS,
    schedule,
    localSteps: 1,
    generatorSteps: 1,
    batchSize: 128,
    lrD: 1e-3,
    lrG: 1e-3,
    latentDim: 2,
    conditional: false,
    seed: 7,
    sampleEvery: 100,
  };
}

describe('convergence on the 2D ring', () => {
  for (const schedule of ['serial', 'parallel'] as const) {
    it(`${schedule}: ≥ 7 of 8 modes with high-quality samples within ${ROUNDS} rounds`, async () => {
      await initBackend();
      const summary = await runEmbedded(ringConfig(schedule));
      const modes = summary.last.modes;
      assert.ok(modes, 'the ring run reports mode coverage');
      assert.ok(modes.covered >= 7, `${schedule}: ${modes.covered}/8 modes covered`);
      assert.ok(
        modes.highQuality >= 0.5,
        `${schedule}: only ${(100 * modes.highQuality).toFixed(1)}% high-quality samples`,
      );
      assert.equal(summary.rounds, ROUNDS);
    });
  }
});

/** The baselines, same models, optimizer, data and bar: only the distribution method differs. */
describe('the baselines on the 2D ring', () => {
  for (const method of ['md-gan', 'fl-gan', 'centralized'] as const) {
    it(`${method}: ≥ 7 of 8 modes with high-quality samples within ${ROUNDS} rounds`, async () => {
      await initBackend();
      const summary = await runEmbedded(ringConfig('serial', method));
      const modes = summary.last.modes;
      assert.ok(modes, 'the ring run reports mode coverage');
      assert.equal(summary.last.method, method);
      assert.ok(modes.covered >= 7, `${method}: ${modes.covered}/8 modes covered`);
      assert.ok(
        modes.highQuality >= 0.5,
        `${method}: only ${(100 * modes.highQuality).toFixed(1)}% high-quality samples`,
      );
      if (method === 'centralized') assert.equal(summary.last.bytes.up, 0);
      else assert.ok(summary.last.bytes.up > 0 && summary.last.bytes.down > 0);
    });
  }
});

/**
 * Conditional models (CONDITIONAL): the devices' labels (the ring's mode of each point) train the
 * discriminator's classifier, and the generator learns to put a sample of class k on mode k.
 */
describe('a conditional GAN on the 2D ring', () => {
  for (const method of ['distgan', 'md-gan'] as const) {
    it(`${method}: a sample of class k lies on mode k`, async () => {
      await initBackend();
      const latentDim = 10;
      const summary = await runEmbedded({
        ...ringConfig('serial', method),
        runId: `ring-conditional-${method}`,
        conditional: true,
        latentDim,
      });
      const { gan, manifest } = loadGenerator(summary.runDir);
      try {
        assert.equal(manifest.modelSpec.classes, 8);
        const z = latentVectors(2000, latentDim, 11);
        const asked = latentClassesOf(z, latentDim, 8);
        const points = gan.sample(z);
        const centres = ringCenters();
        let onItsMode = 0;
        for (let i = 0; i < 2000; i++) {
          const m = asked[i]!;
          const d = Math.hypot(
            points[2 * i]! - centres[2 * m]!,
            points[2 * i + 1]! - centres[2 * m + 1]!,
          );
          if (d < 0.3) onItsMode++; // 3σ; neighbouring modes are 1.5 apart
        }
        assert.ok(
          onItsMode >= 0.9 * 2000,
          `${method}: ${onItsMode} of 2000 samples on their class's mode`,
        );
      } finally {
        gan.dispose();
      }
    });
  }
});
