import { ProtocolError } from './errors.js';

/**
 * Run and device ids end up in queue names, routing keys and Redis keys, so they are
 * restricted to characters that mean nothing in any of them (no `:`, `*`, `#` or spaces).
 */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$';
const ID_RE = new RegExp(ID_PATTERN);
/** The name of a method's input or output blob: part of its key. */
export const BLOB_NAME_PATTERN = '^[a-z][a-z0-9-]{0,31}$';
const BLOB_NAME_RE = new RegExp(BLOB_NAME_PATTERN);

function assertBlobName(name: string): void {
  if (!BLOB_NAME_RE.test(name)) {
    throw new ProtocolError(
      `blob name ${JSON.stringify(name)} is not valid: use 1-32 lower-case letters, digits or '-', starting with a letter`,
    );
  }
}

export function isValidId(id: string): boolean {
  return ID_RE.test(id);
}

export function assertValidId(kind: 'run' | 'device', id: string): void {
  if (!isValidId(id)) {
    throw new ProtocolError(
      `${kind} id ${JSON.stringify(id)} is not valid: use 1-63 letters, digits, '-' or '_', starting with a letter or digit`,
    );
  }
}

function assertRound(round: number): void {
  if (!Number.isSafeInteger(round) || round < 0) {
    throw new RangeError(`round must be a non-negative integer, got ${round}`);
  }
}

/** Every name of docs/design.md §3 for one run, in one place. */
export interface RunNames {
  readonly runId: string;
  /** Topic exchange the server publishes round tasks to. */
  readonly tasksExchange: string;
  /** Exchange that rejected and expired messages go to. */
  readonly deadLetterExchange: string;
  /** Queue that collects dead letters for inspection, bounded by length, bytes and age. */
  readonly deadLetterQueue: string;
  /**
   * Exchange (fanout) that the dead-letter queue dead-letters to what it drops (overflow, age),
   * and the queue behind it that the server consumes to count those drops.
   */
  readonly droppedDeadLetterExchange: string;
  readonly droppedDeadLetterQueue: string;
  /** Routing key of a task for every device. */
  readonly broadcastRoutingKey: string;
  /** Routing key of a task for one device. */
  deviceRoutingKey(deviceId: string): string;
  /** The device's own durable task queue. */
  deviceQueue(deviceId: string): string;
  /** The round queue that devices reply to in round t. */
  roundQueue(round: number): string;
  /** One of round t's inputs (the global generator, a fake batch, ...), by its name. */
  roundBlobKey(round: number, name: string): string;
  /** One of device k's outputs for round t (its local discriminator, ...), by its name. */
  deviceBlobKey(round: number, deviceId: string, name: string): string;
  /** Membership hash: device id → registration. */
  readonly devicesKey: string;
  /**
   * A device's liveness key, refreshed by its heartbeat and expiring without it; its value is
   * the instance that holds the device id.
   */
  aliveKey(deviceId: string): string;
  /** The server's refusals: device id → { instance, reason }. */
  readonly refusalsKey: string;
  /** The run's record (status, last round, the identity devices must have), as JSON. */
  readonly runKey: string;
  /** Pointer to the last completed round's checkpoint. */
  readonly checkpointKey: string;
  /** A checkpoint's blobs, written before the pointer switches to them. */
  checkpointBlobKey(round: number, part: string): string;
}

export function names(runId: string): RunNames {
  assertValidId('run', runId);
  const amqp = `distgan.${runId}`;
  const redis = `distgan:${runId}`;
  return {
    runId,
    tasksExchange: `${amqp}.tasks`,
    deadLetterExchange: `${amqp}.dead`,
    deadLetterQueue: `${amqp}.dead`,
    droppedDeadLetterExchange: `${amqp}.dead.dropped`,
    droppedDeadLetterQueue: `${amqp}.dead.dropped`,
    broadcastRoutingKey: 'round',
    deviceRoutingKey: (deviceId) => {
      assertValidId('device', deviceId);
      return `device.${deviceId}`;
    },
    deviceQueue: (deviceId) => {
      assertValidId('device', deviceId);
      return `${amqp}.device.${deviceId}`;
    },
    roundQueue: (round) => {
      assertRound(round);
      return `${amqp}.round.${round}`;
    },
    roundBlobKey: (round, name) => {
      assertRound(round);
      assertBlobName(name);
      return `${redis}:r:${round}:${name}`;
    },
    deviceBlobKey: (round, deviceId, name) => {
      assertRound(round);
      assertValidId('device', deviceId);
      assertBlobName(name);
      return `${redis}:u:${round}:${deviceId}:${name}`;
    },
    devicesKey: `${redis}:devices`,
    aliveKey: (deviceId) => {
      assertValidId('device', deviceId);
      return `${redis}:alive:${deviceId}`;
    },
    refusalsKey: `${redis}:refusals`,
    runKey: `${redis}:run`,
    checkpointKey: `${redis}:checkpoint`,
    checkpointBlobKey: (round, part) => {
      assertRound(round);
      assertBlobName(part);
      return `${redis}:checkpoint:${round}:${part}`;
    },
  };
}
