/**
 * ms per local-D step and per G step (batch 64, MNIST shape [28, 28, 1]) for the MLP GAN and the
 * DCGAN, side by side in one run: wasm with its stock kernels, wasm with the project's kernels
 * (src/backend/wasm-kernels.ts), and the pure-JS cpu backend. Each is the median of --reps steps
 * after --warmup steps, through the trainers the services use.
 *
 *   node --conditions=source --import tsx libs/gan/bench/steps.ts [--reps 10] [--warmup 2]
 *     [--batch 64] [--cpu-dcgan] [--cpu-dcgan-reps 1]
 *
 * The cpu DCGAN takes minutes per step (about 2 min per D step and 1 min per G step on two
 * cores), so it runs only with --cpu-dcgan, for --cpu-dcgan-reps steps without warm-up.
 * Registering kernels is global, so the stock kernels are measured first, then the patched ones.
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
  unpatchWasmKernels,
  type ModelArch,
} from '../src/index.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    batch: { type: 'string', default: '64' },
    'cpu-dcgan': { type: 'boolean', default: false },
    'cpu-dcgan-reps': { type: 'string', default: '1' },
  },
});
const reps = Number(values.reps);
const warmup = Number(values.warmup);
const batch = Number(values.batch);
const adam = { learningRate: 2e-4, beta1: 0.5, beta2: 0.999 };

type Config = 'stock' | 'patched' | 'cpu';
const CONFIGS: Record<Config, string> = {
  stock: 'wasm, stock kernels',
  patched: 'wasm, project kernels',
  cpu: 'cpu',
};
/** ms, or why there is no number. */
type Result = number | string;
const results = new Map<string, { d: Result; g: Result }>();
const key = (config: Config, arch: ModelArch): string => `${config}/${arch}`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function timeSteps(step: (i: number) => void, n: number, warm: number): Result {
  const times: number[] = [];
  try {
    for (let i = 0; i < warm + n; i++) {
      const t0 = performance.now();
      step(i);
      if (i >= warm) times.push(performance.now() - t0);
    }
  } catch (err) {
    const msg = String((err as Error).message ?? err).split('\n')[0]!;
    return /Conv2DBackpropFilter/.test(msg)
      ? 'impossible (no Conv2DBackpropFilter kernel)'
      : `failed: ${msg}`;
  }
  return median(times);
}

function measure(config: Config, arch: ModelArch, n = reps, warm = warmup): void {
  const spec = { arch, sampleShape: [28, 28, 1], latentDim: 64 };
  const gan = new GlobalGan(spec, { seed: 1, generatorAdam: adam });
  const device = new LocalDiscriminatorTrainer(spec, adam);
  device.setGlobal(gan.generatorWeights().values, gan.discriminatorWeights().values);
  const real = new Float32Array(batch * 28 * 28).map((_, i) => Math.sin(i) * 0.9);
  const d = timeSteps(
    (i) =>
      device.train(
        1,
        batch,
        () => real,
        () => i,
      ),
    n,
    warm,
  );
  const g = timeSteps((i) => gan.generatorSteps(1, batch, () => i), n, warm);
  device.dispose();
  gan.dispose();
  results.set(key(config, arch), { d, g });
  console.log(`  ${CONFIGS[config].padEnd(22)} ${arch.padEnd(6)} D ${fmt(d)}, G ${fmt(g)}`);
}

const fmt = (v: Result | undefined): string =>
  v === undefined ? 'skipped (--cpu-dcgan)' : typeof v === 'number' ? `${v.toFixed(1)} ms` : v;
const ratio = (slow: Result | undefined, fast: Result | undefined): string =>
  typeof slow === 'number' && typeof fast === 'number' ? `${(slow / fast).toFixed(1)}×` : '–';
const sum = (r: { d: Result; g: Result } | undefined): Result | undefined =>
  r === undefined
    ? undefined
    : typeof r.d === 'number' && typeof r.g === 'number'
      ? r.d + r.g
      : typeof r.d === 'string'
        ? r.d
        : r.g;

const info = await initBackend({ forced: 'wasm', patchWasm: false });
unpatchWasmKernels(); // in case something registered them already
console.log(
  `Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}); ` +
    `backend ${describeBackend({ ...info, patchedKernels: false })}`,
);
console.log(
  `batch ${batch}, MNIST shape [28, 28, 1], latent 64; median of ${reps} steps after ${warmup} warm-up steps\n`,
);
measure('stock', 'mlp');
measure('stock', 'dcgan');
patchWasmKernels();
measure('patched', 'mlp');
measure('patched', 'dcgan');
await tf.setBackend('cpu');
measure('cpu', 'mlp');
if (values['cpu-dcgan']) measure('cpu', 'dcgan', Number(values['cpu-dcgan-reps']), 0);
await tf.setBackend('wasm');

const header = [
  'model',
  'step',
  ...Object.values(CONFIGS),
  'project kernels vs stock (wasm)',
  'wasm (project) vs cpu',
];
console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
for (const arch of ['mlp', 'dcgan'] as const) {
  const [stock, patched, cpu] = (['stock', 'patched', 'cpu'] as const).map((c) =>
    results.get(key(c, arch)),
  );
  const rows: [string, (r: { d: Result; g: Result } | undefined) => Result | undefined][] = [
    ['D', (r) => r?.d],
    ['G', (r) => r?.g],
    ['D+G', sum],
  ];
  for (const [step, pick] of rows) {
    const cells = [stock, patched, cpu].map(pick);
    const [s, p, c] = cells;
    console.log(
      `| ${arch} | ${step} | ${cells.map(fmt).join(' | ')} | ${ratio(s, p)} | ${ratio(c, p)} |`,
    );
  }
}
