import { names, type RunNames } from '@distgan/protocol';
import {
  TransportError,
  type DeviceRegistration,
  type DeviceStatus,
  type Membership,
} from '@distgan/engine';
import type { RedisBlobStore } from './redis-blob-store.js';

/**
 * Membership in Redis (docs/design.md §3): a device registers in the run's devices hash and keeps a
 * liveness key alive with its heartbeat; the key expires when the device stops beating.
 */
export class RedisMembership implements Membership {
  private readonly names: RunNames;

  constructor(
    private readonly redis: RedisBlobStore,
    runId: string,
    private readonly ttlSeconds = 10,
  ) {
    this.names = names(runId);
  }

  async register(reg: DeviceRegistration): Promise<void> {
    await this.run('register', async (c) => {
      await c.hset(this.names.devicesKey, reg.deviceId, JSON.stringify(reg));
      await c.set(this.names.aliveKey(reg.deviceId), '1', 'EX', this.ttlSeconds);
    });
  }

  async heartbeat(reg: DeviceRegistration): Promise<void> {
    await this.register(reg);
  }

  async leave(deviceId: string): Promise<void> {
    await this.run('leave', async (c) => {
      await c.del(this.names.aliveKey(deviceId));
      await c.hdel(this.names.devicesKey, deviceId);
    });
  }

  async list(): Promise<DeviceStatus[]> {
    return this.run('list', async (c) => {
      const all = await c.hgetall(this.names.devicesKey);
      const regs = Object.values(all).map((v) => JSON.parse(v) as DeviceRegistration);
      if (regs.length === 0) return [];
      const alive = await c.mget(...regs.map((r) => this.names.aliveKey(r.deviceId)));
      return regs
        .map((r, i) => ({ ...r, alive: alive[i] !== null }))
        .sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
    });
  }

  private async run<T>(what: string, f: (c: RedisBlobStore['client']) => Promise<T>): Promise<T> {
    try {
      return await f(this.redis.client);
    } catch (err) {
      throw new TransportError(`membership ${what}`, err);
    }
  }
}
