#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import Fastify from 'fastify';
import { DashboardHub, publicConfig, registerDashboard } from '@distgan/dashboard';
import { ConfigError, parseSettings } from '@distgan/protocol';
import { BACKEND_SETTINGS, describeQuality, startCompute } from '@distgan/run';
import { addTrainOptions, toConfig, type TrainFlags } from './cli.js';
import type { EmbeddedConfig } from './config.js';
import { deviceId, runEmbedded, type RoundLine } from './run.js';
import { sampleFromRun } from './load.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

function fmt(v: number, digits = 3): string {
  return Number.isFinite(v) ? v.toFixed(digits) : String(v);
}

/** The run's dashboard: a hub the hooks feed and the HTTP server that shows it. */
interface Dashboard {
  hub: DashboardHub;
  url: string;
  close(): Promise<void>;
}

async function startDashboard(
  config: EmbeddedConfig,
  flags: TrainFlags,
  portIsDefault: boolean,
): Promise<Dashboard> {
  const hub = new DashboardHub({
    runId: config.runId,
    kind: 'embedded',
    rounds: config.rounds,
    method: config.method,
    ...(config.method === 'distgan' ? { schedule: config.schedule } : {}),
    config: publicConfig(config),
  });
  const app = Fastify({ logger: false });
  registerDashboard(app, hub);
  const listen = (port: number) => app.listen({ port, host: flags.dashboardHost });
  try {
    await listen(flags.dashboardPort);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'EADDRINUSE') throw err;
    if (!portIsDefault) {
      throw Object.assign(
        new Error(
          `the dashboard's port ${flags.dashboardPort} is in use: choose another with --dashboard-port <n> (0: any free port), or run without it (--no-dashboard)`,
        ),
        { code: 'EADDRINUSE' },
      );
    }
    console.log(`port ${flags.dashboardPort} is in use: the dashboard takes a free one`);
    await listen(0);
  }
  const { port } = app.server.address() as { port: number };
  const host = ['0.0.0.0', '::'].includes(flags.dashboardHost) ? '127.0.0.1' : flags.dashboardHost;
  return {
    hub,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    close: async () => {
      hub.close(); // open pages keep the last state and say the run has ended
      await app.close();
    },
  };
}

/** The backend asked for in TFJS_BACKEND, checked like every other setting. */
function tfjsBackend(): string {
  try {
    return parseSettings(BACKEND_SETTINGS, process.env).TFJS_BACKEND;
  } catch (err) {
    if (err instanceof ConfigError) program.error(`error: ${err.message}`, { exitCode: 2 });
    throw err;
  }
}

async function train(flags: TrainFlags, cmd: Command): Promise<void> {
  let config;
  try {
    config = toConfig(flags);
  } catch (err) {
    if (err instanceof InvalidArgumentError)
      program.error(`error: ${err.message}`, { exitCode: 2 });
    throw err;
  }
  const { backend, digest } = await startCompute({
    tfjsBackend: tfjsBackend(),
    blobDigest: config.blobDigest,
    patchWasm: flags.wasmKernels,
  });
  console.log(`backend: ${backend}`);
  console.log(`blob digest: ${digest.algorithm} (${digest.implementation})`);
  const dashboard = flags.dashboard
    ? await startDashboard(config, flags, cmd.getOptionValueSource('dashboardPort') === 'default')
    : undefined;
  if (dashboard) console.log(`dashboard: ${dashboard.url}`);
  const hub = dashboard?.hub;
  const method = config.method === 'distgan' ? `${config.schedule} schedule` : config.method;
  console.log(
    `run ${config.runId}: ${config.devices} devices, ${config.rounds} rounds, ${method}, ` +
      `${config.model} on ${config.dataset} (${config.partition} partition), L=${config.localSteps}, M=${config.generatorSteps}, batch ${config.batchSize}${config.generatorBatchSize ? ` (generator ${config.generatorBatchSize})` : ''}`,
  );

  // A bar needs a terminal; in a log (CI, kubectl logs) print a line every 10% instead.
  const showBar = flags.progress && process.stdout.isTTY === true;
  const stop = new AbortController();
  const onSignal = (): void => {
    if (stop.signal.aborted) process.exit(130);
    console.log('\nstopping after this round (Ctrl-C again to quit now)');
    hub?.setStatus('stopping');
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const bar = new SingleBar(
    {
      format:
        'round {value}/{total} |{bar}| D {d} G {g} | {rps} rounds/s | elapsed {duration_formatted} | ETA {eta_formatted}',
      hideCursor: true,
      etaBuffer: 50,
    },
    Presets.shades_classic,
  );
  const t0 = performance.now();
  let lastDecile = -1;
  const onRound = (line: RoundLine): void => {
    hub?.recordRound(line);
    if (line.fid !== undefined || line.modes)
      hub?.recordEvaluation({
        round: line.round,
        fid: line.fid,
        modesCovered: line.eval?.modesCovered ?? line.modes?.covered,
      });
    const done = line.round + 1;
    const rps = done / ((performance.now() - t0) / 1000);
    const payload = { d: fmt(line.losses.d), g: fmt(line.losses.g), rps: fmt(rps, 2) };
    if (line.fid !== undefined && !showBar)
      console.log(`round ${done}: FID ${line.fid.toFixed(2)}`);
    if (showBar) {
      bar.update(done, payload);
    } else {
      const decile = Math.floor((10 * done) / config.rounds);
      if (decile !== lastDecile) {
        lastDecile = decile;
        console.log(
          `round ${done}/${config.rounds} D ${payload.d} G ${payload.g} ${payload.rps} rounds/s`,
        );
      }
    }
  };
  const summary = await runEmbedded(config, {
    onReady: ({ dataset, shardSizes }) => {
      console.log(
        `data: ${dataset.count} ${dataset.name} samples, shards [${shardSizes.join(', ')}]`,
      );
      hub?.setDevices(shardSizes.map((samples, k) => ({ deviceId: deviceId(k), samples })));
      if (!stop.signal.aborted) hub?.setStatus('training');
      if (showBar) bar.start(config.rounds, 0, { d: '-', g: '-', rps: '-' });
    },
    onRound,
    onDeviceOutcome: (id, o) => {
      if (o.kind === 'skipped') hub?.recordDeviceOutcome(id, 'late');
      else if (o.kind === 'refused' || o.kind === 'failed') hub?.recordDeviceOutcome(id, 'refused');
    },
    onGrid: ({ round, png }) => hub?.recordGrid(round, png),
    signal: stop.signal,
  })
    .catch(async (err: unknown) => {
      hub?.setStatus('failed', err instanceof Error ? err.message : String(err));
      await dashboard?.close();
      throw err;
    })
    .finally(() => {
      if (showBar) bar.stop();
    });
  hub?.setStatus(summary.rounds < config.rounds ? 'stopped' : 'finished');

  const steps = Number.isFinite(summary.msPerDeviceStep)
    ? `, ${summary.msPerDeviceStep.toFixed(1)} ms per device D step, ${summary.msPerGeneratorStep.toFixed(1)} ms per G step`
    : '';
  console.log(
    `done: ${summary.rounds} rounds in ${summary.wallS.toFixed(1)} s (${summary.msPerRound.toFixed(1)} ms/round${steps})`,
  );
  if (summary.last.fid !== undefined && summary.last.eval && summary.evalProtocol) {
    const e = summary.last.eval;
    const p = summary.evalProtocol;
    console.log(
      `FID ${summary.last.fid.toFixed(2)} (${p.samples} samples against the ${p.referenceSamples} ${p.dataset} ${p.referenceSplit} images, ` +
        `features: ${p.featureLayer} of the classifier), modes ${e.modesCovered}/${e.numClasses}, ` +
        `class balance ${e.classBalance.toFixed(3)}, inception-style score ${e.inceptionScore.toFixed(2)}`,
    );
    console.log(`FID plot: ${summary.runDir}/fid.png`);
  }
  if (summary.quality) console.log(`${describeQuality(summary.quality)} (quality.json)`);
  if (summary.last.modes) {
    console.log(
      `ring modes covered: ${summary.last.modes.covered}/8, high-quality samples ${(100 * summary.last.modes.highQuality).toFixed(1)}%`,
    );
  }
  console.log(`run folder: ${summary.runDir}`);
  console.log(`last sample grid: ${summary.lastGrid}`);
  console.log(`generator weights: ${summary.generatorPath}`);
  await dashboard?.close();
}

const program = new Command()
  .name('distgan')
  .description(
    'Trains a GAN across simulated devices in one process (local discriminators, one global generator).',
  )
  .version(pkg.version)
  .showHelpAfterError('(add --help for the options)');

addTrainOptions(
  program
    .command('train', { isDefault: true })
    .description('train on simulated devices and write the run folder (the default command)'),
).action(train);

program
  .command('sample')
  .description("draw samples from a finished run's generator into a PNG grid")
  .argument('<run-dir>', 'run folder holding generator.json and generator.dgwb')
  .option('--count <n>', 'number of samples', '64')
  .option('--seed <n>', 'latent seed', '0')
  .option('--output <file>', 'PNG to write (default: <run-dir>/samples/sampled.png)')
  .action(async (runDir: string, opts: { count: string; seed: string; output?: string }) => {
    const count = Number(opts.count);
    const seed = Number(opts.seed);
    if (!Number.isSafeInteger(count) || count < 1)
      program.error(`error: --count must be a positive whole number`, { exitCode: 2 });
    if (!Number.isSafeInteger(seed) || seed < 0)
      program.error(`error: --seed must be a non-negative whole number`, { exitCode: 2 });
    const { backend } = await startCompute({ tfjsBackend: tfjsBackend(), blobDigest: 'auto' });
    console.log(`backend: ${backend}`);
    const path = await sampleFromRun(runDir, { count, seed, output: opts.output });
    console.log(`wrote ${path}`);
  });

try {
  await program.parseAsync();
} catch (err) {
  // Known failures (bad backend, missing dataset, refused blob) get one clear line, no stack.
  const code = (err as { code?: unknown }).code;
  if (err instanceof Error && typeof code === 'string') {
    console.error(`error: ${err.message}`);
  } else {
    // Not rethrown: the wasm runtime's own rejection handler would print its whole source.
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  }
  process.exit(1);
}
