import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { DashboardHub, publicConfig, registerDashboard } from '@distgan/dashboard';
import { renderSampleGrid, renderScatter } from '@distgan/eval';
import { deriveSeed, type ModelSpec } from '@distgan/gan';
import {
  createServerMetrics,
  recordRound,
  type Logger,
  type ServerMetrics,
} from '@distgan/telemetry';
import {
  Coordinator,
  RoundFailedError,
  type BlobStore,
  type CheckpointSpecs,
  type CheckpointStore,
  type DeviceStatus,
  type Membership,
  type RoundEvent,
  type RoundReport,
  type RoundTransport,
  type ServerMethod,
} from '@distgan/engine';
import { createServerMethod, localTrainingOf, methodSettingsOf } from '@distgan/methods';
import {
  dataConfigOf,
  latentVectors,
  loadRunDataset,
  modelSpecFor,
  pooledData,
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

  constructor(private readonly deps: ServerDeps) {
    const config = deps.config;
    this.config = config;
    this.log = deps.log;
    this.metrics.round.set(-1);
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
    this.currentStatus = status;
    this.dashboard.setStatus(status, detail);
  }

  /** Starts the round loop; with `listen`, the HTTP server on PORT first. */
  async start(opts: { listen?: boolean } = {}): Promise<void> {
    if (opts.listen ?? true) await this.http.listen({ port: this.config.port, host: '0.0.0.0' });
    this.done = this.run().catch((err: unknown) => {
      this.setStatus('failed', err instanceof Error ? err.message : String(err));
      this.log.error({ err }, 'the run failed');
      throw err;
    });
  }

  /** Resolves when the run finished (or stopped); rejects when it failed. */
  finished(): Promise<void> {
    return this.done;
  }

  private async run(): Promise<void> {
    const run = await this.prepare();
    try {
      await this.resume(run);
      while (run.coordinator.round < this.config.rounds && !this.stopping) {
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
    } finally {
      run.method.dispose();
    }
  }

  /** The run's data, model, run folder, coordinator, evaluation and sample grid. */
  private async prepare(): Promise<RunContext> {
    const c = this.config;
    const dataset = await loadRunDataset(dataConfigOf(c));
    const spec = modelSpecFor({ model: c.model, latentDim: c.latentDim }, dataset);
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
      async () => (await this.refreshDevices()).filter((d) => d.alive).map((d) => d.deviceId),
      {
        runId: c.runId,
        schedule: c.schedule,
        training: localTrainingOf(c),
        seed: c.seed,
        roundDeadlineMs: c.roundDeadlineMs,
        quorum: c.quorum,
        maxRoundAttempts: c.maxRoundAttempts,
        retryDelayMs: 500,
        blobTtlSeconds: Math.ceil((c.roundDeadlineMs * 3) / 1000) + 60,
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
      evaluate: await this.evaluation(c.dataset, spec.latentDim, (z) => method.sample(z)),
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
      this.log.warn(
        { round: e.round, attempt: e.attempt, err: e.error.message },
        'round attempt failed',
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

  /** Whether MIN_DEVICES are alive; the metrics, the dashboard and the status say how many. */
  private async enoughDevices(): Promise<boolean> {
    const c = this.config;
    const alive = (await this.refreshDevices()).filter((d) => d.alive).length;
    this.metrics.activeDevices.set(alive);
    this.dashboard.setDevices(this.devices);
    if (alive >= c.minDevices) return true;
    if (this.status !== 'waiting-for-devices')
      this.log.info({ alive, needed: c.minDevices }, 'waiting for devices');
    this.setStatus(
      'waiting-for-devices',
      `${alive} of the ${c.minDevices} devices needed ${alive === 1 ? 'is' : 'are'} alive`,
    );
    return false;
  }

  /** One round; undefined when it failed and is to be tried again once devices are back. */
  private async playRound(run: RunContext): Promise<RoundReport | undefined> {
    this.setStatus('training');
    try {
      return await run.coordinator.runRound();
    } catch (err) {
      // Devices gone or a service restarting: keep the run, wait for devices and try again.
      if (!(err instanceof RoundFailedError)) throw err;
      this.log.warn({ err: err.message }, 'round failed; waiting for devices and retrying');
      await sleep(1000);
      return undefined;
    }
  }

  /** A round's record: metrics, dashboard, evaluation, metrics.jsonl, checkpoint, sample grid. */
  private async afterRound(run: RunContext, report: RoundReport): Promise<void> {
    const c = this.config;
    this.lastReport = report;
    recordRound(this.metrics, report);
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
    run.folder.writeFinal({
      generator: run.method.generatorWeights(),
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
    latentDim: number,
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
      latentDim,
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
      return reply.code(r.ready ? 200 : 503).send({ ...r.detail, ready: r.ready });
    });
    app.get('/metrics', async (_req, reply) =>
      reply.type(this.metrics.registry.contentType).send(await this.metrics.registry.metrics()),
    );
    app.get('/api/run', async () => ({
      runId: this.config.runId,
      status: this.status,
      round: this.lastReport?.round ?? -1,
      rounds: this.config.rounds,
      resumedFrom: this.resumedFrom,
      schedule: this.config.schedule,
      devices: this.devices,
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
    if (this.status !== 'finished' && this.status !== 'failed') this.setStatus('stopping');
    await this.done?.catch(() => {});
    this.dashboard.close();
    await this.http.close();
  }
}
