import * as tf from '@tensorflow/tfjs-core';
import { GlobalGan, initBackend, LocalDiscriminatorTrainer, unpatchWasmKernels, patchWasmKernels } from '../../src/index.js';
const arch = (process.argv[2] ?? 'dcgan') as 'dcgan';
const which = process.argv[3] ?? 'wasm';
await initBackend({ forced: which });
if (process.argv[4] === 'stockinput') { unpatchWasmKernels(); }
const adam = { learningRate: 2e-4, beta1: 0.5, beta2: 0.999 };
const spec = { arch, sampleShape: [28, 28, 1], latentDim: 64 };
const gan = new GlobalGan(spec, { seed: 1, generatorAdam: adam });
const device = new LocalDiscriminatorTrainer(spec, adam);
const real = new Float32Array(64 * 784).map((_, i) => Math.sin(i) * 0.9);
for (let r = 0; r < 2; r++) { device.train(1, 64, () => real, () => r); gan.generatorSteps(1, 64, () => r); }
for (const [label, f] of [['D', () => device.train(1, 64, () => real, () => 5)], ['G', () => gan.generatorSteps(1, 64, () => 5)]] as const) {
  const p = await tf.profile(() => { f(); });
  const agg = new Map<string, number>();
  const detail: string[] = [];
  for (const k of p.kernels) {
    agg.set(k.name, (agg.get(k.name) ?? 0) + (k.kernelTimeMs as number));
    if ((k.kernelTimeMs as number) > 5) detail.push(`${k.name} ${JSON.stringify(k.inputShapes)} ${(k.kernelTimeMs as number).toFixed(1)}`);
  }
  console.log(label, [...agg].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([n, t]) => `${n}=${t.toFixed(1)}`).join(' '));
  console.log(detail.join('\n'));
}
