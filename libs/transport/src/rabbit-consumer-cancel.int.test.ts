import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ChannelModel } from 'amqplib';
import { names } from '@distgan/protocol';
import { RABBITMQ_URL, connectRabbit, sleep, uniqueRun } from './rabbit.test-helpers.js';

/*
 * A consumer that the broker cancels because its queue was deleted (`rabbitmqctl delete_queue`,
 * or the management API): the transport declares the queue again and consumes again. Against
 * the RabbitMQ at RABBITMQ_URL (default: the local one).
 */
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Waits until `queue` exists with a consumer again (about 5 s at most). */
async function consumedAgain(admin: ChannelModel, queue: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const ch = await admin.createChannel();
    ch.on('error', () => {});
    try {
      const ok = await ch.checkQueue(queue);
      await ch.close();
      if (ok.consumerCount > 0) return;
    } catch {
      /* 404: not declared again (yet); the channel is closed by the broker */
    }
    await sleep(100);
  }
}

describe('RabbitRoundTransport when the broker cancels a consumer', { timeout: 60_000 }, () => {
  it('a device whose queue is deleted declares it again and receives the next task', async () => {
    const runId = uniqueRun('cancel-dev');
    const states: string[] = [];
    const server = await connectRabbit(runId);
    const device = await connectRabbit(runId, {
      onConsumerState: (s, q, d) => states.push(`${s} ${q}${d ? `: ${d}` : ''}`),
    });
    const admin = await connect(RABBITMQ_URL);
    const queue = names(runId).deviceQueue('device-1');
    try {
      const received: string[] = [];
      const sub = await device.subscribeTasks('device-1', async (msg) => {
        received.push(new TextDecoder().decode(msg.body));
        msg.ack();
      });
      const target = { kind: 'devices', deviceIds: ['device-1'] } as const;
      await server.publishTask(text('task 0'), target);
      for (let i = 0; i < 100 && received.length < 1; i++) await sleep(20);
      assert.deepEqual(received, ['task 0']);

      // As `rabbitmqctl delete_queue distgan.<run>.device.device-1` does: the broker cancels the
      // device's consumer. Without the resubscription the queue stays gone, the server's task is
      // unroutable, and the device waits forever.
      const ach = await admin.createChannel();
      await ach.deleteQueue(queue);
      await consumedAgain(admin, queue);

      await server.publishTask(text('task 1'), target);
      await server.publishTask(text('task 2'), { kind: 'all' });
      for (let i = 0; i < 250 && received.length < 3; i++) await sleep(20);
      assert.deepEqual(
        received,
        ['task 0', 'task 1', 'task 2'],
        `the tasks after the delete reached the device, by both bindings (${states.join('; ')})`,
      );
      assert.deepEqual(states, [
        `cancelled ${queue}: cancelled by the broker`,
        `resubscribed ${queue}`,
      ]);

      // A closed subscription is not resubscribed: its cancel is the client's own.
      await sub.close();
      await ach.deleteQueue(queue);
      await sleep(300);
      assert.equal(states.length, 2);
    } finally {
      await server.deleteRunTopology(['device-1']).catch(() => {});
      await admin.close();
      await device.close();
      await server.close();
    }
  });

  it('a round inbox whose queue is deleted mid-round declares it again and receives updates', async () => {
    const runId = uniqueRun('cancel-round');
    const states: string[] = [];
    const server = await connectRabbit(runId, {
      onConsumerState: (s, q) => states.push(`${s} ${q}`),
    });
    const device = await connectRabbit(runId);
    const admin = await connect(RABBITMQ_URL);
    try {
      const inbox = await server.openRound(3);
      await device.publishUpdate(inbox.name, text('update a'));
      const a = await inbox.receive(5_000);
      assert.equal(a && new TextDecoder().decode(a.body), 'update a');
      a?.ack();

      await (await admin.createChannel()).deleteQueue(inbox.name);
      await consumedAgain(admin, inbox.name);

      await device.publishUpdate(inbox.name, text('update b'));
      const b = await inbox.receive(5_000);
      assert.equal(b && new TextDecoder().decode(b.body), 'update b', states.join('; '));
      b?.ack();
      assert.equal(device.traffic.droppedUpdates, 0);
      assert.deepEqual(states, [`cancelled ${inbox.name}`, `resubscribed ${inbox.name}`]);
      await inbox.close();
    } finally {
      await server.deleteRunTopology([]).catch(() => {});
      await admin.close();
      await device.close();
      await server.close();
    }
  });
});
