import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DIGEST_CHOICES, isValidId } from '@distgan/protocol';
import { DEFAULTS, METHODS, type EmbeddedConfig } from './config.js';

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n)) {
      throw new InvalidArgumentError(`expected a whole number, got "${value}".`);
    }
    if (n < min || n > max) {
      throw new InvalidArgumentError(
        `must be between ${min} and ${max === Number.MAX_SAFE_INTEGER ? '∞' : max}.`,
      );
    }
    return n;
  };
}

function real(check: (n: number) => boolean, range: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n))
      throw new InvalidArgumentError(`expected a number, got "${value}".`);
    if (!check(n)) throw new InvalidArgumentError(`must be ${range}, got ${n}.`);
    return n;
  };
}

const positive = real((n) => n > 0, 'greater than 0');
const beta = real((n) => n >= 0 && n < 1, 'in [0, 1)');

function runId(value: string): string {
  if (!isValidId(value)) {
    throw new InvalidArgumentError(
      "use 1-63 letters, digits, '-' or '_', starting with a letter or digit.",
    );
  }
  return value;
}

export function defaultRunId(dataset: string, schedule: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${dataset}-${schedule}-${stamp}`;
}

/** The `train` options: every setting of EmbeddedConfig, with the defaults of config.ts. */
export function addTrainOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--devices <k>', 'simulated devices')
        .argParser(integer(1, 1024))
        .default(DEFAULTS.devices),
    )
    .addOption(
      new Option('--rounds <n>', 'training rounds').argParser(integer(1)).default(DEFAULTS.rounds),
    )
    .addOption(
      new Option(
        '--method <name>',
        "distribution method: the paper's (distgan) or a baseline it is compared with",
      )
        .choices([...METHODS])
        .default(DEFAULTS.method),
    )
    .addOption(
      new Option(
        '--schedule <name>',
        'update schedule: G against φ_{t+1} (serial) or φ_t, overlapped (parallel)',
      )
        .choices(['serial', 'parallel'])
        .default(DEFAULTS.schedule),
    )
    .addOption(
      new Option('--local-steps <L>', 'local discriminator steps per device per round')
        .argParser(integer(1, 10_000))
        .default(DEFAULTS.localSteps),
    )
    .addOption(
      new Option('--generator-steps <M>', 'generator steps per round')
        .argParser(integer(1, 10_000))
        .default(DEFAULTS.generatorSteps),
    )
    .addOption(
      new Option('--batch-size <b>', 'minibatch size')
        .argParser(integer(1, 4096))
        .default(DEFAULTS.batchSize),
    )
    .addOption(
      new Option('--lr-d <rate>', 'discriminator learning rate (Adam)')
        .argParser(positive)
        .default(DEFAULTS.lrD),
    )
    .addOption(
      new Option('--lr-g <rate>', 'generator learning rate (Adam)')
        .argParser(positive)
        .default(DEFAULTS.lrG),
    )
    .addOption(new Option('--beta1 <b>', "Adam's β1").argParser(beta).default(DEFAULTS.beta1))
    .addOption(new Option('--beta2 <b>', "Adam's β2").argParser(beta).default(DEFAULTS.beta2))
    .addOption(
      new Option('--model <arch>', 'model family')
        .choices(['mlp', 'dcgan'])
        .default(DEFAULTS.model),
    )
    .addOption(
      new Option('--latent-dim <d>', 'length of the latent vector z')
        .argParser(integer(1, 4096))
        .default(DEFAULTS.latentDim),
    )
    .addOption(
      new Option('--dataset <name>', 'training data')
        .choices(['mnist', 'fashion-mnist', 'cifar10', 'ring'])
        .default(DEFAULTS.dataset),
    )
    .addOption(new Option('--data-dir <dir>', 'folder with the Fashion-MNIST or CIFAR-10 files'))
    .addOption(
      new Option('--ring-std <s>', 'standard deviation of each mode of the ring dataset')
        .argParser(positive)
        .default(DEFAULTS.ringStd),
    )
    .addOption(
      new Option('--limit <n>', 'use only the first n training samples').argParser(integer(1)),
    )
    .addOption(
      new Option('--partition <scheme>', 'how the data is split across devices')
        .choices(['iid', 'shards', 'dirichlet'])
        .default(DEFAULTS.partition),
    )
    .addOption(
      new Option('--alpha <a>', 'Dirichlet concentration (smaller: more skewed)')
        .argParser(positive)
        .default(DEFAULTS.alpha),
    )
    .addOption(
      new Option('--shards-per-device <s>', 'label shards per device (shards partition)')
        .argParser(integer(1, 1000))
        .default(DEFAULTS.shardsPerDevice),
    )
    .addOption(
      new Option('--seed <n>', 'seed of every random draw')
        .argParser(integer(0, 0xffffffff))
        .default(DEFAULTS.seed),
    )
    .addOption(new Option('--out <dir>', 'parent folder of the run folder').default(DEFAULTS.out))
    .addOption(
      new Option(
        '--run-id <id>',
        'name of the run folder (default: dataset-schedule-time)',
      ).argParser(runId),
    )
    .addOption(
      new Option('--sample-every <n>', 'write a sample grid every n rounds')
        .argParser(integer(1))
        .default(DEFAULTS.sampleEvery),
    )
    .addOption(
      new Option('--sample-count <n>', 'images per sample grid')
        .argParser(integer(1, 1024))
        .default(DEFAULTS.sampleCount),
    )
    .addOption(
      new Option('--update-dtype <dtype>', 'precision of device updates on the wire')
        .choices(['float32', 'float16'])
        .default(DEFAULTS.updateDtype),
    )
    .addOption(
      new Option(
        '--blob-digest <digest>',
        'digest of the weight blobs (auto: BLAKE3 where it is native, else SHA-256; sha256 for FIPS)',
      )
        .choices(DIGEST_CHOICES)
        .default(DEFAULTS.blobDigest),
    )
    .addOption(
      new Option(
        '--device-threads <n>',
        'worker threads that run the devices, each with its own backend (0: the main thread; auto: one per core on a machine with several, at most one per device)',
      )
        .argParser(deviceThreads)
        .default(deviceThreads('auto'), 'auto'),
    )
    .addOption(
      new Option(
        '--device-thread-heap-mb <mb>',
        "each device thread's V8 heap limit (0: V8's default); 256 about halves the peak memory of the default run, for 3-7% more time per round",
      )
        .argParser(integer(0, 65536))
        .default(DEFAULTS.deviceThreadHeapMb),
    )
    .addOption(
      new Option(
        '--eval-every <n>',
        'FID, mode coverage and class balance every n rounds and after the last (0: never)',
      )
        .argParser(integer(0))
        .default(DEFAULTS.evalEvery),
    )
    .addOption(
      new Option('--eval-samples <n>', 'generated samples per evaluation')
        .argParser(integer(10, 100_000))
        .default(DEFAULTS.evalSamples),
    )
    .addOption(
      new Option('--classifier <card>', 'FID classifier card (JSON) instead of the committed one'),
    )
    .addOption(
      new Option(
        '--dashboard-port <n>',
        'port of the live dashboard in the browser (0: a free port)',
      )
        .argParser(integer(0, 65535))
        .default(DASHBOARD_DEFAULTS.port),
    )
    .addOption(
      new Option('--dashboard-host <addr>', 'address the dashboard listens on').default(
        DASHBOARD_DEFAULTS.host,
      ),
    )
    .addOption(new Option('--no-dashboard', 'no live dashboard (no HTTP server)'))
    .addOption(new Option('--no-progress', 'no progress bar (one line every 10% instead)'))
    .addOption(
      new Option(
        '--no-wasm-kernels',
        "wasm: keep the backend's stock kernels (to measure the difference)",
      ),
    );
}

/** `auto` (one per core) or a whole number of worker threads, at most 64. */
function deviceThreads(value: string): number {
  if (value === 'auto') return availableParallelism() > 1 ? availableParallelism() : 0;
  return integer(0, 64)(value);
}

/** Where the embedded run serves its dashboard unless told otherwise. */
export const DASHBOARD_DEFAULTS = { port: 8080, host: '127.0.0.1' } as const;

export interface TrainFlags extends Omit<EmbeddedConfig, 'runId'> {
  runId?: string;
  progress: boolean;
  wasmKernels: boolean;
  /** False with --no-dashboard. */
  dashboard: boolean;
  dashboardPort: number;
  dashboardHost: string;
}

/** Checks what single options cannot, and fills in the run id. */
export function toConfig(flags: TrainFlags): EmbeddedConfig {
  const {
    progress: _progress,
    wasmKernels: _wasmKernels,
    dashboard: _dashboard,
    dashboardPort: _dashboardPort,
    dashboardHost: _dashboardHost,
    runId: id,
    ...rest
  } = flags;
  if ((rest.dataset === 'fashion-mnist' || rest.dataset === 'cifar10') && !rest.dataDir) {
    throw new InvalidArgumentError(
      `--dataset ${rest.dataset} needs --data-dir <dir> with its original files.`,
    );
  }
  if (rest.model === 'dcgan' && rest.dataset === 'ring') {
    throw new InvalidArgumentError(
      '--model dcgan needs images; use --model mlp with --dataset ring.',
    );
  }
  return {
    ...rest,
    runId:
      id ?? defaultRunId(rest.dataset, rest.method === 'distgan' ? rest.schedule : rest.method),
  };
}
