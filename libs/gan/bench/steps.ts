/**
 * ms per local-D step and per G step (batch 64, MNIST shape), side by side in one run:
 * wasm with its stock kernels, wasm with the project's kernels, and the pure-JS cpu backend.
 *
 *   node --conditions=source --import tsx libs/gan/bench/steps.ts [--reps 10] [--cpu-dcgan]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import {
  GlobalGan,
  initBackend,
  LocalDiscriminatorTrainer,
  patchWasmKernels,
  unpatchWasmKernels,
  type ModelArch,
} from '../src/index.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '10' },
    batch: { type: 'string', default: '64' },
    'cpu-dcgan': { type: 'boolean' },
  },
});
const reps = Number(values.reps);
const batch = Number(values.batch);
const adam = { learningRate: 2e-4, beta1: 0.5, beta2: 0.999 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function measure(arch: ModelArch): { d: number; g: number } {
  const spec = { arch, sampleShape: [28, 28, 1], latentDim: 64 };
  const gan = new GlobalGan(spec, { seed: 1, generatorAdam: adam });
  const device = new LocalDiscriminatorTrainer(spec, adam);
  device.setGlobal(gan.generatorWeights().values, gan.discriminatorWeights().values);
  const real = new Float32Array(batch * 784).map((_, i) => Math.sin(i) * 0.9);
  const dTimes: number[] = [];
  const gTimes: number[] = [];
  for (let r = 0; r < reps + 2; r++) {
    const t0 = performance.now();
    device.train(
      1,
      batch,
      () => real,
      () => r,
    );
    const t1 = performance.now();
    gan.generatorSteps(1, batch, () => r);
    const t2 = performance.now();
    if (r >= 2) {
      dTimes.push(t1 - t0);
      gTimes.push(t2 - t1);
    }
  }
  device.dispose();
  gan.dispose();
  return { d: median(dTimes), g: median(gTimes) };
}

type Row = { config: string; arch: ModelArch; d: number | string; g: number | string };
const rows: Row[] = [];
function run(config: string, arch: ModelArch): void {
  try {
    const r = measure(arch);
    rows.push({ config, arch, ...r });
  } catch (err) {
    const msg = String((err as Error).message).split('\n')[0]!;
    rows.push({ config, arch, d: `impossible (${msg.slice(0, 60)})`, g: '-' });
  }
  const last = rows.at(-1)!;
  console.log(`  ${config.padEnd(16)} ${arch.padEnd(6)} D ${fmt(last.d)}  G ${fmt(last.g)}`);
}
const fmt = (v: number | string): string => (typeof v === 'number' ? `${v.toFixed(1)} ms` : v);

await initBackend({ forced: 'wasm', patchWasm: false });
console.log(`batch ${batch}, median of ${reps} steps after 2 warm-up steps`);
unpatchWasmKernels();
run('wasm (stock)', 'mlp');
run('wasm (stock)', 'dcgan');
patchWasmKernels();
run('wasm (patched)', 'mlp');
run('wasm (patched)', 'dcgan');
await tf.setBackend('cpu');
(tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
run('cpu', 'mlp');
if (values['cpu-dcgan']) run('cpu', 'dcgan');

console.log('\n| backend | model | D step (ms) | G step (ms) |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.config} | ${r.arch} | ${fmt(r.d)} | ${fmt(r.g)} |`);
const get = (c: string, a: ModelArch): Row | undefined =>
  rows.find((r) => r.config === c && r.arch === a);
for (const arch of ['mlp', 'dcgan'] as const) {
  const stock = get('wasm (stock)', arch);
  const patched = get('wasm (patched)', arch);
  const cpu = get('cpu', arch);
  if (patched && typeof patched.d === 'number' && typeof patched.g === 'number') {
    const step = patched.d + patched.g;
    if (stock && typeof stock.d === 'number' && typeof stock.g === 'number') {
      console.log(
        `${arch}: patched wasm is ${((stock.d + stock.g) / step).toFixed(1)}× faster than stock wasm per D+G step`,
      );
    } else {
      console.log(
        `${arch}: stock wasm cannot train it; patched wasm: ${step.toFixed(1)} ms per D+G step`,
      );
    }
    if (cpu && typeof cpu.d === 'number' && typeof cpu.g === 'number') {
      console.log(
        `${arch}: patched wasm is ${((cpu.d + cpu.g) / step).toFixed(1)}× faster than cpu per D+G step`,
      );
    }
  }
}
