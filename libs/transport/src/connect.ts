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
  /**
   * The server's alone: this process consumes what the run's bounded dead-letter queue drops,
   * logs it and reports it here (for a metric). Devices leave it unset.
   */
  onDeadLetterDropped?: (reason: string, count: number) => void;
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
    onConsumerState: (s, queue, d) =>
      log[s === 'resubscribed' ? 'info' : 'warn'](
        { rabbitmq: `consumer-${s}`, queue, detail: d },
        s === 'cancelled'
          ? `RabbitMQ cancelled the consumer of ${queue}: declaring the queue again and consuming again`
          : s === 'resubscribed'
            ? `consuming ${queue} again`
            : `consuming ${queue} again failed: retrying`,
      ),
    ...(o.onDeadLetterDropped && {
      consumeDroppedDeadLetters: true,
      onDeadLetterDropped: (reason: string, count: number) => {
        log.warn(
          { rabbitmq: 'dead-letters-dropped', reason, count },
          `the dead-letter queue dropped ${count} dead letter(s) (${reason})`,
        );
        o.onDeadLetterDropped?.(reason, count);
      },
    }),
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
