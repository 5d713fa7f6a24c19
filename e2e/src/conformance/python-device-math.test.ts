import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import {
  Adam,
  buildModel,
  initBackend,
  localDiscriminatorStep,
  type ModelSpec,
} from '@distgan/gan';
import { findPython } from './python.js';

/*
 * The Python device's discriminator steps (examples/python-device/device.py: forward, backward,
 * loss and Adam by hand in numpy) against the TypeScript device's (libs/gan), from the same
 * weights, batches and latent vectors: its updates are averaged with theirs, so they must be the
 * same computation (docs/protocol.md §9). No broker: the Python module is imported and called.
 */
const root = fileURLToPath(new URL('../../../', import.meta.url));
const python = findPython();

const PY = `
import json, sys
import numpy as np
sys.path.insert(0, 'examples/python-device')
import device
inp = json.load(sys.stdin)
g_specs = device.ring_mlp_specs('g', [2, 128, 128, 2])
d_specs = device.ring_mlp_specs('d', [2, 128, 128, 1])
def split(flat, specs):
    out, at = [], 0
    for _, shape in specs:
        n = int(np.prod(shape))
        out.append(np.array(flat[at:at + n], dtype=np.float32).reshape(shape))
        at += n
    return out
gen, disc = split(inp['g'], g_specs), split(inp['d'], d_specs)
x = np.array(inp['x'], dtype=np.float32).reshape(-1, 2)
z = np.array(inp['z'], dtype=np.float32).reshape(-1, 2)
adam, losses = device.Adam(), []
for _ in range(inp['steps']):
    losses.append(device.discriminator_step(gen, disc, adam, x, z, inp['lr'], 0.5, 0.999))
print(json.dumps({'losses': losses, 'd': np.concatenate([p.ravel() for p in disc]).tolist()}))
`;

describe('the Python device computes what the TypeScript device does', () => {
  before(() => initBackend({ forced: 'cpu' }));

  it(
    'three local discriminator steps from the same weights and batches: same losses and weights',
    { skip: python || process.env['CI'] ? false : 'python3 with numpy, pika and redis is missing' },
    () => {
      assert.ok(python, 'CI is set: python3 with numpy, pika and redis must be installed');
      const spec: ModelSpec = { arch: 'mlp', sampleShape: [2], latentDim: 2 };
      const g = buildModel('generator', spec, 11);
      const d = buildModel('discriminator', spec, 12);
      const B = 32;
      const x = Float32Array.from({ length: B * 2 }, (_, i) => 2 * Math.sin(i * 1.7));
      const z = Float32Array.from({ length: B * 2 }, (_, i) => Math.cos(i * 2.3));
      const input = {
        g: [...g.params.getFlat().values],
        d: [...d.params.getFlat().values],
        x: [...x],
        z: [...z],
        lr: 0.01,
        steps: 3,
      };
      const adam = new Adam(d.params.vars, { learningRate: 0.01, beta1: 0.5, beta2: 0.999 });
      const real = tf.tensor2d(x, [B, 2]);
      const latent = tf.tensor2d(z, [B, 2]);
      const tsLosses = Array.from({ length: 3 }, () =>
        localDiscriminatorStep(d, g, adam, real, latent),
      );
      const tsWeights = d.params.getFlat().values;

      const run = spawnSync(python!, ['-c', PY], {
        cwd: root,
        input: JSON.stringify(input),
        // No __pycache__ in the example's folder.
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
      });
      assert.equal(run.status, 0, run.stderr.toString());
      const py = JSON.parse(run.stdout.toString()) as { losses: number[][]; d: number[] };
      tsLosses.forEach((l, s) => {
        const [pd, pr, pf] = py.losses[s]!;
        assert.ok(Math.abs(l.d - pd!) < 1e-4, `step ${s}: D loss ${l.d} (TS) vs ${pd} (Python)`);
        assert.ok(Math.abs(l.dReal - pr!) < 1e-4, `step ${s}: dReal ${l.dReal} vs ${pr}`);
        assert.ok(Math.abs(l.dFake - pf!) < 1e-4, `step ${s}: dFake ${l.dFake} vs ${pf}`);
      });
      let worst = 0;
      let moved = 0;
      for (let i = 0; i < tsWeights.length; i++) {
        worst = Math.max(worst, Math.abs(tsWeights[i]! - py.d[i]!));
        moved = Math.max(moved, Math.abs(tsWeights[i]! - input.d[i]!));
      }
      assert.ok(moved > 1e-3, `the steps moved the weights (${moved})`);
      assert.ok(
        worst < 1e-5,
        `largest weight difference ${worst} (the steps moved them by up to ${moved})`,
      );
      real.dispose();
      latent.dispose();
    },
  );
});
