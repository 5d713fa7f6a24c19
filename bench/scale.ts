/**
 * How many devices one server handles here, and what each added device costs a round: the
 * coordinator in this process, and N device runtimes in a second process, each device with its
 * own RabbitMQ connection and queue, sharing the real RabbitMQ and Redis (RABBITMQ_URL,
 * REDIS_URL) on loopback. The models are the 2D ring's small MLPs, so that the figures are the
 * system's cost per device (messages, blob traffic, verification, averaging), not arithmetic.
 *
 *   npm run bench:scale [-- --quick] [--devices 16,64,128,256] [--rounds 4]
 *
 * The devices run in a process of their own (bench/scale-devices.ts) so that the server's phases
 * are timed on an event loop that runs nothing else: with both in one loop, the server's fetch
 * of an update also waited for other devices' training. The devices share one core, so a round
 * still lasts at least the sum of their compute.
 * Server cost per round = broadcast + aggregate (fetch, verify, decode, average) + G steps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GlobalGan, initBackend } from '@distgan/gan';
import { Coordinator } from '@distgan/engine';
import { RabbitRoundTransport, RedisBlobStore } from '@distgan/transport';
import { writeResults } from './common.js';
import { SCALE_ADAM, SCALE_SPEC, scaleDeviceId } from './scale-common.js';

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

await initBackend();
console.log(
  `RabbitMQ ${RABBITMQ_URL.replace(/:[^:@/]+@/, ':***@')}, Redis ${REDIS_URL}; ring MLP, batch 32, ` +
    `${rounds} rounds after 1 warm-up per device count; devices in a second process`,
);
const store = new RedisBlobStore({ url: REDIS_URL });

/** Starts the device process and resolves once every device listens. */
function startDevices(
  runId: string,
  n: number,
): Promise<{ child: ChildProcess; connectMs: number }> {
  const script = fileURLToPath(new URL('./scale-devices.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', script, runId, String(n)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the device process exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const msg = JSON.parse(line) as { ready?: boolean; connectMs?: number };
      if (msg.ready) resolve({ child, connectMs: msg.connectMs ?? NaN });
    });
  });
}

async function stopDevices(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.removeAllListeners('exit');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

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
  const ids = Array.from({ length: n }, (_, k) => scaleDeviceId(k));
  let server: RabbitRoundTransport | undefined;
  let child: ChildProcess | undefined;
  try {
    server = await RabbitRoundTransport.connect({ url: RABBITMQ_URL, runId });
    const started = await startDevices(runId, n);
    child = started.child;
    const gan = new GlobalGan(SCALE_SPEC, { seed: 3, generatorAdam: SCALE_ADAM });
    const coordinator = new Coordinator(gan, server, store, () => ids, {
      runId,
      schedule: 'serial',
      training: { localSteps: 1, batchSize: 32, ...SCALE_ADAM },
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
      connectMs: started.connectMs,
      accepted: sums.accepted / rounds,
    };
    rows.push(row);
    if (row.accepted === n) largest = Math.max(largest, n);
    console.log(
      `${String(n).padStart(4)} devices: round ${row.roundMs.toFixed(0)} ms, server ${row.serverMs.toFixed(0)} ms ` +
        `(broadcast ${row.broadcastMs.toFixed(0)}, aggregate ${row.aggregateMs.toFixed(0)}, G ${row.generatorMs.toFixed(0)}), ` +
        `devices' compute ${row.deviceComputeMsSum.toFixed(0)} ms, ${row.accepted} accepted; set-up ${(row.connectMs / 1000).toFixed(1)} s`,
    );
  } catch (err) {
    console.log(`${n} devices: failed: ${(err as Error).message}`);
    break;
  } finally {
    if (child) await stopDevices(child);
    await server?.deleteRunTopology(ids).catch(() => {});
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
