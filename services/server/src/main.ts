#!/usr/bin/env node
import { describeBackend, initBackend } from '@distgan/gan';
import { ConfigError, setDigestAlgorithm } from '@distgan/protocol';
import { createLogger } from '@distgan/telemetry';
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
const log = createLogger({
  service: 'distgan-server',
  level: config.LOG_LEVEL,
  bindings: { run: config.RUN_ID },
});
const backend = await initBackend({ forced: config.TFJS_BACKEND || undefined });
log.info({ backend: describeBackend(backend) }, 'backend');
log.info(setDigestAlgorithm(config.BLOB_DIGEST), 'blob digest');

const app = new ServerApp(config, log);
let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping after the round in progress');
  void app.stop().then(() => process.exit(0));
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

try {
  await app.start();
  log.info({ port: config.PORT }, 'server listening');
  await app.finished();
} catch (err) {
  log.error({ err }, 'server failed');
  process.exit(1);
}
