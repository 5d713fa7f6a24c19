import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ProtocolError } from './errors.js';
import {
  encodeMessage,
  parseMessage,
  PROTOCOL_VERSION,
  type DeviceUpdate,
  type RoundTask,
} from './messages.js';
import { names } from './names.js';

const run = 'run-1';
const n = names(run);
const sha = 'a'.repeat(64);

function task(): RoundTask {
  return {
    type: 'RoundTask',
    version: PROTOCOL_VERSION,
    runId: run,
    round: 3,
    method: 'distgan',
    schedule: 'serial',
    inputs: {
      generator: { key: n.roundBlobKey(3, 'generator'), digest: sha },
      discriminator: { key: n.roundBlobKey(3, 'discriminator'), digest: sha },
    },
    outputs: ['discriminator'],
    replyTo: n.roundQueue(3),
    deadlineAt: 1_800_000_001_000,
    issuedAt: 1_800_000_000_000,
    training: { localSteps: 2, batchSize: 64, learningRate: 2e-4, beta1: 0.5, beta2: 0.999 },
    seed: 42,
    participants: ['dev-0', 'dev-1'],
  };
}

function update(): DeviceUpdate {
  return {
    type: 'DeviceUpdate',
    version: PROTOCOL_VERSION,
    runId: run,
    round: 3,
    deviceId: 'dev-0',
    samples: 15000,
    outputs: {
      discriminator: {
        key: n.deviceBlobKey(3, 'dev-0', 'discriminator'),
        digest: sha,
        bytes: 1234,
      },
    },
    losses: { d: 1.2, dReal: 0.6, dFake: 0.6 },
    computeMs: 12.5,
    timings: { fetchMs: 3.1, verifyMs: 1.7, encodeMs: 0.4, storeMs: 0.9 },
    steps: 2,
    optimizerReset: false,
    sentAt: 1_800_000_000_500,
  };
}

const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

function refused(
  raw: Uint8Array | string,
  pattern: RegExp,
  types: ('RoundTask' | 'DeviceUpdate')[] = ['DeviceUpdate'],
): void {
  assert.throws(
    () => parseMessage(raw, { runId: run, types }),
    (e: unknown) =>
      e instanceof ProtocolError &&
      e.code === 'PROTOCOL_INVALID_MESSAGE' &&
      pattern.test(e.message),
  );
}

describe('messages', () => {
  it('round-trips a task and an update', () => {
    assert.deepEqual(
      parseMessage(encodeMessage(task()), { runId: run, types: ['RoundTask'] }),
      task(),
    );
    assert.deepEqual(
      parseMessage(encodeMessage(update()), { runId: run, types: ['DeviceUpdate'] }),
      update(),
    );
  });

  it('refuses bytes that are not JSON, or not an object', () => {
    refused(new Uint8Array([0xff, 0xfe, 0x00]), /not UTF-8 JSON/);
    refused('{"type": "DeviceUpdate",', /not UTF-8 JSON/);
    refused('[1,2,3]', /not a JSON object/);
    refused('null', /not a JSON object/);
  });

  it('refuses unknown types, types not accepted here, other versions and other runs', () => {
    refused(bytes({ ...update(), type: 'Hello' }), /unknown message type "Hello"/);
    refused(bytes(task()), /RoundTask is not accepted here/);
    // An older build's message (version 3 had no TaskDeclined and registrations without an
    // identity), and a newer one's: both versions are named.
    refused(
      bytes({ ...update(), version: 3 }),
      new RegExp(`protocol version 3, this build speaks version ${PROTOCOL_VERSION}`),
    );
    refused(
      bytes({ ...update(), version: PROTOCOL_VERSION + 1 }),
      new RegExp(
        `protocol version ${PROTOCOL_VERSION + 1}, this build speaks version ${PROTOCOL_VERSION}`,
      ),
    );
    refused(bytes({ ...update(), runId: 'other-run' }), /belongs to run "other-run"/);
  });

  it('a TaskDeclined goes through where it is accepted, with its reason', () => {
    const declined = {
      type: 'TaskDeclined',
      version: PROTOCOL_VERSION,
      runId: run,
      round: 3,
      deviceId: 'dev-1',
      reason: 'round 3 input generator: shape mismatch',
      sentAt: 1_800_000_000_600,
    } as const;
    const parsed = parseMessage(encodeMessage(declined), {
      runId: run,
      types: ['DeviceUpdate', 'TaskDeclined'],
    });
    assert.deepEqual(parsed, declined);
    refused(bytes(declined), /TaskDeclined is not accepted here/);
    refused(bytes({ ...declined, reason: '' }), /\/reason/, ['TaskDeclined' as 'DeviceUpdate']);
  });

  it('names the offending field of a schema failure', () => {
    refused(bytes({ ...update(), samples: 0 }), /\/samples/);
    refused(bytes({ ...update(), samples: 1.5 }), /\/samples/);
    refused(bytes({ ...update(), deviceId: 'a:b' }), /\/deviceId/);
    const blob = update().outputs['discriminator']!;
    refused(
      bytes({ ...update(), outputs: { discriminator: { ...blob, digest: 'xyz' } } }),
      /\/outputs\/discriminator\/digest/,
    );
    refused(bytes({ ...update(), outputs: { 'Not a name': blob } }), /\/outputs/);
    refused(bytes({ ...task(), method: 'fedavg' }), /\/method/, ['RoundTask']);
    refused(bytes({ ...task(), outputs: [] }), /\/outputs/, ['RoundTask']);
    refused(bytes({ ...update(), losses: { d: null, dReal: 0, dFake: 0 } }), /\/losses\/d/);
    refused(bytes({ ...update(), extra: true }), /\/extra: unexpected field/);
    const timings = update().timings!;
    refused(bytes({ ...update(), timings: { ...timings, fetchMs: -1 } }), /\/timings\/fetchMs/);
    refused(bytes({ ...update(), timings: { ...timings, wallMs: 1 } }), /\/timings\/wallMs/);
    const { timings: _none, ...older } = update(); // devices before the field: still accepted
    assert.deepEqual(parseMessage(bytes(older), { runId: run, types: ['DeviceUpdate'] }), older);
    const { samples: _omitted, ...noSamples } = update();
    refused(bytes(noSamples), /samples/);
    refused(bytes({ ...task(), participants: [] }), /\/participants/, ['RoundTask']);
    refused(bytes({ ...task(), training: { ...task().training, beta1: 1 } }), /\/training\/beta1/, [
      'RoundTask',
    ]);
  });

  it('refuses oversized messages before parsing them', () => {
    refused('x'.repeat((1 << 20) + 1), /exceeds the limit/);
  });

  it('will not encode an invalid message (NaN loss becomes null in JSON)', () => {
    assert.throws(
      () => encodeMessage({ ...update(), losses: { d: NaN, dReal: 0, dFake: 0 } }),
      ProtocolError,
    );
  });
});

describe('names', () => {
  it('follows docs/design.md §3', () => {
    assert.equal(n.tasksExchange, 'distgan.run-1.tasks');
    assert.equal(n.deviceQueue('dev-0'), 'distgan.run-1.device.dev-0');
    assert.equal(n.roundQueue(7), 'distgan.run-1.round.7');
    assert.equal(n.deadLetterExchange, 'distgan.run-1.dead');
    assert.equal(n.roundBlobKey(7, 'generator'), 'distgan:run-1:r:7:generator');
    assert.equal(
      n.deviceBlobKey(7, 'dev-0', 'discriminator'),
      'distgan:run-1:u:7:dev-0:discriminator',
    );
    assert.throws(() => n.roundBlobKey(7, 'a:b'), /blob name/);
    assert.equal(n.devicesKey, 'distgan:run-1:devices');
    assert.equal(n.checkpointKey, 'distgan:run-1:checkpoint');
    assert.equal(n.refusalsKey, 'distgan:run-1:refusals');
    assert.equal(n.runKey, 'distgan:run-1:run');
    assert.equal(n.aliveKey('dev-0'), 'distgan:run-1:alive:dev-0');
  });

  it('refuses ids that would break a queue name or a key', () => {
    for (const bad of ['', 'a b', 'a:b', 'a.b', '#', '-lead', 'x'.repeat(64)]) {
      assert.throws(() => names(bad), ProtocolError, bad);
      assert.throws(() => n.deviceQueue(bad), ProtocolError, bad);
    }
    assert.throws(() => n.roundQueue(-1), RangeError);
    assert.throws(() => n.roundQueue(1.5), RangeError);
  });
});

describe('the documents name the version the code speaks', () => {
  const doc = (name: string): string =>
    readFileSync(new URL(`../../../docs/${name}`, import.meta.url), 'utf8');
  it('docs/protocol.md (its title) and docs/design.md (its messages paragraph)', () => {
    assert.match(
      doc('protocol.md'),
      new RegExp(`^# The distgan wire protocol, version ${PROTOCOL_VERSION}\n`),
    );
    const stated = /a `type` and a protocol `version` \((\d+)\)/.exec(doc('design.md'));
    assert.equal(Number(stated?.[1]), PROTOCOL_VERSION);
  });
});
