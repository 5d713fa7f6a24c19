/** A message taken from a queue, to be settled exactly once. */
export interface InboundMessage {
  readonly body: Uint8Array;
  /** Done with it: remove it from the queue. */
  ack(): void;
  /** Refuse it for good (malformed, foreign): it goes to the dead-letter exchange, not back. */
  reject(): void;
  /** Give it back to the queue for another delivery (e.g. on shutdown mid-task). */
  requeue(): void;
}

/** The server's view of one round's reply queue (`distgan.<run>.round.<t>`). */
export interface RoundInbox {
  /** The queue name that goes into the task's `replyTo`. */
  readonly name: string;
  /** The next update, or null when none arrived within `timeoutMs`. */
  receive(timeoutMs: number): Promise<InboundMessage | null>;
  /** Deletes the queue: a straggler's late update can no longer reach any round. */
  close(): Promise<void>;
}

/** Task routing: every device of the run, or named devices only. */
export type TaskTarget = { kind: 'all' } | { kind: 'devices'; deviceIds: readonly string[] };

export interface TaskSubscription {
  close(): Promise<void>;
}

/**
 * The round transport of docs/design.md §2–§3, bound to one run. RabbitMQ implements it for
 * deployment, MemoryRoundTransport for the embedded mode and tests; bodies are encoded protocol
 * messages in both, so validation is the same everywhere.
 */
export interface RoundTransport {
  readonly runId: string;
  /** Server: creates round t's reply queue (empty) before the task is published. */
  openRound(round: number): Promise<RoundInbox>;
  /** Server: publishes a round task to the devices. */
  publishTask(body: Uint8Array, target: TaskTarget): Promise<void>;
  /** Device: consumes its task queue, one task at a time (the handler settles each message). */
  subscribeTasks(
    deviceId: string,
    handler: (msg: InboundMessage) => Promise<void>,
  ): Promise<TaskSubscription>;
  /** Device: publishes an update to a round queue; dropped if that round has closed. */
  publishUpdate(replyTo: string, body: Uint8Array): Promise<void>;
  close(): Promise<void>;
}
