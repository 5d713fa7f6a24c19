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
});
const app = new ServerApp({
  config: c,
  log,
  transport: rabbit,
  store: redis,
  membership: new RedisMembership(redis, c.runId, c.heartbeatTimeoutS),
  checkpoints: c.checkpointDir
    ? directoryCheckpointStore(join(c.checkpointDir, c.runId), c.runId)
    : new RedisCheckpointStore(redis, c.runId),
  ready,
});
let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping after the round in progress');
  void app
    .stop()
    .then(disconnect)
    .then(() => process.exit(0));
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

try {
  await app.start();
  log.info({ port: c.port }, 'server listening');
  await app.finished();
} catch (err) {
  log.error({ err }, 'server failed');
  process.exit(1);
}
