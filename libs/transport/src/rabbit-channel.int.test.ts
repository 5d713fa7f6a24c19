import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'amqplib';
import { names } from '@distgan/protocol';
import { RabbitRoundTransport } from './rabbit-round-transport.js';
import { RABBITMQ_URL, sleep, uniqueRun } from './rabbit.test-helpers.js';

/*
 * A channel that the broker closes while the connection lives (a channel error): the transport
 * opens a new one and declares its topology and consumers again. Against the RabbitMQ at
 * RABBITMQ_URL (default: the local one).
 */

describe('RabbitRoundTransport when the broker closes its channel', { timeout: 60_000 }, () => {
  it('reopens the channel, declares the deleted exchange again, and tasks reach the device', async () => {
    const runId = uniqueRun('channel');
    const states: string[] = [];
    const t = await RabbitRoundTransport.connect({
      url: RABBITMQ_URL,
      runId,
      initialMaxRetries: 2,
      onState: (s, d) => states.push(`${s}${d ? `: ${d}` : ''}`),
    });
    const admin = await connect(RABBITMQ_URL);
    try {
      const received: string[] = [];
      await t.subscribeTasks('device-0', async (msg) => {
        received.push(Buffer.from(msg.body).toString());
        msg.ack();
      });
      const task = (n: number): Uint8Array => Buffer.from(`task ${n}`);
      await t.publishTask(task(0), { kind: 'devices', deviceIds: ['device-0'] });
      for (let i = 0; i < 100 && received.length < 1; i++) await sleep(20);
      assert.deepEqual(received, ['task 0']);

      // The run's exchange deleted under the transport, as in an operator's mistake: the next
      // publish makes the broker close the channel (404), while the connection stays up.
      const ach = await admin.createChannel();
      await ach.deleteExchange(names(runId).tasksExchange);
      await assert.rejects(t.publishTask(task(1), { kind: 'devices', deviceIds: ['device-0'] }));

      // The transport goes on: a new channel, the exchange and the device's consumer declared
      // again. Without the reopening every later operation fails with "Channel closed".
      let delivered = false;
      for (let n = 2; n < 100 && !delivered; n++) {
        try {
          await t.publishTask(task(n), { kind: 'devices', deviceIds: ['device-0'] });
          for (let i = 0; i < 50 && !delivered; i++) {
            delivered = received.length > 1;
            if (!delivered) await sleep(20);
          }
        } catch {
          await sleep(100);
        }
      }
      assert.ok(
        delivered,
        `a task reached the device after the channel closed (${states.join('; ')})`,
      );
      assert.ok(t.connected);
      assert.ok(
        states.some((s) => s.startsWith('disconnected: channel error')),
        'the channel error was reported',
      );
    } finally {
      await t.deleteRunTopology(['device-0']).catch(() => {});
      await t.close();
      await admin.close();
    }
  });
});
