import { connect } from 'amqplib';
import { Redis } from 'ioredis';
import { getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import { RabbitMQContainer } from '@testcontainers/rabbitmq';
import { RedisContainer } from '@testcontainers/redis';

/** The RabbitMQ and Redis the suite talks to, and where they came from. */
export interface Services {
  rabbitmqUrl: string;
  redisUrl: string;
  source: string;
  stop(): Promise<void>;
}

const redact = (url: string): string => url.replace(/:[^:@/]+@/, ':***@');

async function hasContainerRuntime(timeoutMs: number): Promise<boolean> {
  try {
    await Promise.race([
      getContainerRuntimeClient(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), timeoutMs)),
    ]);
    return true;
  } catch {
    return false;
  }
}

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
 * RabbitMQ and Redis containers (testcontainers) when a container runtime is available;
 * otherwise the services named by RABBITMQ_URL and REDIS_URL (default: the local ones). Fails
 * with a clear message when neither can be reached.
 */
export async function startServices(): Promise<Services> {
  if (await hasContainerRuntime(5000)) {
    const started: StartedTestContainer[] = [];
    const rabbit = await new RabbitMQContainer('rabbitmq:3.13-alpine').start();
    started.push(rabbit);
    const redis = await new RedisContainer('redis:7-alpine').start();
    started.push(redis);
    return {
      rabbitmqUrl: rabbit.getAmqpUrl(),
      redisUrl: redis.getConnectionUrl(),
      source: 'testcontainers: RabbitMQ and Redis containers',
      stop: async () => {
        for (const c of started) await c.stop();
      },
    };
  }
  const rabbitmqUrl = process.env['RABBITMQ_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
  const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const problem = await reachable(rabbitmqUrl, redisUrl);
  if (problem) {
    throw new Error(
      `no container runtime for testcontainers, and ${problem}. Start a Docker engine, or point ` +
        'RABBITMQ_URL and REDIS_URL at running services.',
    );
  }
  return {
    rabbitmqUrl,
    redisUrl,
    source: `no container runtime: the services at RABBITMQ_URL=${redact(rabbitmqUrl)} and REDIS_URL=${redisUrl}`,
    stop: () => Promise.resolve(),
  };
}
