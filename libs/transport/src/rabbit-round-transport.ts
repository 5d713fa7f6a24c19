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
  /**
   * The run's dead-letter queue keeps at most this many messages: the oldest is dropped to make
   * room (and counted, see `onDeadLetterDropped`), so a flood of garbage cannot fill the broker's
   * disk. Default 1,000. Every process of a run must use the same value (a queue's arguments are
   * part of the contract: another value makes the broker refuse the declaration).
   */
  deadLetterMaxLength?: number;
  /** The same bound on the bytes of the dead letters' bodies. Default 64 MiB. */
  deadLetterMaxBytes?: number;
  /** A dead letter is dropped (and counted) this long after it arrived. Default 24 h. */
  deadLetterTtlMs?: number;
  /**
   * Consume the run's dropped-dead-letter queue (`distgan.<run>.dead.dropped`) and report each
   * drop through `onDeadLetterDropped`. One process per run does it: the server. Default false.
   */
  consumeDroppedDeadLetters?: boolean;
  /**
   * Dead letters that the dead-letter queue dropped, by the broker's reason (`maxlen`: over its
   * length or byte bound; `expired`: older than `deadLetterTtlMs`), reported in batches at most
   * once a second. Only with `consumeDroppedDeadLetters`.
   */
  onDeadLetterDropped?: (reason: string, count: number) => void;
  /** Connection state changes, for logs and readiness. */
  onState?: (state: 'connected' | 'disconnected' | 'reconnecting', detail?: string) => void;
  /**
   * A consumer that the broker cancelled (its queue was deleted, or its quorum queue lost its
   * replicas), then the outcome of declaring the queue again and consuming it again: `cancelled`,
   * then `resubscribed`, or `resubscribe-failed` for each failed attempt (retried with backoff
   * while the subscription is open), for logs.
   */
  onConsumerState?: (
    state: 'cancelled' | 'resubscribed' | 'resubscribe-failed',
    queue: string,
    detail?: string,
  ) => void;
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

/** What the dropped-dead-letter queue holds while no server consumes it. */
const DROPPED_QUEUE_MAX_LENGTH = 1_000;
const DROPPED_QUEUE_MAX_BYTES = 16 * 1024 * 1024;
/** Dead letters dropped within this window are reported in one call per reason. */
const DROPPED_REPORT_MS = 1_000;

const backoffMs = (attempt: number): number => Math.min(5_000, 200 * 2 ** Math.min(attempt, 5));

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
  /** Channels that the broker or the connection closed: a cancelled consumer's is not reused. */
  private readonly closedChannels = new WeakSet<ConfirmChannel>();
  /** Starts of consumers, one at a time: a prefetch applies to the next consume on the channel. */
  private consumerStarts: Promise<unknown> = Promise.resolve();
  /** Dropped dead letters not reported yet, by reason. */
  private readonly droppedPending = new Map<string, number>();
  private droppedTimer: NodeJS.Timeout | undefined;
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
    if (opts.consumeDroppedDeadLetters) this.consumers.add(this.droppedDeadLetterConsumer());
  }

  static async connect(opts: RabbitOptions): Promise<RabbitRoundTransport> {
    for (const key of ['deadLetterMaxLength', 'deadLetterMaxBytes', 'deadLetterTtlMs'] as const) {
      const v = opts[key];
      if (v !== undefined && !(Number.isSafeInteger(v) && v > 0))
        throw new RangeError(`RabbitOptions.${key} must be a positive integer, got ${v}`);
    }
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
          const delay = backoffMs(attempt);
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
      this.closedChannels.add(ch);
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
    await this.declareDeadLetterQueues(ch);
    this.declaredDeviceQueues.clear();
    for (const c of this.consumers) await this.startConsumer(ch, c);
    this.channel = ch;
    this.resolveChannel(ch);
    this.opts.onState?.('connected');
  }

  /**
   * The dead-letter queue, bounded by length, bytes and age (quorum queues support all three
   * since RabbitMQ 3.10, and dead-letter what they drop: the oldest message first, reason
   * `maxlen`, or an old one, reason `expired`), and the small queue those drops go to, which the
   * server consumes to count them. Its own overflow is dropped silently: it only ever holds what
   * arrived while no server consumed it. These arguments changed on 2026-12-05 (the queue was
   * unbounded before): the broker refuses a declaration that differs from the queue's, so a run
   * whose queues an older build declared must finish on that build; a new run id is a new queue.
   */
  private async declareDeadLetterQueues(ch: ConfirmChannel): Promise<void> {
    const n = this.names;
    await ch.assertExchange(n.droppedDeadLetterExchange, 'fanout', { durable: true });
    await ch.assertQueue(n.droppedDeadLetterQueue, {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-expires': this.idleQueueExpiresMs,
        'x-max-length': DROPPED_QUEUE_MAX_LENGTH,
        'x-max-length-bytes': DROPPED_QUEUE_MAX_BYTES,
        'x-overflow': 'drop-head',
      },
    });
    await ch.bindQueue(n.droppedDeadLetterQueue, n.droppedDeadLetterExchange, '');
    await ch.assertQueue(n.deadLetterQueue, {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-expires': this.idleQueueExpiresMs,
        'x-max-length': this.opts.deadLetterMaxLength ?? 1_000,
        'x-max-length-bytes': this.opts.deadLetterMaxBytes ?? 64 * 1024 * 1024,
        'x-message-ttl': this.opts.deadLetterTtlMs ?? 24 * 3_600_000,
        'x-overflow': 'drop-head',
        'x-dead-letter-exchange': n.droppedDeadLetterExchange,
      },
    });
    await ch.bindQueue(n.deadLetterQueue, n.deadLetterExchange, '');
  }

  /** Consumes the dropped dead letters: acknowledged at once, counted by reason. */
  private droppedDeadLetterConsumer(): Consumer {
    const queue = this.names.droppedDeadLetterQueue;
    return {
      queue,
      prefetch: 100,
      declare: (ch) => this.declareDeadLetterQueues(ch),
      onMessage: (msg, ch) => {
        try {
          ch.ack(msg);
        } catch {
          /* channel closed meanwhile: redelivered, and counted then */
        }
        const reason = dropReason(msg, this.names.deadLetterQueue);
        this.droppedPending.set(reason, (this.droppedPending.get(reason) ?? 0) + 1);
        this.droppedTimer ??= setTimeout(() => this.reportDropped(), DROPPED_REPORT_MS).unref();
      },
    };
  }

  private reportDropped(): void {
    clearTimeout(this.droppedTimer);
    this.droppedTimer = undefined;
    const pending = [...this.droppedPending];
    this.droppedPending.clear();
    for (const [reason, count] of pending) this.opts.onDeadLetterDropped?.(reason, count);
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

  /**
   * Registers a consumer (every reconnect starts the registered ones again) and starts it. If
   * the start fails (the connection dropped meanwhile), the consumer is taken out again: left in,
   * the next reconnect would start it for a caller that already got the error and never reads
   * it. Measured before this: a RabbitMQ restart while round t's queue was being opened left
   * such a consumer on that queue; the broker then gave it every other update of each retry of
   * round t, and the round missed its quorum until the run failed.
   */
  private async addConsumer(ch: ConfirmChannel, c: Consumer, onFail?: () => void): Promise<void> {
    this.consumers.add(c);
    try {
      await this.startConsumer(ch, c);
    } catch (err) {
      this.consumers.delete(c);
      onFail?.();
      throw err;
    }
  }

  private startConsumer(ch: ConfirmChannel, c: Consumer): Promise<void> {
    const start = this.consumerStarts.then(async () => {
      await c.declare(ch);
      await ch.prefetch(c.prefetch, false);
      const started: { tag?: string } = {};
      const ok = await ch.consume(c.queue, (msg) => {
        if (msg) c.onMessage(msg, ch);
        // on the next turn: a cancel can arrive before this consume's tag is recorded
        else setImmediate(() => this.resubscribe(c, ch, started.tag));
      });
      started.tag = c.tag = ok.consumerTag;
      // Taken out while it was starting (its opening failed, or it was closed): nothing may
      // consume for it.
      if (!this.consumers.has(c)) await ch.cancel(ok.consumerTag).catch(() => {});
    });
    this.consumerStarts = start.catch(() => {});
    return start;
  }

  /**
   * The broker cancelled a consumer (its queue was deleted, or a quorum queue lost its replicas):
   * amqplib calls the callback with null and forgets it. While its subscription or round inbox is
   * open, the queue is declared again (same arguments, same bindings) and consumed again on the
   * same channel, with backoff until it works; without it a device would never receive another
   * task, and every round would wait its deadline for it. If the channel closes meanwhile, its
   * reopening declares every consumer again instead.
   */
  private resubscribe(c: Consumer, ch: ConfirmChannel, cancelledTag: string | undefined): void {
    if (this.closed || !this.consumers.has(c) || c.tag !== cancelledTag) return;
    c.tag = undefined;
    this.opts.onConsumerState?.('cancelled', c.queue, 'cancelled by the broker');
    const live = (): boolean =>
      !this.closed && this.consumers.has(c) && !this.closedChannels.has(ch) && !c.tag;
    void (async () => {
      for (let attempt = 0; live(); attempt++) {
        try {
          await this.startConsumer(ch, c);
          // closed while it was being resubscribed: startConsumer cancelled it again
          if (!this.consumers.has(c)) return;
          this.opts.onConsumerState?.('resubscribed', c.queue);
          return;
        } catch (err) {
          const delay = backoffMs(attempt);
          this.opts.onConsumerState?.(
            'resubscribe-failed',
            c.queue,
            `attempt ${attempt + 1}: ${String(err)}; next in ${delay} ms`,
          );
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    })();
  }

  private inbound(msg: ConsumeMessage, ch: ConfirmChannel): InboundMessage {
    let settled = false;
    // A message is settled on the channel it came on, as long as that channel is open. Once it
    // closed, the broker redelivers: settling is moot. Not "the current channel": a reconnect
    // starts its consumers before it makes their channel the current one, and the broker
    // delivers at once; a task settled meanwhile (a skipped one takes microseconds) lost its ack,
    // stayed unacknowledged, and with a prefetch of 1 its device got no task again (measured: a
    // run stalled at a round's quorum after a RabbitMQ restart).
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
      if (!this.closedChannels.has(ch)) {
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
    await this.addConsumer(ch, consumer, () => items.close());
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
    await this.addConsumer(await this.ch(), consumer);
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
    // This transport's own consumers stop first: a consumer whose queue is deleted under it
    // declares the queue again (a process of another transport still consuming does too).
    const consumers = [...this.consumers];
    this.consumers.clear();
    for (const c of consumers) if (c.tag) await ch.cancel(c.tag).catch(() => {});
    for (const id of deviceIds) await ch.deleteQueue(this.names.deviceQueue(id));
    await ch.deleteQueue(this.names.deadLetterQueue);
    await ch.deleteQueue(this.names.droppedDeadLetterQueue);
    await ch.deleteExchange(this.names.tasksExchange);
    await ch.deleteExchange(this.names.deadLetterExchange);
    await ch.deleteExchange(this.names.droppedDeadLetterExchange);
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
    this.reportDropped();
    await this.conn.close().catch(() => {});
  }
}

/**
 * Why the dead-letter queue dropped a message: the reason of its `x-death` entry for that queue
 * (the message's earlier death, in a device or round queue, has an entry of its own).
 */
function dropReason(msg: ConsumeMessage, deadLetterQueue: string): string {
  const deaths: unknown = msg.properties.headers?.['x-death'];
  if (Array.isArray(deaths)) {
    const entry = (deaths as { queue?: unknown; reason?: unknown }[]).find(
      (d) => d.queue === deadLetterQueue,
    );
    if (typeof entry?.reason === 'string') return entry.reason;
  }
  return 'unknown';
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):([^@/]+)@/, '//$1:***@');
}
