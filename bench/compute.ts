/**
 * Compute against the roofline: ms per local-D step and per G step of the MLP GAN and the DCGAN
 * (batch 64, MNIST shape) on each backend available here, beside the roofline for the same
 * shapes: the step's FLOPs divided by the backend's best measured matMul throughput. The ratio
 * step / roofline is the figure of merit (target: at most 2 on wasm).
 *
 *   npm run bench:compute [-- --quick]
 *
 * Backends: wasm with the project's kernels, the same without their WebAssembly SIMD parts, wasm
 * with its stock kernels (the DCGAN cannot train there: no Conv2DBackpropFilter), and the pure-JS
 * cpu backend (MLP only: a DCGAN step takes minutes). Kernel registration is global: the
 * project's kernels are measured first, in a fresh heap, then without SIMD, then unregistered for
 * the stock kernels.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import {
  describeBackend,
  GlobalGan,
  initBackend,
  LocalDiscriminatorTrainer,
  patchWasmKernels,
  readSync,
  stepFlops,
  unpatchWasmKernels,
  useSimdKernels,
  type ModelArch,
  type ModelSpec,
} from '@distgan/gan';
import { writeResults } from './common.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean' } } });
const quick = values.quick === true;
const reps = quick ? 4 : 15;
const blocks = quick ? 1 : 3; // timed blocks of `reps` steps: the lowest block median counts
const warmup = 5; // steady state: the first steps of a process run slower (JIT, heap growth)
const batch = 64;
const adam = { learningRate: 2e-4, beta1: 0.5, beta2: 0.999 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function time(f: (i: number) => void, n: number, blockCount: number): number {
  const medians: number[] = [];
  let step = 0;
  for (let i = 0; i < warmup; i++) f(step++);
  for (let b = 0; b < blockCount; b++) {
    const t: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      f(step++);
      t.push(performance.now() - t0);
    }
    medians.push(median(t));
  }
  // The lowest block median: a burst of the VM's neighbours slows a whole block, never speeds one.
  return Math.min(...medians);
}

/** Best matMul throughput over shapes like the models' layers and a square one, GFLOP/s. */
function matMulThroughput(): { gflops: number; shapes: Record<string, number> } {
  const shapes: [number, number, number][] = [
    [128, 784, 512],
    [128, 512, 256],
    [64, 256, 512],
    [512, 512, 512],
    [3136, 1024, 128],
  ];
  const out: Record<string, number> = {};
  for (const [m, k, n] of shapes) {
    const a = tf.randomNormal([m, k]);
    const b = tf.randomNormal([k, n]);
    const ms = time(() => readSync(() => tf.matMul(a, b)), quick ? 5 : 20, blocks);
    out[`${m}x${k}x${n}`] = (2 * m * k * n) / (ms * 1e6);
    a.dispose();
    b.dispose();
  }
  return { gflops: Math.max(...Object.values(out)), shapes: out };
}

interface Row {
  backend: string;
  model: ModelArch;
  step: 'd' | 'g';
  ms: number | null;
  mflop: number;
  rooflineMs: number;
  ratio: number | null;
  note?: string;
}
const rows: Row[] = [];
const throughputs: Record<string, { gflops: number; shapes: Record<string, number> }> = {};

function measure(backend: string, arch: ModelArch, gflops: number): void {
  const spec: ModelSpec = { arch, sampleShape: [28, 28, 1], latentDim: 64 };
  const flops = stepFlops(spec, batch);
  const gan = new GlobalGan(spec, { seed: 1, generatorAdam: adam });
  const device = new LocalDiscriminatorTrainer(spec, adam);
  device.setGlobal(gan.generatorWeights().values, gan.discriminatorWeights().values);
  const real = new Float32Array(batch * 28 * 28).map((_, i) => Math.sin(i) * 0.9);
  const n = backend === 'cpu' ? Math.min(reps, 3) : reps;
  const stepBlocks = backend === 'cpu' ? 1 : blocks;
  for (const step of ['d', 'g'] as const) {
    const rooflineMs = flops[step] / (gflops * 1e6);
    let ms: number | null = null;
    let note: string | undefined;
    try {
      ms =
        step === 'd'
          ? time(
              (i) =>
                device.train(
                  1,
                  batch,
                  () => real,
                  () => i,
                ),
              n,
              stepBlocks,
            )
          : time((i) => gan.generatorSteps(1, batch, () => i), n, stepBlocks);
    } catch (err) {
      note = /Conv2DBackpropFilter/.test(String(err))
        ? 'impossible: no Conv2DBackpropFilter kernel'
        : `failed: ${String(err).split('\n')[0]}`;
    }
    rows.push({
      backend,
      model: arch,
      step,
      ms,
      mflop: flops[step] / 1e6,
      rooflineMs,
      ratio: ms === null ? null : ms / rooflineMs,
      ...(note ? { note } : {}),
    });
    console.log(
      `${backend.padEnd(20)} ${arch.padEnd(6)} ${step.toUpperCase()}: ${ms === null ? note : `${ms.toFixed(1)} ms`}, ` +
        `roofline ${rooflineMs.toFixed(1)} ms (${(flops[step] / 1e6).toFixed(0)} MFLOP)` +
        (ms === null ? '' : `, ratio ${(ms / rooflineMs).toFixed(2)}`),
    );
  }
  device.dispose();
  gan.dispose();
}

const info = await initBackend({ forced: 'wasm' });
console.log(
  `Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}); ${describeBackend(info)}`,
);
console.log(
  `batch ${batch}, MNIST shape: after ${warmup} warm-up steps, the lowest median of ${blocks} blocks of ${reps} steps (cpu: one block of 3)\n`,
);

throughputs['wasm'] = matMulThroughput();
console.log(
  `wasm matMul: best ${throughputs['wasm'].gflops.toFixed(1)} GFLOP/s`,
  throughputs['wasm'].shapes,
);
// The project's kernels first, in a fresh heap, as a device or server process runs them: after
// the stock kernels' runs the same steps measured 10–15% slower here.
measure('wasm', 'mlp', throughputs['wasm'].gflops);
measure('wasm', 'dcgan', throughputs['wasm'].gflops);
// The project's kernels with their WebAssembly SIMD parts (Adam, Tanh, LeakyRelu, leading-axes
// sums, transposes, col2im) switched off: those then run as JavaScript loops or the stock kernels.
useSimdKernels(false);
measure('wasm-no-simd', 'mlp', throughputs['wasm'].gflops);
measure('wasm-no-simd', 'dcgan', throughputs['wasm'].gflops);
useSimdKernels(true);
unpatchWasmKernels();
measure('wasm-stock', 'mlp', throughputs['wasm'].gflops);
measure('wasm-stock', 'dcgan', throughputs['wasm'].gflops);
patchWasmKernels();
await tf.setBackend('cpu');
throughputs['cpu'] = matMulThroughput();
console.log(`cpu matMul: best ${throughputs['cpu'].gflops.toFixed(2)} GFLOP/s`);
measure('cpu', 'mlp', throughputs['cpu'].gflops);
rows.push(
  ...(['d', 'g'] as const).map((step) => ({
    backend: 'cpu',
    model: 'dcgan' as const,
    step,
    ms: null,
    mflop: stepFlops({ arch: 'dcgan', sampleShape: [28, 28, 1], latentDim: 64 }, batch)[step] / 1e6,
    rooflineMs: NaN,
    ratio: null,
    note: 'not measured: minutes per step',
  })),
);
await tf.setBackend('wasm');

console.log(
  '\n| backend | model | step | MFLOP | ms | roofline ms | ratio |\n|---|---|---|---:|---:|---:|---:|',
);
for (const r of rows) {
  console.log(
    `| ${r.backend} | ${r.model} | ${r.step.toUpperCase()} | ${r.mflop.toFixed(0)} | ${r.ms === null ? (r.note ?? '–') : r.ms.toFixed(1)} | ` +
      `${Number.isFinite(r.rooflineMs) ? r.rooflineMs.toFixed(1) : '–'} | ${r.ratio === null ? '–' : r.ratio.toFixed(2)} |`,
  );
}
const wasmRows = rows.filter((r) => r.backend === 'wasm' && r.ratio !== null);
const worst = Math.max(...wasmRows.map((r) => r.ratio!));
console.log(`\nwasm (project kernels): worst step / roofline = ${worst.toFixed(2)} (target ≤ 2)`);
const path = writeResults('compute', {
  quick,
  batch,
  reps,
  warmup,
  estimator: `lowest median of ${blocks} block(s) of ${reps} steps (cpu: one block of 3 steps)`,
  matMulGflops: throughputs,
  steps: rows,
  wasmWorstRatio: worst,
  wasmWithin2x: worst <= 2,
});
console.log(`wrote ${path}`);
