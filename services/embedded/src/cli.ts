import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { classCountOf } from '@distgan/data';
import { takesGeneratorBatch } from '@distgan/methods';
import { choicesOf, expected, flagOf, parseValue, type Setting } from '@distgan/protocol';
import {
  CLI_SETTINGS,
  EMBEDDED_SETTINGS,
  UNSET_BY_DEFAULT,
  type EmbeddedConfig,
} from './config.js';

export function defaultRunId(dataset: string, schedule: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${dataset}-${schedule}-${stamp}`;
}

/**
 * The `train` options, generated from the settings (config.ts): a flag for every setting
 * (LOCAL_STEPS → --local-steps), parsed and checked by the setting's schema, with its default;
 * a boolean that defaults to true becomes --no-<name>.
 */
export function addTrainOptions(cmd: Command): Command {
  for (const [name, s] of Object.entries({ ...EMBEDDED_SETTINGS, ...CLI_SETTINGS })) {
    cmd.addOption(optionOf(name, s));
  }
  return cmd;
}

function optionOf(name: string, s: Setting): Option {
  const flag = flagOf(name);
  if (s.default === true) return new Option(`--no-${flag.slice(2)}`, s.help);
  const choices = choicesOf(s);
  const placeholder = choices ? '<name>' : expected(s).startsWith('a whole') ? '<n>' : '<value>';
  const option = new Option(`${flag} ${placeholder}`, s.help);
  if (choices) option.choices(choices);
  else
    option.argParser((raw: string) => {
      try {
        return parseValue(s, raw);
      } catch (err) {
        throw new InvalidArgumentError(`${(err as Error).message}.`);
      }
    });
  // "Not set" defaults (LIMIT's 0, GENERATOR_BATCH_SIZE's 0, '') are left out of the help and
  // the options: the setting is then absent from the config.
  if (s.default !== undefined && s.default !== '' && !UNSET_BY_DEFAULT.includes(name))
    option.default(s.default);
  return option;
}

export interface TrainFlags extends Omit<EmbeddedConfig, 'runId' | 'deviceThreads'> {
  runId?: string;
  deviceThreads: number | 'auto';
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
    deviceThreads,
    ...rest
  } = flags;
  if ((rest.dataset === 'fashion-mnist' || rest.dataset === 'cifar10') && !rest.dataDir) {
    throw new InvalidArgumentError(
      `--dataset ${rest.dataset} needs --data-dir <dir> with its original files.`,
    );
  }
  if (rest.generatorBatchSize && !takesGeneratorBatch(rest.method)) {
    throw new InvalidArgumentError(
      `--generator-batch-size applies to distgan and centralized; ${rest.method}'s generator update takes --batch-size.`,
    );
  }
  const classes = classCountOf(rest.dataset);
  if (rest.conditional && rest.latentDim <= classes) {
    throw new InvalidArgumentError(
      `--latent-dim ${rest.latentDim} is too short for a conditional model over ${rest.dataset}'s ${classes} classes (z's first ${classes} coordinates choose the class): give --latent-dim above ${classes}, or --no-conditional.`,
    );
  }
  if (rest.model === 'dcgan' && rest.dataset === 'ring') {
    throw new InvalidArgumentError(
      '--model dcgan needs images; use --model mlp with --dataset ring.',
    );
  }
  return {
    ...rest,
    // auto: one thread per core on a machine with several, none on one core.
    deviceThreads:
      deviceThreads === 'auto'
        ? availableParallelism() > 1
          ? availableParallelism()
          : 0
        : deviceThreads,
    runId:
      id ?? defaultRunId(rest.dataset, rest.method === 'distgan' ? rest.schedule : rest.method),
  };
}
