/**
 * Round overhead of the distributed run: the share of round time that is not device or server
 * computation (messaging, Redis, codec, waiting), for 1, 4, 8 and 16 device processes and both
 * schedules, with the server and the devices as real processes over the RabbitMQ and Redis named
 * by RABBITMQ_URL and REDIS_URL (loopback); and the parallel schedule's round time against the
 * serial one's.
 *
 *   npm run bench:overhead [-- --quick] [--models dcgan,mlp] [--devices 1,4,8,16] [--rounds 10]
 *
 * Computation on a round's critical path: serial, the slowest device's local training plus the
 * generator steps; parallel, the larger of the two (they overlap). With more device processes
 * than cores, device compute slows down by sharing the cores; that counts as computation.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RabbitRoundTransport } from '@distgan/transport';
import {
  api,
  RABBITMQ_URL,
  describeServices,
  killAll,
  runDistributed,
  tearDown,
  uniqueRun,
  until,
} from '../services/server/src/process-harness.js';
import type { DeviceUpdate, PhaseTimings } from '@distgan/protocol';
import { writeResults } from './common.js';

const fmtMs = (ms: number): string => (ms < 10 ? ms.toFixed(1) : ms.toFixed(0));

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    rounds: { type: 'string' },
    devices: { type: 'string' },
    models: { type: 'string' },
  },
});
const quick = values.quick === true;
const rounds = Number(values.rounds ?? (quick ? 3 : 10));
const deviceCounts = (values.devices ?? (quick ? '1,4' : '1,4,8,16')).split(',').map(Number);
const models = (values.models ?? (quick ? 'mlp' : 'dcgan,mlp')).split(',');
const WARMUP = 2;

interface Line {
  round: number;
  phases: PhaseTimings;
  accepted: { timings?: NonNullable<DeviceUpdate['timings']> }[];
}
interface Row {
  model: string;
  schedule: string;
  devices: number;
  roundMs: number;
  deviceComputeMs: number;
  generatorMs: number;
  aggregateMs: number;
  broadcastMs: number;
  computeMs: number;
  overheadShare: number;
  /** Medians over every accepted update of the measured rounds: the devices' own timings. */
  deviceMedianMs: { fetch: number; verify: number; encode: number; store: number };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[s.length >> 1]!;
};
const rows: Row[] = [];

/**
 * Median time of one task → update exchange with no work between: the server publishes a task to
 * a device's queue, the device takes it and publishes an update to the round's queue, the server
 * receives it; two connections as in a deployment, with and without TCP_NODELAY.
 */
async function messageRoundTripMs(noDelay: boolean, samples: number): Promise<number> {
  const runId = uniqueRun(`latency-${noDelay ? 'nodelay' : 'nagle'}`);
  const server = await RabbitRoundTransport.connect({ url: RABBITMQ_URL, runId, noDelay });
  const device = await RabbitRoundTransport.connect({ url: RABBITMQ_URL, runId, noDelay });
  const inbox = await server.openRound(0);
  // The transport does not read bodies; any bytes will do.
  const body = new TextEncoder().encode(JSON.stringify({ payload: 'x'.repeat(600) }));
  const subscription = await device.subscribeTasks('device-0', async (task) => {
    await device.publishUpdate(inbox.name, body);
    task.ack();
  });
  const times: number[] = [];
  try {
    for (let i = 0; i < samples + 3; i++) {
      const t0 = performance.now();
      await server.publishTask(body, { kind: 'devices', deviceIds: ['device-0'] });
      const msg = await inbox.receive(10_000);
      const t1 = performance.now();
      if (!msg) throw new Error('an update did not arrive within 10 s');
      msg.ack();
      if (i >= 3) times.push(t1 - t0);
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    await subscription.close();
    await inbox.close();
    await device.deleteRunTopology(['device-0']);
    await server.close();
    await device.close();
  }
  return median(times);
}

/**
 * How long the broker takes to confirm a task published to 8 devices' quorum queues (what every
 * round's broadcast waits for), every 300 ms on an otherwise idle broker: the median, and the
 * stalls. A quorum queue confirms once the message is in its log on disk, so the disk's fsync
 * latency shows here; a stall in a round is that round's overhead.
 */
async function taskConfirmMs(
  samples: number,
): Promise<{ medianMs: number; p90Ms: number; maxMs: number; over100Ms: number; samples: number }> {
  const runId = uniqueRun('confirm');
  const server = await RabbitRoundTransport.connect({ url: RABBITMQ_URL, runId });
  const deviceIds = Array.from({ length: 8 }, (_, i) => `device-${i}`);
  const body = new TextEncoder().encode(JSON.stringify({ payload: 'x'.repeat(1200) }));
  const times: number[] = [];
  try {
    for (let i = 0; i < samples + 2; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const t0 = performance.now();
      await server.publishTask(body, { kind: 'devices', deviceIds });
      if (i >= 2) times.push(performance.now() - t0); // the first ones declare the queues
    }
  } finally {
    await server.deleteRunTopology(deviceIds);
    await server.close();
  }
  const sorted = [...times].sort((x, y) => x - y);
  return {
    medianMs: median(times),
    p90Ms: sorted[Math.floor(sorted.length * 0.9)]!,
    maxMs: sorted.at(-1)!,
    over100Ms: times.filter((t) => t > 100).length,
    samples: times.length,
  };
}

/**
 * What touching memory again costs on this machine: a 4 MB copy between two buffers whose pages
 * were touched just before, and after they lay untouched for 300 ms. A round's blobs, Redis's
 * reply buffers and the receive buffers are touched once per round, so on a machine where pages
 * go cold (some VMs) that cost is paid in every round's messaging.
 */
async function copyMs(untouchedMs: number, samples: number): Promise<number> {
  const a = Buffer.alloc(4 << 20, 1);
  const b = Buffer.alloc(4 << 20, 2);
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    if (untouchedMs > 0) await new Promise((r) => setTimeout(r, untouchedMs));
    const t0 = performance.now();
    a.copy(b);
    times.push(performance.now() - t0);
  }
  return median(times);
}

console.log(`${describeServices()}; ${rounds} rounds after ${WARMUP} warm-up rounds`);
const coldMemory = { hotCopy4MBMs: await copyMs(0, 21), copy4MBAfter300MsMs: await copyMs(300, 9) };
console.log(
  `this machine: a 4 MB copy takes ${coldMemory.hotCopy4MBMs.toFixed(2)} ms with its pages just ` +
    `touched, ${coldMemory.copy4MBAfter300MsMs.toFixed(2)} ms after 300 ms untouched`,
);
const confirm = await taskConfirmMs(quick ? 10 : 40);
console.log(
  `broker: a task to 8 quorum queues is confirmed in ${confirm.medianMs.toFixed(1)} ms (median), ` +
    `p90 ${confirm.p90Ms.toFixed(1)} ms, max ${confirm.maxMs.toFixed(0)} ms; ` +
    `${confirm.over100Ms} of ${confirm.samples} took over 100 ms (idle broker, one every 300 ms)`,
);
const latency = {
  noDelayMs: await messageRoundTripMs(true, quick ? 10 : 40),
  nagleMs: await messageRoundTripMs(false, quick ? 10 : 40),
};
console.log(
  `task → update round trip, median: ${latency.noDelayMs.toFixed(2)} ms with TCP_NODELAY ` +
    `(the transport's default), ${latency.nagleMs.toFixed(2)} ms without`,
);
console.log(
  '| model | schedule | devices | ms/round | slowest device ms | G ms | aggregate ms | overhead | ' +
    'device fetch / verify / encode / store ms (medians) |',
);
console.log('|---|---|---:|---:|---:|---:|---:|---:|---|');
try {
  for (const model of models) {
    for (const n of deviceCounts) {
      for (const schedule of ['serial', 'parallel']) {
        const runId = uniqueRun(`overhead-${model}-${schedule}-${n}`);
        const d = await runDistributed(
          runId,
          {
            DATASET: 'mnist',
            LIMIT: '4000',
            LATENT_DIM: '64',
            BATCH_SIZE: '64',
            MODEL: model,
            SCHEDULE: schedule,
            ROUNDS: String(rounds + WARMUP),
            QUORUM: String(n),
            SAMPLE_EVERY: '100000',
            CHECKPOINT_EVERY: '100000',
            ROUND_DEADLINE_MS: '600000',
          },
          n,
        );
        await until(
          'the run',
          async () => ((await api(d.port)).status === 'finished' ? true : undefined),
          3_600_000,
        );
        const lines = readFileSync(join(d.out, runId, 'metrics.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Line)
          .slice(WARMUP);
        const timings = lines.flatMap((l) => l.accepted.flatMap((a) => a.timings ?? []));
        const mean = (f: (l: Line) => number): number =>
          lines.reduce((s, l) => s + f(l), 0) / lines.length;
        const row: Row = {
          model,
          schedule,
          devices: n,
          roundMs: mean((l) => l.phases.totalMs),
          deviceComputeMs: mean((l) => l.phases.deviceComputeMs),
          generatorMs: mean((l) => l.phases.generatorMs),
          aggregateMs: mean((l) => l.phases.aggregateMs),
          broadcastMs: mean((l) => l.phases.broadcastMs),
          computeMs: mean((l) =>
            schedule === 'serial'
              ? l.phases.deviceComputeMs + l.phases.generatorMs
              : Math.max(l.phases.deviceComputeMs, l.phases.generatorMs),
          ),
          overheadShare: 0,
          deviceMedianMs: {
            fetch: median(timings.map((t) => t.fetchMs)),
            verify: median(timings.map((t) => t.verifyMs)),
            encode: median(timings.map((t) => t.encodeMs)),
            store: median(timings.map((t) => t.storeMs)),
          },
        };
        row.overheadShare = Math.max(0, 1 - row.computeMs / row.roundMs);
        rows.push(row);
        console.log(
          `| ${model} | ${schedule} | ${n} | ${row.roundMs.toFixed(0)} | ${row.deviceComputeMs.toFixed(0)} | ` +
            `${row.generatorMs.toFixed(0)} | ${row.aggregateMs.toFixed(0)} | ${(100 * row.overheadShare).toFixed(1)}% | ` +
            `${fmtMs(row.deviceMedianMs.fetch)} / ${fmtMs(row.deviceMedianMs.verify)} / ` +
            `${fmtMs(row.deviceMedianMs.encode)} / ${fmtMs(row.deviceMedianMs.store)} |`,
        );
        killAll('SIGTERM');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
} finally {
  await tearDown(); // and the runs' queues with them
}

const ratios = rows
  .filter((r) => r.schedule === 'parallel')
  .map((p) => {
    const s = rows.find(
      (r) => r.schedule === 'serial' && r.model === p.model && r.devices === p.devices,
    )!;
    return { model: p.model, devices: p.devices, parallelOverSerial: p.roundMs / s.roundMs };
  });
console.log('\nparallel round time / serial round time:');
for (const r of ratios)
  console.log(`  ${r.model}, ${r.devices} devices: ${r.parallelOverSerial.toFixed(2)}`);
const dcgan8 = rows.find((r) => r.model === 'dcgan' && r.devices === 8 && r.schedule === 'serial');
if (dcgan8) {
  console.log(
    `DCGAN, 8 devices, serial: overhead ${(100 * dcgan8.overheadShare).toFixed(1)}% (target < 5%)`,
  );
}
const path = writeResults('overhead', {
  quick,
  rounds,
  services: describeServices(),
  messageLatency: latency,
  coldMemory,
  taskConfirm: confirm,
  rows,
  parallelOverSerial: ratios,
  dcgan8Overhead: dcgan8?.overheadShare ?? null,
});
console.log(`wrote ${path}`);
