import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError, describeBackend, initBackend, resetBackendChoice } from './select.js';

describe('backend choice', () => {
  afterEach(() => resetBackendChoice());

  it('falls back past the native packages (absent here) to wasm with the fast kernels', async (t) => {
    const info = await initBackend();
    if (info.name === 'tensorflow') {
      t.skip('a native TensorFlow backend is installed on this machine');
      return;
    }
    assert.equal(info.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.equal(info.patchedKernels, true);
    assert.deepEqual(
      info.skipped.map((s) => s.candidate),
      ['tensorflow-gpu', 'tensorflow'],
    );
    assert.match(describeBackend(info), /^wasm .*fast kernels registered.*skipped tensorflow-gpu/);
  });

  it('makes one choice per process: a second call returns the first', async () => {
    const a = await initBackend({ forced: 'cpu' });
    const b = await initBackend({ forced: 'wasm' });
    assert.equal(b, a);
    assert.equal(tf.getBackend(), 'cpu');
  });

  it('TFJS_BACKEND=cpu forces the pure-JS backend', async () => {
    const info = await initBackend({ forced: 'CPU' });
    assert.equal(info.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
  });

  it('a forced native backend that cannot load is a clear error', async (t) => {
    try {
      await initBackend({ forced: 'tensorflow' });
      t.skip('tfjs-node is installed on this machine');
    } catch (err) {
      assert.ok(err instanceof BackendError);
      assert.match(
        err.message,
        /TFJS_BACKEND="tensorflow" asks for @tensorflow\/tfjs-node, which cannot be used here/,
      );
    }
  });

  it('an unknown TFJS_BACKEND value lists the accepted ones', async () => {
    await assert.rejects(initBackend({ forced: 'webgpu' }), (err: unknown) => {
      assert.ok(err instanceof BackendError);
      assert.match(err.message, /"webgpu" is not a backend: use one of .*wasm.*cpu/);
      return true;
    });
  });
});
