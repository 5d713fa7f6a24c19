import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PROTOCOL_VERSION } from '@distgan/protocol';
import {
  chooseBlobDigest,
  DeviceIdTakenError,
  digestMismatch,
  identityMismatch,
  MemoryMembership,
  registrationProtocolMismatch,
  type DeviceIdentity,
  type DeviceRegistration,
} from './membership.js';
import { testIdentity } from './testing.js';

const identity: DeviceIdentity = testIdentity();
const reg = (deviceId: string, instance = `inst-${deviceId}`): DeviceRegistration => ({
  deviceId,
  instance,
  samples: 100,
  shard: Number(deviceId.at(-1)),
  backend: 'wasm',
  digests: ['blake3', 'sha256'],
  registeredAt: 0,
  identity,
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

  it('a device that leaves is no longer listed; another instance cannot make it leave', async () => {
    const m = new MemoryMembership();
    await m.register(reg('device-0'));
    await m.leave('device-0', 'someone-else');
    assert.equal((await m.list()).length, 1);
    await m.leave('device-0', 'inst-device-0');
    assert.deepEqual(await m.list(), []);
  });

  it('a second live instance with the same id is refused; a restarted one takes over after the TTL', async () => {
    let clock = 0;
    const m = new MemoryMembership(10, () => clock);
    await m.register(reg('device-1', 'first-instance'));
    await assert.rejects(m.register(reg('device-1', 'second-instance')), DeviceIdTakenError);
    // The first one's heartbeat is unaffected; the second one's says it is refused.
    assert.equal((await m.heartbeat(reg('device-1', 'first-instance'))).refused, undefined);
    assert.match(
      (await m.heartbeat(reg('device-1', 'second-instance'))).refused ?? '',
      /another live device already runs as "device-1"/,
    );
    clock = 10_001; // the first one stopped beating (killed)
    await m.register(reg('device-1', 'second-instance'));
    assert.equal((await m.list())[0]!.instance, 'second-instance');
  });

  it("the server's refusal reaches that instance's heartbeat only, with the run's record", async () => {
    const m = new MemoryMembership();
    await m.publishRun({ status: 'training', round: 3, identity, updatedAt: 0 });
    await m.register(reg('device-0', 'old-instance'));
    await m.refuse('device-0', 'old-instance', 'MODEL differs');
    const reply = await m.heartbeat(reg('device-0', 'old-instance'));
    assert.equal(reply.refused, 'MODEL differs');
    assert.equal(reply.run?.round, 3);
    // A new process of the device (another instance) is not refused for its predecessor.
    await m.leave('device-0', 'old-instance');
    assert.equal((await m.heartbeat(reg('device-0', 'new-instance'))).refused, undefined);
  });
});

describe('identityMismatch', () => {
  it('names the first setting that differs, and accepts an equal identity', () => {
    assert.equal(identityMismatch(identity, { ...identity }), undefined);
    assert.match(
      identityMismatch({ ...identity, model: 'mlp' }, identity)!,
      /^MODEL differs: the device has "mlp", the run "dcgan"/,
    );
    assert.match(identityMismatch({ ...identity, latentDim: 2 }, identity)!, /^LATENT_DIM/);
    assert.match(
      identityMismatch({ ...identity, modelWidth: 64 }, identity)!,
      /^MODEL_WIDTH differs: the device has 64, the run 32/,
    );
    assert.match(identityMismatch({ ...identity, seed: 2 }, identity)!, /^SEED/);
    assert.match(identityMismatch({ ...identity, limit: 500 }, identity)!, /^LIMIT/);
    assert.match(identityMismatch({ ...identity, partition: 'shards' }, identity)!, /^PARTITION/);
    assert.match(identityMismatch({ ...identity, numDevices: 3 }, identity)!, /^NUM_DEVICES/);
    assert.match(identityMismatch({ ...identity, method: 'fl-gan' }, identity)!, /^METHOD/);
    assert.match(identityMismatch({ ...identity, dataset: 'cifar10' }, identity)!, /^DATASET/);
    assert.match(
      identityMismatch({ ...identity, protocol: PROTOCOL_VERSION - 1 }, identity)!,
      new RegExp(
        `protocol version ${PROTOCOL_VERSION - 1}, the run protocol version ${PROTOCOL_VERSION}`,
      ),
    );
  });

  it('ALPHA matters for Dirichlet shards only; NUM_DEVICES only once the run knows it', () => {
    assert.equal(identityMismatch({ ...identity, alpha: 0.1 }, identity), undefined);
    const dirichlet = { ...identity, partition: 'dirichlet' };
    assert.match(identityMismatch({ ...dirichlet, alpha: 0.1 }, dirichlet)!, /^ALPHA/);
    assert.equal(identityMismatch(identity, { ...identity, numDevices: 0 }), undefined);
  });

  it('RING_STD matters for the ring only', () => {
    assert.equal(identityMismatch({ ...identity, ringStd: 0.3 }, identity), undefined);
    const ring = { ...identity, dataset: 'ring' };
    assert.match(identityMismatch({ ...ring, ringStd: 0.3 }, ring)!, /^RING_STD/);
  });

  it('CONDITIONAL: the models must agree; an identity without it (an older device) is unconditional', () => {
    const on = { ...identity, conditional: true };
    const off = { ...identity, conditional: false };
    assert.match(
      identityMismatch(off, on)!,
      /^CONDITIONAL differs: the device has false, the run true/,
    );
    const { conditional: _absent, ...older } = off;
    assert.match(identityMismatch(older, on)!, /^CONDITIONAL differs: the device has false/);
    assert.equal(identityMismatch(older, off), undefined);
    assert.match(identityMismatch({ ...on, numDevices: 0 }, off)!, /^CONDITIONAL/);
  });

  it('a device on data of its own is checked on its model only', () => {
    const own = { ...identity, numDevices: 0, seed: 9, limit: 7, partition: 'shards' };
    assert.equal(identityMismatch(own, identity), undefined);
    assert.match(identityMismatch({ ...own, model: 'mlp' }, identity)!, /^MODEL/);
  });
});

describe('blob digest negotiation', () => {
  const can = (...digests: DeviceRegistration['digests']): Pick<DeviceRegistration, 'digests'> => ({
    digests,
  });

  it("the server's own digest when every participant can verify it", () => {
    assert.equal(chooseBlobDigest('blake3', [can('blake3', 'sha256'), can('blake3')]), 'blake3');
    assert.equal(chooseBlobDigest('sha256', [can('blake3', 'sha256'), can('sha256')]), 'sha256');
    assert.equal(chooseBlobDigest('blake3', []), 'blake3');
  });

  it('SHA-256 as soon as one participant cannot verify BLAKE3', () => {
    assert.equal(chooseBlobDigest('blake3', [can('blake3', 'sha256'), can('sha256')]), 'sha256');
  });

  it('BLAKE3 when the server prefers SHA-256 but a participant verifies BLAKE3 only', () => {
    assert.equal(chooseBlobDigest('sha256', [can('blake3'), can('blake3', 'sha256')]), 'blake3');
  });

  it('SHA-256 when no digest is common to all', () => {
    assert.equal(chooseBlobDigest('blake3', [can('blake3'), can('sha256')]), 'sha256');
  });

  it('a device that verifies no digest is refused, saying why; one digest is enough', () => {
    assert.match(digestMismatch(can()) ?? '', /can verify none of the blob digests.*SHA-256/);
    assert.equal(digestMismatch(can('sha256')), undefined);
    assert.equal(digestMismatch(can('blake3')), undefined);
  });
});

describe('a device of another protocol version', () => {
  it('is refused naming both versions, whether its registration parses or not', () => {
    assert.equal(
      identityMismatch({ ...identity, protocol: PROTOCOL_VERSION + 1 }, identity),
      `the device speaks protocol version ${PROTOCOL_VERSION + 1}, the run protocol version ${PROTOCOL_VERSION}`,
    );
    const future = JSON.stringify({
      ...reg('device-1'),
      identity: { protocol: PROTOCOL_VERSION + 1 },
      more: 1,
    });
    assert.equal(
      registrationProtocolMismatch(future),
      `the device speaks protocol version ${PROTOCOL_VERSION + 1}, the run protocol version ${PROTOCOL_VERSION}`,
    );
    // Protocol 3 wrote no identity: the schema's own reason stands.
    assert.equal(registrationProtocolMismatch(JSON.stringify({ deviceId: 'd' })), undefined);
    assert.equal(registrationProtocolMismatch(JSON.stringify(reg('device-1'))), undefined);
    assert.equal(registrationProtocolMismatch('{'), undefined);
  });
});
