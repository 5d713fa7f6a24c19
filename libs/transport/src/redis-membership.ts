import { names, parseRecord, ProtocolError, type RunNames } from '@distgan/protocol';
import {
  DeviceIdTakenError,
  registrationProtocolMismatch,
  TransportError,
  type DeviceRegistration,
  type DeviceStatus,
  type HeartbeatReply,
  type Membership,
  type RunRecord,
} from '@distgan/engine';
import type { RedisBlobStore } from './redis-blob-store.js';

/**
 * Takes or renews a device id's liveness key for one instance, and writes its registration;
 * returns the holder when another instance holds a live key. One script, so that two processes
 * with the same id cannot both take it. KEYS: alive key, devices hash; ARGV: instance, TTL in
 * seconds, device id, registration JSON.
 */
export const REGISTER_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return false`;

/**
 * Unregisters a device if the instance still holds its id. KEYS: alive key, devices hash;
 * ARGV: instance, device id.
 */
export const LEAVE_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[2], ARGV[2])
return 1`;

/**
 * Membership in Redis (docs/design.md §3): a device registers in the run's
 * devices hash and holds a liveness key (its value: the instance) that its heartbeat renews and
 * that expires when it stops beating. The server's refusals and the run's record sit beside them.
 */
export class RedisMembership implements Membership {
  private readonly names: RunNames;

  constructor(
    private readonly redis: RedisBlobStore,
    runId: string,
    private readonly ttlSeconds = 10,
    /** Called for every devices-hash entry that fails the registration schema, when listed. */
    private readonly onInvalid?: (deviceId: string, reason: string) => void,
  ) {
    this.names = names(runId);
  }

  async register(reg: DeviceRegistration): Promise<void> {
    const holder = await this.call('register', (c) =>
      c.eval(
        REGISTER_SCRIPT,
        2,
        this.names.aliveKey(reg.deviceId),
        this.names.devicesKey,
        reg.instance,
        this.ttlSeconds,
        reg.deviceId,
        JSON.stringify(reg),
      ),
    );
    if (typeof holder === 'string') throw new DeviceIdTakenError(reg.deviceId, holder);
  }

  async heartbeat(reg: DeviceRegistration): Promise<HeartbeatReply> {
    const [refusal, run] = await this.call('heartbeat', async (c) =>
      Promise.all([c.hget(this.names.refusalsKey, reg.deviceId), c.get(this.names.runKey)]),
    );
    const record = run ? parseRecord('RunRecord', run) : undefined;
    const refused = refusal ? parseRecord('Refusal', refusal, { device: reg.deviceId }) : undefined;
    if (refused?.instance === reg.instance) return { refused: refused.reason, run: record };
    try {
      await this.register(reg);
    } catch (err) {
      if (err instanceof DeviceIdTakenError) return { refused: err.message, run: record };
      throw err;
    }
    return { run: record };
  }

  async leave(deviceId: string, instance: string): Promise<void> {
    await this.call('leave', (c) =>
      c.eval(
        LEAVE_SCRIPT,
        2,
        this.names.aliveKey(deviceId),
        this.names.devicesKey,
        instance,
        deviceId,
      ),
    );
  }

  async list(): Promise<DeviceStatus[]> {
    return this.call('list', async (c) => {
      const all = await c.hgetall(this.names.devicesKey);
      // An entry that is not a registration (another protocol version, a foreign writer) is
      // reported through onInvalid and left out: it cannot take part.
      const regs: DeviceRegistration[] = [];
      for (const [id, v] of Object.entries(all)) {
        try {
          regs.push(parseRecord('DeviceRegistration', v, { device: id }));
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
          this.onInvalid?.(id, registrationProtocolMismatch(v) ?? err.message);
        }
      }
      if (regs.length === 0) return [];
      const holders = await c.mget(...regs.map((r) => this.names.aliveKey(r.deviceId)));
      return regs
        .map((r, i) => ({ ...r, alive: holders[i] === r.instance }))
        .sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
    });
  }

  async refuse(deviceId: string, instance: string, reason: string): Promise<void> {
    await this.call('refuse', (c) =>
      c.hset(
        this.names.refusalsKey,
        deviceId,
        JSON.stringify({ instance, reason: reason.slice(0, 4096) }),
      ),
    );
  }

  async publishRun(record: RunRecord): Promise<void> {
    await this.call('publishing the run record', (c) =>
      c.set(this.names.runKey, JSON.stringify(record)),
    );
  }

  async run(): Promise<RunRecord | undefined> {
    const v = await this.call('reading the run record', (c) => c.get(this.names.runKey));
    return v ? parseRecord('RunRecord', v) : undefined;
  }

  private async call<T>(what: string, f: (c: RedisBlobStore['client']) => Promise<T>): Promise<T> {
    try {
      return await f(this.redis.client);
    } catch (err) {
      throw new TransportError(`membership ${what}`, err);
    }
  }
}
