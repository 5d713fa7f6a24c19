import { names } from '@distgan/protocol';
import { AsyncQueue } from './async-queue.js';
import type {
  InboundMessage,
  RoundInbox,
  RoundTransport,
  TaskSubscription,
  TaskTarget,
} from './round-transport.js';

/**
 * The in-memory twin of the RabbitMQ round transport: per-device task queues that outlive their
 * consumers (durable), per-round reply queues that vanish when the round closes, rejected
 * messages kept aside as a dead-letter list. One instance is shared by the server and the
 * devices of an embedded run.
 */
export class MemoryRoundTransport implements RoundTransport {
  private readonly deviceQueues = new Map<string, AsyncQueue<Uint8Array>>();
  private readonly roundQueues = new Map<string, AsyncQueue<Uint8Array>>();
  /** Bodies refused by a consumer, as the dead-letter exchange would hold them. */
  readonly deadLetters: Uint8Array[] = [];
  /** Messages and bytes that crossed this transport, and updates dropped for a closed round. */
  readonly traffic = { tasks: 0, updates: 0, bytes: 0, droppedUpdates: 0 };
  private readonly names: ReturnType<typeof names>;

  constructor(readonly runId: string) {
    this.names = names(runId);
  }

  /** A device's durable task queue, keyed by its RabbitMQ name (validates the device id). */
  private deviceQueue(deviceId: string): AsyncQueue<Uint8Array> {
    const name = this.names.deviceQueue(deviceId);
    let q = this.deviceQueues.get(name);
    if (!q) {
      q = new AsyncQueue();
      this.deviceQueues.set(name, q);
    }
    return q;
  }

  private inbound(body: Uint8Array, queue: AsyncQueue<Uint8Array>): InboundMessage {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      return true;
    };
    return {
      body,
      ack: () => void settle(),
      reject: () => {
        if (settle()) this.deadLetters.push(body);
      },
      requeue: () => {
        if (settle()) queue.unshift(body);
      },
    };
  }

  async openRound(round: number): Promise<RoundInbox> {
    const name = this.names.roundQueue(round);
    this.roundQueues.get(name)?.close(); // a retried round starts from an empty queue
    const queue = new AsyncQueue<Uint8Array>();
    this.roundQueues.set(name, queue);
    return {
      name,
      receive: async (timeoutMs) => {
        const body = await queue.next(timeoutMs);
        return body ? this.inbound(body, queue) : null;
      },
      close: async () => {
        if (this.roundQueues.get(name) === queue) this.roundQueues.delete(name);
        queue.close();
      },
    };
  }

  async publishTask(body: Uint8Array, target: TaskTarget): Promise<void> {
    const queues =
      target.kind === 'all'
        ? [...this.deviceQueues.values()]
        : target.deviceIds.map((id) => this.deviceQueue(id));
    for (const q of queues) {
      q.push(new Uint8Array(body)); // a copy (Buffer#slice would be a view)
      this.traffic.tasks += 1;
      this.traffic.bytes += body.length;
    }
  }

  async subscribeTasks(
    deviceId: string,
    handler: (msg: InboundMessage) => Promise<void>,
  ): Promise<TaskSubscription> {
    const queue = this.deviceQueue(deviceId);
    const stop = new AbortController();
    const loop = (async () => {
      for (;;) {
        const body = await queue.next(Infinity, stop.signal);
        if (!body) break;
        await handler(this.inbound(body, queue));
      }
    })();
    return {
      // Lets the task in hand finish; undelivered tasks stay queued for the next consumer.
      close: async () => {
        stop.abort();
        await loop;
      },
    };
  }

  async publishUpdate(replyTo: string, body: Uint8Array): Promise<void> {
    const queue = this.roundQueues.get(replyTo);
    this.traffic.bytes += body.length;
    if (!queue || !queue.push(new Uint8Array(body))) {
      this.traffic.droppedUpdates += 1;
      return;
    }
    this.traffic.updates += 1;
  }

  async close(): Promise<void> {
    for (const q of [...this.deviceQueues.values(), ...this.roundQueues.values()]) q.close();
    this.deviceQueues.clear();
    this.roundQueues.clear();
  }
}
