/**
 * Server averaging throughput (MB of device updates per second) beside a plain memory loop
 * that reads the same bytes and a native copy of them (the machine's memory bandwidth as V8 sees
 * it), in one run.
 *
 *   npm run bench:aggregate [-- --quick]
 */
import { parseArgs } from 'node:util';
import { averageWeights, StreamingAverage, useSimdKernels } from '@distgan/gan';
import { medianMs, writeResults } from './common.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean' } } });
const reps = values.quick ? 5 : 20;
const n = 533_505; // the MLP discriminator
const devices = 8;
const updates = Array.from({ length: devices }, (_, k) =>
  new Float32Array(n).map((_, i) => Math.sin(i + k)),
);
const avg = new StreamingAverage(n);
const out = new Float32Array(n);
const mb = (devices * n * 4) / 1e6;

const tAvg = await medianMs(() => {
  avg.reset();
  for (const u of updates) avg.add(u, 1000);
  avg.result(out);
}, reps);
const weighted = updates.map((values) => ({ values, samples: 1000 }));
const tBlocked = await medianMs(() => averageWeights(weighted, out), reps);
// The same average with the WebAssembly SIMD kernel switched off: the JavaScript blocked loop.
useSimdKernels(false);
const tJs = await medianMs(() => averageWeights(weighted, out), reps);
useSimdKernels(true);
let sink = 0;
// Reads every byte of the updates once, with four independent sums so that the loop is bound
// by memory, not by the latency of one chain of additions.
function readAll(): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (const u of updates) {
    let i = 0;
    for (; i + 3 < n; i += 4) {
      s0 += u[i]!;
      s1 += u[i + 1]!;
      s2 += u[i + 2]!;
      s3 += u[i + 3]!;
    }
    for (; i < n; i++) s0 += u[i]!;
  }
  return s0 + s1 + s2 + s3;
}
const tLoop = await medianMs(() => {
  sink += readAll();
}, reps);
// The native reference: copy every update into one buffer (memcpy in V8), the same bytes read
// and a fraction of them written, with no arithmetic at all.
const tCopy = await medianMs(() => {
  for (const u of updates) out.set(u);
}, reps);
const r = {
  devices,
  megabytes: mb,
  averageMBps: mb / (tBlocked / 1000),
  javascriptAverageMBps: mb / (tJs / 1000),
  streamingAverageMBps: mb / (tAvg / 1000),
  memoryLoopMBps: mb / (tLoop / 1000),
  memcpyMBps: mb / (tCopy / 1000),
};
console.log(`${devices} updates of ${n} values (${mb.toFixed(1)} MB), median of ${reps}`);
console.log(
  `the server's average (WebAssembly SIMD): ${r.averageMBps.toFixed(0)} MB/s; the same in JavaScript: ${r.javascriptAverageMBps.toFixed(0)} MB/s; streaming average: ${r.streamingAverageMBps.toFixed(0)} MB/s; ` +
    `plain read loop: ${r.memoryLoopMBps.toFixed(0)} MB/s (ratio ${(r.averageMBps / r.memoryLoopMBps).toFixed(2)}); ` +
    `native copy: ${r.memcpyMBps.toFixed(0)} MB/s (ratio ${(r.averageMBps / r.memcpyMBps).toFixed(2)})${sink === 0.5 ? ' ' : ''}`,
);
console.log(
  `wrote ${writeResults('aggregate', {
    ...r,
    ratio: r.averageMBps / r.memoryLoopMBps,
    ratioToMemcpy: r.averageMBps / r.memcpyMBps,
    reps,
  })}`,
);
