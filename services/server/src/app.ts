import { mkdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { DashboardHub, publicConfig, registerDashboard } from '@distgan/dashboard';
import { ringModeCoverage, Rng } from '@distgan/data';
import {
  loadEvaluator,
  renderSampleGrid,
  renderScatter,
  type Evaluator,
  type SampleQuality,
} from '@distgan/eval';
import { deriveSeed, GlobalGan } from '@distgan/gan';
import { encodeWeights } from '@distgan/protocol';
import {
  createServerMetrics,
  recordRound,
  type Logger,
  type ServerMetrics,
} from '@distgan/telemetry';
import {
  Coordinator,
  directoryCheckpointStore,
  RoundFailedError,
  type CheckpointStore,
  type DeviceStatus,
  type RoundReport,
} from '@distgan/engine';
import { dataConfigOf, loadRunDataset, modelSpecFor } from '@distgan/run';
import {
  RedisCheckpointStore,
  RedisMembership,
  RabbitRoundTransport,
  RedisBlobStore,
} from '@distgan/transport';
import type { ServerConfig } from './config.js';

type Status = 'starting' | 'waiting-for-devices' | 'training' | 'finished' | 'stopping' | 'failed';

/**
 * The coordinator process: the round loop of the shared engine over RabbitMQ and Redis, with
 * membership, checkpoints and resume, and the HTTP API.
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
  private lastEval: { round: number; fid?: number; eval: Partial<SampleQuality> } | undefined;
  private devices: DeviceStatus[] = [];
  readonly metrics: ServerMetrics = createServerMetrics();
  http!: FastifyInstance;
  private redis!: RedisBlobStore;
  private rabbit!: RabbitRoundTransport;
  private done!: Promise<void>;

  constructor(
    readonly config: ServerConfig,
    private readonly log: Logger,
  ) {
    this.metrics.round.set(-1);
    this.dashboard = new DashboardHub({
      runId: config.RUN_ID,
      kind: 'server',
      rounds: config.ROUNDS,
      method: 'distgan',
      schedule: config.SCHEDULE,
      config: publicConfig(config),
    });
  }

  get status(): Status {
    return this.currentStatus;
  }

  private setStatus(status: Status, detail?: string): void {
    this.currentStatus = status;
    this.dashboard.setStatus(status, detail);
  }

  async start(): Promise<void> {
    const c = this.config;
    this.redis = new RedisBlobStore({
      url: c.REDIS_URL,
      onState: (s, d) =>
        this.log[s === 'error' ? 'warn' : 'info']({ redis: s, detail: d }, `Redis ${s}`),
    });
    this.log.info(this.redis.blobPath, `weight blobs move over the ${this.redis.blobPath.via}`);
    this.rabbit = await RabbitRoundTransport.connect({
      url: c.RABBITMQ_URL,
      runId: c.RUN_ID,
      onState: (s, d) =>
        this.log[s === 'connected' ? 'info' : 'warn']({ rabbitmq: s, detail: d }, `RabbitMQ ${s}`),
    });
    await this.startHttp();
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
    const c = this.config;
    const dataset = await loadRunDataset(dataConfigOf(c));
    const spec = modelSpecFor({ model: c.MODEL, latentDim: c.LATENT_DIM }, dataset);
    const gan = new GlobalGan(spec, {
      seed: c.SEED,
      generatorAdam: { learningRate: c.LR_G, beta1: c.BETA1, beta2: c.BETA2 },
    });
    const specs = {
      generator: gan.generator.params.specs,
      discriminator: gan.discriminator.params.specs,
    };
    const checkpoints: CheckpointStore = c.CHECKPOINT_DIR
      ? directoryCheckpointStore(join(c.CHECKPOINT_DIR, c.RUN_ID), c.RUN_ID)
      : new RedisCheckpointStore(this.redis, c.RUN_ID);
    const membership = new RedisMembership(this.redis, c.RUN_ID, c.HEARTBEAT_TIMEOUT_S);
    const runDir = join(c.OUT, c.RUN_ID);
    mkdirSync(join(runDir, 'samples'), { recursive: true });

    const coordinator = new Coordinator(
      gan,
      this.rabbit,
      this.redis,
      async () => {
        this.devices = await membership.list();
        return this.devices.filter((d) => d.alive).map((d) => d.deviceId);
      },
      {
        runId: c.RUN_ID,
        schedule: c.SCHEDULE,
        training: {
          localSteps: c.LOCAL_STEPS,
          batchSize: c.BATCH_SIZE,
          learningRate: c.LR_D,
          beta1: c.BETA1,
          beta2: c.BETA2,
        },
        generatorSteps: c.GENERATOR_STEPS,
        generatorBatchSize: c.BATCH_SIZE,
        seed: c.SEED,
        roundDeadlineMs: c.ROUND_DEADLINE_MS,
        quorum: c.QUORUM,
        maxRoundAttempts: c.MAX_ROUND_ATTEMPTS,
        retryDelayMs: 500,
        blobTtlSeconds: Math.ceil((c.ROUND_DEADLINE_MS * 3) / 1000) + 60,
      },
      (e) => {
        if (e.kind === 'update') {
          this.metrics.updatesTotal.inc({ outcome: e.outcome });
          // A duplicate is not averaged twice: for the device's row it is refused too.
          this.dashboard.recordDeviceOutcome(
            e.deviceId,
            e.outcome === 'accepted' || e.outcome === 'late' ? e.outcome : 'refused',
          );
          if (e.outcome === 'rejected')
            this.log.warn(
              { round: e.round, device: e.deviceId, reason: e.reason },
              'update refused',
            );
        } else if (e.kind === 'round-failed') {
          this.metrics.roundFailuresTotal.inc();
          this.log.warn(
            { round: e.round, attempt: e.attempt, err: e.error.message },
            'round attempt failed',
          );
        }
      },
    );

    const resumed = await checkpoints.load(specs);
    if (resumed) {
      gan.setGenerator(resumed.generator);
      gan.setDiscriminator(resumed.discriminator);
      gan.setOptimizerState(resumed.optimizer);
      coordinator.round = resumed.round + 1;
      this.metrics.round.set(resumed.round);
      this.resumedFrom = resumed.round;
      // What the run goes on with, read back from the model: an operator (and the end-to-end
      // suite) can compare it byte for byte with the checkpoint's generator blob.
      const record = `resumed-round-${String(resumed.round).padStart(6, '0')}-generator.dgwb`;
      writeFileSync(join(runDir, record), encodeWeights(gan.generatorWeights()));
      this.log.info({ round: resumed.round, generator: record }, 'resumed from checkpoint');
    }
    const evaluate = await this.evaluation(dataset.name, spec.latentDim, (z) => gan.sample(z));
    const fixedZ = gan.latentBatch(64, deriveSeed(c.SEED, 'sample-grid'));
    const grid = (): Uint8Array =>
      spec.sampleShape.length === 3
        ? renderSampleGrid(gan.sample(fixedZ), 64, spec.sampleShape)
        : renderScatter(gan.sample(fixedZ));

    while (coordinator.round < c.ROUNDS && !this.stopping) {
      this.devices = await membership.list();
      const alive = this.devices.filter((d) => d.alive).length;
      this.metrics.activeDevices.set(alive);
      this.dashboard.setDevices(this.devices);
      if (alive < c.MIN_DEVICES) {
        if (this.status !== 'waiting-for-devices')
          this.log.info({ alive, needed: c.MIN_DEVICES }, 'waiting for devices');
        this.setStatus(
          'waiting-for-devices',
          `${alive} of the ${c.MIN_DEVICES} devices needed ${alive === 1 ? 'is' : 'are'} alive`,
        );
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      this.setStatus('training');
      let report: RoundReport;
      try {
        report = await coordinator.runRound();
      } catch (err) {
        // Devices gone or a service restarting: keep the run, wait for devices and try again.
        if (!(err instanceof RoundFailedError)) throw err;
        this.log.warn({ err: err.message }, 'round failed; waiting for devices and retrying');
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      this.lastReport = report;
      recordRound(this.metrics, report);
      this.dashboard.recordRound(report);
      const last = report.round + 1 === c.ROUNDS;
      const evaluation =
        evaluate && ((report.round + 1) % c.EVAL_EVERY === 0 || last)
          ? evaluate(report.round)
          : undefined;
      if (evaluation)
        this.dashboard.recordEvaluation({
          round: report.round,
          fid: evaluation.fid,
          modesCovered: evaluation.eval.modesCovered,
        });
      appendFileSync(
        join(runDir, 'metrics.jsonl'),
        JSON.stringify(evaluation ? { ...report, ...evaluation } : report) + '\n',
      );
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
      if ((report.round + 1) % c.CHECKPOINT_EVERY === 0 || last || this.stopping) {
        await checkpoints.save(
          {
            round: report.round,
            generator: gan.generatorWeights().values,
            discriminator: gan.discriminatorWeights().values,
            optimizer: gan.getOptimizerState(),
          },
          specs,
        );
      }
      if ((report.round + 1) % c.SAMPLE_EVERY === 0 || last) {
        this.latestGrid = grid();
        this.dashboard.recordGrid(report.round, this.latestGrid);
        writeFileSync(
          join(runDir, 'samples', `round-${String(report.round + 1).padStart(6, '0')}.png`),
          this.latestGrid,
        );
      }
    }
    await coordinator.close();
    if (coordinator.round >= c.ROUNDS) {
      writeFileSync(join(runDir, 'generator.dgwb'), encodeWeights(gan.generatorWeights()));
      writeFileSync(join(runDir, 'discriminator.dgwb'), encodeWeights(gan.discriminatorWeights()));
      writeFileSync(
        join(runDir, 'generator.json'),
        JSON.stringify(
          {
            modelSpec: spec,
            round: coordinator.round - 1,
            runId: c.RUN_ID,
            blob: 'generator.dgwb',
          },
          null,
          2,
        ) + '\n',
      );
      this.setStatus('finished');
      this.log.info({ rounds: coordinator.round }, 'run finished');
    } else {
      this.dashboard.setStatus('stopped');
    }
    gan.dispose();
  }

  /**
   * The evaluation every EVAL_EVERY rounds: FID, modes and class balance in the classifier's
   * feature space for images, mode coverage for the ring. Undefined when it is off.
   */
  private async evaluation(
    dataset: string,
    latentDim: number,
    sample: (z: Float32Array) => Float32Array,
  ): Promise<((round: number) => { fid?: number; eval: Partial<SampleQuality> }) | undefined> {
    const c = this.config;
    if (c.EVAL_EVERY === 0) return undefined;
    let evaluator: Evaluator | undefined;
    if (dataset !== 'ring') {
      evaluator = await loadEvaluator({
        dataset: c.DATASET,
        dataDir: c.DATA_DIR || undefined,
        classifier: c.CLASSIFIER || undefined,
      });
      this.log.info({ protocol: evaluator.protocol, samples: c.EVAL_SAMPLES }, 'evaluation');
    }
    const rng = new Rng(deriveSeed(c.SEED, 'eval'));
    const z = Float32Array.from({ length: c.EVAL_SAMPLES * latentDim }, () => rng.normal());
    return (round) => {
      const t0 = performance.now();
      let result: { fid?: number; eval: Partial<SampleQuality> };
      if (evaluator) {
        const { fid, ...rest } = evaluator.evaluate(sample(z));
        const l = { dataset };
        this.metrics.fid.set(l, fid);
        this.metrics.classBalance.set(l, rest.classBalance);
        this.metrics.inceptionScore.set(l, rest.inceptionScore);
        this.metrics.modesCovered.set(l, rest.modesCovered);
        result = { fid, eval: rest };
      } else {
        const cov = ringModeCoverage(sample(z), { modes: 8, radius: 2, std: c.RING_STD });
        this.metrics.modesCovered.set({ dataset }, cov.covered);
        result = { eval: { modesCovered: cov.covered, numClasses: 8 } };
      }
      this.metrics.evalSeconds.observe((performance.now() - t0) / 1000);
      this.lastEval = { round, ...result };
      this.log.info({ round, ...result }, 'evaluation done');
      return result;
    };
  }

  private async startHttp(): Promise<void> {
    const app = Fastify({ logger: false });
    app.get('/healthz', async () => ({ ok: true }));
    registerDashboard(app, this.dashboard);
    app.get('/readyz', async (_req, reply) => {
      const ready = this.rabbit.connected && (await this.redis.ping());
      return reply.code(ready ? 200 : 503).send({ ready, rabbitmq: this.rabbit.connected });
    });
    app.get('/metrics', async (_req, reply) =>
      reply.type(this.metrics.registry.contentType).send(await this.metrics.registry.metrics()),
    );
    app.get('/api/run', async () => ({
      runId: this.config.RUN_ID,
      status: this.status,
      round: this.lastReport?.round ?? -1,
      rounds: this.config.ROUNDS,
      resumedFrom: this.resumedFrom,
      schedule: this.config.SCHEDULE,
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
    await app.listen({ port: this.config.PORT, host: '0.0.0.0' });
    this.http = app;
  }

  /** Graceful stop: the round in progress finishes and is checkpointed. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.status !== 'finished' && this.status !== 'failed') this.setStatus('stopping');
    await this.done?.catch(() => {});
    this.dashboard.close();
    await this.http?.close();
    await this.rabbit?.close();
    await this.redis?.close();
  }
}
