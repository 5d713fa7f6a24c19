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
    help: 'attempts of a round before the run fails, when its participants answered (declined, refused updates); devices missing or silent, or a broker or store outage, is waited out up to STALL_TIMEOUT_S',
  }),
  MAX_MISSED_ROUNDS: setting(types.integer(0), {
    default: 3,
    help: 'rounds in a row a device may miss (no update by the deadline, or declined) before rounds stop waiting for it, until it answers again; 0: always wait',
  }),
  STALL_TIMEOUT_S: setting(types.integer(0), {
    default: 1800,
    help: 'the run fails when no round has completed for this long, waiting for devices included; 0: never',
  }),
  LINGER_S: setting(types.integer(0), {
    default: 60,
    help: 'seconds a finished server keeps answering /api/run and /metrics (a last scrape) before it exits 0',
  }),
  NUM_DEVICES: setting(types.integer(0), {
    default: 0,
    help: "shards the devices split the data into; a device with another NUM_DEVICES is refused (0: the first device's)",
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
