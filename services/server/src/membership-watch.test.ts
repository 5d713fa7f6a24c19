import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DeviceStatus } from '@distgan/engine';
import { testIdentity } from '@distgan/engine/testing';
import { MembershipWatch } from './membership-watch.js';

const device = (id: string, alive = true): DeviceStatus => ({
  deviceId: id,
  instance: `instance-${id}`,
  identity: testIdentity({ dataset: 'ring', model: 'mlp', latentDim: 2, numDevices: 2 }),
  samples: 10,
  shard: 0,
  backend: 'cpu',
  digests: ['blake3', 'sha256'],
  registeredAt: 0,
  alive,
});
const summary = (changes: ReturnType<MembershipWatch['update']>): string[] =>
  changes.map((c) =>
    c.change === 'left' ? `left ${c.deviceId} (${c.how})` : `${c.change} ${c.device.deviceId}`,
  );

describe('who joins and leaves a run', () => {
  it('tells joins, clean leaves, expired heartbeats and returns apart', () => {
    const w = new MembershipWatch();
    assert.deepEqual(summary(w.update([device('a'), device('b')])), ['joined a', 'joined b']);
    assert.deepEqual(summary(w.update([device('a'), device('b')])), []);
    // a unregistered (SIGTERM); b is still registered but its liveness key expired (killed).
    assert.deepEqual(summary(w.update([device('b', false)])), [
      'left a (left the run)',
      'left b (stopped beating)',
    ]);
    assert.deepEqual(summary(w.update([device('a'), device('b', false), device('c')])), [
      'rejoined a',
      'joined c',
    ]);
  });
});
