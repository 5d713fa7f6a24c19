#!/usr/bin/env node
import { ConfigError } from '@distgan/protocol';
import { dataConfigOf, loadRunDataset, startCompute } from '@distgan/run';
import { createLogger } from '@distgan/telemetry';
import { connectRunServices, RedisMembership } from '@distgan/transport';
import { buildDeviceApp, deviceData, DeviceRefusedError } from './app.js';
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

let stopping = false;
/** Stops taking tasks (the task in hand finishes first), leaves the run, and exits with `code`. */
const shutdown = async (why: Record<string, unknown>, code: number): Promise<void> => {
  if (stopping) return;
  stopping = true;
  log.info(why, 'stopping: the task in hand finishes first');
  await app.stop();
  await close();
  process.exit(code);
};
process.on('SIGTERM', () => void shutdown({ signal: 'SIGTERM' }, 0));
process.on('SIGINT', () => void shutdown({ signal: 'SIGINT' }, 0));
// The run is over, or the server refused this device: 0 finished, 1 the run failed, 2 refused.
void app.ended.then(({ code, reason }) => {
  if (code === 0) log.info({ reason }, 'the run is over');
  else log.error({ reason, exitCode: code }, code === 2 ? 'refused' : 'the run is over');
  return shutdown({ reason }, code);
});
try {
  await app.start();
} catch (err) {
  if (!(err instanceof DeviceRefusedError)) throw err;
  log.error({ reason: err.message }, 'refused');
  await shutdown({ reason: err.message }, 2);
}
