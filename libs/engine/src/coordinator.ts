import {
  BlobIntegrityError,
  blobDigestHex,
  decodeWeights,
  encodeMessage,
  encodeWeights,
  encodeWeightsWith,
  names,
  parseMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  type DeviceUpdate,
  type RoundTask,
  type PhaseTimings,
} from '@distgan/protocol';
import {
  deriveSeed,
  runScheduledRound,
  averageWeights,
  type GlobalGan,
  type Schedule,
} from '@distgan/gan';
import { leaseBlob, type BlobLease, type BlobStore } from './blob-store.js';
import type { InboundMessage, RoundInbox, RoundTransport } from './round-transport.js';
import { QuorumNotReachedError, RoundFailedError, TransportError } from './errors.js';

/** What the server sends devices with every task (docs/design.md §1 step 2). */
export interface LocalTraining {
  /** L: local discriminator steps per round. */
  localSteps: number;
  /** Minibatch size of each local step. */
  batchSize: number;
  /** Adam settings of the local discriminators. */
  learningRate: number;
  beta1: number;
  beta2: number;
}

export interface CoordinatorConfig {
  runId: string;
  schedule: Schedule;
  training: LocalTraining;
  /** M: generator steps per round. */
  generatorSteps: number;
  /** Latent batch size of each generator step. */
  generatorBatchSize: number;
  /** Seeds every random draw of the run (latent batches, minibatches). */
  seed: number;
  /** A round closes at this deadline if some expected devices have not answered. */
  roundDeadlineMs: number;
  /** Fewest accepted updates for a round to count; below it the round is retried. */
  quorum: number;
  /** Attempts per round before the run fails. */
  maxRoundAttempts: number;
  /** Wait before retrying a round: this, doubled each attempt up to 8×. Default 0. */
  retryDelayMs?: number;
  /** Expiry of per-round blobs in the store. */
  blobTtlSeconds: number;
}

/** Who is expected to answer round t (membership decides; the embedded run has a fixed list). */
export type ParticipantSource = (round: number) => readonly string[] | Promise<readonly string[]>;

export type UpdateOutcome = 'accepted' | 'duplicate' | 'rejected' | 'late';

/** Events in the order they happen, for observers (metrics, logs, the schedule tests). */
export type RoundEvent =
  | { kind: 'round-start'; round: number; attempt: number; participants: readonly string[] }
  | { kind: 'broadcast-end'; round: number }
  | { kind: 'collect-start'; round: number }
  | { kind: 'update'; round: number; deviceId?: string; outcome: UpdateOutcome; reason?: string }
  | { kind: 'collect-end'; round: number; accepted: number }
  | { kind: 'generator-start'; round: number }
  | { kind: 'generator-end'; round: number }
  | { kind: 'install'; round: number }
  | { kind: 'round-failed'; round: number; attempt: number; error: Error }
  | { kind: 'round-end'; report: RoundReport };

export type { PhaseTimings };

export interface DeviceRoundResult {
  deviceId: string;
  samples: number;
  losses: DeviceUpdate['losses'];
  computeMs: number;
  /** The device's own account of its time outside training (see DeviceUpdate). */
  timings?: DeviceUpdate['timings'];
  /** Time from the task's publication to this update's arrival at the server. */
  latencyMs: number;
}

export interface RoundReport {
  round: number;
  schedule: Schedule;
  attempts: number;
  participants: number;
  accepted: DeviceRoundResult[];
  outcomes: Record<UpdateOutcome, number>;
  /** Sample-weighted mean of the accepted devices' local losses, and the mean G loss. */
  losses: { d: number; dReal: number; dFake: number; g: number };
  phases: PhaseTimings;
  /** Bytes that crossed (or would cross) the network: blobs and messages. */
  bytes: { down: number; up: number };
}

interface Accepted {
  update: DeviceUpdate;
  /** A view of a leased store buffer: valid until the round releases its leases. */
  values: Float32Array;
  latencyMs: number;
}

const now = (): number => performance.now();

/**
 * The server's round loop on the shared engine: broadcast (θ_t, φ_t), collect and verify the
 * devices' local discriminators until all answered or the deadline passed, average them
 * weighted by n_k, and train the generator, in the order the schedule prescribes.
 */
export class Coordinator {
  private readonly names: ReturnType<typeof names>;
  private nextRound = 0;
  /** G's optimizer state before a parallel round's G steps, reused every round. */
  private optimizerBuffer: Float32Array | undefined;
  /** θ_t of the round in progress, reused every round (megabytes). */
  private generatorBuffer: Float32Array | undefined;
  /** The average's buffer, reused every round (megabytes). */
  private average: Float32Array | undefined;
  /**
   * The last completed round's queue, kept open for one more round so that stragglers' updates
   * are counted as late (then dropped) instead of vanishing unseen.
   */
  private previousInbox: RoundInbox | undefined;
  /**
   * The next round's queue, declared while this round runs: creating a quorum queue takes the
   * broker tens of milliseconds, which would otherwise sit on every round's critical path.
   */
  private nextInbox: { round: number; inbox: Promise<RoundInbox> } | undefined;
  /** Queue deletions in flight (off the critical path), awaited by `close`. */
  private readonly closing = new Set<Promise<void>>();
  /**
   * The blobs of the last completed round (θ_t, φ_t, the updates), deleted when the next round
   * completes: no one reads them after that, and a store that keeps every round's megabytes
   * until their TTL grows by gigabytes in a long run. The TTL stays the backstop.
   */
  private previousBlobs: string[] = [];

  constructor(
    private readonly gan: GlobalGan,
    private readonly transport: RoundTransport,
    private readonly store: BlobStore,
    private readonly participants: ParticipantSource,
    readonly config: CoordinatorConfig,
    private readonly onEvent: (e: RoundEvent) => void = () => {},
  ) {
    if (config.quorum < 1) throw new RangeError(`quorum must be at least 1, got ${config.quorum}`);
    this.names = names(config.runId);
  }

  /** The round the next call to runRound will run (after a resume: the checkpoint's + 1). */
  get round(): number {
    return this.nextRound;
  }

  set round(value: number) {
    this.nextRound = value;
  }

  /** Runs the next round, retrying it when it misses its quorum. */
  async runRound(): Promise<RoundReport> {
    const t = this.nextRound;
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= this.config.maxRoundAttempts; attempt++) {
      try {
        const report = await this.attemptRound(t, attempt);
        this.nextRound = t + 1;
        this.onEvent({ kind: 'round-end', report });
        return report;
      } catch (err) {
        // A missed quorum and a broker or store hiccup are worth another attempt; bugs are not.
        if (!(err instanceof QuorumNotReachedError) && !(err instanceof TransportError)) throw err;
        lastError = err;
        this.onEvent({ kind: 'round-failed', round: t, attempt, error: err });
        const delay = (this.config.retryDelayMs ?? 0) * 2 ** Math.min(3, attempt - 1);
        if (delay > 0 && attempt < this.config.maxRoundAttempts)
          await new Promise((r) => setTimeout(r, delay));
      }
    }
    throw new RoundFailedError(t, this.config.maxRoundAttempts, this.config.runId, lastError!);
  }

  private async attemptRound(t: number, attempt: number): Promise<RoundReport> {
    const cfg = this.config;
    const participants = [...(await this.participants(t))].sort();
    this.onEvent({ kind: 'round-start', round: t, attempt, participants });
    // Too few devices to ever reach the quorum: do not publish a round nobody can complete.
    if (participants.length < this.config.quorum) {
      throw new QuorumNotReachedError(
        t,
        0,
        this.config.quorum,
        this.config.runId,
        participants.length,
      );
    }
    const start = now();
    const phases: PhaseTimings = {
      broadcastMs: 0,
      deviceComputeMs: 0,
      collectMs: 0,
      aggregateMs: 0,
      generatorMs: 0,
      totalMs: 0,
    };
    const outcomes: Record<UpdateOutcome, number> = {
      accepted: 0,
      duplicate: 0,
      rejected: 0,
      late: 0,
    };
    const bytes = { down: 0, up: 0 };
    // Reused every round: θ_t is kept to roll a failed round back.
    this.generatorBuffer ??= new Float32Array(this.gan.generator.params.size);
    const generatorBefore = this.gan.generatorWeights(this.generatorBuffer);
    const dSpecs = this.gan.discriminator.params.specs;
    let gLoss = NaN;
    let publishedAt = 0;
    let accepted: Accepted[] = [];
    // The updates are read into the store's reused buffers, given back once averaged.
    const leases: BlobLease[] = [];
    const releaseLeases = (): void => {
      for (const l of leases.splice(0)) l.release();
    };
    // In `parallel` the G steps run before the round may fail: keep what to restore.
    const optimizerBefore =
      cfg.schedule === 'parallel'
        ? (this.optimizerBuffer = this.gan.getOptimizerState(this.optimizerBuffer))
        : undefined;
    // Deleted after the broadcast: a queue deletion on the channel would hold up the task's
    // publication behind it.
    let drained = await this.drainLate(outcomes, t);
    const releaseDrained = (): void => {
      if (drained) this.closeLater(drained);
      drained = undefined;
    };
    const inbox = await this.openInbox(t).catch((err: unknown) => {
      releaseDrained();
      throw err;
    });
    let completed = false;

    try {
      await runScheduledRound<Float32Array>(cfg.schedule, {
        broadcast: async () => {
          const b0 = now();
          const gBlob = encodeWeights(generatorBefore);
          const dBlob = encodeWeightsWith(dSpecs, (v) => this.gan.discriminatorWeights(v));
          const gKey = this.names.generatorKey(t);
          const dKey = this.names.discriminatorKey(t);
          await Promise.all([
            this.store.put(gKey, gBlob, { ttlSeconds: cfg.blobTtlSeconds }),
            this.store.put(dKey, dBlob, { ttlSeconds: cfg.blobTtlSeconds }),
          ]);
          const task: RoundTask = {
            type: 'RoundTask',
            version: PROTOCOL_VERSION,
            runId: cfg.runId,
            round: t,
            schedule: cfg.schedule,
            generator: { key: gKey, digest: blobDigestHex(gBlob) },
            discriminator: { key: dKey, digest: blobDigestHex(dBlob) },
            replyTo: inbox.name,
            deadlineAt: Date.now() + cfg.roundDeadlineMs,
            issuedAt: Date.now(),
            training: { ...cfg.training },
            seed: cfg.seed,
            participants,
          };
          const body = encodeMessage(task);
          await this.transport.publishTask(body, { kind: 'devices', deviceIds: participants });
          publishedAt = now();
          // Every participant fetches both blobs and gets the task.
          bytes.down += participants.length * (gBlob.length + dBlob.length + body.length);
          phases.broadcastMs = publishedAt - b0;
          this.onEvent({ kind: 'broadcast-end', round: t });
          releaseDrained();
          this.prepareInbox(t + 1);
        },
        collect: async () => {
          this.onEvent({ kind: 'collect-start', round: t });
          accepted = await this.collect(
            t,
            participants,
            inbox,
            publishedAt,
            outcomes,
            bytes,
            phases,
            dSpecs,
            leases,
          );
          phases.collectMs = now() - publishedAt;
          this.onEvent({ kind: 'collect-end', round: t, accepted: accepted.length });
          if (accepted.length < cfg.quorum) {
            throw new QuorumNotReachedError(t, accepted.length, cfg.quorum, cfg.runId);
          }
          const a0 = now();
          // A fixed order (by device id) makes the average independent of arrival order.
          accepted.sort((a, b) => (a.update.deviceId < b.update.deviceId ? -1 : 1));
          const size = accepted[0]!.values.length;
          if (this.average?.length !== size) this.average = new Float32Array(size);
          // Installing copies the values into the model, so the buffer is free again next round.
          const result = averageWeights(
            accepted.map((a) => ({ values: a.values, samples: a.update.samples })),
            this.average,
          );
          releaseLeases();
          phases.aggregateMs += now() - a0;
          return result;
        },
        generatorSteps: async () => {
          this.onEvent({ kind: 'generator-start', round: t });
          const g0 = now();
          gLoss = this.gan.generatorSteps(cfg.generatorSteps, cfg.generatorBatchSize, (s) =>
            deriveSeed(cfg.seed, 'generator', t, s),
          );
          phases.generatorMs = now() - g0;
          this.onEvent({ kind: 'generator-end', round: t });
        },
        install: (average) => {
          const i0 = now();
          this.gan.setDiscriminator(average);
          phases.aggregateMs += now() - i0;
          this.onEvent({ kind: 'install', round: t });
        },
      });
      completed = true;
    } catch (err) {
      if (optimizerBefore) {
        this.gan.setGenerator(generatorBefore.values);
        this.gan.setOptimizerState(optimizerBefore);
      }
      throw err;
    } finally {
      releaseDrained(); // a no-op unless the round failed before its broadcast
      releaseLeases(); // a no-op unless the round failed before its average
      if (completed) this.previousInbox = inbox;
      else await inbox.close(); // a retried round starts from an empty queue
    }
    await this.releaseBlobs([
      this.names.generatorKey(t),
      this.names.discriminatorKey(t),
      ...participants.map((id) => this.names.deviceUpdateKey(t, id)),
    ]);

    phases.totalMs = now() - start;
    phases.deviceComputeMs = Math.max(0, ...accepted.map((a) => a.update.computeMs));
    const n = accepted.reduce((s, a) => s + a.update.samples, 0);
    const wmean = (f: (a: Accepted) => number): number =>
      accepted.reduce((s, a) => s + (a.update.samples / n) * f(a), 0);
    return {
      round: t,
      schedule: cfg.schedule,
      attempts: attempt,
      participants: participants.length,
      accepted: accepted.map((a) => ({
        deviceId: a.update.deviceId,
        samples: a.update.samples,
        losses: a.update.losses,
        computeMs: a.update.computeMs,
        ...(a.update.timings ? { timings: a.update.timings } : {}),
        latencyMs: a.latencyMs,
      })),
      outcomes,
      losses: {
        d: wmean((a) => a.update.losses.d),
        dReal: wmean((a) => a.update.losses.dReal),
        dFake: wmean((a) => a.update.losses.dFake),
        g: gLoss,
      },
      phases,
      bytes,
    };
  }

  /** Deletes the previous round's blobs and keeps `keys` for the next call (best effort). */
  private async releaseBlobs(keys: string[]): Promise<void> {
    const stale = this.previousBlobs;
    this.previousBlobs = keys;
    try {
      await this.store.delete(stale);
    } catch (err) {
      // A store hiccup must not fail a completed round: the keys' TTL removes them anyway.
      if (!(err instanceof TransportError)) throw err;
    }
  }

  /** Counts and drops what arrived in the previous round's queue after it closed; returns it. */
  private async drainLate(
    outcomes: Record<UpdateOutcome, number>,
    t: number,
  ): Promise<RoundInbox | undefined> {
    const late = this.previousInbox;
    if (!late) return undefined;
    this.previousInbox = undefined;
    for (let msg = await late.receive(0); msg; msg = await late.receive(0)) {
      msg.ack();
      outcomes.late += 1;
      this.onEvent({ kind: 'update', round: t, outcome: 'late' });
    }
    return late;
  }

  /** Round t's queue: the one declared ahead, or a new one. */
  private openInbox(t: number): Promise<RoundInbox> {
    const next = this.nextInbox;
    if (next?.round === t) {
      this.nextInbox = undefined;
      return next.inbox;
    }
    return this.transport.openRound(t);
  }

  /** Starts declaring round t's queue (a failure surfaces when round t takes it). */
  private prepareInbox(t: number): void {
    if (this.nextInbox?.round === t) return;
    const stale = this.nextInbox;
    if (stale)
      void stale.inbox.then(
        (i) => this.closeLater(i),
        () => {},
      );
    const inbox = this.transport.openRound(t);
    inbox.catch(() => {}); // observed by openInbox
    this.nextInbox = { round: t, inbox };
  }

  /** Deletes a round's queue without waiting for the broker. */
  private closeLater(inbox: RoundInbox): void {
    const p: Promise<void> = inbox
      .close()
      .catch(() => {}) // the queue's x-expires removes it anyway
      .finally(() => this.closing.delete(p));
    this.closing.add(p);
  }

  /** Closes the last round's queue and the one declared ahead (at the end of a run). */
  async close(): Promise<void> {
    await this.previousInbox?.close();
    this.previousInbox = undefined;
    const next = this.nextInbox;
    this.nextInbox = undefined;
    if (next)
      await next.inbox.then(
        (i) => i.close(),
        () => {},
      );
    await Promise.all([...this.closing]);
  }

  /** Receives updates until every participant answered or the deadline passed. */
  private async collect(
    t: number,
    participants: readonly string[],
    inbox: Awaited<ReturnType<RoundTransport['openRound']>>,
    publishedAt: number,
    outcomes: Record<UpdateOutcome, number>,
    bytes: { down: number; up: number },
    phases: PhaseTimings,
    dSpecs: GlobalGan['discriminator']['params']['specs'],
    leases: BlobLease[],
  ): Promise<Accepted[]> {
    const cfg = this.config;
    const expected = new Set(participants);
    const byDevice = new Map<string, Accepted>();
    const deadline = publishedAt + cfg.roundDeadlineMs;
    const record = (outcome: UpdateOutcome, deviceId?: string, reason?: string): void => {
      outcomes[outcome] += 1;
      this.onEvent({ kind: 'update', round: t, deviceId, outcome, reason });
    };

    // Each update's blob is fetched, verified and decoded while the next messages are received:
    // the store's round trips overlap instead of adding up. The broker's prefetch bounds how many
    // are in flight (a message is acknowledged once its blob is checked).
    const inFlight = new Map<string, Promise<void>>();
    let failure: unknown;
    let busySince = 0;
    const admit = async (update: DeviceUpdate, msg: InboundMessage): Promise<void> => {
      try {
        const lease = await leaseBlob(this.store, update.blob.key);
        if (!lease) {
          throw new BlobIntegrityError(
            'missing',
            `blob "${update.blob.key}" is not in the store (expired or never written)`,
            { run: cfg.runId, round: t, device: update.deviceId },
          );
        }
        leases.push(lease);
        const blob = lease.bytes;
        bytes.up += blob.length;
        const weights = decodeWeights(blob, { expect: dSpecs, digest: update.blob.digest });
        byDevice.set(update.deviceId, {
          update,
          values: weights.values,
          latencyMs: now() - publishedAt,
        });
        msg.ack();
        record('accepted', update.deviceId);
      } catch (err) {
        if (!(err instanceof BlobIntegrityError)) throw err;
        msg.reject();
        record('rejected', update.deviceId, err.message);
      }
    };

    let deadlinePassed = false;
    while (!deadlinePassed && byDevice.size < expected.size) {
      while (failure === undefined && byDevice.size + inFlight.size < expected.size) {
        const msg = await inbox.receive(deadline - now());
        if (!msg) {
          deadlinePassed = true;
          break;
        }
        bytes.up += msg.body.length;
        let update: DeviceUpdate;
        try {
          const parsed = parseMessage(msg.body, { runId: cfg.runId, types: ['DeviceUpdate'] });
          update = parsed as DeviceUpdate;
          if (update.round !== t) {
            throw new ProtocolError(
              `update for round ${update.round} arrived in round ${t}'s queue`,
              { run: cfg.runId, round: t, device: update.deviceId },
            );
          }
          if (!expected.has(update.deviceId)) {
            throw new ProtocolError(
              `device "${update.deviceId}" is not a participant of round ${t}`,
              { run: cfg.runId, round: t, device: update.deviceId },
            );
          }
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
          msg.reject();
          record('rejected', undefined, err.message);
          continue;
        }
        const id = update.deviceId;
        if (byDevice.has(id) || inFlight.has(id)) {
          msg.ack(); // a redelivered or duplicated update counts once
          record('duplicate', id);
          continue;
        }
        if (inFlight.size === 0) busySince = now();
        inFlight.set(
          id,
          admit(update, msg)
            .catch((err: unknown) => {
              failure ??= err;
            })
            .finally(() => {
              inFlight.delete(id);
              // Verification time counts once, however many updates overlap.
              if (inFlight.size === 0) phases.aggregateMs += now() - busySince;
            }),
        );
      }
      await Promise.all(inFlight.values());
      if (failure !== undefined) throw failure;
      // A refused update leaves its device unanswered: keep receiving until the deadline.
    }
    return [...byDevice.values()];
  }
}
