import { connect } from 'amqplib';
import { Redis } from 'ioredis';

/** The RabbitMQ and Redis the suite talks to, and where they came from. */
export interface Services {
  rabbitmqUrl: string;
  redisUrl: string;
  source: string;
  stop(): Promise<void>;
}

const redact = (url: string): string => url.replace(/:[^:@/]+@/, ':***@');

async function reachable(rabbitmqUrl: string, redisUrl: string): Promise<string | undefined> {
  try {
    const c = await connect(rabbitmqUrl);
    await c.close();
  } catch (err) {
    return `RabbitMQ is not reachable at ${redact(rabbitmqUrl)}: ${(err as Error).message}`;
  }
  const r = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  try {
    await r.connect();
    await r.ping();
  } catch (err) {
    return `Redis is not reachable at ${redisUrl}: ${(err as Error).message}`;
  } finally {
    r.disconnect();
  }
  return undefined;
}

/**
 * The services named by RABBITMQ_URL and REDIS_URL (default: the local ones) for the process-mode
 * suite; the container-mode suite (containers.e2e.test.ts) runs its own in containers. Fails
 * with a clear message when they cannot be reached.
 */
export async function startServices(): Promise<Services> {
  const rabbitmqUrl = process.env['RABBITMQ_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
  const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const problem = await reachable(rabbitmqUrl, redisUrl);
  if (problem) {
    throw new Error(
      `${problem}. Start RabbitMQ and Redis, or point RABBITMQ_URL and REDIS_URL at running ` +
        'services.',
    );
  }
  return {
    rabbitmqUrl,
    redisUrl,
    source: `process mode: the services as processes, RabbitMQ at ${redact(rabbitmqUrl)} and Redis at ${redisUrl}`,
    stop: () => Promise.resolve(),
  };
}
