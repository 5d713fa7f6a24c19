import {
  BlobIntegrityError,
  blobDigestHex,
  decodeWeights,
  defaultDigestAlgorithm,
  encodeMessage,
  encodeWeightsWith,
  names,
  parseMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  type DeviceUpdate,
  type DigestAlgorithm,
  type RoundTask,
  type TaskDeclined,
  type TensorSpec,
  type PhaseTimings,
} from '@distgan/protocol';
import { leaseBlob, type BlobLease, type BlobStore } from './blob-store.js';
import type {
  BlobSource,
  BroadcastPlan,
  CollectedUpdate,
  Schedule,
  ServerMethod,
  ServerRound,
} from './method.js';
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
  /** distgan's schedule, sent with every task (the other methods ignore it). */
  schedule: Schedule;
  training: LocalTraining;
  /** Seeds every random draw of the run (latent batches, minibatches). */
  seed: number;
  /** A round closes at this deadline if some expected devices have not answered. */
  roundDeadlineMs: number;
  /** Fewest accepted updates for a round to count; below it the round is retried. */
  quorum: number;
  /** Attempts per round before the run fails. */
  maxRoundAttempts: number;
  /**
   * Rounds in a row a participant may miss (no update by the deadline, or a declined task)
   * before rounds stop waiting for it: it still gets every task, and its update still counts
   * when it arrives in time; once it answers again (even late) it is waited for again.
   * 0 or unset: always wait.
   */
  maxMissedRounds?: number;
  /** Wait before retrying a round: this, doubled each attempt up to 8×. Default 0. */
  retryDelayMs?: number;
  /** Expiry of per-round blobs in the store. */
  blobTtlSeconds: number;
  /**
   * The digest of round t's blobs, chosen from its participants (the server: one that every
   * participant can verify, from their registrations). Default: the process's digest
   * (BLOB_DIGEST).
   */
  blobDigest?: (participants: readonly string[]) => DigestAlgorithm;
}

/** Who is expected to answer round t (membership decides; the embedded run has a fixed list). */
export type ParticipantSource = (round: number) => readonly string[] | Promise<readonly string[]>;

export type UpdateOutcome = 'accepted' | 'duplicate' | 'rejected' | 'late' | 'declined';

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
  /** A participant sent no update by the deadline, or declined the task (`why`). */
  | {
      kind: 'device-missed';
      round: number;
      deviceId: string;
      /** Rounds in a row it has missed, this one included. */
      missed: number;
      why: string;
      /** Whether rounds had already stopped waiting for it. */
      notWaitedFor: boolean;
    }
  /** Rounds stop waiting for a device (MAX_MISSED_ROUNDS); `count`: how many are set aside. */
  | {
      kind: 'device-not-waited-for';
      round: number;
      deviceId: string;
      missed: number;
      count: number;
    }
  | { kind: 'device-answers-again'; round: number; deviceId: string; count: number }
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
  method: ServerMethod['name'];
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
  /**
   * Why collection ended: every participant waited for had answered (updated or declined), or
   * the deadline passed first. Absent for a round without devices.
   */
  closedBy?: 'answers' | 'deadline';
}

interface Accepted {
  update: DeviceUpdate;
  /** Views of leased store buffers: valid until the round releases its leases. */
  outputs: Record<string, Float32Array>;
  latencyMs: number;
}

const now = (): number => performance.now();

/**
 * The server's round loop, the same for every method: broadcast what the method's round plan
 * says, collect and verify the participants' outputs until all answered or the deadline passed,
 * check the quorum, and hand them to the method, retrying a round that fails (docs/design.md §2).
 */
export class Coordinator {
  private readonly names: ReturnType<typeof names>;
  private nextRound = 0;
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
   * The blobs of the last completed round (its inputs and the updates), deleted when the next
   * round completes: no one reads them after that, and a store that keeps every round's
   * megabytes until their TTL grows by gigabytes in a long run. The TTL stays the backstop.
   */
  private previousBlobs: string[] = [];
  /** Rounds in a row each device has missed. */
  private readonly missed = new Map<string, number>();
  /** Devices that rounds no longer wait for (they missed maxMissedRounds in a row). */
  private readonly notWaitedFor = new Set<string>();

  constructor(
    readonly method: ServerMethod,
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
    let attempt = 1;
    for (; attempt <= this.config.maxRoundAttempts; attempt++) {
      // Asked to stop: no further attempt (the one in progress was allowed to finish).
      if (this.stopRequested && lastError) break;
      try {
        const report = this.method.usesDevices
          ? await this.attemptRound(t, attempt)
          : await this.serverRound(t, attempt);
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
    throw new RoundFailedError(t, attempt - 1, this.config.runId, lastError!);
  }

  private stopRequested = false;

  /** Makes runRound give up after the attempt in progress instead of retrying (a shutdown). */
  requestStop(): void {
    this.stopRequested = true;
  }

  /** A round of a method that trains on the server alone (centralized): no network. */
  private async serverRound(t: number, attempt: number): Promise<RoundReport> {
    this.onEvent({ kind: 'round-start', round: t, attempt, participants: [] });
    const start = now();
    const outcomes = { accepted: 0, duplicate: 0, rejected: 0, late: 0, declined: 0 };
    const round = new RoundState(t, attempt, [], undefined, outcomes, (e) => this.onEvent(e));
    const result = await this.method.round(this.serverRoundView(round, () => {}));
    round.gLoss = result.g;
    round.serverLosses = result.d;
    round.phases.totalMs = now() - start;
    return round.report(this.method.name, this.config.schedule);
  }

  private async attemptRound(t: number, attempt: number): Promise<RoundReport> {
    const cfg = this.config;
    const participants = [...(await this.participants(t))].sort();
    // A device that left is forgotten: if it comes back, rounds wait for it like for a new one.
    for (const id of [...this.missed.keys()]) {
      if (!participants.includes(id)) this.missed.delete(id);
    }
    for (const id of [...this.notWaitedFor]) {
      if (!participants.includes(id)) this.notWaitedFor.delete(id);
    }
    this.onEvent({ kind: 'round-start', round: t, attempt, participants });
    // Too few devices to ever reach the quorum: do not publish a round nobody can complete.
    if (participants.length < cfg.quorum) {
      throw new QuorumNotReachedError(t, 0, cfg.quorum, cfg.runId, participants.length);
    }
    const start = now();
    const outcomes: Record<UpdateOutcome, number> = {
      accepted: 0,
      duplicate: 0,
      rejected: 0,
      late: 0,
      declined: 0,
    };
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
    const round = new RoundState(t, attempt, participants, inbox, outcomes, (e) => this.onEvent(e));
    let completed = false;
    try {
      const result = await this.method.round(this.serverRoundView(round, releaseDrained));
      round.gLoss = result.g;
      completed = true;
    } finally {
      releaseDrained(); // a no-op unless the round failed before its broadcast
      round.releaseLeases();
      if (completed) this.previousInbox = inbox;
      else await inbox.close(); // a retried round starts from an empty queue
    }
    await this.releaseBlobs(round.blobKeys);
    round.phases.totalMs = now() - start;
    return round.report(this.method.name, cfg.schedule);
  }

  /** Round t as the method sees it: the network behind three calls. */
  private serverRoundView(round: RoundState, releaseDrained: () => void): ServerRound {
    return {
      t: round.t,
      participants: round.participants,
      broadcast: async (plan) => {
        if (!round.inbox) throw new Error(`${this.method.name} trains without devices`);
        await this.broadcast(round, plan);
        releaseDrained();
        this.prepareInbox(round.t + 1);
      },
      collect: () => this.collectUpdates(round),
      timed: <T>(phase: 'aggregate' | 'generator' | 'install', f: () => T): T => {
        if (phase === 'generator') this.onEvent({ kind: 'generator-start', round: round.t });
        const t0 = now();
        const result = f();
        const ms = now() - t0;
        // Compute before the broadcast holds the devices up: kept apart for the time model.
        if (round.inbox && !round.broadcastStarted)
          round.phases.preBroadcastMs = (round.phases.preBroadcastMs ?? 0) + ms;
        if (phase === 'generator') {
          round.phases.generatorMs += ms;
          this.onEvent({ kind: 'generator-end', round: round.t });
        } else {
          round.phases.aggregateMs += ms;
          if (phase === 'install') this.onEvent({ kind: 'install', round: round.t });
        }
        return result;
      },
    };
  }

  /** Stores the plan's blobs and publishes round t's task to its participants. */
  private async broadcast(round: RoundState, plan: BroadcastPlan): Promise<void> {
    const cfg = this.config;
    const t = round.t;
    round.broadcastStarted = true;
    const b0 = now();
    const stored = new Map<string, { key: string; digest: string; bytes: number }>();
    const digest = cfg.blobDigest?.(round.participants) ?? defaultDigestAlgorithm();
    await Promise.all(
      Object.entries(plan.blobs).map(async ([name, source]) => {
        const blob = encodeSource(source, digest);
        const key = this.names.roundBlobKey(t, name);
        round.blobKeys.push(key);
        await this.store.put(key, blob, { ttlSeconds: cfg.blobTtlSeconds });
        stored.set(name, { key, digest: blobDigestHex(blob), bytes: blob.length });
      }),
    );
    const ref = (name: string): { key: string; digest: string } => {
      const b = stored.get(name);
      if (!b) throw new Error(`${this.method.name}'s round plan names an unknown blob "${name}"`);
      return { key: b.key, digest: b.digest };
    };
    const inputs = Object.fromEntries(plan.shared.map((name) => [name, ref(name)]));
    const deviceInputs = plan.perDevice
      ? Object.fromEntries(
          round.participants.map((id, rank) => [
            id,
            Object.fromEntries(
              Object.entries(plan.perDevice!(id, rank)).map(([role, name]) => [role, ref(name)]),
            ),
          ]),
        )
      : undefined;
    round.outputs = plan.outputs;
    for (const id of round.participants) {
      for (const name of Object.keys(plan.outputs))
        round.blobKeys.push(this.names.deviceBlobKey(t, id, name));
    }
    const task: RoundTask = {
      type: 'RoundTask',
      version: PROTOCOL_VERSION,
      runId: cfg.runId,
      round: t,
      method: this.method.name as RoundTask['method'],
      schedule: cfg.schedule,
      inputs,
      ...(deviceInputs ? { deviceInputs } : {}),
      outputs: Object.keys(plan.outputs),
      replyTo: round.inbox!.name,
      deadlineAt: Date.now() + cfg.roundDeadlineMs,
      issuedAt: Date.now(),
      training: { ...cfg.training, ...plan.training },
      seed: cfg.seed,
      participants: round.participants,
    };
    const body = encodeMessage(task);
    await this.transport.publishTask(body, { kind: 'devices', deviceIds: round.participants });
    round.publishedAt = now();
    // Every participant gets the task and fetches the shared blobs and its own.
    const sharedBytes = plan.shared.reduce((s, name) => s + stored.get(name)!.bytes, 0);
    round.bytes.down += round.participants.length * (sharedBytes + body.length);
    const bytesOf = new Map([...stored.values()].map((b) => [b.key, b.bytes]));
    for (const own of Object.values(deviceInputs ?? {})) {
      for (const r of Object.values(own)) round.bytes.down += bytesOf.get(r.key)!;
    }
    round.phases.broadcastMs = round.publishedAt - b0;
    this.onEvent({ kind: 'broadcast-end', round: t });
  }

  /** Collects the updates and checks the quorum; the accepted ones ordered by device id. */
  private async collectUpdates(round: RoundState): Promise<CollectedUpdate[]> {
    const cfg = this.config;
    const t = round.t;
    this.onEvent({ kind: 'collect-start', round: t });
    const accepted = await this.collect(round);
    round.accepted = accepted;
    round.phases.collectMs = now() - round.publishedAt;
    this.recordAttendance(round);
    this.onEvent({ kind: 'collect-end', round: t, accepted: accepted.length });
    if (accepted.length < cfg.quorum) {
      const answered = new Set([
        ...accepted.map((a) => a.update.deviceId),
        ...round.declined.keys(),
        ...round.refused.keys(),
      ]);
      const silent = round.participants.filter((id) => !answered.has(id));
      throw new QuorumNotReachedError(t, accepted.length, cfg.quorum, cfg.runId, undefined, silent);
    }
    // A fixed order (by device id) makes what the method computes independent of arrival order.
    accepted.sort((a, b) => (a.update.deviceId < b.update.deviceId ? -1 : 1));
    return accepted.map((a) => ({
      deviceId: a.update.deviceId,
      rank: round.participants.indexOf(a.update.deviceId),
      samples: a.update.samples,
      losses: a.update.losses,
      outputs: a.outputs,
    }));
  }

  /**
   * Who answered round t: a participant without an accepted update missed it; after
   * maxMissedRounds in a row the rounds stop waiting for it; one that answered is waited for again.
   */
  private recordAttendance(round: RoundState): void {
    const limit = this.config.maxMissedRounds ?? 0;
    const answered = new Set(round.accepted.map((a) => a.update.deviceId));
    for (const id of round.participants) {
      if (answered.has(id)) {
        this.missed.delete(id);
        this.answersAgain(id, round.t);
        continue;
      }
      const missed = (this.missed.get(id) ?? 0) + 1;
      this.missed.set(id, missed);
      const benched = this.notWaitedFor.has(id);
      this.onEvent({
        kind: 'device-missed',
        round: round.t,
        deviceId: id,
        missed,
        why: round.declined.get(id) ?? round.refused.get(id) ?? 'no update by the deadline',
        notWaitedFor: benched,
      });
      if (limit > 0 && missed >= limit && !benched) {
        this.notWaitedFor.add(id);
        this.onEvent({
          kind: 'device-not-waited-for',
          round: round.t,
          deviceId: id,
          missed,
          count: this.notWaitedFor.size,
        });
      }
    }
  }

  private answersAgain(deviceId: string, t: number): void {
    this.missed.delete(deviceId);
    if (!this.notWaitedFor.delete(deviceId)) return;
    this.onEvent({
      kind: 'device-answers-again',
      round: t,
      deviceId,
      count: this.notWaitedFor.size,
    });
  }

  /** Devices that rounds no longer wait for, sorted. */
  get devicesNotWaitedFor(): string[] {
    return [...this.notWaitedFor].sort();
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
      // A device that rounds stopped waiting for answers again, if late: wait for it again.
      const deviceId = this.senderOf(msg.body);
      if (deviceId?.type === 'DeviceUpdate') this.answersAgain(deviceId.deviceId, t);
      this.onEvent({ kind: 'update', round: t, deviceId: deviceId?.deviceId, outcome: 'late' });
    }
    return late;
  }

  /** The type and sender of a well-formed message of this run, or undefined. */
  private senderOf(body: Uint8Array): { type: string; deviceId: string } | undefined {
    try {
      const m = parseMessage(body, {
        runId: this.config.runId,
        types: ['DeviceUpdate', 'TaskDeclined'],
      });
      return { type: m.type, deviceId: m.deviceId };
    } catch {
      return undefined;
    }
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
  private async collect(round: RoundState): Promise<Accepted[]> {
    const expected = new Set(round.participants);
    // The round waits for every participant but those it has stopped waiting for (unless that
    // is all of them); their updates still count when they arrive in time.
    const waited = round.participants.filter((id) => !this.notWaitedFor.has(id));
    const waitFor = new Set(waited.length > 0 ? waited : round.participants);
    const byDevice = new Map<string, Accepted>();
    const outstanding = (): number =>
      [...waitFor].filter((id) => !byDevice.has(id) && !round.declined.has(id)).length;
    const deadline = round.publishedAt + this.config.roundDeadlineMs;
    // Each update's blob is fetched, verified and decoded while the next messages are received:
    // the store's round trips overlap instead of adding up. The broker's prefetch bounds how many
    // are in flight (a message is acknowledged once its blob is checked).
    const inFlight = new Map<string, Promise<void>>();
    let failure: unknown;
    let busySince = 0;
    let deadlinePassed = false;
    while (!deadlinePassed && outstanding() > 0) {
      while (failure === undefined && outstanding() > inFlight.size) {
        const msg = await round.inbox!.receive(deadline - now());
        if (!msg) {
          deadlinePassed = true;
          break;
        }
        round.bytes.up += msg.body.length;
        const update = this.parseUpdate(round, expected, msg);
        if (!update) continue;
        const id = update.deviceId;
        if (update.type === 'TaskDeclined') {
          msg.ack();
          if (byDevice.has(id) || inFlight.has(id) || round.declined.has(id)) {
            round.record('duplicate', id);
          } else {
            round.declined.set(id, `declined: ${update.reason}`);
            round.record('declined', id, update.reason);
          }
          continue;
        }
        if (byDevice.has(id) || inFlight.has(id) || round.declined.has(id)) {
          msg.ack(); // a redelivered or duplicated update counts once
          round.record('duplicate', id);
          continue;
        }
        if (inFlight.size === 0) busySince = now();
        inFlight.set(
          id,
          this.admit(round, update, msg, byDevice)
            .catch((err: unknown) => {
              failure ??= err;
            })
            .finally(() => {
              inFlight.delete(id);
              // Verification time counts once, however many updates overlap.
              if (inFlight.size === 0) round.phases.aggregateMs += now() - busySince;
            }),
        );
      }
      await Promise.all(inFlight.values());
      if (failure !== undefined) throw failure;
      round.closedBy = deadlinePassed ? 'deadline' : 'answers';
      // A refused update leaves its device unanswered: keep receiving until the deadline.
    }
    return [...byDevice.values()];
  }

  /**
   * The update in `msg` if it is one for this round from one of its participants; otherwise the
   * message is rejected (dead-lettered), counted with its reason, and undefined returned.
   */
  private parseUpdate(
    round: RoundState,
    expected: ReadonlySet<string>,
    msg: InboundMessage,
  ): DeviceUpdate | TaskDeclined | undefined {
    const { runId } = this.config;
    const t = round.t;
    try {
      const update = parseMessage(msg.body, { runId, types: ['DeviceUpdate', 'TaskDeclined'] });
      const context = { run: runId, round: t, device: update.deviceId };
      if (update.round !== t) {
        throw new ProtocolError(
          `update for round ${update.round} arrived in round ${t}'s queue`,
          context,
        );
      }
      if (!expected.has(update.deviceId)) {
        throw new ProtocolError(
          `device "${update.deviceId}" is not a participant of round ${t}`,
          context,
        );
      }
      if (update.type === 'TaskDeclined') return update;
      const want = Object.keys(round.outputs).sort().join(', ');
      const got = Object.keys(update.outputs).sort().join(', ');
      if (got !== want) {
        throw new ProtocolError(
          `update carries outputs [${got}], round ${t} asked for [${want}]`,
          context,
        );
      }
      return update;
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      msg.reject();
      round.record('rejected', undefined, err.message);
      return undefined;
    }
  }

  /** Fetches, verifies and decodes an update's blobs; accepts it, or refuses it with its reason. */
  private async admit(
    round: RoundState,
    update: DeviceUpdate,
    msg: InboundMessage,
    byDevice: Map<string, Accepted>,
  ): Promise<void> {
    const context = { run: this.config.runId, round: round.t, device: update.deviceId };
    try {
      const outputs: Record<string, Float32Array> = {};
      for (const [name, specs] of Object.entries(round.outputs)) {
        const ref = update.outputs[name]!;
        const lease = await leaseBlob(this.store, ref.key);
        if (!lease) {
          throw new BlobIntegrityError(
            'missing',
            `blob "${ref.key}" is not in the store (expired or never written)`,
            context,
          );
        }
        round.leases.push(lease);
        round.bytes.up += lease.bytes.length;
        outputs[name] = decodeWeights(lease.bytes, {
          expect: specs,
          digest: ref.digest,
        }).values;
      }
      byDevice.set(update.deviceId, { update, outputs, latencyMs: now() - round.publishedAt });
      msg.ack();
      round.record('accepted', update.deviceId);
    } catch (err) {
      if (!(err instanceof BlobIntegrityError)) throw err;
      msg.reject();
      round.record('rejected', update.deviceId, err.message);
    }
  }
}

/** A blob's bytes from what the method gave, with the round's digest. */
function encodeSource(source: BlobSource, digest: DigestAlgorithm): Uint8Array {
  return 'values' in source
    ? encodeWeightsWith(source.specs, (out) => out.set(source.values), { digest })
    : encodeWeightsWith(source.specs, source.write, { digest });
}

/** One attempt at a round: what it has gathered so far, and its report. */
class RoundState {
  readonly phases: PhaseTimings = {
    broadcastMs: 0,
    deviceComputeMs: 0,
    collectMs: 0,
    aggregateMs: 0,
    generatorMs: 0,
    preBroadcastMs: 0,
    totalMs: 0,
  };
  /** Whether the method has called broadcast (time it spent before is preBroadcastMs). */
  broadcastStarted = false;
  readonly bytes = { down: 0, up: 0 };
  /** The updates are read into the store's reused buffers, given back once averaged. */
  readonly leases: BlobLease[] = [];
  /** Keys of every blob this round stored or asked for, deleted once the next round is done. */
  readonly blobKeys: string[] = [];
  /** What each participant must send back, with the layouts. */
  outputs: Record<string, readonly TensorSpec[]> = {};
  publishedAt = 0;
  accepted: Accepted[] = [];
  closedBy: RoundReport['closedBy'];
  /** Participants whose update was refused, with the reason of the last refusal. */
  readonly refused = new Map<string, string>();
  /** Participants that declined the task, with their reason. */
  readonly declined = new Map<string, string>();
  gLoss = NaN;
  /** The discriminator's losses of a method that trains on the server alone. */
  serverLosses: { d: number; dReal: number; dFake: number } | undefined;

  constructor(
    readonly t: number,
    readonly attempt: number,
    readonly participants: string[],
    readonly inbox: RoundInbox | undefined,
    readonly outcomes: Record<UpdateOutcome, number>,
    private readonly onEvent: (e: RoundEvent) => void,
  ) {}

  record(outcome: UpdateOutcome, deviceId?: string, reason?: string): void {
    this.outcomes[outcome] += 1;
    if (outcome === 'rejected' && deviceId && reason)
      this.refused.set(deviceId, `update refused: ${reason}`);
    this.onEvent({ kind: 'update', round: this.t, deviceId, outcome, reason });
  }

  releaseLeases(): void {
    for (const l of this.leases.splice(0)) l.release();
  }

  report(method: ServerMethod['name'], schedule: Schedule): RoundReport {
    const accepted = this.accepted;
    this.phases.deviceComputeMs = Math.max(0, ...accepted.map((a) => a.update.computeMs));
    const n = accepted.reduce((s, a) => s + a.update.samples, 0);
    const wmean = (f: (a: Accepted) => number): number =>
      accepted.reduce((s, a) => s + (a.update.samples / n) * f(a), 0);
    const server = this.serverLosses;
    return {
      round: this.t,
      method,
      schedule,
      attempts: this.attempt,
      participants: this.participants.length,
      accepted: accepted.map((a) => ({
        deviceId: a.update.deviceId,
        samples: a.update.samples,
        losses: a.update.losses,
        computeMs: a.update.computeMs,
        ...(a.update.timings ? { timings: a.update.timings } : {}),
        latencyMs: a.latencyMs,
      })),
      outcomes: this.outcomes,
      losses: {
        d: server?.d ?? wmean((a) => a.update.losses.d),
        dReal: server?.dReal ?? wmean((a) => a.update.losses.dReal),
        dFake: server?.dFake ?? wmean((a) => a.update.losses.dFake),
        g: this.gLoss,
      },
      phases: this.phases,
      bytes: this.bytes,
      ...(this.closedBy ? { closedBy: this.closedBy } : {}),
    };
  }
}
