import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GpuNotFoundError, nvidiaDevices, startCompute } from './compute.js';

describe('startCompute: a process asked for a GPU', () => {
  for (const backend of ['tensorflow-gpu', 'gpu', 'node-gpu', ' Tensorflow-GPU ']) {
    it(`TFJS_BACKEND="${backend}" with no GPU visible: refuses to start, saying what to do`, async () => {
      await assert.rejects(
        startCompute({ tfjsBackend: backend, blobDigest: 'sha256', gpuDevices: () => [] }),
        (err: unknown) => {
          assert.ok(err instanceof GpuNotFoundError);
          assert.equal(err.code, 'GPU_NOT_FOUND');
          assert.match(err.message, /nvidia\.com\/gpu/);
          assert.match(err.message, /TFJS_BACKEND to tensorflow, wasm or cpu/);
          return true;
        },
      );
    });
  }

  it('a backend that is not the GPU one never looks for a GPU', async () => {
    const r = await startCompute({
      tfjsBackend: 'cpu',
      blobDigest: 'sha256',
      gpuDevices: () => assert.fail('looked for a GPU'),
    });
    assert.equal(r.backendName, 'cpu');
  });

  it('a GPU visible: the check lets it through to the backend choice', async () => {
    // No GPU build of TensorFlow here: what may refuse now is the package, never the GPU check.
    try {
      await startCompute({
        tfjsBackend: 'tensorflow-gpu',
        blobDigest: 'sha256',
        gpuDevices: () => ['nvidia0'],
      });
    } catch (err) {
      assert.ok(!(err instanceof GpuNotFoundError), String(err));
    }
  });
});

describe('nvidiaDevices', () => {
  it('lists /dev/nvidia<N> only, not the control and UVM devices', () => {
    const dev = mkdtempSync(join(tmpdir(), 'distgan-dev-'));
    try {
      for (const f of ['nvidia0', 'nvidia1', 'nvidiactl', 'nvidia-uvm', 'nvidia-modeset', 'null'])
        writeFileSync(join(dev, f), '');
      mkdirSync(join(dev, 'nvidia-caps'));
      assert.deepEqual(nvidiaDevices(dev).sort(), ['nvidia0', 'nvidia1']);
      assert.deepEqual(nvidiaDevices(join(dev, 'absent')), []);
    } finally {
      rmSync(dev, { recursive: true, force: true });
    }
  });
});
