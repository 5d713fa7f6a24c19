import { RabbitRoundTransport, type RabbitOptions } from './rabbit-round-transport.js';

/*
 * What the RabbitMQ integration tests share (imported by tests only, not by the package): the broker they run
 * against, a run id of their own, and a transport connected to it.
 */

/** The broker of the integration tests (default: the local one). */
export const RABBITMQ_URL = process.env['RABBITMQ_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A run id no other test run uses: its queues and exchanges are the test's alone. */
export function uniqueRun(label: string): string {
  return `it-${label}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** A transport of `runId` on the test broker, failing clearly when there is none. */
export async function connectRabbit(
  runId: string,
  opts: Partial<RabbitOptions> = {},
): Promise<RabbitRoundTransport> {
  try {
    return await RabbitRoundTransport.connect({
      url: RABBITMQ_URL,
      runId,
      initialMaxRetries: 2,
      ...opts,
    });
  } catch (err) {
    throw new Error(
      `RabbitMQ is not reachable at ${RABBITMQ_URL} (set RABBITMQ_URL): ${(err as Error).message}`,
      { cause: err },
    );
  }
}
