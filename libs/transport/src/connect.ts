import { RabbitRoundTransport } from './rabbit-round-transport.js';
import { RedisBlobStore } from './redis-blob-store.js';

/** The part of a logger that connection states are written to (pino's Logger fits). */
export interface StateLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** A process's RabbitMQ and Redis, connected, with their readiness and their closing. */
export interface RunServices {
  rabbit: RabbitRoundTransport;
  redis: RedisBlobStore;
  /** Both reachable now (for /readyz). */
  ready(): Promise<{ ready: boolean; detail: { rabbitmq: boolean } }>;
  close(): Promise<void>;
}

/**
 * Connects a service's RabbitMQ round transport and Redis blob store for one run, logging their
 * state changes and how the weight blobs move. Both reconnect by themselves afterwards.
 */
export async function connectRunServices(o: {
  rabbitmqUrl: string;
  redisUrl: string;
  runId: string;
  log: StateLog;
}): Promise<RunServices> {
  const { log } = o;
  const redis = new RedisBlobStore({
    url: o.redisUrl,
    onState: (s, d) => log[s === 'error' ? 'warn' : 'info']({ redis: s, detail: d }, `Redis ${s}`),
  });
  log.info(redis.blobPath, `weight blobs move over the ${redis.blobPath.via}`);
  const rabbit = await RabbitRoundTransport.connect({
    url: o.rabbitmqUrl,
    runId: o.runId,
    onState: (s, d) =>
      log[s === 'connected' ? 'info' : 'warn']({ rabbitmq: s, detail: d }, `RabbitMQ ${s}`),
  });
  return {
    rabbit,
    redis,
    ready: async () => {
      const ready = rabbit.connected && (await redis.ping());
      return { ready, detail: { rabbitmq: rabbit.connected } };
    },
    close: async () => {
      await rabbit.close();
      await redis.close();
    },
  };
}
