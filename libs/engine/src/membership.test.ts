import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryMembership } from './membership.js';

const reg = (deviceId: string) => ({
  deviceId,
  samples: 100,
  shard: Number(deviceId.at(-1)),
  backend: 'wasm',
  registeredAt: 0,
});

describe('in-memory membership', () => {
  it('a device is alive until its time-to-live passes without a heartbeat', async () => {
    let clock = 0;
    const m = new MemoryMembership(10, () => clock);
    await m.register(reg('device-1'));
    await m.register(reg('device-0'));
    clock = 9_000;
    await m.heartbeat(reg('device-1'));
    clock = 10_500;
    assert.deepEqual(
      (await m.list()).map((d) => [d.deviceId, d.alive]),
      [
        ['device-0', false],
        ['device-1', true],
      ],
    );
  });

  it('a device that leaves is no longer listed', async () => {
    const m = new MemoryMembership();
    await m.register(reg('device-0'));
    await m.leave('device-0');
    assert.deepEqual(await m.list(), []);
  });
});
