import {
  BlobIntegrityError,
  blobDigestHex,
  decodeWeights,
  deriveSeed,
  encodeMessage,
  encodeWeightsWith,
  names,
  parseMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  type BlobDtype,
  type DeviceUpdate,
  type RoundTask,
  type TaskDeclined,
  type TensorSpec,
} from '@distgan/protocol';
import { drawBatch, Rng, type Dataset, type RealBatch } from '@distgan/data';
import { leaseBlob, type BlobLease, type BlobStore } from './blob-store.js';
import { TransportError } from './errors.js';
import type { InboundMessage, RoundTransport, TaskSubscription } from './round-transport.js';
import type { DeviceMethod, DeviceResult } from './method.js';

/** Lifecycle of a device runtime. */
export type DeviceState = 'idle' | 'running' | 'stopping' | 'stopped';

export interface DeviceRuntimeOptions {
  runId: string;
  deviceId: string;
  /** The device's private data: the dataset and the indices of its shard. */
  data: { dataset: Dataset; indices: Int32Array };
  /** Expiry of the device's update blob in the store. */
  blobTtlSeconds: number;
  /** Precision of the update on the wire (float16 halves the upload). Default float32. */
  updateDtype?: BlobDtype;
  /** The clock of the timings a device reports, in ms. Default performance.now (tests: virtual time). */
  clock?: () => number;
}

/** What happened to one task, for logs, metrics and tests. */
export type TaskOutcome =
  | { kind: 'trained'; round: number; computeMs: number; update: DeviceUpdate }
  | { kind: 'skipped'; round: number; reason: string }
  /** A task it will not train (bad input, another model); the server was told when it could be. */
  | { kind: 'refused'; reason: string; declined?: boolean }
  /** The transport failed mid-task: the task goes back to the queue for another delivery. */
  | { kind: 'retry'; reason: string }
  /** The device itself failed (a bug, a backend without a kernel): the task is dead-lettered. */
  | { kind: 'failed'; error: Error; declined?: boolean };

/**
 * A device: consumes round tasks, fetches and verifies the round's inputs, lets its method train
 * on its shard (distgan: L local discriminator steps from (θ_t, φ_t)), stores the outputs and
 * publishes the update, then acks the task. The same code runs in the embedded mode and in the
 * device service, for every method.
 */
export class DeviceRuntime {
  private subscription: TaskSubscription | undefined;
  private lastRound: number | undefined;
  private stateValue: DeviceState = 'idle';
  private readonly names: ReturnType<typeof names>;
  /** Receive buffer of the real minibatch, reused across steps (the trainer copies it). */
  private batch: RealBatch | undefined;
  /** The task being handled, once parsed: where to send a TaskDeclined. */
  private taskInHand: { round: number; replyTo: string } | undefined;

  constructor(
    readonly method: DeviceMethod,
    private readonly transport: RoundTransport,
    private readonly store: BlobStore,
    readonly options: DeviceRuntimeOptions,
    private readonly onOutcome: (o: TaskOutcome) => void = () => {},
  ) {
    if (options.data.indices.length === 0) {
      throw new RangeError(
        `device "${options.deviceId}" has an empty shard: it has nothing to train on`,
      );
    }
    this.names = names(options.runId);
  }

  private now(): number {
    return this.options.clock ? this.options.clock() : performance.now();
  }

  get state(): DeviceState {
    return this.stateValue;
  }

  get samples(): number {
    return this.options.data.indices.length;
  }

  async start(): Promise<void> {
    if (this.stateValue !== 'idle')
      throw new Error(`device "${this.options.deviceId}" was already started`);
    this.stateValue = 'running';
    this.subscription = await this.transport.subscribeTasks(this.options.deviceId, (msg) =>
      this.onTask(msg),
    );
  }

  /** Stops taking tasks; the task in hand finishes first. */
  async stop(): Promise<void> {
    if (this.stateValue !== 'running') return;
    this.stateValue = 'stopping';
    await this.subscription?.close();
    this.stateValue = 'stopped';
  }

  private async onTask(msg: InboundMessage): Promise<void> {
    let outcome: TaskOutcome;
    this.taskInHand = undefined;
    try {
      outcome = await this.handle(msg.body);
      msg.ack();
    } catch (err) {
      if (err instanceof TransportError) {
        // The broker or the store hiccuped: the task is still good, another try will do.
        msg.requeue();
        this.onOutcome({ kind: 'retry', reason: err.message });
        return;
      }
      // Either way the task is not retried here: a bad task stays bad, and a task this device
      // cannot train would fail again. The server is told (a TaskDeclined), so that the round
      // does not wait for this device until its deadline.
      msg.reject();
      outcome =
        err instanceof ProtocolError || err instanceof BlobIntegrityError
          ? { kind: 'refused', reason: err.message }
          : { kind: 'failed', error: err instanceof Error ? err : new Error(String(err)) };
      const reason =
        outcome.kind === 'refused' ? outcome.reason : `failed: ${outcome.error.message}`;
      outcome.declined = await this.decline(reason);
    }
    this.onOutcome(outcome);
  }

  /** Tells the server this device will not train the task in hand; whether it could. */
  private async decline(reason: string): Promise<boolean> {
    const task = this.taskInHand;
    if (!task) return false; // not a task of this run: there is no one to tell
    const message: TaskDeclined = {
      type: 'TaskDeclined',
      version: PROTOCOL_VERSION,
      runId: this.options.runId,
      round: task.round,
      deviceId: this.options.deviceId,
      reason: reason.slice(0, 1024) || 'declined',
      sentAt: Date.now(),
    };
    try {
      await this.transport.publishUpdate(task.replyTo, encodeMessage(message));
      return true;
    } catch {
      return false; // the round's deadline closes it anyway
    }
  }

  /** Trains on one task and publishes the update; throws ProtocolError/BlobIntegrityError on bad input. */
  async handle(body: Uint8Array): Promise<TaskOutcome> {
    const { runId, deviceId } = this.options;
    const task = parseMessage(body, { runId, types: ['RoundTask'] }) as RoundTask;
    const t = task.round;
    if (!task.participants.includes(deviceId))
      return { kind: 'skipped', round: t, reason: 'not a participant' };
    if (task.deadlineAt < Date.now())
      return { kind: 'skipped', round: t, reason: 'deadline passed' };
    this.taskInHand = { round: t, replyTo: task.replyTo };
    const ctx = { run: runId, round: t, device: deviceId };
    if (task.method !== this.method.name) {
      throw new ProtocolError(
        `task of method "${task.method}", this device runs "${this.method.name}"`,
        ctx,
        '/method',
      );
    }
    const refs = { ...task.inputs, ...task.deviceInputs?.[deviceId] };
    const inputSpecs = Object.entries(refs).map(([name, ref]) => {
      const specs = this.method.inputSpecs(name, task.training);
      if (!specs) {
        throw new ProtocolError(`task names an input "${name}" that ${task.method} has not`, ctx);
      }
      return { name, ref, specs };
    });

    // Each blob is verified as soon as it is in: one's check overlaps another's transfer.
    let verifyMs = 0;
    // Read into the store's reused buffers (leases): the values are views of them until
    // training has copied them into the models.
    const leases: BlobLease[] = [];
    const fetchAndVerify = async (
      ref: { key: string; digest: string },
      specs: readonly TensorSpec[],
    ): Promise<Float32Array> => {
      const lease = await leaseBlob(this.store, ref.key);
      if (!lease) {
        throw new BlobIntegrityError(
          'missing',
          `round ${t}'s input ${ref.key} is not in the store (expired?)`,
          ctx,
        );
      }
      leases.push(lease);
      const v0 = this.now();
      const { values } = decodeWeights(lease.bytes, {
        expect: specs,
        digest: ref.digest,
        context: ctx,
      });
      verifyMs += this.now() - v0;
      return values;
    };
    const releaseAll = (): void => {
      for (const l of leases.splice(0)) l.release();
    };
    const f0 = this.now();
    const fetched = await Promise.allSettled(inputSpecs.map((i) => fetchAndVerify(i.ref, i.specs)));
    const failed = fetched.find((r) => r.status === 'rejected');
    if (failed) {
      releaseAll();
      throw failed.reason;
    }
    const inputs = Object.fromEntries(
      inputSpecs.map((i, k) => [
        i.name,
        (fetched[k] as PromiseFulfilledResult<Float32Array>).value,
      ]),
    );

    const t0 = this.now();
    const { batchSize } = task.training;
    // A new or returning device (it missed rounds), and every device after the server resumed
    // from a checkpoint (the round number went back), starts its local optimizer afresh: the
    // state it has is not the one of the round before this one.
    const resumed = this.lastRound === undefined || t !== this.lastRound + 1;
    let result: DeviceResult;
    try {
      result = this.method.train({
        round: t,
        deviceId,
        rank: task.participants.indexOf(deviceId),
        seed: task.seed,
        training: task.training,
        schedule: task.schedule,
        inputs,
        outputs: task.outputs,
        resumed,
        realBatch: (step) =>
          this.realBatch(batchSize, new Rng(deriveSeed(task.seed, 'real', t, deviceId, step))),
      });
    } finally {
      releaseAll();
    }
    const computeMs = this.now() - t0;
    this.lastRound = t;
    const { losses } = result;
    if (!Object.values(losses).every(Number.isFinite)) {
      const reason = `local training diverged (D loss ${losses.d})`;
      await this.decline(reason);
      return { kind: 'skipped', round: t, reason };
    }
    const missing = task.outputs.filter((name) => !result.outputs[name]);
    if (missing.length > 0) {
      throw new ProtocolError(
        `task asks for outputs [${missing.join(', ')}] that ${task.method} does not make`,
        ctx,
        '/outputs',
      );
    }

    // Read from the models straight into the blobs: no intermediate copy.
    const e0 = this.now();
    const blobs = task.outputs.map((name) => {
      const source = result.outputs[name]!;
      const opts = { dtype: this.options.updateDtype ?? 'float32' } as const;
      const blob =
        'values' in source
          ? encodeWeightsWith(source.specs, (out) => out.set(source.values), opts)
          : encodeWeightsWith(source.specs, source.write, opts);
      return { name, key: this.names.deviceBlobKey(t, deviceId, name), blob };
    });
    const s0 = this.now();
    await Promise.all(
      blobs.map((b) => this.store.put(b.key, b.blob, { ttlSeconds: this.options.blobTtlSeconds })),
    );
    const s1 = this.now();
    const update: DeviceUpdate = {
      type: 'DeviceUpdate',
      version: PROTOCOL_VERSION,
      runId,
      round: t,
      deviceId,
      samples: this.samples,
      outputs: Object.fromEntries(
        blobs.map((b) => [
          b.name,
          { key: b.key, digest: blobDigestHex(b.blob), bytes: b.blob.length },
        ]),
      ),
      losses,
      computeMs,
      // Fetching is the pre-training time not spent verifying (the two overlap).
      timings: { fetchMs: t0 - f0 - verifyMs, verifyMs, encodeMs: s0 - e0, storeMs: s1 - s0 },
      steps: result.steps,
      optimizerReset: result.optimizerReset,
      sentAt: Date.now(),
    };
    await this.transport.publishUpdate(task.replyTo, encodeMessage(update));
    return { kind: 'trained', round: t, computeMs, update };
  }

  /** batchSize samples and labels drawn uniformly (with replacement) from the shard, reused buffers. */
  private realBatch(batchSize: number, rng: Rng): RealBatch {
    const { dataset, indices } = this.options.data;
    this.batch = drawBatch(dataset, indices, batchSize, rng, this.batch);
    return this.batch;
  }
}
