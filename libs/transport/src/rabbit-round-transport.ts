import {
  connect,
  type ConfirmChannel,
  type ConsumeMessage,
  type RecoveringChannelModel,
} from 'amqplib';
import { names, type RunNames } from '@distgan/protocol';
import {
  AsyncQueue,
  TransportError,
  type InboundMessage,
  type RoundInbox,
  type RoundTransport,
  type TaskSubscription,
  type TaskTarget,
} from '@distgan/engine';

export interface RabbitOptions {
  /** amqp://user:pass@host:port/vhost */
  url: string;
  runId: string;
  /** Unacknowledged round updates the server takes at once. Default 16. */
  updatePrefetch?: number;
  /** A round queue is deleted by the broker this long after its last use. Default 10 min. */
  roundQueueExpiresMs?: number;
  /**
   * A device queue, and the run's dead-letter queue, are deleted by the broker this long after
   * their last use (no consumer, no declaration): a finished run's durable queues would
   * otherwise stay forever, each holding broker file descriptors. Default 24 h: far longer than
   * a device is ever away while it still counts as alive.
   */
  idleQueueExpiresMs?: number;
  /** A quorum queue dead-letters a message after this many deliveries. Default 10. */
  deliveryLimit?: number;
  /** Connection state changes, for logs and readiness. */
  onState?: (state: 'connected' | 'disconnected' | 'reconnecting', detail?: string) => void;
  /** First-connection retries before giving up (then: forever once connected). Default 10. */
  initialMaxRetries?: number;
  /**
   * TCP_NODELAY on the connection. Default true; false only to measure what Nagle's algorithm
   * costs (bench:overhead).
   */
  noDelay?: boolean;
  /**
   * How long one connection attempt (TCP and the AMQP handshake) may take before it counts as
   * failed and the next attempt is scheduled. Default 10 s. Without it, an attempt that reaches a
   * broker while it is still starting (`rabbitmqctl start_app`) can wait for the handshake
   * forever, and recovery never tries again: the run stalls with no further log line.
   */
  connectTimeoutMs?: number;
}

interface Consumer {
  queue: string;
  prefetch: number;
  /** Declares the queue (and its bindings) on a fresh channel. */
  declare(ch: ConfirmChannel): Promise<void>;
  onMessage(msg: ConsumeMessage, ch: ConfirmChannel): void;
  tag?: string;
}

/**
 * The round transport on RabbitMQ (docs/design.md §3): a topic exchange for tasks, one durable
 * quorum queue per device, one quorum queue per round for the updates, a dead-letter exchange.
 * Publisher confirms on every publish; manual acks; bounded prefetch. The connection recovers
 * by itself with backoff; after each reconnect the topology and every consumer are declared
 * again, and unacknowledged messages come back from the broker (at-least-once).
 */
export class RabbitRoundTransport implements RoundTransport {
  readonly runId: string;
  private readonly names: RunNames;
  private channel: ConfirmChannel | undefined;
  private channelReady: Promise<ConfirmChannel>;
  private resolveChannel!: (ch: ConfirmChannel) => void;
  private readonly consumers = new Set<Consumer>();
  private readonly declaredDeviceQueues = new Set<string>();
  /** Updates published to a round queue that no longer exists (returned as unroutable). */
  readonly traffic = { tasks: 0, updates: 0, droppedUpdates: 0 };
  private closed = false;

  private constructor(
    private readonly conn: RecoveringChannelModel,
    private readonly opts: RabbitOptions,
  ) {
    this.runId = opts.runId;
    this.names = names(opts.runId);
    this.channelReady = new Promise((r) => (this.resolveChannel = r));
  }

  static async connect(opts: RabbitOptions): Promise<RabbitRoundTransport> {
    const conn = await connect(opts.url, {
      // Without TCP_NODELAY, Nagle's algorithm holds a publish's last frame until the broker's
      // delayed ACK: about 22 ms on every task and every update on loopback (measured), where the
      // broker itself answers in 1 to 2 ms.
      noDelay: opts.noDelay ?? true,
      timeout: opts.connectTimeoutMs ?? 10_000,
      recovery: {
        initialDelay: 200,
        maxDelay: 5_000,
        maxRetries: Infinity,
        initialMaxRetries: opts.initialMaxRetries ?? 10,
        waitForConnect: false,
      },
    });
    const t = new RabbitRoundTransport(conn, opts);
    conn.on('connect', () => t.reopen());
    conn.on('disconnect', (err: Error) => {
      t.onDisconnect();
      opts.onState?.('disconnected', err?.message);
    });
    conn.on('reconnect-scheduled', ({ attempt, delay }: { attempt: number; delay: number }) =>
      opts.onState?.('reconnecting', `attempt ${attempt} in ${delay} ms`),
    );
    conn.on('connect-failed', (err: Error) =>
      opts.onState?.('disconnected', `connecting failed: ${err?.message}`),
    );
    conn.on('error', () => {}); // reported through 'disconnect'
    try {
      await conn.waitForConnect();
    } catch (err) {
      throw new TransportError(`connecting to RabbitMQ at ${redact(opts.url)}`, err);
    }
    await t.channelReady;
    return t;
  }

  /** Whether a channel is being opened (one at a time; a failed attempt is retried). */
  private reopening = false;

  /**
   * Opens a channel and declares the topology and every consumer again: after the connection
   * came back, and after the broker closed the channel alone (a channel error such as a deleted
   * exchange or queue, while the connection lives). Retries with backoff until it succeeds or
   * the transport is closed; a lost connection's own recovery calls it again when it is back.
   */
  private reopen(): void {
    if (this.closed) return;
    if (this.reopening) {
      this.wake?.(); // the connection is back: try now rather than after the backoff
      return;
    }
    this.reopening = true;
    void (async () => {
      for (let attempt = 0; !this.closed && !this.channel; attempt++) {
        try {
          await this.onConnect();
        } catch (err) {
          this.opts.onState?.('disconnected', `opening a channel failed: ${String(err)}`);
          const delay = Math.min(5_000, 200 * 2 ** Math.min(attempt, 5));
          await new Promise<void>((r) => {
            const timer = setTimeout(r, delay);
            this.wake = () => {
              clearTimeout(timer);
              r();
            };
          });
          this.wake = undefined;
        }
      }
      this.reopening = false;
    })();
  }

  /** Cuts the backoff of a channel reopening short. */
  private wake: (() => void) | undefined;

  private async onConnect(): Promise<void> {
    const ch = await this.conn.createConfirmChannel();
    ch.on('error', (err: Error) =>
      this.opts.onState?.('disconnected', `channel error: ${err.message}`),
    );
    ch.on('close', () => {
      if (this.channel !== ch || this.closed) return;
      // Closed by the broker while the connection may live: without a new channel every later
      // operation would fail with "Channel closed" and the run would never advance.
      this.onDisconnect();
      this.reopen();
    });
    ch.on('return', () => {
      this.traffic.droppedUpdates += 1;
    });
    await ch.assertExchange(this.names.tasksExchange, 'topic', { durable: true });
    await ch.assertExchange(this.names.deadLetterExchange, 'fanout', { durable: true });
    await ch.assertQueue(this.names.deadLetterQueue, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-expires': this.idleQueueExpiresMs },
    });
    await ch.bindQueue(this.names.deadLetterQueue, this.names.deadLetterExchange, '');
    this.declaredDeviceQueues.clear();
    for (const c of this.consumers) await this.startConsumer(ch, c);
    this.channel = ch;
    this.resolveChannel(ch);
    this.opts.onState?.('connected');
  }

  private onDisconnect(): void {
    // Once per loss: callers already waiting hold the pending promise, which must stay the one
    // that the next channel resolves (a channel's close and the connection's disconnect both
    // come here).
    if (!this.channel) return;
    this.channel = undefined;
    this.channelReady = new Promise((r) => (this.resolveChannel = r));
  }

  /**
   * Runs a channel operation; whatever amqplib throws while the connection is lost or being
   * recovered becomes a TransportError, which the engine retries.
   */
  private async wrap<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw err instanceof TransportError ? err : new TransportError(`RabbitMQ: ${what}`, err);
    }
  }

  private get idleQueueExpiresMs(): number {
    return this.opts.idleQueueExpiresMs ?? 24 * 3_600_000;
  }

  /** The current channel, waiting for a reconnect if there is none. */
  private async ch(): Promise<ConfirmChannel> {
    if (this.closed) throw new TransportError('RabbitMQ', new Error('transport closed'));
    return this.channel ?? this.channelReady;
  }

  private queueArgs(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      'x-queue-type': 'quorum',
      'x-dead-letter-exchange': this.names.deadLetterExchange,
      'x-delivery-limit': this.opts.deliveryLimit ?? 10,
      ...extra,
    };
  }

  private async declareDeviceQueue(ch: ConfirmChannel, deviceId: string): Promise<string> {
    const queue = this.names.deviceQueue(deviceId);
    if (this.declaredDeviceQueues.has(queue)) return queue;
    await ch.assertQueue(queue, {
      durable: true,
      arguments: this.queueArgs({ 'x-expires': this.idleQueueExpiresMs }),
    });
    await ch.bindQueue(queue, this.names.tasksExchange, this.names.broadcastRoutingKey);
    await ch.bindQueue(queue, this.names.tasksExchange, this.names.deviceRoutingKey(deviceId));
    this.declaredDeviceQueues.add(queue);
    return queue;
  }

  private async startConsumer(ch: ConfirmChannel, c: Consumer): Promise<void> {
    await c.declare(ch);
    await ch.prefetch(c.prefetch, false);
    const ok = await ch.consume(c.queue, (msg) => {
      if (msg) c.onMessage(msg, ch);
    });
    c.tag = ok.consumerTag;
  }

  private inbound(msg: ConsumeMessage, ch: ConfirmChannel): InboundMessage {
    let settled = false;
    // After a reconnect the old channel is gone and the broker redelivers: settling is moot.
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
      if (this.channel === ch) {
        try {
          f();
        } catch {
          /* channel closed meanwhile: the broker redelivers */
        }
      }
    };
    return {
      body: new Uint8Array(msg.content.buffer, msg.content.byteOffset, msg.content.byteLength),
      ack: () => settle(() => ch.ack(msg)),
      reject: () => settle(() => ch.nack(msg, false, false)),
      requeue: () => settle(() => ch.nack(msg, false, true)),
    };
  }

  private publish(
    exchange: string,
    key: string,
    body: Uint8Array,
    mandatory: boolean,
  ): Promise<void> {
    return this.ch().then(
      (ch) =>
        new Promise<void>((resolve, reject) => {
          try {
            ch.publish(
              exchange,
              key,
              Buffer.from(body.buffer, body.byteOffset, body.byteLength),
              { persistent: true, contentType: 'application/json', mandatory },
              (err) =>
                err
                  ? reject(new TransportError(`publishing to ${exchange || key}`, err))
                  : resolve(),
            );
          } catch (err) {
            reject(new TransportError(`publishing to ${exchange || key}`, err));
          }
        }),
    );
  }

  openRound(round: number): Promise<RoundInbox> {
    return this.wrap(`opening round ${round}'s queue`, () => this.openRoundImpl(round));
  }

  private async openRoundImpl(round: number): Promise<RoundInbox> {
    const queue = this.names.roundQueue(round);
    const items = new AsyncQueue<InboundMessage>();
    const consumer: Consumer = {
      queue,
      prefetch: this.opts.updatePrefetch ?? 16,
      declare: async (ch) => {
        await ch.assertQueue(queue, {
          durable: true,
          arguments: this.queueArgs({ 'x-expires': this.opts.roundQueueExpiresMs ?? 600_000 }),
        });
      },
      onMessage: (msg, ch) => items.push(this.inbound(msg, ch)),
    };
    const ch = await this.ch();
    // A retried round starts from an empty queue: updates of the failed attempt are stale.
    await consumer.declare(ch);
    await ch.purgeQueue(queue);
    this.consumers.add(consumer);
    await this.startConsumer(ch, consumer);
    return {
      name: queue,
      receive: (timeoutMs) => items.next(timeoutMs),
      close: async () => {
        this.consumers.delete(consumer);
        items.close();
        const current = this.channel;
        if (!current) return; // the queue expires by itself
        try {
          if (consumer.tag) await current.cancel(consumer.tag);
          // Unsettled messages are requeued by the cancel; the delete drops them with the queue.
          await current.deleteQueue(queue);
        } catch {
          /* disconnected: x-expires removes the queue */
        }
      },
    };
  }

  publishTask(body: Uint8Array, target: TaskTarget): Promise<void> {
    return this.wrap('publishing a task', () => this.publishTaskImpl(body, target));
  }

  private async publishTaskImpl(body: Uint8Array, target: TaskTarget): Promise<void> {
    const ch = await this.ch();
    if (target.kind === 'all') {
      await this.publish(this.names.tasksExchange, this.names.broadcastRoutingKey, body, false);
      this.traffic.tasks += 1;
      return;
    }
    // The server declares the participants' queues too, so a task for a device that has not
    // connected yet waits in its queue instead of being dropped as unroutable.
    for (const id of target.deviceIds) await this.declareDeviceQueue(ch, id);
    await Promise.all(
      target.deviceIds.map((id) =>
        this.publish(this.names.tasksExchange, this.names.deviceRoutingKey(id), body, false),
      ),
    );
    this.traffic.tasks += target.deviceIds.length;
  }

  subscribeTasks(
    deviceId: string,
    handler: (msg: InboundMessage) => Promise<void>,
  ): Promise<TaskSubscription> {
    return this.wrap(`subscribing to ${deviceId}'s tasks`, () =>
      this.subscribeTasksImpl(deviceId, handler),
    );
  }

  private async subscribeTasksImpl(
    deviceId: string,
    handler: (msg: InboundMessage) => Promise<void>,
  ): Promise<TaskSubscription> {
    const queue = this.names.deviceQueue(deviceId);
    let chain = Promise.resolve();
    let stopping = false;
    const consumer: Consumer = {
      queue,
      prefetch: 1,
      declare: async (ch) => {
        this.declaredDeviceQueues.delete(queue);
        await this.declareDeviceQueue(ch, deviceId);
      },
      onMessage: (msg, ch) => {
        const inbound = this.inbound(msg, ch);
        chain = chain.then(async () => {
          if (stopping) return inbound.requeue();
          await handler(inbound).catch(() => inbound.requeue());
        });
      },
    };
    this.consumers.add(consumer);
    await this.startConsumer(await this.ch(), consumer);
    return {
      close: async () => {
        stopping = true;
        this.consumers.delete(consumer);
        const current = this.channel;
        if (current && consumer.tag) await current.cancel(consumer.tag).catch(() => {});
        await chain; // the task in hand finishes (or is requeued)
      },
    };
  }

  async publishUpdate(replyTo: string, body: Uint8Array): Promise<void> {
    // mandatory: an update for a round queue that is gone comes back and is counted as dropped.
    await this.publish('', replyTo, body, true);
    this.traffic.updates += 1;
  }

  /** Deletes the run's queues and exchanges (tests, and `distgan` clean-up of a finished run). */
  async deleteRunTopology(deviceIds: readonly string[]): Promise<void> {
    const ch = await this.ch();
    for (const id of deviceIds) await ch.deleteQueue(this.names.deviceQueue(id));
    await ch.deleteQueue(this.names.deadLetterQueue);
    await ch.deleteExchange(this.names.tasksExchange);
    await ch.deleteExchange(this.names.deadLetterExchange);
  }

  /** Messages waiting in the dead-letter queue. */
  async deadLetterCount(): Promise<number> {
    return (await (await this.ch()).checkQueue(this.names.deadLetterQueue)).messageCount;
  }

  /** True while connected (for /readyz). */
  get connected(): boolean {
    return this.channel !== undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.consumers.clear();
    await this.conn.close().catch(() => {});
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):([^@/]+)@/, '//$1:***@');
}
