#!/usr/bin/env node
import Fastify from 'fastify';
import { describeBackend, initBackend, LocalDiscriminatorTrainer } from '@distgan/gan';
import { ConfigError, setDigestAlgorithm } from '@distgan/protocol';
import { createDeviceMetrics, createLogger } from '@distgan/telemetry';
import { DeviceRuntime } from '@distgan/engine';
import { dataConfigOf, loadRunDataset, modelSpecFor, shardOf } from '@distgan/run';
import { RedisMembership, RabbitRoundTransport, RedisBlobStore } from '@distgan/transport';
import { loadDeviceConfig, type DeviceConfig } from './config.js';

let c: DeviceConfig;
try {
  c = loadDeviceConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`distgan device: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
const log = createLogger({
  service: 'distgan-device',
  level: c.LOG_LEVEL,
  bindings: { run: c.RUN_ID, device: c.DEVICE_ID },
});
const backend = await initBackend({ forced: process.env['TFJS_BACKEND'] || undefined });
log.info({ backend: describeBackend(backend) }, 'backend');
log.info(setDigestAlgorithm(c.BLOB_DIGEST), 'blob digest');
const metrics = createDeviceMetrics();

const dataset = await loadRunDataset(dataConfigOf(c));
// Either the device's shard of a dataset every device loads, or a dataset of its own.
const indices =
  c.DEVICE_DATA === 'all'
    ? Int32Array.from({ length: dataset.count }, (_, i) => i)
    : shardOf(dataset, {
        scheme: c.PARTITION,
        devices: c.NUM_DEVICES,
        index: c.DEVICE_INDEX,
        seed: c.SEED,
        alpha: c.ALPHA,
        shardsPerDevice: c.SHARDS_PER_DEVICE,
      });
const spec = modelSpecFor({ model: c.MODEL, latentDim: c.LATENT_DIM }, dataset);

const redis = new RedisBlobStore({
  url: c.REDIS_URL,
  onState: (s, d) => log[s === 'error' ? 'warn' : 'info']({ redis: s, detail: d }, `Redis ${s}`),
});
log.info(redis.blobPath, `weight blobs move over the ${redis.blobPath.via}`);
const rabbit = await RabbitRoundTransport.connect({
  url: c.RABBITMQ_URL,
  runId: c.RUN_ID,
  onState: (s, d) =>
    log[s === 'connected' ? 'info' : 'warn']({ rabbitmq: s, detail: d }, `RabbitMQ ${s}`),
});
const membership = new RedisMembership(redis, c.RUN_ID, c.HEARTBEAT_TIMEOUT_S);
const runtime = new DeviceRuntime(
  new LocalDiscriminatorTrainer(spec, { learningRate: 2e-4, beta1: 0.5, beta2: 0.999 }),
  rabbit,
  redis,
  { runId: c.RUN_ID, deviceId: c.DEVICE_ID, data: { dataset, indices }, blobTtlSeconds: 600 },
  (o) => {
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
  },
);

const http = Fastify({ logger: false });
http.get('/healthz', async () => ({ ok: true, state: runtime.state }));
// Ready: both services reachable, so the device can take the next round's task.
http.get('/readyz', async (_req, reply) => {
  const ready = rabbit.connected && (await redis.ping());
  return reply
    .code(ready ? 200 : 503)
    .send({ ready, rabbitmq: rabbit.connected, state: runtime.state });
});
http.get('/metrics', async (_req, reply) =>
  reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
);
await http.listen({ port: c.PORT, host: '0.0.0.0' });

const registration = {
  deviceId: c.DEVICE_ID,
  samples: indices.length,
  shard: c.DEVICE_INDEX,
  backend: backend.name,
  registeredAt: Date.now(),
};
await membership.register(registration);
await runtime.start();
const beat = setInterval(() => {
  membership.heartbeat(registration).catch((err: unknown) => log.warn({ err }, 'heartbeat failed'));
}, c.HEARTBEAT_S * 1000);
log.info({ samples: indices.length, shard: c.DEVICE_INDEX, port: c.PORT }, 'device ready');

let stopping = false;
const shutdown = async (signal: string): Promise<void> => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping: the task in hand finishes first');
  clearInterval(beat);
  await runtime.stop();
  await membership.leave(c.DEVICE_ID).catch(() => {});
  await http.close();
  await rabbit.close();
  await redis.close();
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
