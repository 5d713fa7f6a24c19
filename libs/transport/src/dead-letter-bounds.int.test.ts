import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'amqplib';
import { names } from '@distgan/protocol';
import { RabbitRoundTransport, type RabbitOptions } from './rabbit-round-transport.js';
import { RABBITMQ_URL, connectRabbit, sleep, uniqueRun } from './rabbit.test-helpers.js';

/*
 * The run's dead-letter queue is bounded by length, bytes and age; what it drops goes to a
 * small queue that the server consumes and counts by reason. Against the RabbitMQ at
 * RABBITMQ_URL (default: the local one).
 */

/** A server transport that counts the dropped dead letters, by reason. */
async function countingServer(runId: string, opts: Partial<RabbitOptions>) {
  const dropped: Record<string, number> = {};
  const server = await connectRabbit(runId, {
    ...opts,
    consumeDroppedDeadLetters: true,
    onDeadLetterDropped: (reason, count) => (dropped[reason] = (dropped[reason] ?? 0) + count),
  });
  const total = (): number => Object.values(dropped).reduce((a, b) => a + b, 0);
  /** Waits until `n` drops were reported (about 10 s at most). */
  const droppedAtLeast = async (n: number): Promise<void> => {
    for (let i = 0; i < 100 && total() < n; i++) await sleep(100);
  };
  return { server, dropped, droppedAtLeast };
}

/** `count` garbage updates of `bytes` each, refused by the server: dead letters. */
async function flood(
  server: RabbitRoundTransport,
  device: RabbitRoundTransport,
  count: number,
  bytes: number,
): Promise<void> {
  const inbox = await server.openRound(0);
  for (let i = 0; i < count; i++) {
    const body = new Uint8Array(bytes).fill(0x61 + (i % 26));
    await device.publishUpdate(inbox.name, body);
  }
  for (let i = 0; i < count; i++) {
    const msg = await inbox.receive(5_000);
    assert.ok(msg, `garbage update ${i} arrived`);
    msg.reject();
  }
  await inbox.close();
}

describe('the dead-letter queue', { timeout: 60_000 }, () => {
  it('keeps at most its length, and the server counts the overflow as maxlen', async () => {
    const runId = uniqueRun('dlq-len');
    const { server, dropped, droppedAtLeast } = await countingServer(runId, {
      deadLetterMaxLength: 5,
    });
    // A device declares the same queues but does not consume the drops.
    const device = await connectRabbit(runId, { deadLetterMaxLength: 5 });
    const admin = await connect(RABBITMQ_URL);
    try {
      await flood(server, device, 20, 100);
      await droppedAtLeast(15);
      assert.deepEqual(dropped, { maxlen: 15 });
      assert.equal(await server.deadLetterCount(), 5);
      const ach = await admin.createChannel();
      const droppedQueue = await ach.checkQueue(names(runId).droppedDeadLetterQueue);
      assert.equal(droppedQueue.consumerCount, 1, 'only the server consumes the drops');
      assert.equal(droppedQueue.messageCount, 0, 'acknowledged at once');
    } finally {
      await server.deleteRunTopology([]).catch(() => {});
      await admin.close();
      await device.close();
      await server.close();
    }
  });

  it('keeps at most its bytes, and drops old dead letters as expired', async () => {
    const runId = uniqueRun('dlq-bytes');
    const { server, dropped, droppedAtLeast } = await countingServer(runId, {
      deadLetterMaxBytes: 3_000,
      deadLetterTtlMs: 3_000,
    });
    const device = await connectRabbit(runId, {
      deadLetterMaxBytes: 3_000,
      deadLetterTtlMs: 3_000,
    });
    try {
      // Ten 1,000-byte dead letters: three fit.
      await flood(server, device, 10, 1_000);
      await droppedAtLeast(7);
      assert.equal(dropped['maxlen'], 7);
      assert.ok((await server.deadLetterCount()) <= 3);
      // The three left expire.
      await droppedAtLeast(10);
      assert.deepEqual(dropped, { maxlen: 7, expired: 3 });
      assert.equal(await server.deadLetterCount(), 0);
    } finally {
      await server.deleteRunTopology([]).catch(() => {});
      await device.close();
      await server.close();
    }
  });

  it('refuses a bound that is not a positive integer', async () => {
    await assert.rejects(
      connectRabbit(uniqueRun('dlq-bad'), { deadLetterMaxLength: 0 }),
      /deadLetterMaxLength must be a positive integer/,
    );
  });
});
