import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { DashboardHub, publicConfig, registerDashboard } from '@distgan/dashboard';
import { renderSampleGrid, renderScatter } from '@distgan/eval';
import { classCount, deriveSeed, type ModelSpec } from '@distgan/gan';
import {
  createServerMetrics,
  recordRound,
  type Logger,
  type ServerMetrics,
} from '@distgan/telemetry';
import { defaultDigestAlgorithm, type DigestAlgorithm } from '@distgan/protocol';
import {
  chooseBlobDigest,
  Coordinator,
  digestMismatch,
  identityMismatch,
  QuorumNotReachedError,
  RoundFailedError,
  TransportError,
  type BlobStore,
  type CheckpointSpecs,
  type CheckpointStore,
  type DeviceIdentity,
  type DeviceStatus,
  type Membership,
  type RoundEvent,
  type RoundReport,
  type RoundTransport,
  type RunRecord,
  type ServerMethod,
} from '@distgan/engine';
import { createServerMethod, localTrainingOf, methodSettingsOf } from '@distgan/methods';
import {
  dataConfigOf,
  describeQuality,
  identityOf,
  latentVectors,
  loadRunDataset,
  modelSpecFor,
  pooledData,
  qualityReport,
  RunEvaluation,
  RunFolder,
  type EvaluationResult,
} from '@distgan/run';
import type { ServerConfig } from './config.js';
import { MembershipWatch } from './membership-watch.js';

/** What the server runs on: its configuration and its services (RabbitMQ and Redis in main.ts). */
export interface ServerDeps {
  config: ServerConfig;
  log: Logger;
  transport: RoundTransport;
  store: BlobStore;
  membership: Membership;
  checkpoints: CheckpointStore;
  /** Whether the broker and the blob store can be reached now (for /readyz). */
  ready: () => Promise<{ ready: boolean; detail: Record<string, unknown> }>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What one run of the round loop works with. */
interface RunContext {
  method: ServerMethod;
  spec: ModelSpec;
  specs: CheckpointSpecs;
  folder: RunFolder;
  coordinator: Coordinator;
  /** Undefined when EVAL_EVERY is 0. */
  evaluate: ((round: number) => EvaluationResult) | undefined;
  grid: () => Uint8Array;
}

type Status = 'starting' | 'waiting-for-devices' | 'training' | 'finished' | 'stopping' | 'failed';

/** The run cannot make progress: it ends as failed with this reason. */
export class RunStalledError extends Error {
  override readonly name = 'RunStalledError';
}

/**
 * The coordinator service without its process: the round loop of the shared engine, with
 * membership, checkpoints and resume, the run folder and the HTTP API. Its connections are
 * given (RabbitMQ and Redis in main.ts, the in-memory twins in the tests).
 */
export class ServerApp {
  private currentStatus: Status = 'starting';
  /** What the dashboard at `/` shows, fed by the round loop. */
  readonly dashboard: DashboardHub;
  private stopping = false;
  private lastReport: RoundReport | undefined;
  private latestGrid: Uint8Array | undefined;
  /** The checkpoint round this process resumed from, if it did. */
  private resumedFrom: number | undefined;
  private lastEval: ({ round: number } & EvaluationResult) | undefined;
  private devices: DeviceStatus[] = [];
  readonly metrics: ServerMetrics = createServerMetrics();
  readonly http: FastifyInstance;
  readonly config: ServerConfig;
  private readonly log: Logger;
  private done!: Promise<void>;
  /** What every device must agree on (numDevices learnt from the first device when not set). */
  private readonly identity: DeviceIdentity;
  /** Why the run failed, once it has. */
  private failure: string | undefined;
  /** Devices the server refused, by id: the instance and why (one log line and count each). */
  private readonly refused = new Map<string, { instance: string; reason: string }>();
  /** When a round last completed (or the run started): the stall timeout counts from here. */
  private progressAt = Date.now();
  /** Why the last round attempt failed, for the stall message. */
  private lastProblem = 'no round completed yet';
  /** When a round attempt failed with no round completed since. */
  private failingSince: number | undefined;
  /** Run records are published in order. */
  private publishing: Promise<void> = Promise.resolve();
  /** The digest of the last round's global blobs (undefined before the first). */
  private blobDigest: DigestAlgorithm | undefined;

  constructor(private readonly deps: ServerDeps) {
    const config = deps.config;
    this.config = config;
    this.log = deps.log;
    this.metrics.round.set(-1);
    this.identity = identityOf(config);
    this.dashboard = new DashboardHub({
      runId: config.runId,
      kind: 'server',
      rounds: config.rounds,
      method: config.method,
      schedule: config.schedule,
      config: publicConfig(config),
    });
    this.http = this.buildHttp();
  }

  get status(): Status {
    return this.currentStatus;
  }

  private setStatus(status: Status, detail?: string): void {
    const changed = status !== this.currentStatus;
    this.currentStatus = status;
    this.dashboard.setStatus(status, detail);
    for (const s of [
      'starting',
      'waiting-for-devices',
      'training',
      'finished',
      'stopping',
      'failed',
    ])
      this.metrics.runStatus.set({ status: s }, s === status ? 1 : 0);
    if (changed) void this.publishRun();
  }

  /**
   * The run's record for devices (they end with the run, and check their identity against it)
   * and operators; published on every change of status, in order. Resolves once it is written.
   */
  private publishRun(): Promise<void> {
    const status = this.currentStatus === 'stopping' ? 'stopped' : this.currentStatus;
    const record: RunRecord = {
      status,
      round: this.lastReport?.round ?? this.resumedFrom ?? -1,
      ...(this.failure ? { reason: this.failure.slice(0, 4096) } : {}),
      identity: { ...this.identity },
      updatedAt: Date.now(),
    };
    this.publishing = this.publishing
      .then(() => this.deps.membership.publishRun(record))
      .catch((err: unknown) => this.log.warn({ err }, "publishing the run's record failed"));
    return this.publishing;
  }

  /** Starts the round loop; with `listen`, the HTTP server on PORT first. */
  async start(opts: { listen?: boolean } = {}): Promise<void> {
    if (opts.listen ?? true) await this.http.listen({ port: this.config.port, host: '0.0.0.0' });
    this.setStatus('starting');
    this.done = this.run().catch(async (err: unknown) => {
      this.failure = err instanceof Error ? err.message : String(err);
      this.setStatus('failed', this.failure);
      this.log.error({ err }, 'the run failed');
      await this.publishing; // devices learn it before the process exits
      throw err;
    });
  }

  /**
   * Why rounds are not completing, when the last round attempt failed and none completed since:
   * a stop now is not a clean one (main.ts exits 1).
   */
  get degraded(): string | undefined {
    return this.failingSince !== undefined ? this.lastProblem : undefined;
  }

  /** Resolves when the run finished (or stopped); rejects when it failed. */
  finished(): Promise<void> {
    return this.done;
  }

  /** The round loop's coordinator, once prepared (a stop tells it not to retry). */
  private coordinator: Coordinator | undefined;

  private async run(): Promise<void> {
    const run = await this.prepare();
    this.coordinator = run.coordinator;
    try {
      await this.resume(run);
      this.progressAt = Date.now();
      while (run.coordinator.round < this.config.rounds && !this.stopping) {
        this.checkStalled();
        // Centralized training needs no device.
        if (run.method.usesDevices && !(await this.enoughDevices())) {
          await sleep(500);
          continue;
        }
        const report = await this.playRound(run);
        if (report) await this.afterRound(run, report);
      }
      await run.coordinator.close();
      this.finish(run);
      await this.publishRun();
    } finally {
      run.method.dispose();
    }
  }

  /** The run's data, model, run folder, coordinator, evaluation and sample grid. */
  private async prepare(): Promise<RunContext> {
    const c = this.config;
    const dataset = await loadRunDataset(dataConfigOf(c));
    const spec = modelSpecFor(c, dataset);
    const method = createServerMethod(
      c.method,
      methodSettingsOf(c, spec),
      c.method === 'centralized'
        ? pooledData(dataset, { seed: c.seed, batchSize: c.batchSize })
        : undefined,
    );
    // Appended to: a restarted server goes on with the same run folder.
    const folder = new RunFolder(join(c.out, c.runId), { fresh: false });
    const coordinator = new Coordinator(
      method,
      this.deps.transport,
      this.deps.store,
      async () => (await this.eligibleDevices()).map((d) => d.deviceId),
      {
        runId: c.runId,
        schedule: c.schedule,
        training: localTrainingOf(c),
        seed: c.seed,
        roundDeadlineMs: c.roundDeadlineMs,
        quorum: c.quorum,
        maxRoundAttempts: c.maxRoundAttempts,
        maxMissedRounds: c.maxMissedRounds,
        retryDelayMs: 500,
        blobTtlSeconds: Math.ceil((c.roundDeadlineMs * 3) / 1000) + 60,
        blobDigest: (ids) => this.blobDigestFor(ids),
      },
      (e) => this.onRoundEvent(e),
    );
    const fixedZ = latentVectors(64, spec.latentDim, deriveSeed(c.seed, 'sample-grid'));
    return {
      method,
      spec,
      specs: method.stateSpecs(),
      folder,
      coordinator,
      evaluate: await this.evaluation(c.dataset, spec, (z) => method.sample(z)),
      grid: () =>
        spec.sampleShape.length === 3
          ? renderSampleGrid(method.sample(fixedZ), 64, spec.sampleShape)
          : renderScatter(method.sample(fixedZ)),
    };
  }

  private onRoundEvent(e: RoundEvent): void {
    if (e.kind === 'update') {
      this.metrics.updatesTotal.inc({ outcome: e.outcome });
      // A duplicate is not averaged twice: for the device's row it is refused too.
      this.dashboard.recordDeviceOutcome(
        e.deviceId,
        e.outcome === 'accepted' || e.outcome === 'late' ? e.outcome : 'refused',
      );
      if (e.outcome === 'rejected')
        this.log.warn({ round: e.round, device: e.deviceId, reason: e.reason }, 'update refused');
    } else if (e.kind === 'round-failed') {
      this.metrics.roundFailuresTotal.inc();
      this.lastProblem = e.error.message;
      this.failingSince ??= Date.now();
      this.log.warn(
        { round: e.round, attempt: e.attempt, err: e.error.message },
        'round attempt failed',
      );
    } else if (e.kind === 'device-missed') {
      this.metrics.missedRoundsTotal.inc();
      // A device the rounds no longer wait for is logged once, when it is set aside.
      if (!e.notWaitedFor)
        this.log.warn(
          { round: e.round, device: e.deviceId, missed: e.missed, why: e.why },
          'device missed a round',
        );
    } else if (e.kind === 'device-not-waited-for') {
      this.metrics.benchedDevices.set(e.count);
      this.log.warn(
        { round: e.round, device: e.deviceId, missed: e.missed },
        `rounds no longer wait for this device: it missed ${e.missed} rounds in a row (MAX_MISSED_ROUNDS); it is waited for again once it answers`,
      );
    } else if (e.kind === 'device-answers-again') {
      this.metrics.benchedDevices.set(e.count);
      this.log.info(
        { round: e.round, device: e.deviceId },
        'device answers again: rounds wait for it',
      );
    }
  }

  /** Continues from the last checkpoint, if there is one. */
  private async resume(run: RunContext): Promise<void> {
    const resumed = await this.deps.checkpoints.load(run.specs);
    if (!resumed) return;
    run.method.restore(resumed.parts);
    run.coordinator.round = resumed.round + 1;
    this.metrics.round.set(resumed.round);
    this.resumedFrom = resumed.round;
    // What the run goes on with, read back from the model: an operator (and the end-to-end
    // suite) can compare it byte for byte with the checkpoint's generator blob.
    const record = run.folder.writeResumed(resumed.round, run.method.generatorWeights());
    this.log.info({ round: resumed.round, generator: record }, 'resumed from checkpoint');
  }

  /** The run's devices now; every join, leave and return is logged and counted. */
  private async refreshDevices(): Promise<DeviceStatus[]> {
    this.devices = await this.deps.membership.list();
    for (const c of this.membershipWatch.update(this.devices)) {
      this.metrics.membershipChangesTotal.inc({ change: c.change });
      if (c.change === 'left') this.log.warn({ device: c.deviceId, how: c.how }, 'device left');
      else
        this.log.info(
          { device: c.device.deviceId, samples: c.device.samples, shard: c.device.shard },
          c.change === 'joined' ? 'device joined' : 'device rejoined',
        );
    }
    return this.devices;
  }

  private readonly membershipWatch = new MembershipWatch();

  /**
   * The live devices that may take part: a device whose identity differs from the run's, or whose
   * shard another live device already holds, is refused (logged and counted once, and told
   * through membership; it stops). Devices already taking part keep their place.
   */
  private async eligibleDevices(): Promise<DeviceStatus[]> {
    const alive = (await this.refreshDevices()).filter((d) => d.alive);
    const taking = new Set(this.eligible.map((d) => `${d.deviceId}/${d.instance}`));
    // Those already taking part first, then by arrival: the earlier of two claims wins.
    alive.sort(
      (a, b) =>
        Number(taking.has(`${b.deviceId}/${b.instance}`)) -
          Number(taking.has(`${a.deviceId}/${a.instance}`)) ||
        a.registeredAt - b.registeredAt ||
        (a.deviceId < b.deviceId ? -1 : 1),
    );
    const eligible: DeviceStatus[] = [];
    for (const d of alive) {
      const refusal = this.refused.get(d.deviceId);
      if (refusal?.instance === d.instance) continue;
      const mismatch = identityMismatch(d.identity, this.identity);
      const holder =
        d.shard >= 0
          ? eligible.find((e) => e.shard === d.shard && e.identity.numDevices > 0)
          : undefined;
      const digestless = digestMismatch(d);
      if (mismatch) await this.refuse(d, 'identity', mismatch);
      else if (digestless) await this.refuse(d, 'digest', digestless);
      else if (holder)
        await this.refuse(
          d,
          'shard-held',
          `shard ${d.shard} is held by ${holder.deviceId}, which is alive`,
        );
      else {
        if (this.identity.numDevices === 0 && d.identity.numDevices > 0) {
          this.identity.numDevices = d.identity.numDevices;
          this.log.info(
            { numDevices: d.identity.numDevices, from: d.deviceId },
            'the run splits its data into this many shards',
          );
          void this.publishRun();
        }
        eligible.push(d);
      }
    }
    this.eligible = eligible.sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
    return this.eligible;
  }

  private eligible: DeviceStatus[] = [];

  /**
   * The digest of a round's global blobs: BLOB_DIGEST's when every participant can verify it,
   * else one they all can (SHA-256 whenever one cannot verify BLAKE3). Logged when it changes.
   */
  private blobDigestFor(participants: readonly string[]): DigestAlgorithm {
    const regs = this.eligible.filter((d) => participants.includes(d.deviceId));
    const preferred = defaultDigestAlgorithm();
    const digest = chooseBlobDigest(preferred, regs);
    if (digest !== this.blobDigest) {
      const cannot = regs.filter((d) => !d.digests.includes(preferred)).map((d) => d.deviceId);
      this.log.info(
        {
          digest,
          was: this.blobDigest,
          ...(cannot.length > 0 ? { preferred, cannot: cannot.slice(0, 20) } : {}),
        },
        cannot.length > 0
          ? `global blobs carry ${digest}: not every participant can verify ${preferred}`
          : `global blobs carry ${digest}`,
      );
      this.blobDigest = digest;
    }
    return digest;
  }

  private async refuse(d: DeviceStatus, reason: string, why: string): Promise<void> {
    this.refused.set(d.deviceId, { instance: d.instance, reason: why });
    this.metrics.devicesRefusedTotal.inc({ reason });
    this.log.error({ device: d.deviceId, instance: d.instance, why }, 'device refused');
    await this.deps.membership.refuse(d.deviceId, d.instance, why);
  }

  /** Fails the run when no round has completed for STALL_TIMEOUT_S. */
  private checkStalled(): void {
    const limit = this.config.stallTimeoutS;
    if (limit === 0 || Date.now() - this.progressAt < limit * 1000) return;
    throw new RunStalledError(
      `no round completed in ${limit} s (STALL_TIMEOUT_S) while ${this.status}: ${this.lastProblem}`,
    );
  }

  /** Whether MIN_DEVICES are alive; the metrics, the dashboard and the status say how many. */
  private async enoughDevices(): Promise<boolean> {
    const c = this.config;
    const alive = (await this.eligibleDevices()).length;
    this.metrics.activeDevices.set(alive);
    this.dashboard.setDevices(this.devices);
    const needed = Math.max(c.minDevices, c.quorum);
    if (alive >= needed) return true;
    if (this.status !== 'waiting-for-devices')
      this.log.info({ alive, needed }, 'waiting for devices');
    this.lastProblem = `${alive} of the ${needed} devices needed (MIN_DEVICES, QUORUM) ${alive === 1 ? 'is' : 'are'} alive`;
    this.setStatus('waiting-for-devices', this.lastProblem);
    return false;
  }

  /** One round; undefined when it failed and is to be tried again once devices are back. */
  private async playRound(run: RunContext): Promise<RoundReport | undefined> {
    this.setStatus('training');
    try {
      const report = await run.coordinator.runRound();
      this.progressAt = Date.now();
      this.failingSince = undefined;
      return report;
    } catch (err) {
      if (!(err instanceof RoundFailedError)) throw err;
      if (this.stopping) return undefined; // gave up retrying to stop: degraded says why
      // Waited out, as long as STALL_TIMEOUT_S allows: the broker or the store unavailable (a
      // restart, a failover), participants that sent nothing at all (reconnecting to a restarted
      // broker), too few devices alive (killed, rescheduled). A round whose participants answered
      // and still missed the quorum (declined, refused updates) with enough devices alive fails
      // the run once it has used up MAX_ROUND_ATTEMPTS.
      const cause = err.cause;
      const wait =
        cause instanceof TransportError
          ? { msg: 'round failed: the broker or the store is unavailable; retrying' }
          : cause instanceof QuorumNotReachedError && cause.silent.length > 0
            ? {
                msg: 'round failed: participants sent nothing; retrying',
                silent: cause.silent.slice(0, 20),
              }
            : (await this.enoughDevices())
              ? undefined
              : { msg: 'round failed with too few devices; waiting for devices' };
      if (!wait) throw err;
      const { msg, ...detail } = wait;
      this.log.warn({ err: err.message, ...detail }, msg);
      await sleep(1000);
      return undefined;
    }
  }

  /** A round's record: metrics, dashboard, evaluation, metrics.jsonl, checkpoint, sample grid. */
  private async afterRound(run: RunContext, report: RoundReport): Promise<void> {
    const c = this.config;
    this.lastReport = report;
    recordRound(this.metrics, report);
    this.metrics.benchedDevices.set(run.coordinator.devicesNotWaitedFor.length);
    this.dashboard.recordRound(report);
    const last = report.round + 1 === c.rounds;
    const due = (every: number): boolean => (report.round + 1) % every === 0 || last;
    const evaluation = run.evaluate && due(c.evalEvery) ? run.evaluate(report.round) : undefined;
    if (evaluation)
      this.dashboard.recordEvaluation({
        round: report.round,
        fid: evaluation.fid,
        modesCovered: evaluation.eval.modesCovered,
      });
    run.folder.appendMetrics(evaluation ? { ...report, ...evaluation } : report);
    this.log.info(
      {
        round: report.round,
        d: report.losses.d,
        g: report.losses.g,
        accepted: report.accepted.length,
        ms: Math.round(report.phases.totalMs),
      },
      'round done',
    );
    if (due(c.checkpointEvery) || this.stopping) {
      await this.deps.checkpoints.save(
        {
          round: report.round,
          parts: Object.fromEntries(
            Object.entries(run.method.state()).map(([part, w]) => [part, w.values]),
          ),
        },
        run.specs,
      );
    }
    if (due(c.sampleEvery)) {
      this.latestGrid = run.grid();
      this.dashboard.recordGrid(report.round, this.latestGrid);
      run.folder.writeGrid(report.round + 1, this.latestGrid);
    }
  }

  /** The final generator and discriminator in the run folder, or the status of a stopped run. */
  private finish(run: RunContext): void {
    const c = this.config;
    if (run.coordinator.round < c.rounds) {
      this.dashboard.setStatus('stopped');
      return;
    }
    // The final generator's three numbers against their targets, when the last round was evaluated.
    const quality = this.lastEval
      ? qualityReport(this.lastEval.round, c.evalSamples, this.lastEval)
      : undefined;
    if (quality) {
      run.folder.writeJson('quality.json', quality);
      this.log.info(quality, describeQuality(quality));
    }
    run.folder.writeFinal({
      generator: run.method.averagedGeneratorWeights?.() ?? run.method.generatorWeights(),
      discriminator: run.method.discriminatorWeights(),
      spec: run.spec,
      round: run.coordinator.round - 1,
      runId: c.runId,
    });
    this.setStatus('finished');
    this.log.info({ rounds: run.coordinator.round }, 'run finished');
  }

  /**
   * The evaluation every EVAL_EVERY rounds: FID, modes and class balance in the classifier's
   * feature space for images, mode coverage for the ring. Undefined when it is off.
   */
  private async evaluation(
    dataset: 'mnist' | 'fashion-mnist' | 'cifar10' | 'ring',
    spec: ModelSpec,
    sample: (z: Float32Array) => Float32Array,
  ): Promise<((round: number) => EvaluationResult) | undefined> {
    const c = this.config;
    if (c.evalEvery === 0) return undefined;
    const evaluation = await RunEvaluation.create({
      dataset,
      dataDir: c.dataDir || undefined,
      classifier: c.classifier || undefined,
      ringStd: c.ringStd,
      seed: c.seed,
      samples: c.evalSamples,
      latentDim: spec.latentDim,
      classes: classCount(spec),
    });
    if (evaluation.protocol)
      this.log.info({ protocol: evaluation.protocol, samples: c.evalSamples }, 'evaluation');
    return (round) => {
      const t0 = performance.now();
      const result = evaluation.evaluate(sample);
      const l = { dataset };
      if (result.fid !== undefined) this.metrics.fid.set(l, result.fid);
      const e = result.eval;
      if (e.classBalance !== undefined) this.metrics.classBalance.set(l, e.classBalance);
      if (e.inceptionScore !== undefined) this.metrics.inceptionScore.set(l, e.inceptionScore);
      if (e.modesCovered !== undefined) this.metrics.modesCovered.set(l, e.modesCovered);
      if (e.classMatch !== undefined) this.metrics.classMatch.set(l, e.classMatch);
      this.metrics.evalSeconds.observe((performance.now() - t0) / 1000);
      this.lastEval = { round, ...result };
      this.log.info({ round, ...result }, 'evaluation done');
      return result;
    };
  }

  private buildHttp(): FastifyInstance {
    const app = Fastify({ logger: false });
    app.get('/healthz', async () => ({ ok: true }));
    registerDashboard(app, this.dashboard);
    app.get('/readyz', async (_req, reply) => {
      const r = await this.deps.ready();
      // A failed run is not ready, whatever the connections say.
      const ready = r.ready && this.status !== 'failed';
      return reply.code(ready ? 200 : 503).send({
        ...r.detail,
        ready,
        status: this.status,
        ...(this.failure ? { reason: this.failure } : {}),
      });
    });
    app.get('/metrics', async (_req, reply) =>
      reply.type(this.metrics.registry.contentType).send(await this.metrics.registry.metrics()),
    );
    app.get('/api/run', async () => ({
      runId: this.config.runId,
      status: this.status,
      ...(this.failure ? { reason: this.failure } : {}),
      round: this.lastReport?.round ?? -1,
      rounds: this.config.rounds,
      resumedFrom: this.resumedFrom,
      schedule: this.config.schedule,
      /** The digest of the global blobs: the last round's, or what the next round would use. */
      blobDigest: this.blobDigest ?? chooseBlobDigest(defaultDigestAlgorithm(), this.eligible),
      devices: this.devices.map((d) => ({
        ...d,
        ...(this.refused.get(d.deviceId)?.instance === d.instance
          ? { refused: this.refused.get(d.deviceId)!.reason }
          : {}),
      })),
      numDevices: this.identity.numDevices,
      losses: this.lastReport?.losses,
      phases: this.lastReport?.phases,
      outcomes: this.lastReport?.outcomes,
      accepted: this.lastReport?.accepted,
      evaluation: this.lastEval,
    }));
    app.get('/api/samples/latest.png', async (_req, reply) =>
      this.latestGrid
        ? reply.type('image/png').send(Buffer.from(this.latestGrid))
        : reply.code(404).send({ error: 'no sample grid yet' }),
    );
    return app;
  }

  /** Graceful stop: the round in progress finishes and is checkpointed. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.coordinator?.requestStop();
    if (this.status !== 'finished' && this.status !== 'failed') this.setStatus('stopping');
    await this.done?.catch(() => {});
    this.dashboard.close();
    await this.http.close();
  }
}
