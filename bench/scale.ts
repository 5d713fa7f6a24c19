/**
 * How many devices one server handles here, and what each added device costs a round: the
 * coordinator and N in-process device runtimes, each device with its own RabbitMQ connection and
 * queue, sharing the real RabbitMQ and Redis (RABBITMQ_URL, REDIS_URL) on loopback. The models
 * are the 2D ring's small MLPs, so that the figures are the system's cost per device (messages,
 * blob traffic, verification, averaging), not arithmetic.
 *
 *   npm run bench:scale [-- --quick] [--devices 16,64,128,256] [--rounds 4]
 *
 * Everything shares one event loop: a round's time is the server's work plus every device's.
 * Server cost per round = broadcast + aggregate (fetch, verify, decode, average) + G steps.
 */
import { parseArgs } from 'node:util';
import { partitionIid, ringOfGaussians } from '@distgan/data';
import { GlobalGan, initBackend, LocalDiscriminatorTrainer, type ModelSpec } from '@distgan/gan';
import {
  Coordinator,
  DeviceRuntime,
  RabbitRoundTransport,
  RedisBlobStore,
} from '@distgan/transport';
import { writeResults } from './common.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    devices: { type: 'string' },
    rounds: { type: 'string' },
  },
});
const quick = values.quick === true;
const counts = (values.devices ?? (quick ? '8,32,64' : '16,32,64,128,256')).split(',').map(Number);
const rounds = Number(values.rounds ?? (quick ? 3 : 5));
const RABBITMQ_URL = process.env['RABBITMQ_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const SPEC: ModelSpec = { arch: 'mlp', sampleShape: [2], latentDim: 2 };
const ADAM = { learningRate: 1e-3, beta1: 0.5, beta2: 0.999 };

await initBackend();
console.log(
  `RabbitMQ ${RABBITMQ_URL.replace(/:[^:@/]+@/, ':***@')}, Redis ${REDIS_URL}; ring MLP, batch 32, ` +
    `${rounds} rounds after 1 warm-up per device count`,
);
const data = ringOfGaussians({ count: 40_000, seed: 1 });
const store = new RedisBlobStore({ url: REDIS_URL });

interface Row {
  devices: number;
  roundMs: number;
  serverMs: number;
  broadcastMs: number;
  aggregateMs: number;
  generatorMs: number;
  deviceComputeMsSum: number;
  connectMs: number;
  accepted: number;
}
const rows: Row[] = [];
let largest = 0;
for (const n of counts) {
  const runId = `bench-scale-${n}-${Date.now().toString(36)}`;
  const t0 = performance.now();
  const shards = partitionIid(data.count, n, 1);
  const ids = shards.map((_, k) => `dev-${k}`);
  let server: RabbitRoundTransport | undefined;
  const transports: RabbitRoundTransport[] = [];
  const devices: DeviceRuntime[] = [];
  try {
    server = await RabbitRoundTransport.connect({ url: RABBITMQ_URL, runId });
    for (let k = 0; k < n; k++) {
      const t = await RabbitRoundTransport.connect({ url: RABBITMQ_URL, runId });
      transports.push(t);
      const d = new DeviceRuntime(new LocalDiscriminatorTrainer(SPEC, ADAM), t, store, {
        runId,
        deviceId: ids[k]!,
        data: { dataset: data, indices: shards[k]! },
        blobTtlSeconds: 120,
      });
      await d.start();
      devices.push(d);
    }
    const connectMs = performance.now() - t0;
    const gan = new GlobalGan(SPEC, { seed: 3, generatorAdam: ADAM });
    const coordinator = new Coordinator(gan, server, store, () => ids, {
      runId,
      schedule: 'serial',
      training: { localSteps: 1, batchSize: 32, ...ADAM },
      generatorSteps: 1,
      generatorBatchSize: 32,
      seed: 9,
      roundDeadlineMs: 120_000,
      quorum: n,
      maxRoundAttempts: 1,
      blobTtlSeconds: 120,
    });
    const sums = {
      roundMs: 0,
      broadcastMs: 0,
      aggregateMs: 0,
      generatorMs: 0,
      dev: 0,
      accepted: 0,
    };
    for (let r = 0; r < rounds + 1; r++) {
      const rep = await coordinator.runRound();
      if (r === 0) continue;
      sums.roundMs += rep.phases.totalMs;
      sums.broadcastMs += rep.phases.broadcastMs;
      sums.aggregateMs += rep.phases.aggregateMs;
      sums.generatorMs += rep.phases.generatorMs;
      sums.dev += rep.accepted.reduce((s, a) => s + a.computeMs, 0);
      sums.accepted += rep.accepted.length;
    }
    await coordinator.close();
    gan.dispose();
    const row: Row = {
      devices: n,
      roundMs: sums.roundMs / rounds,
      broadcastMs: sums.broadcastMs / rounds,
      aggregateMs: sums.aggregateMs / rounds,
      generatorMs: sums.generatorMs / rounds,
      serverMs: (sums.broadcastMs + sums.aggregateMs + sums.generatorMs) / rounds,
      deviceComputeMsSum: sums.dev / rounds,
      connectMs,
      accepted: sums.accepted / rounds,
    };
    rows.push(row);
    if (row.accepted === n) largest = Math.max(largest, n);
    console.log(
      `${String(n).padStart(4)} devices: round ${row.roundMs.toFixed(0)} ms, server ${row.serverMs.toFixed(0)} ms ` +
        `(broadcast ${row.broadcastMs.toFixed(0)}, aggregate ${row.aggregateMs.toFixed(0)}, G ${row.generatorMs.toFixed(0)}), ` +
        `devices' compute ${row.deviceComputeMsSum.toFixed(0)} ms, ${row.accepted} accepted; set-up ${(connectMs / 1000).toFixed(1)} s`,
    );
  } catch (err) {
    console.log(`${n} devices: failed: ${(err as Error).message}`);
    break;
  } finally {
    for (const d of devices) await d.stop().catch(() => {});
    await server?.deleteRunTopology(ids).catch(() => {});
    for (const t of transports) await t.close().catch(() => {});
    await server?.close().catch(() => {});
  }
}
await store.close();

/** Least-squares line y = a + b·x and its R². */
function fit(xs: number[], ys: number[]): { intercept: number; slope: number; r2: number } {
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
    syy += (ys[i]! - my) ** 2;
  }
  const slope = sxy / sxx;
  return { intercept: my - slope * mx, slope, r2: syy > 0 ? (sxy * sxy) / (sxx * syy) : 1 };
}
const xs = rows.map((r) => r.devices);
const roundFit = fit(
  xs,
  rows.map((r) => r.roundMs),
);
const serverFit = fit(
  xs,
  rows.map((r) => r.serverMs),
);
const overheadFit = fit(
  xs,
  rows.map((r) => r.roundMs - r.deviceComputeMsSum - r.generatorMs),
);
console.log(
  `\nlargest run: ${largest} devices, every update accepted\n` +
    `round time: ${roundFit.slope.toFixed(2)} ms per added device (R² ${roundFit.r2.toFixed(3)})\n` +
    `server cost: ${serverFit.slope.toFixed(2)} ms per added device (R² ${serverFit.r2.toFixed(3)})\n` +
    `round overhead (round − devices' compute − G): ${overheadFit.slope.toFixed(2)} ms per added device (R² ${overheadFit.r2.toFixed(3)})`,
);
const path = writeResults('scale', {
  quick,
  rounds,
  rows,
  largestDevices: largest,
  roundMsPerDevice: roundFit.slope,
  roundFitR2: roundFit.r2,
  serverMsPerDevice: serverFit.slope,
  serverFitR2: serverFit.r2,
  overheadMsPerDevice: overheadFit.slope,
  overheadFitR2: overheadFit.r2,
});
console.log(`wrote ${path}`);
process.exit(0);
