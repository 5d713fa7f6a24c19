import {
  BlobIntegrityError,
  blobDigestHex,
  decodeWeights,
  encodeMessage,
  encodeWeightsWith,
  names,
  parseMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  type BlobDtype,
  type DeviceUpdate,
  type RoundTask,
  type TensorSpec,
} from '@distgan/protocol';
import { deriveSeed, type LocalDiscriminatorTrainer } from '@distgan/gan';
import { drawBatch, Rng, type Dataset } from '@distgan/data';
import { leaseBlob, type BlobLease, type BlobStore } from './blob-store.js';
import { TransportError } from './errors.js';
import type { InboundMessage, RoundTransport, TaskSubscription } from './round-transport.js';

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
}

/** What happened to one task, for logs, metrics and tests. */
export type TaskOutcome =
  | { kind: 'trained'; round: number; computeMs: number; update: DeviceUpdate }
  | { kind: 'skipped'; round: number; reason: string }
  | { kind: 'refused'; reason: string }
  /** The transport failed mid-task: the task goes back to the queue for another delivery. */
  | { kind: 'retry'; reason: string }
  /** The device itself failed (a bug, a backend without a kernel): the task is dead-lettered. */
  | { kind: 'failed'; error: Error };

/**
 * A device: consumes round tasks, fetches and verifies (θ_t, φ_t), runs L local discriminator
 * steps on its shard, stores its φ_k and publishes the update, then acks the task. The same code
 * runs in the embedded mode and in the device service.
 */
export class DeviceRuntime {
  private subscription: TaskSubscription | undefined;
  private lastRound: number | undefined;
  private stateValue: DeviceState = 'idle';
  private readonly names: ReturnType<typeof names>;
  /** Receive buffer of the real minibatch, reused across steps (the trainer copies it). */
  private batch: Float32Array = new Float32Array(0);

  constructor(
    private readonly trainer: LocalDiscriminatorTrainer,
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
      // cannot train would fail again; the round goes on without it (its deadline and quorum).
      msg.reject();
      outcome =
        err instanceof ProtocolError || err instanceof BlobIntegrityError
          ? { kind: 'refused', reason: err.message }
          : { kind: 'failed', error: err instanceof Error ? err : new Error(String(err)) };
    }
    this.onOutcome(outcome);
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

    // Each blob is verified as soon as it is in: G's check overlaps D's transfer.
    const ctx = { run: runId, round: t, device: deviceId };
    let verifyMs = 0;
    // Read into the store's reused buffers (leases): the values are views of them until
    // setGlobal has copied them into the model.
    const leases: BlobLease[] = [];
    const fetchAndVerify = async (
      ref: RoundTask['generator'],
      specs: readonly TensorSpec[],
    ): Promise<Float32Array> => {
      const lease = await leaseBlob(this.store, ref.key);
      if (!lease) {
        throw new BlobIntegrityError(
          'missing',
          `round ${t}'s global weights are not in the store (expired?)`,
          ctx,
        );
      }
      leases.push(lease);
      const v0 = performance.now();
      const { values } = decodeWeights(lease.bytes, {
        expect: specs,
        digest: ref.digest,
        context: ctx,
      });
      verifyMs += performance.now() - v0;
      return values;
    };
    const releaseAll = (): void => {
      for (const l of leases.splice(0)) l.release();
    };
    const f0 = performance.now();
    const fetched = await Promise.allSettled([
      fetchAndVerify(task.generator, this.trainer.generator.params.specs),
      fetchAndVerify(task.discriminator, this.trainer.discriminator.params.specs),
    ]);
    const failed = fetched.find((r) => r.status === 'rejected');
    if (failed) {
      releaseAll();
      throw failed.reason;
    }
    const [g, d] = fetched.map((r) => (r as PromiseFulfilledResult<Float32Array>).value) as [
      Float32Array,
      Float32Array,
    ];

    const t0 = performance.now();
    const { localSteps, batchSize, learningRate, beta1, beta2 } = task.training;
    this.trainer.configure({ learningRate, beta1, beta2 });
    // Adam state is kept between consecutive rounds and reset for a new or returning device.
    const optimizerReset = this.lastRound === undefined || t > this.lastRound + 1;
    if (optimizerReset) this.trainer.resetOptimizer();
    try {
      this.trainer.setGlobal(g, d);
    } finally {
      releaseAll();
    }
    const losses = this.trainer.train(
      localSteps,
      batchSize,
      (step) =>
        this.realBatch(batchSize, new Rng(deriveSeed(task.seed, 'real', t, deviceId, step))),
      (step) => deriveSeed(task.seed, 'fake', t, deviceId, step),
    );
    const computeMs = performance.now() - t0;
    this.lastRound = t;
    if (![losses.d, losses.dReal, losses.dFake].every(Number.isFinite)) {
      return { kind: 'skipped', round: t, reason: `local training diverged (D loss ${losses.d})` };
    }

    // Read from the model straight into the blob: no intermediate copy.
    const e0 = performance.now();
    const blob = encodeWeightsWith(
      this.trainer.discriminator.params.specs,
      (v) => this.trainer.discriminatorWeights(v),
      { dtype: this.options.updateDtype ?? 'float32' },
    );
    const key = this.names.deviceUpdateKey(t, deviceId);
    const s0 = performance.now();
    await this.store.put(key, blob, { ttlSeconds: this.options.blobTtlSeconds });
    const s1 = performance.now();
    const update: DeviceUpdate = {
      type: 'DeviceUpdate',
      version: PROTOCOL_VERSION,
      runId,
      round: t,
      deviceId,
      samples: this.samples,
      blob: { key, digest: blobDigestHex(blob), bytes: blob.length },
      losses,
      computeMs,
      // Fetching is the pre-training time not spent verifying (the two overlap).
      timings: { fetchMs: t0 - f0 - verifyMs, verifyMs, encodeMs: s0 - e0, storeMs: s1 - s0 },
      steps: localSteps,
      optimizerReset,
      sentAt: Date.now(),
    };
    await this.transport.publishUpdate(task.replyTo, encodeMessage(update));
    return { kind: 'trained', round: t, computeMs, update };
  }

  /** batchSize samples drawn uniformly (with replacement) from the shard, into a reused buffer. */
  private realBatch(batchSize: number, rng: Rng): Float32Array {
    const { dataset, indices } = this.options.data;
    this.batch = drawBatch(dataset, indices, batchSize, rng, this.batch);
    return this.batch;
  }
}
