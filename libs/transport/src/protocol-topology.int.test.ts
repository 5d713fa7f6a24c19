import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Channel } from 'amqplib';
import { names } from '@distgan/protocol';
import { RabbitRoundTransport } from './rabbit-round-transport.js';
import { RABBITMQ_URL, uniqueRun } from './rabbit.test-helpers.js';

/*
 * docs/protocol.md §7 against the broker: a device in another language declares its queue with
 * the arguments the page gives, so every queue this transport declares must accept exactly
 * those (and refuse others: PRECONDITION_FAILED). Against the RabbitMQ at RABBITMQ_URL.
 */
const DOC = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
/** Section 7, the topology's table. */
const TOPOLOGY = DOC.slice(DOC.indexOf('## 7. RabbitMQ topology'), DOC.indexOf('## 8.'));

/** The arguments the page's topology table gives the queue in the row that starts with `name`. */
function documentedArguments(name: string, runId: string): Record<string, string | number> {
  const row = TOPOLOGY.split('\n').find((l) => l.startsWith(`| \`${name}\` | queue`));
  assert.ok(row, `docs/protocol.md has no topology row for the queue ${name}`);
  const args: Record<string, string | number> = {};
  const cell = row.split('|').at(-2)!;
  for (const m of cell.matchAll(/`(x-[a-z-]+)` (?:`([^`]+)`|(\d+))/g))
    args[m[1]!] = m[2] !== undefined ? m[2].replaceAll('<run>', runId) : Number(m[3]);
  assert.ok(Object.keys(args).length >= 3, `no arguments found in: ${row}`);
  return args;
}

/** Whether declaring `queue` with `args` on a fresh channel is accepted by the broker. */
async function declares(
  conn: Awaited<ReturnType<typeof connect>>,
  queue: string,
  args: Record<string, unknown>,
): Promise<true | string> {
  const ch: Channel = await conn.createChannel();
  ch.on('error', () => {});
  try {
    await ch.assertQueue(queue, { durable: true, arguments: args });
    await ch.close();
    return true;
  } catch (err) {
    return String(err);
  }
}

describe('the topology of docs/protocol.md §7, over RabbitMQ', () => {
  it('every queue the transport declares accepts the documented arguments, and refuses others', async () => {
    const runId = uniqueRun('topology');
    const n = names(runId);
    const transport = await RabbitRoundTransport.connect({
      url: RABBITMQ_URL,
      runId,
      initialMaxRetries: 2,
    });
    const conn = await connect(RABBITMQ_URL);
    try {
      const sub = await transport.subscribeTasks('device-0', async (m) => m.ack());
      const inbox = await transport.openRound(3);
      const queues: [string, string][] = [
        ['distgan.<run>.device.<id>', n.deviceQueue('device-0')],
        ['distgan.<run>.round.<t>', n.roundQueue(3)],
        ['distgan.<run>.dead', n.deadLetterQueue],
        ['distgan.<run>.dead.dropped', n.droppedDeadLetterQueue],
      ];
      for (const [documented, queue] of queues) {
        const args = documentedArguments(documented, runId);
        assert.equal(
          await declares(conn, queue, args),
          true,
          `${documented}: ${JSON.stringify(args)}`,
        );
      }
      // The broker does hold a queue to its arguments: a device with another delivery limit
      // has its channel closed.
      const other = {
        ...documentedArguments('distgan.<run>.device.<id>', runId),
        'x-delivery-limit': 5,
      };
      assert.match(
        String(await declares(conn, n.deviceQueue('device-0'), other)),
        /PRECONDITION_FAILED/,
      );
      await inbox.close();
      await sub.close();
      await transport.deleteRunTopology(['device-0']);
    } finally {
      await conn.close();
      await transport.close();
    }
  });
});
