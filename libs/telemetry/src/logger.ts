import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

export interface LoggerConfig {
  /** Service name, on every line. */
  service: string;
  level?: LoggerOptions['level'];
  /** Fields added to every line (run id, device id). */
  bindings?: Record<string, string | number>;
  /** Where lines go; default stdout. */
  destination?: NodeJS.WritableStream;
}

/**
 * Structured JSON logs (one object per line), as fastify writes them: a log shipper reads them
 * as they are, and `pino-pretty` makes them readable at a terminal.
 */
export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    level: config.level ?? 'info',
    base: { service: config.service, ...config.bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return config.destination ? pino(options, config.destination) : pino(options);
}
