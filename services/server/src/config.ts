import { parseSettings, setting, toDomain, types } from '@distgan/protocol';
import {
  BACKEND_SETTINGS,
  CONNECTION_SETTINGS,
  DATA_SETTINGS,
  RUN_OUTPUT_SETTINGS,
  TRAINING_SETTINGS,
  withBrokerPasswords,
} from '@distgan/run';

/** The server's environment (docs/configuration.md). */
export const SERVER_SETTINGS = {
  ...CONNECTION_SETTINGS,
  ...DATA_SETTINGS,
  ...BACKEND_SETTINGS,
  ...TRAINING_SETTINGS,
  ...RUN_OUTPUT_SETTINGS,
  PORT: setting(types.integer(1, 65535), {
    default: 8080,
    help: 'HTTP port (/healthz, /readyz, /metrics, /api/run)',
  }),
  MIN_DEVICES: setting(types.integer(1), {
    default: 1,
    help: 'alive devices needed before a round starts',
  }),
  QUORUM: setting(types.integer(1), {
    default: 1,
    help: 'fewest accepted updates for a round to count',
  }),
  ROUND_DEADLINE_MS: setting(types.integer(100), {
    default: 60_000,
    help: 'a round closes this long after its task',
  }),
  MAX_ROUND_ATTEMPTS: setting(types.integer(1), {
    default: 5,
    help: 'attempts of a round before the run fails',
  }),
  CHECKPOINT_EVERY: setting(types.integer(1), {
    default: 10,
    help: 'rounds between checkpoints',
  }),
  CHECKPOINT_DIR: setting(types.text(), {
    default: '',
    help: 'a folder (a mounted volume) for the checkpoints instead of Redis',
  }),
  HEARTBEAT_TIMEOUT_S: setting(types.integer(1), {
    default: 10,
    help: 'a device without heartbeat this long is gone',
  }),
  LOG_LEVEL: setting(types.oneOf('debug', 'info', 'warn', 'error'), {
    default: 'info',
    help: 'log level',
  }),
};

export type ServerConfig = ReturnType<typeof loadServerConfig>;

/** The server's settings from its environment, as a domain object (ROUND_DEADLINE_MS → roundDeadlineMs). */
export function loadServerConfig(env: Record<string, string | undefined>) {
  return toDomain(withBrokerPasswords(parseSettings(SERVER_SETTINGS, env)));
}
