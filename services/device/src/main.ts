#!/usr/bin/env node
import { ConfigError } from '@distgan/protocol';
import { dataConfigOf, loadRunDataset, startCompute } from '@distgan/run';
import { createLogger } from '@distgan/telemetry';
import { connectRunServices, RedisMembership } from '@distgan/transport';
import { buildDeviceApp, deviceData } from './app.js';
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
  level: c.logLevel,
  bindings: { run: c.runId, device: c.deviceId },
});
const compute = await startCompute(c);
log.info({ backend: compute.backend }, 'backend');
log.info(compute.digest, 'blob digest');

const dataset = await loadRunDataset(dataConfigOf(c));

const { redis, rabbit, ready, close } = await connectRunServices({
  rabbitmqUrl: c.rabbitmqUrl,
  redisUrl: c.redisUrl,
  runId: c.runId,
  log,
});
const app = buildDeviceApp({
  config: c,
  log,
  transport: rabbit,
  store: redis,
  membership: new RedisMembership(redis, c.runId, c.heartbeatTimeoutS),
  data: deviceData(c, dataset),
  backend: compute.backendName,
  ready,
});
await app.http.listen({ port: c.port, host: '0.0.0.0' });
await app.start();

let stopping = false;
const shutdown = async (signal: string): Promise<void> => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping: the task in hand finishes first');
  await app.stop();
  await close();
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
