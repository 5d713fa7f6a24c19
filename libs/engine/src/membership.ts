/** What a device tells the run when it joins, and again with every heartbeat. */
export interface DeviceRegistration {
  deviceId: string;
  samples: number;
  shard: number;
  backend: string;
  registeredAt: number;
}

/** A registered device, and whether its liveness has not expired. */
export type DeviceStatus = DeviceRegistration & { alive: boolean };

/**
 * Who takes part in a run (docs/design.md §3): a device registers and keeps itself alive with its
 * heartbeat; a device that stops beating is no longer alive once its time-to-live has passed, so
 * "alive" needs no clock agreement between machines. Redis implements it for deployment
 * (`RedisMembership` in @distgan/transport), `MemoryMembership` in one process.
 */
export interface Membership {
  register(reg: DeviceRegistration): Promise<void>;
  /** Refreshes the liveness, and the registration with it (the store may have restarted empty). */
  heartbeat(reg: DeviceRegistration): Promise<void>;
  leave(deviceId: string): Promise<void>;
  /** Registered devices, sorted by id, with whether each is alive now. */
  list(): Promise<DeviceStatus[]>;
}

/** Membership in one process, with the same time-to-live rule as Redis's keys. */
export class MemoryMembership implements Membership {
  private readonly devices = new Map<string, { reg: DeviceRegistration; aliveUntil: number }>();

  constructor(
    private readonly ttlSeconds = 10,
    private readonly now: () => number = Date.now,
  ) {}

  register(reg: DeviceRegistration): Promise<void> {
    this.devices.set(reg.deviceId, { reg, aliveUntil: this.now() + this.ttlSeconds * 1000 });
    return Promise.resolve();
  }

  heartbeat(reg: DeviceRegistration): Promise<void> {
    return this.register(reg);
  }

  leave(deviceId: string): Promise<void> {
    this.devices.delete(deviceId);
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
}
