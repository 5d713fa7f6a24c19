import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_RING,
  labelHistogram,
  loadDataset,
  partition,
  ringCenters,
  type Dataset,
} from '@distgan/data';
import {
  renderSampleGrid,
  renderScatter,
  type EvaluationProtocol,
  type SampleQuality,
} from '@distgan/eval';
import {
  classCount,
  deriveSeed,
  initBackend,
  wasmKernelsPatched,
  type ModelSpec,
} from '@distgan/gan';
import { defaultDigestAlgorithm, setDigestAlgorithm, type FlatWeights } from '@distgan/protocol';
import {
  Coordinator,
  MemoryBlobStore,
  MemoryRoundTransport,
  type RoundReport,
  type TaskOutcome,
} from '@distgan/engine';
import { createServerMethod, localTrainingOf, methodSettingsOf } from '@distgan/methods';
import {
  latentVectors,
  modelSpecFor,
  pooledData,
  qualityReport,
  RunEvaluation,
  RunFolder,
  type QualityReport,
} from '@distgan/run';
import type { EmbeddedConfig, Method } from './config.js';
import { renderFidPlot, renderLossPlot } from './plot.js';
import {
  createDevice,
  shareDataset,
  startThreadedDevices,
  type DeviceSetup,
  type ThreadedDevices,
} from './device-threads.js';

interface LineCommon {
  method: Method;
  /** Seconds since the run started. */
  elapsedS: number;
  /** Seconds of training since the run started: elapsedS without evaluations and sample grids. */
  trainS: number;
  /** Ring only: modes covered by 2,000 samples and the share of high-quality samples. */
  modes?: { covered: number; highQuality: number };
  /** Images, on evaluation rounds: FID in the classifier's feature space. */
  fid?: number;
  /** Images, on evaluation rounds: everything the classifier saw in the samples. */
  eval?: Omit<SampleQuality, 'fid'>;
}

/** One line of metrics.jsonl: the coordinator's report of the round, and what the run measured. */
export type RoundLine = LineCommon & RoundReport;

export interface RunSummary {
  runDir: string;
  rounds: number;
  wallS: number;
  msPerRound: number;
  /** Mean time of one local discriminator step on a device. */
  msPerDeviceStep: number;
  /** Mean time of one generator step on the server. */
  msPerGeneratorStep: number;
  lastGrid: string;
  /** The final generator's FID, smallest class share and confident share against their targets. */
  quality?: QualityReport;
  generatorPath: string;
  last: RoundLine;
  /** How the FID was measured, when the run evaluated. */
  evalProtocol?: EvaluationProtocol;
}

/** What the run loop needs from the engine. */
interface Engine {
  round(): Promise<RoundReport>;
  sample(z: Float32Array): Float32Array;
  /** The final generator: the one samples come from (the average over rounds, with G_AVERAGE). */
  generatorWeights(): FlatWeights;
  discriminatorWeights(): FlatWeights | undefined;
  /** Stops the transport and the devices. */
  close(): Promise<void>;
  /** Frees the models (after close, once the weights are saved). */
  dispose(): void;
}

export interface RunHooks {
  /** Called once the data is loaded and the models are built, before round 0. */
  onReady?(info: { dataset: Dataset; shardSizes: number[]; spec: ModelSpec }): void;
  onRound?(line: RoundLine): void;
  onDeviceOutcome?(deviceId: string, outcome: TaskOutcome): void;
  /** A sample grid was written: its PNG, drawn after `round` (counted from 0). */
  onGrid?(grid: { round: number; png: Uint8Array; path: string }): void;
  /** Stops after the round in progress when aborted; artefacts of finished rounds are kept. */
  signal?: AbortSignal;
}

/**
 * An embedded run: the coordinator and `devices` device runtimes in one process, over the
 * in-memory transport and blob store, so every update still goes encode → store → fetch →
 * verify → decode. Writes the run folder as it goes.
 */
export async function runEmbedded(
  config: EmbeddedConfig,
  hooks: RunHooks = {},
): Promise<RunSummary> {
  // The process's codec writes this digest from now on (the device threads are told it too).
  setDigestAlgorithm(config.blobDigest);
  const setup = await prepareRun(config);
  hooks.onReady?.({
    dataset: setup.dataset,
    shardSizes: setup.shards.map((s) => s.length),
    spec: setup.spec,
  });
  const engine = await inMemoryEngine(config, setup.dataset, setup.shards, setup.spec, hooks);
  const evaluation = await evaluationFor(config, setup.spec).catch(async (err: unknown) => {
    await engine.close();
    throw err;
  });
  const recorder = new RunRecorder(config, setup, engine, evaluation, hooks);
  try {
    for (let r = 0; r < config.rounds; r++) {
      if (hooks.signal?.aborted) break;
      recorder.record(r, await engine.round());
      // The in-memory round settles in microtasks only: let timers and sockets (the
      // dashboard's HTTP server) have their turn between rounds.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    await engine.close();
  }
  try {
    return recorder.finish();
  } finally {
    engine.dispose();
    evaluation?.dispose();
  }
}

interface RunSetup {
  folder: RunFolder;
  dataset: Dataset;
  shards: Int32Array[];
  spec: ModelSpec;
  /** The ring is drawn with these settings; coverage is judged against the same ones. */
  ring: typeof DEFAULT_RING;
}

/** The run folder (with config.json), the dataset, its shards and the model. */
async function prepareRun(config: EmbeddedConfig): Promise<RunSetup> {
  const folder = new RunFolder(join(config.out, config.runId), { fresh: true });
  const loaded = await loadDataset({
    name: config.dataset,
    dir: config.dataDir,
    split: 'train',
    limit: config.limit,
    seed: config.seed,
    ringStd: config.ringStd,
  });
  // Devices in worker threads read the images from shared memory: one copy for all threads.
  const dataset =
    config.method !== 'centralized' && config.deviceThreads > 0 ? shareDataset(loaded) : loaded;
  const shards = partition(dataset, {
    scheme: config.partition,
    devices: config.devices,
    seed: config.seed,
    alpha: config.alpha,
    shardsPerDevice: config.shardsPerDevice,
  });
  const spec = modelSpecFor(config, dataset);
  folder.writeJson('config.json', {
    ...config,
    modelSpec: spec,
    data: {
      name: dataset.name,
      count: dataset.count,
      sampleShape: dataset.sampleShape,
      shards: shards.map((s, k) => ({
        device: deviceId(k),
        samples: s.length,
        labels: labelHistogram(dataset.labels, s, dataset.numClasses),
      })),
    },
  });
  return { folder, dataset, shards, spec, ring: { ...DEFAULT_RING, std: config.ringStd } };
}

/**
 * What a run records as it goes: metrics.jsonl (with mode coverage and FID when due), sample
 * grids, and at the end the final weights, the plots and the summary. Evaluations and grids are
 * kept out of the training time.
 */
class RunRecorder {
  /** The sample grid's latent vectors; the ring's scatter plot shows 2,000 points. */
  private readonly fixedZ: Float32Array;
  private readonly lines: RoundLine[] = [];
  private lastGrid = '';
  private deviceStepMs = 0;
  private deviceSteps = 0;
  private generatorMs = 0;
  /** Evaluations and sample grids: not training time. */
  private asideMs = 0;
  private readonly t0: number;

  constructor(
    private readonly config: EmbeddedConfig,
    private readonly setup: RunSetup,
    private readonly engine: Engine,
    private readonly evaluation: RunEvaluation | undefined,
    private readonly hooks: RunHooks,
  ) {
    const { spec } = setup;
    this.fixedZ =
      config.dataset === 'ring'
        ? latentVectors(2000, spec.latentDim, deriveSeed(config.seed, 'ring-eval'))
        : latentVectors(config.sampleCount, spec.latentDim, deriveSeed(config.seed, 'sample-grid'));
    this.t0 = performance.now();
  }

  /** Round r's line, its evaluations when due, and its grid when due. */
  record(r: number, report: RoundReport): void {
    const { config, engine, evaluation } = this;
    const roundEnd = performance.now();
    const line: RoundLine = {
      ...report,
      method: config.method,
      elapsedS: (roundEnd - this.t0) / 1000,
      trainS: (roundEnd - this.t0 - this.asideMs) / 1000,
    };
    for (const a of report.accepted) {
      this.deviceStepMs += a.computeMs;
      this.deviceSteps += config.localSteps;
    }
    this.generatorMs += report.phases.generatorMs;
    const last = r === config.rounds - 1 || this.hooks.signal?.aborted === true;
    // The ring is cheap to judge: every sample grid when no evaluation period is set.
    const every =
      config.dataset === 'ring' ? config.evalEvery || config.sampleEvery : config.evalEvery;
    if (evaluation && ((r + 1) % every === 0 || last)) {
      const result = evaluation.evaluate((z) => engine.sample(z));
      if (result.fid !== undefined) {
        line.fid = result.fid;
        line.eval = result.eval as Omit<SampleQuality, 'fid'>;
      } else {
        line.modes = { covered: result.eval.modesCovered!, highQuality: result.eval.highQuality! };
      }
    }
    this.setup.folder.appendMetrics(line);
    this.lines.push(line);
    if ((r + 1) % config.sampleEvery === 0 || last) this.writeSamples(r + 1);
    this.asideMs += performance.now() - roundEnd;
    this.hooks.onRound?.(line);
  }

  private writeSamples(rounds: number): void {
    const { config, engine, setup } = this;
    const png =
      setup.spec.sampleShape.length === 3
        ? renderSampleGrid(engine.sample(this.fixedZ), config.sampleCount, setup.spec.sampleShape)
        : renderScatter(engine.sample(this.fixedZ), {
            reference: ringCenters(setup.ring.modes, setup.ring.radius),
          });
    const path = setup.folder.writeGrid(rounds, png);
    this.lastGrid = path;
    this.hooks.onGrid?.({ round: rounds - 1, png, path });
  }

  /** The final grid, weights and plots; the run's summary. */
  finish(): RunSummary {
    const { config, engine, evaluation, lines, setup } = this;
    const wallS = (performance.now() - this.t0) / 1000;
    const lastLine = lines.at(-1);
    if (!lastLine) throw new Error('the run ended before its first round');
    if (!this.lastGrid.endsWith(`${String(lastLine.round + 1).padStart(6, '0')}.png`))
      this.writeSamples(lastLine.round + 1);
    const generatorPath = setup.folder.writeFinal({
      generator: engine.generatorWeights(),
      discriminator: engine.discriminatorWeights(),
      spec: setup.spec,
      round: lastLine.round,
      runId: config.runId,
    });
    writeFileSync(join(setup.folder.dir, 'losses.png'), renderLossPlot(lines));
    // The final generator's three numbers against their targets (an image run evaluated last).
    const quality =
      lastLine.fid !== undefined && lastLine.eval
        ? qualityReport(lastLine.round, config.evalSamples, {
            fid: lastLine.fid,
            eval: lastLine.eval,
          })
        : undefined;
    if (quality) setup.folder.writeJson('quality.json', quality);
    if (evaluation?.protocol)
      writeFileSync(join(setup.folder.dir, 'fid.png'), renderFidPlot(lines, config.method));
    return {
      runDir: setup.folder.dir,
      rounds: lines.length,
      wallS,
      msPerRound: (wallS * 1000) / lines.length,
      msPerDeviceStep: this.deviceSteps ? this.deviceStepMs / this.deviceSteps : NaN,
      msPerGeneratorStep: this.generatorMs
        ? this.generatorMs / (lines.length * config.generatorSteps)
        : NaN,
      lastGrid: this.lastGrid,
      generatorPath,
      ...(quality ? { quality } : {}),
      last: lastLine,
      ...(evaluation?.protocol
        ? { evalProtocol: { ...evaluation.protocol, samples: config.evalSamples } }
        : {}),
    };
  }
}

/** The run's evaluation: the ring always, images when EVAL_EVERY asks for it. */
async function evaluationFor(
  config: EmbeddedConfig,
  spec: ModelSpec,
): Promise<RunEvaluation | undefined> {
  if (config.evalEvery === 0 && config.dataset !== 'ring') return undefined;
  return RunEvaluation.create({
    dataset: config.dataset,
    dataDir: config.dataDir,
    classifier: config.classifier,
    ringStd: config.ringStd,
    seed: config.seed,
    samples: config.evalSamples,
    latentDim: spec.latentDim,
    classes: classCount(spec),
  });
}

/**
 * The run's method on the engine, in memory: the coordinator and one device runtime per shard
 * (in this thread or in worker threads) over the in-memory transport and blob store.
 * Centralized training has no devices: the server's side trains on all the data.
 */
async function inMemoryEngine(
  config: EmbeddedConfig,
  dataset: Dataset,
  shards: Int32Array[],
  spec: ModelSpec,
  hooks: RunHooks,
): Promise<Engine> {
  const method = createServerMethod(
    config.method,
    methodSettingsOf(config, spec),
    pooledData(dataset, config),
  );
  const transport = new MemoryRoundTransport(config.runId);
  const store = new MemoryBlobStore();
  // In one process a failing device is a failing run: stop at once with its error.
  let deviceFailure: Error | undefined;
  const failed = (err: Error): void => {
    if (deviceFailure) return;
    deviceFailure = err;
    void transport.close(); // ends the round in progress
  };
  const devices = method.usesDevices
    ? await startDevices(config, dataset, shards, spec, { transport, store, failed, hooks })
    : { ids: [], stop: async () => {}, dispose: () => {} };
  const coordinator = new Coordinator(method, transport, store, () => devices.ids, {
    runId: config.runId,
    schedule: config.schedule,
    training: localTrainingOf(config),
    seed: config.seed,
    // In one process every device answers; the deadline only guards against a bug.
    roundDeadlineMs: 10 * 60_000,
    quorum: Math.max(1, devices.ids.length),
    maxRoundAttempts: 1,
    blobTtlSeconds: 600,
  });
  return {
    round: () =>
      coordinator.runRound().catch((err: unknown) => {
        throw deviceFailure ?? err;
      }),
    sample: (z) => method.sample(z),
    generatorWeights: () => method.averagedGeneratorWeights?.() ?? method.generatorWeights(),
    discriminatorWeights: () => method.discriminatorWeights(),
    close: async () => {
      await coordinator.close();
      await devices.stop();
      await transport.close();
    },
    dispose: () => {
      devices.dispose();
      method.dispose();
    },
  };
}

/** One device runtime per shard, started, in this thread or in worker threads. */
async function startDevices(
  config: EmbeddedConfig,
  dataset: Dataset,
  shards: Int32Array[],
  spec: ModelSpec,
  o: {
    transport: MemoryRoundTransport;
    store: MemoryBlobStore;
    failed: (err: Error) => void;
    hooks: RunHooks;
  },
): Promise<{ ids: string[]; stop(): Promise<void>; dispose(): void }> {
  const setup: DeviceSetup = {
    spec,
    method: config.method,
    runId: config.runId,
    // Shared memory already when the devices run in threads (see runEmbedded): the same arrays.
    dataset: config.deviceThreads > 0 ? shareDataset(dataset) : dataset,
    blobTtlSeconds: 600,
    updateDtype: config.updateDtype,
  };
  const shardOf = shards.map((indices, k) => ({ id: deviceId(k), indices }));
  const ids = shardOf.map((d) => d.id);
  const onOutcome = (id: string, outcome: TaskOutcome): void => {
    if (outcome.kind === 'failed') o.failed(outcome.error);
    o.hooks.onDeviceOutcome?.(id, outcome);
  };
  if (config.deviceThreads > 0) {
    const threaded: ThreadedDevices = await startThreadedDevices({
      threads: config.deviceThreads,
      heapMb: config.deviceThreadHeapMb,
      // The candidate, not tfjs's backend name: both native packages are called 'tensorflow', and
      // a process on tfjs-node-gpu must start its workers on the GPU package too.
      setup: {
        ...setup,
        backend: (await initBackend()).candidate,
        patchWasm: wasmKernelsPatched(),
        blobDigest: defaultDigestAlgorithm(),
      },
      devices: shardOf,
      transport: o.transport,
      store: o.store,
      onOutcome,
      onFailure: o.failed,
    });
    return { ids, stop: () => threaded.stop(), dispose: () => {} };
  }
  const devices = shardOf.map((d) =>
    createDevice(setup, d, o.transport, o.store, (outcome) => onOutcome(d.id, outcome)),
  );
  await Promise.all(devices.map((d) => d.runtime.start()));
  return {
    ids,
    stop: async () => {
      await Promise.all(devices.map((d) => d.runtime.stop()));
    },
    dispose: () => {
      for (const d of devices) d.method.dispose();
    },
  };
}

export function deviceId(k: number): string {
  return `device-${k}`;
}
