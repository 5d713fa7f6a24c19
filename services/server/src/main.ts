#!/usr/bin/env node
import { join } from 'node:path';
import { directoryCheckpointStore } from '@distgan/engine';
import { ConfigError } from '@distgan/protocol';
import { startCompute } from '@distgan/run';
import { createLogger } from '@distgan/telemetry';
import { connectRunServices, RedisCheckpointStore, RedisMembership } from '@distgan/transport';
import { loadServerConfig, type ServerConfig } from './config.js';
import { ServerApp } from './app.js';

let config: ServerConfig;
try {
  config = loadServerConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`distgan server: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
const c = config;
const log = createLogger({
  service: 'distgan-server',
  level: c.logLevel,
  bindings: { run: c.runId },
});
const compute = await startCompute(c);
log.info({ backend: compute.backend }, 'backend');
log.info(compute.digest, 'blob digest');

const {
  rabbit,
  redis,
  ready,
  close: disconnect,
} = await connectRunServices({
  rabbitmqUrl: c.rabbitmqUrl,
  redisUrl: c.redisUrl,
  runId: c.runId,
  log,
  // Reported from a timer, so never before `app` below exists.
  onDeadLetterDropped: (reason, count) =>
    app.metrics.deadLettersDroppedTotal.inc({ reason }, count),
});
const invalid = new Set<string>();
const app: ServerApp = new ServerApp({
  config: c,
  log,
  transport: rabbit,
  store: redis,
  // A devices-hash entry that is not a registration of this protocol (an older device, a
  // foreign writer) cannot take part: logged once per device and counted.
  membership: new RedisMembership(redis, c.runId, c.heartbeatTimeoutS, (deviceId, reason) => {
    if (invalid.has(deviceId)) return;
    invalid.add(deviceId);
    app.metrics.devicesRefusedTotal.inc({ reason: 'invalid-registration' });
    log.error({ device: deviceId, why: reason }, 'device refused: its registration is invalid');
  }),
  checkpoints: c.checkpointDir
    ? directoryCheckpointStore(join(c.checkpointDir, c.runId), c.runId)
    : new RedisCheckpointStore(redis, c.runId),
  ready,
});
let stopping = false;
/**
 * Stops after the round in progress (it is checkpointed) and exits: 0 when the run stopped
 * cleanly, 1 when it had failed, its last round attempts were failing, or the round in progress
 * did not end within its deadline and a margin (a stuck server must not look like a clean stop).
 */
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping after the round in progress');
  const graceMs = c.roundDeadlineMs + 10_000;
  const timer = setTimeout(() => {
    log.error({ graceMs }, 'the round in progress did not end in time: exiting without it');
    process.exit(1);
  }, graceMs);
  void app
    .stop()
    .then(() => {
      // Stopped while its rounds were failing: not a clean stop either.
      if (app.degraded) log.error({ why: app.degraded }, 'stopped while rounds were failing');
      return disconnect();
    })
    .then(() => {
      clearTimeout(timer);
      process.exit(app.status === 'failed' || app.degraded ? 1 : 0);
    });
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

try {
  await app.start();
  log.info({ port: c.port }, 'server listening');
  await app.finished();
} catch (err) {
  log.error({ err }, 'server failed');
  await Promise.race([disconnect(), new Promise((r) => setTimeout(r, 5_000))]);
  process.exit(1);
}
if (app.status === 'finished' && !stopping) {
  // Answers /api/run and /metrics a little longer (a last scrape), then exits 0 by itself; the
  // devices have read that the run is over and exit too.
  log.info({ lingerS: c.lingerS }, 'run finished: exiting after the linger time');
  setTimeout(() => shutdown('run finished'), c.lingerS * 1000);
}
