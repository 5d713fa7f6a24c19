import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from './errors.js';
import { PROTOCOL_VERSION } from './messages.js';
import { parseRecord, type DeviceRegistration, type RunRecord } from './records.js';

const identity = {
  protocol: PROTOCOL_VERSION,
  method: 'distgan',
  dataset: 'mnist',
  model: 'dcgan',
  modelWidth: 32,
  latentDim: 64,
  seed: 1,
  limit: 0,
  ringStd: 0.1,
  partition: 'iid',
  alpha: 0.5,
  shardsPerDevice: 2,
  numDevices: 4,
};
const registration: DeviceRegistration = {
  deviceId: 'device-2',
  instance: '3f1c2a9e-5b7d-4c1e-9a0b-1234567890ab',
  samples: 15_000,
  shard: 2,
  backend: 'wasm',
  digests: ['blake3', 'sha256'],
  registeredAt: 1_800_000_000_000,
  identity,
};

const refused = (
  kind: 'DeviceRegistration' | 'RunRecord' | 'Refusal',
  v: unknown,
  path: RegExp,
): void =>
  assert.throws(
    () => parseRecord(kind, JSON.stringify(v)),
    (e: unknown) => e instanceof ProtocolError && path.test(e.message),
  );

describe('membership records', () => {
  it('a registration and a run record parse as written', () => {
    assert.deepEqual(parseRecord('DeviceRegistration', JSON.stringify(registration)), registration);
    const run: RunRecord = { status: 'failed', round: 41, reason: 'x', identity, updatedAt: 1 };
    assert.deepEqual(parseRecord('RunRecord', JSON.stringify(run)), run);
  });

  it('refuses what is not one, naming the field', () => {
    const { identity: _none, ...older } = registration; // protocol 3's registrations
    refused('DeviceRegistration', older, /DeviceRegistration \/: .*identity/);
    refused('DeviceRegistration', { ...registration, shard: -2 }, /\/shard/);
    refused('DeviceRegistration', { ...registration, instance: 'x' }, /\/instance/);
    refused('DeviceRegistration', { ...registration, extra: 1 }, /\/extra: unexpected field/);
    refused(
      'DeviceRegistration',
      { ...registration, identity: { ...identity, latentDim: 0 } },
      /\/identity\/latentDim/,
    );
    // The digests a device verifies are named, each once; an empty list parses (the server
    // refuses such a device with its reason, docs/protocol.md).
    refused('DeviceRegistration', { ...registration, digests: ['md5'] }, /\/digests\/0/);
    refused('DeviceRegistration', { ...registration, digests: ['sha256', 'sha256'] }, /\/digests/);
    const { digests: _d, ...without } = registration;
    refused('DeviceRegistration', without, /DeviceRegistration \/: .*digests/);
    assert.deepEqual(
      parseRecord('DeviceRegistration', JSON.stringify({ ...registration, digests: [] })).digests,
      [],
    );
    refused('RunRecord', { status: 'done', round: 1, identity, updatedAt: 1 }, /\/status/);
    assert.throws(() => parseRecord('RunRecord', '{'), /RunRecord is not JSON/);
    const refusal = { instance: registration.instance, reason: 'SEED differs' };
    assert.deepEqual(parseRecord('Refusal', JSON.stringify(refusal)), refusal);
    refused('Refusal', { ...refusal, reason: '' }, /\/reason/);
    refused('Refusal', { ...refusal, by: 'server' }, /\/by: unexpected field/);
  });
});
