import { parsers, parseSettings, type Setting } from '@distgan/protocol';
import { BACKEND_SETTINGS, CONNECTION_SETTINGS, DATA_SETTINGS } from '@distgan/run';

const positive = parsers.number((n) => n > 0, 'greater than 0');
const beta = parsers.number((n) => n >= 0 && n < 1, 'in [0, 1)');

/** The server's environment: names as the CLI flags, upper-case. */
export const SERVER_SETTINGS = {
  ...CONNECTION_SETTINGS,
  ...DATA_SETTINGS,
  ...BACKEND_SETTINGS,
  PORT: {
    parse: parsers.integer(1, 65535),
    default: 8080,
    help: 'HTTP port (/healthz, /readyz, /metrics, /api/run)',
  } as Setting<number>,
  ROUNDS: { parse: parsers.integer(1), default: 1500, help: 'training rounds' } as Setting<number>,
  SCHEDULE: {
    parse: parsers.oneOf('serial', 'parallel'),
    default: 'serial',
    help: 'update schedule',
  } as Setting<'serial' | 'parallel'>,
  LOCAL_STEPS: {
    parse: parsers.integer(1, 10_000),
    default: 1,
    help: 'local D steps per device per round',
  } as Setting<number>,
  GENERATOR_STEPS: {
    parse: parsers.integer(1, 10_000),
    default: 1,
    help: 'G steps per round',
  } as Setting<number>,
  BATCH_SIZE: {
    parse: parsers.integer(1, 4096),
    default: 64,
    help: 'minibatch size',
  } as Setting<number>,
  LR_D: { parse: positive, default: 2e-4, help: 'discriminator learning rate' } as Setting<number>,
  LR_G: { parse: positive, default: 2e-4, help: 'generator learning rate' } as Setting<number>,
  BETA1: { parse: beta, default: 0.5, help: "Adam's β1" } as Setting<number>,
  BETA2: { parse: beta, default: 0.999, help: "Adam's β2" } as Setting<number>,
  MIN_DEVICES: {
    parse: parsers.integer(1),
    default: 1,
    help: 'alive devices needed before a round starts',
  } as Setting<number>,
  QUORUM: {
    parse: parsers.integer(1),
    default: 1,
    help: 'fewest accepted updates for a round to count',
  } as Setting<number>,
  ROUND_DEADLINE_MS: {
    parse: parsers.integer(100),
    default: 60_000,
    help: 'a round closes this long after its task',
  } as Setting<number>,
  MAX_ROUND_ATTEMPTS: {
    parse: parsers.integer(1),
    default: 5,
    help: 'attempts of a round before the run fails',
  } as Setting<number>,
  CHECKPOINT_EVERY: {
    parse: parsers.integer(1),
    default: 10,
    help: 'rounds between checkpoints',
  } as Setting<number>,
  CHECKPOINT_DIR: {
    parse: parsers.text,
    default: '',
    help: 'a folder (a mounted volume) for the checkpoints instead of Redis',
  } as Setting<string>,
  SAMPLE_EVERY: {
    parse: parsers.integer(1),
    default: 50,
    help: 'rounds between sample grids',
  } as Setting<number>,
  OUT: {
    parse: parsers.text,
    default: 'runs',
    help: 'folder for the run folder (metrics, grids, final generator)',
  } as Setting<string>,
  HEARTBEAT_TIMEOUT_S: {
    parse: parsers.integer(1),
    default: 10,
    help: 'a device without heartbeat this long is gone',
  } as Setting<number>,
  EVAL_EVERY: {
    parse: parsers.integer(0),
    default: 0,
    help: 'rounds between evaluations (FID, modes, class balance; ring: mode coverage); 0: never',
  } as Setting<number>,
  EVAL_SAMPLES: {
    parse: parsers.integer(10, 100_000),
    default: 2000,
    help: 'generated samples per evaluation',
  } as Setting<number>,
  CLASSIFIER: {
    parse: parsers.text,
    default: '',
    help: 'FID classifier card (JSON) instead of the committed one',
  } as Setting<string>,
  LOG_LEVEL: {
    parse: parsers.oneOf('debug', 'info', 'warn', 'error'),
    default: 'info',
    help: 'log level',
  } as Setting<string>,
};

export type ServerConfig = ReturnType<typeof loadServerConfig>;

export function loadServerConfig(env: Record<string, string | undefined>) {
  return parseSettings(SERVER_SETTINGS, env);
}
