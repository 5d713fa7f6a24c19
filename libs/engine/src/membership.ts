import {
  DIGEST_ALGORITHMS,
  DistganError,
  PROTOCOL_VERSION,
  type DigestAlgorithm,
  registerWireError,
  type DeviceIdentity,
  type DeviceRegistration,
  type RunRecord,
} from '@distgan/protocol';

export type { DeviceIdentity, DeviceRegistration, RunRecord } from '@distgan/protocol';

/** A registered device, and whether its liveness has not expired. */
export type DeviceStatus = DeviceRegistration & { alive: boolean };

/** What a heartbeat brings back: a refusal of this device by the server, and the run's record. */
export interface HeartbeatReply {
  refused?: string;
  run?: RunRecord;
}

/** Another live process holds this device id. */
export class DeviceIdTakenError extends DistganError {
  constructor(deviceId: string, holder: string) {
    super(
      'DEVICE_ID_TAKEN',
      `another live device already runs as "${deviceId}" (instance ${holder}): every device needs its own DEVICE_INDEX (or DEVICE_ID)`,
      { device: deviceId },
    );
  }
}
registerWireError(DeviceIdTakenError);

/**
 * Who takes part in a run (docs/design.md §3): a device registers and keeps itself alive with its
 * heartbeat; a device that stops beating is no longer alive once its time-to-live has passed, so
 * "alive" needs no clock agreement between machines. The server publishes the run's record
 * (status, identity) and its refusals here, and devices read both with their heartbeat. Redis
 * implements it for deployment (`RedisMembership` in @distgan/transport), `MemoryMembership` in
 * one process.
 */
export interface Membership {
  /** Throws DeviceIdTakenError while another live instance holds the device id. */
  register(reg: DeviceRegistration): Promise<void>;
  /**
   * Refreshes the liveness, and the registration with it (the store may have restarted empty);
   * answers with the server's refusal of this instance, if any, and the run's record.
   */
  heartbeat(reg: DeviceRegistration): Promise<HeartbeatReply>;
  /** Unregisters the device, if `instance` still holds its id. */
  leave(deviceId: string, instance: string): Promise<void>;
  /** Registered devices, sorted by id, with whether each is alive now. */
  list(): Promise<DeviceStatus[]>;
  /** Server: refuses one instance of a device; the device reads it with its next heartbeat. */
  refuse(deviceId: string, instance: string, reason: string): Promise<void>;
  /** Server: publishes the run's record. */
  publishRun(record: RunRecord): Promise<void>;
  /** The run's record, if a server has published one. */
  run(): Promise<RunRecord | undefined>;
}

/** Membership in one process, with the same time-to-live rule as Redis's keys. */
export class MemoryMembership implements Membership {
  private readonly devices = new Map<string, { reg: DeviceRegistration; aliveUntil: number }>();
  private readonly refusals = new Map<string, { instance: string; reason: string }>();
  private record: RunRecord | undefined;

  constructor(
    private readonly ttlSeconds = 10,
    private readonly now: () => number = Date.now,
  ) {}

  register(reg: DeviceRegistration): Promise<void> {
    const held = this.devices.get(reg.deviceId);
    if (held && held.aliveUntil > this.now() && held.reg.instance !== reg.instance)
      return Promise.reject(new DeviceIdTakenError(reg.deviceId, held.reg.instance));
    this.devices.set(reg.deviceId, { reg, aliveUntil: this.now() + this.ttlSeconds * 1000 });
    return Promise.resolve();
  }

  async heartbeat(reg: DeviceRegistration): Promise<HeartbeatReply> {
    const refusal = this.refusals.get(reg.deviceId);
    if (refusal?.instance === reg.instance) return { refused: refusal.reason, run: this.record };
    try {
      await this.register(reg);
    } catch (err) {
      if (err instanceof DeviceIdTakenError) return { refused: err.message, run: this.record };
      throw err;
    }
    return { run: this.record };
  }

  leave(deviceId: string, instance: string): Promise<void> {
    if (this.devices.get(deviceId)?.reg.instance === instance) this.devices.delete(deviceId);
    return Promise.resolve();
  }

  list(): Promise<DeviceStatus[]> {
    const t = this.now();
    return Promise.resolve(
      [...this.devices.values()]
        .map(({ reg, aliveUntil }) => ({ ...reg, alive: aliveUntil > t }))
        .sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1)),
    );
  }

  refuse(deviceId: string, instance: string, reason: string): Promise<void> {
    this.refusals.set(deviceId, { instance, reason });
    return Promise.resolve();
  }

  publishRun(record: RunRecord): Promise<void> {
    this.record = record;
    return Promise.resolve();
  }

  run(): Promise<RunRecord | undefined> {
    return Promise.resolve(this.record);
  }
}

/**
 * Why a device may not join a run of this identity, naming the setting that differs; undefined
 * when it may. A device on data of its own (numDevices 0) is checked on its model only.
 */
export function identityMismatch(device: DeviceIdentity, run: DeviceIdentity): string | undefined {
  if (device.protocol !== run.protocol)
    return `the device speaks protocol version ${device.protocol}, the run protocol version ${run.protocol}`;
  const model: [keyof DeviceIdentity, string][] = [
    ['method', 'METHOD'],
    ['dataset', 'DATASET'],
    ['model', 'MODEL'],
    ['modelWidth', 'MODEL_WIDTH'],
    ['latentDim', 'LATENT_DIM'],
    ['conditional', 'CONDITIONAL'],
  ];
  const data: [keyof DeviceIdentity, string][] = [
    ['seed', 'SEED'],
    ['limit', 'LIMIT'],
    ['partition', 'PARTITION'],
    ['shardsPerDevice', 'SHARDS_PER_DEVICE'],
  ];
  const checked = device.numDevices === 0 ? model : [...model, ...data];
  // The ring is generated from its spread: a device with another RING_STD has other data.
  if (device.dataset === 'ring') checked.push(['ringStd', 'RING_STD']);
  if (device.numDevices > 0 && device.partition === 'dirichlet') checked.push(['alpha', 'ALPHA']);
  if (device.numDevices > 0 && run.numDevices > 0) checked.push(['numDevices', 'NUM_DEVICES']);
  // An identity without `conditional` comes from a device that trains unconditional models.
  const value = (i: DeviceIdentity, key: keyof DeviceIdentity): unknown =>
    key === 'conditional' ? (i.conditional ?? false) : i[key];
  for (const [key, name] of checked) {
    const [mine, theirs] = [value(device, key), value(run, key)];
    if (mine !== theirs)
      return `${name} differs: the device has ${JSON.stringify(mine)}, the run ${JSON.stringify(theirs)}`;
  }
  return undefined;
}

/**
 * Why a device cannot take part because it verifies none of the blob digests the server writes;
 * undefined when it can verify one. Every global blob would be refused by it.
 */
export function digestMismatch(device: Pick<DeviceRegistration, 'digests'>): string | undefined {
  if (device.digests.some((d) => DIGEST_ALGORITHMS.includes(d))) return undefined;
  return `the device can verify none of the blob digests the server writes (it lists [${device.digests.join(', ')}], the server writes ${DIGEST_ALGORITHMS.join(' or ')}): give it SHA-256`;
}

/**
 * The digest a round's blobs carry: the server's own choice (BLOB_DIGEST) when every participant
 * can verify it, else SHA-256 when every participant can, else BLAKE3 when every one can. When no
 * digest is common to all (one verifies BLAKE3 only, another SHA-256 only), SHA-256: a device
 * SHOULD verify it (docs/protocol.md), and one that does not declines the round's task.
 */
export function chooseBlobDigest(
  preferred: DigestAlgorithm,
  participants: readonly Pick<DeviceRegistration, 'digests'>[],
): DigestAlgorithm {
  const all = (d: DigestAlgorithm): boolean => participants.every((p) => p.digests.includes(d));
  for (const d of [preferred, 'sha256', 'blake3'] as const) if (all(d)) return d;
  return 'sha256';
}

/**
 * For a devices-hash entry that fails the registration schema: when it says it speaks another
 * protocol version (`identity.protocol`), why it cannot take part, naming both versions.
 */
export function registrationProtocolMismatch(json: string): string | undefined {
  let protocol: unknown;
  try {
    protocol = (JSON.parse(json) as { identity?: { protocol?: unknown } } | null)?.identity
      ?.protocol;
  } catch {
    return undefined;
  }
  if (typeof protocol !== 'number' || protocol === PROTOCOL_VERSION) return undefined;
  return `the device speaks protocol version ${protocol}, the run protocol version ${PROTOCOL_VERSION}`;
}
