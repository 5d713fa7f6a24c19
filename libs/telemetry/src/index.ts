/** @distgan/telemetry — structured logging and Prometheus metric definitions. */
export { createLogger, type Logger, type LoggerConfig } from './logger.js';
export * from './metrics.js';
