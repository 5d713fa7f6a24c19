import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Dataset } from '@distgan/data';
import { verifiableDigests } from '@distgan/protocol';
import {
  DeviceIdTakenError,
  DeviceRuntime,
  identityMismatch,
  type BlobStore,
  type DeviceRegistration,
  type Membership,
  type RoundTransport,
  type RunRecord,
  type TaskOutcome,
} from '@distgan/engine';
import { createDeviceMethod } from '@distgan/methods';
import type { ModelSpec } from '@distgan/gan';
import { identityOf, modelSpecFor, shardOf } from '@distgan/run';
import { createDeviceMetrics, type DeviceMetrics, type Logger } from '@distgan/telemetry';
import type { DeviceConfig } from './config.js';

/** What a device service runs on: its configuration, its services and its data. */
export interface DeviceDeps {
  config: DeviceConfig;
  log: Logger;
  transport: RoundTransport;
  store: BlobStore;
  membership: Membership;
  /** The dataset it loaded, the indices of its shard in it, and the model they train. */
  data: { dataset: Dataset; indices: Int32Array; spec: ModelSpec };
  /** The backend's name, as the device registers it. */
  backend: string;
  /** Whether the broker and the blob store can be reached now (for /readyz). */
  ready: () => Promise<{ ready: boolean; detail: Record<string, unknown> }>;
  metrics?: DeviceMetrics;
}

export interface DeviceApp {
  readonly http: FastifyInstance;
  readonly runtime: DeviceRuntime;
  readonly metrics: DeviceMetrics;
  readonly registration: DeviceRegistration;
  /**
   * Registers, takes tasks and beats; the HTTP routes answer from the start. Throws
   * DeviceRefusedError when the run's identity differs from the device's, or another live device
   * holds its id; resolves without joining when the run is already over (see `ended`).
   */
  start(): Promise<void>;
  /**
   * Settles when the device should stop: the run is over (the server published it finished or
   * failed), or the server refused this device. The exit code says which: 0 finished, 1 the run
   * failed, 2 refused.
   */
  readonly ended: Promise<{ code: 0 | 1 | 2; reason: string }>;
  /** Stops taking tasks (the task in hand finishes), leaves the run, closes the HTTP server. */
  stop(): Promise<void>;
}

/**
 * What a device trains on, from its settings and the dataset it loaded: its shard of the
 * partition every device computes alike, or every sample of a dataset of its own
 * (DEVICE_DATA=all); and the model.
 */
export function deviceData(c: DeviceConfig, dataset: Dataset): DeviceDeps['data'] {
  const indices =
    c.deviceData === 'all'
      ? Int32Array.from({ length: dataset.count }, (_, i) => i)
      : shardOf(dataset, {
          scheme: c.partition,
          devices: c.numDevices,
          index: c.deviceIndex,
          seed: c.seed,
          alpha: c.alpha,
          shardsPerDevice: c.shardsPerDevice,
        });
  return {
    dataset,
    indices,
    spec: modelSpecFor(c, dataset),
  };
}

/**
 * The device service without its process: the round runtime on its shard, membership and
 * heartbeat, the HTTP routes (/healthz, /readyz, /metrics) and the metrics of every task. The
 * connections are given (RabbitMQ and Redis in main.ts, in-memory twins in the tests).
 */
export function buildDeviceApp(deps: DeviceDeps): DeviceApp {
  const { config: c, log } = deps;
  const metrics = deps.metrics ?? createDeviceMetrics();
  // Every task carries the run's hyper-parameters; the method decides what the device computes.
  const method = createDeviceMethod(c.method, deps.data.spec);
  const runtime = new DeviceRuntime(
    method,
    deps.transport,
    deps.store,
    {
      runId: c.runId,
      deviceId: c.deviceId,
      data: { dataset: deps.data.dataset, indices: deps.data.indices },
      blobTtlSeconds: c.updateTtlS,
    },
    (o) => record(metrics, log, o),
  );

  const http = Fastify({ logger: false });
  http.get('/healthz', async () => ({ ok: true, state: runtime.state }));
  // Ready: the broker and the blob store reachable, so the device can take the next task.
  http.get('/readyz', async (_req, reply) => {
    const r = await deps.ready();
    return reply
      .code(r.ready ? 200 : 503)
      .send({ ...r.detail, ready: r.ready, state: runtime.state });
  });
  http.get('/metrics', async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  const identity = identityOf({
    ...c,
    numDevices: c.deviceData === 'all' ? 0 : c.numDevices,
  });
  const registration: DeviceRegistration = {
    deviceId: c.deviceId,
    instance: randomUUID(),
    samples: deps.data.indices.length,
    shard: c.deviceData === 'all' ? -1 : c.deviceIndex,
    backend: deps.backend,
    digests: verifiableDigests(),
    registeredAt: Date.now(),
    identity,
  };
  let beat: NodeJS.Timeout | undefined;
  let stopped = false;
  let end!: (e: { code: 0 | 1 | 2; reason: string }) => void;
  const ended = new Promise<{ code: 0 | 1 | 2; reason: string }>((r) => (end = r));
  /** What the run's record says for this device: go on, or end with a code. */
  const verdict = (run: RunRecord | undefined): { code: 0 | 1 | 2; reason: string } | undefined => {
    if (!run) return undefined;
    if (run.status === 'finished')
      return { code: 0, reason: `the run finished at round ${run.round}` };
    if (run.status === 'failed') return { code: 1, reason: `the run failed: ${run.reason}` };
    const mismatch = identityMismatch(identity, run.identity);
    return mismatch ? { code: 2, reason: `the run refuses this device: ${mismatch}` } : undefined;
  };

  return {
    http,
    runtime,
    metrics,
    registration,
    ended,
    async start() {
      const before = verdict(await deps.membership.run());
      if (before?.code === 2) throw new DeviceRefusedError(before.reason);
      if (before) {
        end(before);
        return;
      }
      await registerOnce(deps, registration, c.heartbeatTimeoutS, log);
      await runtime.start();
      beat = setInterval(() => {
        deps.membership
          .heartbeat(registration)
          .then((reply) => {
            const v = reply.refused
              ? { code: 2 as const, reason: `the server refused this device: ${reply.refused}` }
              : verdict(reply.run);
            if (v) {
              clearInterval(beat);
              end(v);
            }
          })
          .catch((err: unknown) => log.warn({ err }, 'heartbeat failed'));
      }, c.heartbeatS * 1000);
      log.info(
        { samples: registration.samples, shard: c.deviceIndex, port: c.port },
        'device ready',
      );
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(beat);
      await runtime.stop();
      await deps.membership.leave(c.deviceId, registration.instance).catch(() => {});
      await http.close();
      method.dispose();
    },
  };
}

/** The run does not take this device (another identity, or its id is held by a live device). */
export class DeviceRefusedError extends Error {
  override readonly name = 'DeviceRefusedError';
}

/**
 * Joins the run. A device id held by another instance is waited for up to the liveness timeout
 * (and a little more): a device restarted after a crash finds its old self's key still alive for
 * that long, while a second live device with the same id keeps renewing it.
 */
async function registerOnce(
  deps: DeviceDeps,
  reg: DeviceRegistration,
  timeoutS: number,
  log: Logger,
): Promise<void> {
  const giveUpAt = Date.now() + (timeoutS + 2) * 1000;
  for (let logged = false; ;) {
    try {
      await deps.membership.register(reg);
      return;
    } catch (err) {
      if (!(err instanceof DeviceIdTakenError)) throw err;
      if (Date.now() >= giveUpAt) throw new DeviceRefusedError(err.message);
      if (!logged) log.warn({ err: err.message }, 'device id held: waiting for it to expire');
      logged = true;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** One task's outcome in the metrics and the log. */
function record(metrics: DeviceMetrics, log: Logger, o: TaskOutcome): void {
  metrics.tasksTotal.inc({ outcome: o.kind });
  if (o.kind === 'trained') {
    metrics.trainSeconds.observe(o.computeMs / 1000);
    metrics.phaseSeconds.observe({ phase: 'train' }, o.computeMs / 1000);
    const t = o.update.timings;
    if (t) {
      metrics.phaseSeconds.observe({ phase: 'fetch' }, t.fetchMs / 1000);
      metrics.phaseSeconds.observe({ phase: 'verify' }, t.verifyMs / 1000);
      metrics.phaseSeconds.observe({ phase: 'encode' }, t.encodeMs / 1000);
      metrics.phaseSeconds.observe({ phase: 'store' }, t.storeMs / 1000);
    }
    metrics.lastRound.set(o.round);
    log.info({ round: o.round, ms: Math.round(o.computeMs), d: o.update.losses.d }, 'trained');
  } else if (o.kind === 'failed') {
    log.error({ err: o.error }, 'task failed');
  } else {
    log.warn(o, `task ${o.kind}`);
  }
}
