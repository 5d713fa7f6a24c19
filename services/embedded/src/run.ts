import { mkdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  labelHistogram,
  loadDataset,
  partition,
  ringCenters,
  ringModeCoverage,
  type Dataset,
} from '@distgan/data';
import { renderSampleGrid, renderScatter } from '@distgan/eval';
import { GlobalGan, LocalDiscriminatorTrainer, deriveSeed, type ModelSpec } from '@distgan/gan';
import { encodeWeights } from '@distgan/protocol';
import {
  Coordinator,
  modelSpecFor,
  DeviceRuntime,
  MemoryBlobStore,
  MemoryRoundTransport,
  type RoundReport,
  type TaskOutcome,
} from '@distgan/transport';
import type { EmbeddedConfig } from './config.js';
import { renderLossPlot } from './plot.js';

export interface RoundLine extends RoundReport {
  /** Seconds since the run started. */
  elapsedS: number;
  /** Ring only: modes covered by 2,000 samples and the share of high-quality samples. */
  modes?: { covered: number; highQuality: number };
}

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
  generatorPath: string;
  last: RoundLine;
}

export interface RunHooks {
  /** Called once the data is loaded and the models are built, before round 0. */
  onReady?(info: { dataset: Dataset; shardSizes: number[]; spec: ModelSpec }): void;
  onRound?(line: RoundLine): void;
  onDeviceOutcome?(deviceId: string, outcome: TaskOutcome): void;
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
  const runDir = join(config.out, config.runId);
  const samplesDir = join(runDir, 'samples');
  mkdirSync(samplesDir, { recursive: true });
  const metricsPath = join(runDir, 'metrics.jsonl');
  writeFileSync(metricsPath, '');

  const dataset = await loadDataset({
    name: config.dataset,
    dir: config.dataDir,
    split: 'train',
    limit: config.limit,
    seed: config.seed,
    ringStd: config.ringStd,
  });
  // The ring is drawn with these settings; coverage is judged against the same ones.
  const RING = { modes: 8, radius: 2, std: config.ringStd };
  const shards = partition(dataset, {
    scheme: config.partition,
    devices: config.devices,
    seed: config.seed,
    alpha: config.alpha,
    shardsPerDevice: config.shardsPerDevice,
  });
  const spec = modelSpecFor(config, dataset);
  writeFileSync(
    join(runDir, 'config.json'),
    JSON.stringify(
      {
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
      },
      null,
      2,
    ) + '\n',
  );
  hooks.onReady?.({ dataset, shardSizes: shards.map((s) => s.length), spec });

  const gan = new GlobalGan(spec, {
    seed: config.seed,
    generatorAdam: { learningRate: config.lrG, beta1: config.beta1, beta2: config.beta2 },
  });
  const transport = new MemoryRoundTransport(config.runId);
  const store = new MemoryBlobStore();
  const devices = shards.map((indices, k) => {
    const id = deviceId(k);
    const trainer = new LocalDiscriminatorTrainer(spec, {
      learningRate: config.lrD,
      beta1: config.beta1,
      beta2: config.beta2,
    });
    return {
      trainer,
      runtime: new DeviceRuntime(
        trainer,
        transport,
        store,
        {
          runId: config.runId,
          deviceId: id,
          data: { dataset, indices },
          blobTtlSeconds: 600,
          updateDtype: config.updateDtype,
        },
        (o) => {
          if (o.kind === 'failed' && !deviceFailure) {
            deviceFailure = o.error;
            void transport.close(); // ends the round in progress
          }
          hooks.onDeviceOutcome?.(id, o);
        },
      ),
    };
  });
  const ids = devices.map((d) => d.runtime.options.deviceId);
  // In one process a failing device is a failing run: stop at once with its error.
  let deviceFailure: Error | undefined;
  const coordinator = new Coordinator(gan, transport, store, () => ids, {
    runId: config.runId,
    schedule: config.schedule,
    training: {
      localSteps: config.localSteps,
      batchSize: config.batchSize,
      learningRate: config.lrD,
      beta1: config.beta1,
      beta2: config.beta2,
    },
    generatorSteps: config.generatorSteps,
    generatorBatchSize: config.batchSize,
    seed: config.seed,
    // In one process every device answers; the deadline only guards against a bug.
    roundDeadlineMs: 10 * 60_000,
    quorum: config.devices,
    maxRoundAttempts: 1,
    blobTtlSeconds: 600,
  });

  const fixedZ = gan.latentBatch(config.sampleCount, deriveSeed(config.seed, 'sample-grid'));
  const ringZ =
    config.dataset === 'ring'
      ? gan.latentBatch(2000, deriveSeed(config.seed, 'ring-eval'))
      : undefined;
  const isImage = spec.sampleShape.length === 3;
  let lastGrid = '';
  const writeSamples = (round: number): void => {
    const name = `round-${String(round).padStart(6, '0')}.png`;
    const path = join(samplesDir, name);
    if (isImage) {
      writeFileSync(
        path,
        renderSampleGrid(gan.sample(fixedZ), config.sampleCount, spec.sampleShape),
      );
    } else {
      writeFileSync(
        path,
        renderScatter(gan.sample(ringZ ?? fixedZ), {
          reference: ringCenters(RING.modes, RING.radius),
        }),
      );
    }
    lastGrid = path;
  };

  await Promise.all(devices.map((d) => d.runtime.start()));
  const t0 = performance.now();
  const lines: RoundLine[] = [];
  let deviceStepMs = 0;
  let deviceSteps = 0;
  let generatorMs = 0;
  try {
    for (let r = 0; r < config.rounds; r++) {
      if (hooks.signal?.aborted) break;
      const report = await coordinator.runRound().catch((err: unknown) => {
        throw deviceFailure ?? err;
      });
      const line: RoundLine = { ...report, elapsedS: (performance.now() - t0) / 1000 };
      for (const a of report.accepted) {
        deviceStepMs += a.computeMs;
        deviceSteps += config.localSteps;
      }
      generatorMs += report.phases.generatorMs;
      const last = r === config.rounds - 1 || hooks.signal?.aborted === true;
      if (ringZ && ((r + 1) % config.sampleEvery === 0 || last)) {
        const c = ringModeCoverage(gan.sample(ringZ), RING);
        line.modes = { covered: c.covered, highQuality: c.highQuality };
      }
      appendFileSync(metricsPath, JSON.stringify(line) + '\n');
      lines.push(line);
      if ((r + 1) % config.sampleEvery === 0 || last) writeSamples(r + 1);
      hooks.onRound?.(line);
    }
  } finally {
    await coordinator.close();
    await Promise.all(devices.map((d) => d.runtime.stop()));
    await transport.close();
  }
  const wallS = (performance.now() - t0) / 1000;
  const lastLine = lines.at(-1);
  if (!lastLine) throw new Error('the run ended before its first round');
  if (!lastGrid.endsWith(`${String(lastLine.round + 1).padStart(6, '0')}.png`))
    writeSamples(lastLine.round + 1);

  const generatorPath = join(runDir, 'generator.dgwb');
  writeFileSync(generatorPath, encodeWeights(gan.generatorWeights()));
  writeFileSync(join(runDir, 'discriminator.dgwb'), encodeWeights(gan.discriminatorWeights()));
  writeFileSync(
    join(runDir, 'generator.json'),
    JSON.stringify(
      { modelSpec: spec, round: lastLine.round, runId: config.runId, blob: 'generator.dgwb' },
      null,
      2,
    ) + '\n',
  );
  writeFileSync(join(runDir, 'losses.png'), renderLossPlot(lines));
  for (const d of devices) d.trainer.dispose();
  gan.dispose();

  return {
    runDir,
    rounds: lines.length,
    wallS,
    msPerRound: (wallS * 1000) / lines.length,
    msPerDeviceStep: deviceSteps ? deviceStepMs / deviceSteps : NaN,
    msPerGeneratorStep: generatorMs / (lines.length * config.generatorSteps),
    lastGrid,
    generatorPath,
    last: lastLine,
  };
}

export function deviceId(k: number): string {
  return `device-${k}`;
}
