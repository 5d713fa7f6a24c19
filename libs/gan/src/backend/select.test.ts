import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError, describeBackend, initBackend, resetBackendChoice } from './select.js';

describe('backend choice', () => {
  afterEach(() => resetBackendChoice());

  it('falls back past the native packages (absent here) to wasm with the fast kernels', async (t) => {
    const logged: string[] = [];
    const info = await initBackend({ log: (m) => logged.push(m) });
    if (info.name === 'tensorflow') {
      t.skip('a native TensorFlow backend is installed on this machine');
      return;
    }
    assert.equal(info.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.equal(info.package, '@tensorflow/tfjs-backend-wasm');
    assert.match(info.version, /^\d+\.\d+\.\d+/);
    assert.equal(info.patchedKernels, true);
    assert.equal(typeof info.simd, 'boolean');
    assert.equal(info.threads, 1); // tfjs runs wasm unthreaded in Node
    assert.deepEqual(
      info.skipped.map((s) => s.candidate),
      ['tensorflow-gpu', 'tensorflow'],
    );
    for (const s of info.skipped) assert.ok(s.reason.length > 0);
    assert.equal(logged.length, 2);
    assert.match(logged[0]!, /^backend tensorflow-gpu \(@tensorflow\/tfjs-node-gpu\) skipped: /);
    assert.match(
      describeBackend(info),
      /^wasm \(@tensorflow\/tfjs-backend-wasm [\d.]+\); SIMD (on|off), 1 thread\(s\), fast kernels registered; skipped tensorflow-gpu \(.+\), tensorflow \(.+\)$/,
    );
  });

  it("silences the cpu backend's greeting to Node users, and only that", async () => {
    await initBackend({ forced: 'cpu' });
    const warned: unknown[][] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => void warned.push(args);
    try {
      tf.tensor([1, 2, 3]).dispose();
    } finally {
      console.warn = warn;
    }
    assert.deepEqual(warned, []);
    assert.equal(tf.env().getBool('IS_NODE'), true);
  });

  it('makes one choice per process: a second call returns the first', async () => {
    const a = await initBackend({ forced: 'cpu' });
    const b = await initBackend({ forced: 'wasm' });
    assert.equal(b, a);
    assert.equal(tf.getBackend(), 'cpu');
  });

  it('TFJS_BACKEND=cpu and =wasm force those backends (any case, spaces trimmed)', async () => {
    const cpu = await initBackend({ forced: ' CPU ' });
    assert.equal(cpu.name, 'cpu');
    assert.equal(cpu.package, '@tensorflow/tfjs-backend-cpu');
    assert.deepEqual(cpu.skipped, []);
    assert.equal(tf.getBackend(), 'cpu');
    assert.equal(describeBackend(cpu), `cpu (@tensorflow/tfjs-backend-cpu ${cpu.version})`);
    resetBackendChoice();
    const wasm = await initBackend({ forced: 'wasm' });
    assert.equal(wasm.name, 'wasm');
    assert.equal(wasm.patchedKernels, true);
    assert.equal(tf.getBackend(), 'wasm');
  });

  it('a forced native backend that cannot load is a clear error, and the next call retries', async (t) => {
    for (const [forced, pkg] of [
      ['tensorflow', 'tfjs-node'],
      ['node', 'tfjs-node'],
      ['gpu', 'tfjs-node-gpu'],
      ['tensorflow-gpu', 'tfjs-node-gpu'],
    ]) {
      try {
        await initBackend({ forced });
        t.skip(`@tensorflow/${pkg} is installed on this machine`);
        return;
      } catch (err) {
        assert.ok(err instanceof BackendError);
        assert.equal(err.code, 'BACKEND_UNAVAILABLE');
        assert.equal(
          err.message,
          `TFJS_BACKEND="${forced}" asks for @tensorflow/${pkg}, which cannot be used here: not installed`,
        );
      }
    }
    assert.equal((await initBackend({ forced: 'cpu' })).name, 'cpu');
  });

  it('an unknown TFJS_BACKEND value lists the accepted ones', async () => {
    await assert.rejects(initBackend({ forced: 'webgpu' }), (err: unknown) => {
      assert.ok(err instanceof BackendError);
      assert.equal(
        err.message,
        'TFJS_BACKEND="webgpu" is not a backend: use one of tensorflow-gpu, gpu, node-gpu, tensorflow, node, wasm, cpu',
      );
      return true;
    });
  });

  it('an empty TFJS_BACKEND means automatic choice', async (t) => {
    const info = await initBackend({ forced: '' });
    if (info.name === 'tensorflow') t.skip('a native TensorFlow backend is installed');
    else assert.equal(info.name, 'wasm');
  });
});
