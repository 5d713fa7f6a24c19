import { ConfigError, parseSettings, setting, toDomain, types } from '@distgan/protocol';
import {
  BACKEND_SETTINGS,
  CONNECTION_SETTINGS,
  DATA_SETTINGS,
  withBrokerPasswords,
} from '@distgan/run';

/** The device's environment (docs/configuration.md). */
export const DEVICE_SETTINGS = {
  ...CONNECTION_SETTINGS,
  ...DATA_SETTINGS,
  ...BACKEND_SETTINGS,
  DEVICE_INDEX: setting(types.integer(0), {
    help: 'which shard of the partition this device holds (a StatefulSet ordinal)',
  }),
  NUM_DEVICES: setting(types.integer(1), {
    default: 0,
    help: 'how many shards the data is split into (required with DEVICE_DATA=shard)',
  }),
  DEVICE_DATA: setting(types.oneOf('shard', 'all'), {
    default: 'shard',
    help: "shard: this device's shard of the partition; all: every sample of the dataset it loads (its own DATA_DIR)",
  }),
  DEVICE_ID: setting(types.id(), {
    default: '',
    help: 'the device id (default: device-<DEVICE_INDEX>)',
  }),
  PORT: setting(types.integer(1, 65535), {
    default: 8081,
    help: 'HTTP port (/healthz, /readyz, /metrics)',
  }),
  HEARTBEAT_S: setting(types.integer(1), {
    default: 2,
    help: 'seconds between heartbeats',
  }),
  HEARTBEAT_TIMEOUT_S: setting(types.integer(1), {
    default: 10,
    help: 'the server forgets a silent device after this',
  }),
  UPDATE_TTL_S: setting(types.integer(1), {
    default: 600,
    help: "seconds the device's update blob is kept in Redis (the server deletes it once the round is done)",
  }),
  LOG_LEVEL: setting(types.oneOf('debug', 'info', 'warn', 'error'), {
    default: 'info',
    help: 'log level',
  }),
};

export type DeviceConfig = ReturnType<typeof loadDeviceConfig>;

export function loadDeviceConfig(env: Record<string, string | undefined>) {
  // NUM_DEVICES is required only for shards: check it with the rest, so one message lists all.
  const shard = (env['DEVICE_DATA'] ?? 'shard') !== 'all';
  const extra =
    shard && !env['NUM_DEVICES']
      ? [`NUM_DEVICES is required: ${DEVICE_SETTINGS.NUM_DEVICES.help}`]
      : [];
  let c;
  try {
    c = withBrokerPasswords(parseSettings(DEVICE_SETTINGS, env));
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError([...err.problems, ...extra]);
    throw err;
  }
  if (extra.length > 0) throw new ConfigError(extra);
  if (c.METHOD === 'centralized') {
    throw new ConfigError([
      'METHOD: centralized training runs on the server alone, on all the data: it has no devices (run no device service, or choose distgan, md-gan or fl-gan)',
    ]);
  }
  if (c.DEVICE_DATA === 'shard' && c.DEVICE_INDEX >= c.NUM_DEVICES) {
    throw new ConfigError([
      `DEVICE_INDEX: ${c.DEVICE_INDEX} must be below NUM_DEVICES (${c.NUM_DEVICES})`,
    ]);
  }
  return toDomain({ ...c, DEVICE_ID: c.DEVICE_ID || `device-${c.DEVICE_INDEX}` });
}
