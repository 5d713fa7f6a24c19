import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Dataset } from '@distgan/data';
import { averageWeights, GlobalGan, initBackend, type ModelSpec } from '@distgan/gan';
import {
  decodeWeights,
  encodeMessage,
  encodeWeights,
  names,
  parseMessage,
  PROTOCOL_VERSION,
  blobDigestHex,
  BlobIntegrityError,
  type DeviceUpdate,
  type RoundTask,
} from '@distgan/protocol';
import {
  Coordinator,
  DeviceRuntime,
  MemoryBlobStore,
  MemoryRoundTransport,
  RoundFailedError,
  type CoordinatorConfig,
  type RoundEvent,
  type RoundTransport,
  type TaskOutcome,
} from '@distgan/engine';
import type { MethodSettings } from './settings.js';
import { DistganDevice, DistganServer } from './distgan.js';

const RUN = 'engine-test';
const SPEC: ModelSpec = { arch: 'mlp', sampleShape: [2], latentDim: 4 };
const ADAM = { learningRate: 1e-3, beta1: 0.5, beta2: 0.999 };

/** distgan's server side on `gan`, with the harness's settings. */
function distgan(
  gan: GlobalGan,
  o: {
    seed: number;
    schedule: MethodSettings['schedule'];
    generatorSteps: number;
    batchSize: number;
    generatorBatchSize?: number;
  },
): DistganServer {
  return new DistganServer(
    { spec: SPEC, localSteps: 2, adamD: ADAM, adamG: ADAM, generatorAverage: 0, ...o },
    gan,
  );
}

function toyData(count: number): Dataset {
  const images = new Float32Array(count * 2);
  for (let i = 0; i < count; i++) {
    const a = (2 * Math.PI * (i % 8)) / 8;
    images[2 * i] = Math.cos(a) + ((i * 7919) % 13) / 500;
    images[2 * i + 1] = Math.sin(a);
  }
  return {
    name: 'toy',
    sampleShape: [1, 1, 2],
    count,
    images,
    labels: new Uint8Array(count),
    numClasses: 1,
  };
}

/** A global GAN that records the discriminator its generator steps train against, and their batch. */
class InstrumentedGan extends GlobalGan {
  readonly seenByG: Float32Array[] = [];
  readonly generatorBatches: number[] = [];
  override generatorSteps(steps: number, batchSize: number, seedOf: (s: number) => number): number {
    this.seenByG.push(this.discriminatorWeights().values.slice());
    this.generatorBatches.push(batchSize);
    return super.generatorSteps(steps, batchSize, seedOf);
  }
}

interface Harness {
  gan: InstrumentedGan;
  transport: MemoryRoundTransport;
  store: MemoryBlobStore;
  coordinator: Coordinator;
  devices: DeviceRuntime[];
  events: RoundEvent[];
  outcomes: TaskOutcome[];
  stop(): Promise<void>;
}

async function harness(
  opts: Partial<CoordinatorConfig> & {
    deviceCount?: number;
    extraParticipants?: string[];
    transport?: RoundTransport;
    /** The devices' clock for their timings (default: performance.now). */
    clock?: () => number;
    /** GENERATOR_BATCH_SIZE (default: unset, the devices' batch of 16). */
    generatorBatchSize?: number;
  } = {},
): Promise<Harness> {
  const data = toyData(400);
  const deviceCount = opts.deviceCount ?? 3;
  const gan = new InstrumentedGan(SPEC, { seed: 3, generatorAdam: ADAM });
  const transport = new MemoryRoundTransport(RUN);
  const store = new MemoryBlobStore();
  const events: RoundEvent[] = [];
  const outcomes: TaskOutcome[] = [];
  const devices: DeviceRuntime[] = [];
  for (let k = 0; k < deviceCount; k++) {
    // unequal shards, so that n_k-weighting matters
    const indices = Int32Array.from({ length: 40 + 60 * k }, (_, i) => (i * 3 + k) % data.count);
    const d = new DeviceRuntime(
      new DistganDevice(SPEC),
      opts.transport ?? transport,
      store,
      {
        runId: RUN,
        deviceId: `dev-${k}`,
        data: { dataset: data, indices },
        blobTtlSeconds: 60,
        ...(opts.clock ? { clock: opts.clock } : {}),
      },
      (o) => outcomes.push(o),
    );
    await d.start();
    devices.push(d);
  }
  const ids = [...devices.map((d) => d.options.deviceId), ...(opts.extraParticipants ?? [])];
  const config: CoordinatorConfig = {
    runId: RUN,
    schedule: 'serial',
    training: { localSteps: 2, batchSize: 16, ...ADAM },
    seed: 11,
    roundDeadlineMs: 5_000,
    quorum: deviceCount,
    maxRoundAttempts: 1,
    blobTtlSeconds: 60,
    ...opts,
  };
  const coordinator = new Coordinator(
    distgan(gan, {
      seed: config.seed,
      schedule: config.schedule,
      generatorSteps: 2,
      batchSize: 16,
      ...(opts.generatorBatchSize ? { generatorBatchSize: opts.generatorBatchSize } : {}),
    }),
    opts.transport ?? transport,
    store,
    () => ids,
    config,
    (e) => events.push(e),
  );
  return {
    gan,
    transport,
    store,
    coordinator,
    devices,
    events,
    outcomes,
    stop: async () => {
      await Promise.all(devices.map((d) => d.stop()));
      await transport.close();
    },
  };
}

const n = names(RUN);

/** φ_{t+1} recomputed independently from the device blobs left in the store. */
async function averageFromStore(h: Harness, round: number): Promise<Float32Array> {
  const ups = [];
  for (const d of h.devices) {
    const blob = await h.store.get(n.deviceBlobKey(round, d.options.deviceId, 'discriminator'));
    assert.ok(blob, `device ${d.options.deviceId} stored no update`);
    ups.push({ values: decodeWeights(blob).values, samples: d.samples });
  }
  return averageWeights(ups);
}

async function broadcastD(h: Harness, round: number): Promise<Float32Array> {
  const blob = await h.store.get(n.roundBlobKey(round, 'discriminator'));
  assert.ok(blob);
  return decodeWeights(blob).values;
}

const kinds = (events: RoundEvent[]): string[] => events.map((e) => e.kind);

describe('round engine over the in-memory transport', () => {
  before(() => initBackend());
  it('serial: G trains against φ_{t+1}, the n_k-weighted average of the device updates', async () => {
    const h = await harness({ schedule: 'serial' });
    try {
      for (let t = 0; t < 2; t++) {
        const report = await h.coordinator.runRound();
        assert.equal(report.accepted.length, 3);
        assert.equal(report.phases.preBroadcastMs, 0, 'nothing timed before the broadcast');
        const avg = await averageFromStore(h, t);
        assert.deepEqual(Array.from(h.gan.seenByG[t]!), Array.from(avg), `round ${t}`);
        assert.notDeepEqual(Array.from(avg), Array.from(await broadcastD(h, t)));
        assert.deepEqual(Array.from(h.gan.discriminatorWeights().values), Array.from(avg));
      }
      const order = kinds(h.events.filter((e) => e.kind !== 'update'));
      assert.deepEqual(order.slice(0, 8), [
        'round-start',
        'broadcast-end',
        'collect-start',
        'collect-end',
        'install',
        'generator-start',
        'generator-end',
        'round-end',
      ]);
    } finally {
      await h.stop();
    }
  });

  it("the generator steps take GENERATOR_BATCH_SIZE when set, else the devices' batch", async () => {
    for (const [generatorBatchSize, expected] of [
      [undefined, 16],
      [40, 40],
    ] as const) {
      const h = await harness(generatorBatchSize ? { generatorBatchSize } : {});
      try {
        await h.coordinator.runRound();
        assert.deepEqual(h.gan.generatorBatches, [expected]);
      } finally {
        await h.stop();
      }
    }
  });

  it('parallel: G trains against φ_t and starts before any update is awaited; φ_{t+1} installed after', async () => {
    const h = await harness({ schedule: 'parallel' });
    try {
      for (let t = 0; t < 2; t++) {
        await h.coordinator.runRound();
        assert.deepEqual(
          Array.from(h.gan.seenByG[t]!),
          Array.from(await broadcastD(h, t)),
          `round ${t}`,
        );
        assert.deepEqual(
          Array.from(h.gan.discriminatorWeights().values),
          Array.from(await averageFromStore(h, t)),
        );
      }
      const round0 = kinds(
        h.events.slice(0, h.events.findIndex((e) => e.kind === 'round-end') + 1),
      );
      const gStart = round0.indexOf('generator-start');
      assert.ok(gStart >= 0 && gStart < round0.indexOf('collect-start'), round0.join(' → '));
      assert.ok(gStart < round0.indexOf('update'), 'G started before the first update was taken');
      assert.ok(round0.indexOf('install') > round0.indexOf('generator-end'));
    } finally {
      await h.stop();
    }
  });

  it("reports each device's time outside training, piece by piece, in the round report", async () => {
    // Virtual time, advanced only by a slow store: fetching a global blob ends 80 ms after it
    // began, storing an update 30 ms after it began (the devices share the clock and overlap).
    // No wall clock, so a busy machine changes nothing.
    let clock = 0;
    const h = await harness({ schedule: 'serial', clock: () => clock });
    const { get, put } = { get: h.store.get.bind(h.store), put: h.store.put.bind(h.store) };
    h.store.get = async (key) => {
      const start = clock;
      const bytes = await get(key);
      if (key === n.roundBlobKey(0, 'generator') || key === n.roundBlobKey(0, 'discriminator'))
        clock = Math.max(clock, start + 80);
      return bytes;
    };
    h.store.put = async (key, bytes, opts) => {
      const start = clock;
      await put(key, bytes, opts);
      if (h.devices.some((d) => key === n.deviceBlobKey(0, d.options.deviceId, 'discriminator')))
        clock = Math.max(clock, start + 30);
    };
    try {
      const report = await h.coordinator.runRound();
      assert.equal(report.accepted.length, 3);
      for (const a of report.accepted) {
        const t = a.timings;
        assert.ok(t, `${a.deviceId} reported no timings`);
        // Both global blobs are fetched at once: one pause (80 ms), not two (160 ms). Verifying,
        // encoding and storing are counted apart (here only the store takes virtual time).
        assert.deepEqual(t, { fetchMs: 80, verifyMs: 0, encodeMs: 0, storeMs: 30 });
        const trained = h.outcomes.find(
          (o) => o.kind === 'trained' && o.update.deviceId === a.deviceId,
        );
        assert.deepEqual(trained?.kind === 'trained' && trained.update.timings, t);
      }
    } finally {
      await h.stop();
    }
  });

  it('a device refuses a corrupted or missing θ_t/φ_t and leaves its model untouched', async () => {
    const h = await harness({ deviceCount: 1 });
    const device = h.devices[0]!;
    const t = 5;
    const gKey = n.roundBlobKey(t, 'generator');
    const dKey = n.roundBlobKey(t, 'discriminator');
    const gBlob = encodeWeights(h.gan.generatorWeights());
    const dBlob = encodeWeights(h.gan.discriminatorWeights());
    const inbox = await h.transport.openRound(t);
    const task: RoundTask = {
      type: 'RoundTask',
      version: PROTOCOL_VERSION,
      runId: RUN,
      round: t,
      method: 'distgan',
      schedule: 'serial',
      inputs: {
        generator: { key: gKey, digest: blobDigestHex(gBlob) },
        discriminator: { key: dKey, digest: blobDigestHex(dBlob) },
      },
      outputs: ['discriminator'],
      replyTo: inbox.name,
      deadlineAt: Date.now() + 60_000,
      issuedAt: Date.now(),
      training: { localSteps: 1, batchSize: 8, ...ADAM },
      seed: 1,
      participants: [device.options.deviceId],
    };
    const body = encodeMessage(task);
    // The device's own discriminator (its trainer), to see that nothing reached it.
    const trainer = (device.method as DistganDevice).trainer;
    const before = trainer.discriminatorWeights().values.slice();
    const refusal = async (
      reason: BlobIntegrityError['reason'],
      pattern: RegExp,
    ): Promise<void> => {
      await assert.rejects(device.handle(body), (err: unknown) => {
        assert.ok(err instanceof BlobIntegrityError, String(err));
        assert.equal(err.reason, reason);
        assert.match(err.message, pattern);
        assert.deepEqual(err.context, { run: RUN, round: t, device: device.options.deviceId });
        return true;
      });
      assert.deepEqual(trainer.discriminatorWeights().values, before);
    };
    try {
      // A flipped byte in θ_t's data, then in φ_t's: the digest check refuses each.
      const badG = gBlob.slice();
      badG[badG.length - 3]! ^= 0x10;
      await h.store.put(gKey, badG);
      await h.store.put(dKey, dBlob);
      await refusal('checksum-mismatch', /digest/);
      const badD = dBlob.slice();
      badD[badD.length - 5]! ^= 0x01;
      await h.store.put(gKey, gBlob);
      await h.store.put(dKey, badD);
      await refusal('checksum-mismatch', /digest/);
      // φ_t expired from the store.
      await h.store.delete([dKey]);
      await refusal('missing', /not in the store/);
      // Intact blobs: the same task trains (the refusals were the blobs', not the task's).
      await h.store.put(dKey, dBlob);
      const ok = await device.handle(body);
      assert.equal(ok.kind, 'trained');
      assert.notDeepEqual(trainer.discriminatorWeights().values, before);
    } finally {
      await inbox.close();
      await h.stop();
    }
  });

  it("keeps only the last completed round's blobs in the store", async () => {
    const h = await harness({ schedule: 'serial' });
    try {
      for (let t = 0; t < 5; t++) {
        await h.coordinator.runRound();
        // θ_t, φ_t and the three updates of round t; round t − 1's are gone
        assert.deepEqual(
          h.store.keys().sort(),
          [
            n.roundBlobKey(t, 'generator'),
            n.roundBlobKey(t, 'discriminator'),
            ...h.devices.map((d) => n.deviceBlobKey(t, d.options.deviceId, 'discriminator')),
          ].sort(),
          `after round ${t}`,
        );
      }
    } finally {
      await h.stop();
    }
  });

  it('the same seed gives the same weights, whatever the arrival order', async () => {
    const finals: number[][] = [];
    for (let i = 0; i < 2; i++) {
      const h = await harness({ schedule: 'serial' });
      try {
        await h.coordinator.runRound();
        await h.coordinator.runRound();
        finals.push([...h.gan.generatorWeights().values, ...h.gan.discriminatorWeights().values]);
      } finally {
        await h.stop();
      }
    }
    assert.deepEqual(finals[0], finals[1]);
  });

  it('refuses each well-formed but wrong update with its own reason, and averages only the good ones', async () => {
    const h = await harness({
      schedule: 'serial',
      extraParticipants: ['rogue'],
      quorum: 3,
      roundDeadlineMs: 1_500,
    });
    // Each bad update names a blob of its own holding good weights: only the field under test
    // is wrong, so each refusal can only come from its own check.
    const rogue = await h.transport.subscribeTasks('rogue', async (msg) => {
      const task = parseMessage(msg.body, { runId: RUN, types: ['RoundTask'] });
      msg.ack();
      const local = new DistganDevice(SPEC);
      const good = local.trainer.discriminatorWeights();
      local.dispose();
      const send = async (name: string, patch: Partial<DeviceUpdate>, digestOf?: Uint8Array) => {
        const blob = encodeWeights(good);
        const key = `distgan:${RUN}:test:${name}`;
        await h.store.put(key, blob);
        const update: DeviceUpdate = {
          type: 'DeviceUpdate',
          version: PROTOCOL_VERSION,
          runId: RUN,
          round: task.round,
          deviceId: 'rogue',
          samples: 1_000_000,
          outputs: {
            discriminator: {
              key,
              digest: blobDigestHex(digestOf ?? blob),
              bytes: blob.length,
            },
          },
          losses: { d: 1, dReal: 0.5, dFake: 0.5 },
          computeMs: 1,
          steps: 1,
          optimizerReset: true,
          sentAt: Date.now(),
          ...patch,
        };
        // Sent as JSON directly: encodeMessage would refuse some of them itself.
        await h.transport.publishUpdate(
          task.replyTo,
          new TextEncoder().encode(JSON.stringify(update)),
        );
      };
      await send('other-round', { round: task.round + 1 });
      await send('other-run', { runId: 'another-run' });
      await send('stranger', { deviceId: 'stranger' });
      const other = encodeWeights({ specs: good.specs, values: good.values.map((v) => v + 1) });
      await send('digest', {}, other);
      const blob = encodeWeights(good);
      await h.store.put(`distgan:${RUN}:test:outputs`, blob);
      await send('outputs', {
        outputs: {
          generator: {
            key: `distgan:${RUN}:test:outputs`,
            digest: blobDigestHex(blob),
            bytes: blob.length,
          },
        },
      });
    });
    try {
      const report = await h.coordinator.runRound();
      const reasons = h.events.flatMap((e) => (e.kind === 'update' && e.reason ? [e.reason] : []));
      const expected = [
        /update for round 1 arrived in round 0's queue/,
        /belongs to run "another-run"/,
        /device "stranger" is not a participant of round 0/,
        /blob digest [0-9a-f]+ differs from the message's/,
        /update carries outputs \[generator\], round 0 asked for \[discriminator\]/,
      ];
      assert.equal(reasons.length, expected.length, reasons.join('\n'));
      for (const pattern of expected)
        assert.equal(
          reasons.filter((r) => pattern.test(r)).length,
          1,
          `${pattern}: ${reasons.join('\n')}`,
        );
      assert.equal(report.outcomes.rejected, 5);
      assert.deepEqual(
        report.accepted.map((a) => a.deviceId),
        ['dev-0', 'dev-1', 'dev-2'],
      );
      assert.deepEqual(
        Array.from(h.gan.discriminatorWeights().values),
        Array.from(await averageFromStore(h, 0)),
      );
    } finally {
      await rogue.close();
      await h.stop();
    }
  });

  it('rejects malformed messages and NaN weights; the global model is not poisoned', async () => {
    const h = await harness({
      schedule: 'serial',
      extraParticipants: ['rogue'],
      quorum: 3,
      roundDeadlineMs: 1_500,
    });
    // The rogue device answers every task with garbage, then a valid message announcing NaN weights.
    const rogue = await h.transport.subscribeTasks('rogue', async (msg) => {
      const task = parseMessage(msg.body, { runId: RUN, types: ['RoundTask'] });
      msg.ack();
      await h.transport.publishUpdate(
        task.replyTo,
        new TextEncoder().encode('{"type":"DeviceUpdate","oops'),
      );
      await h.transport.publishUpdate(
        task.replyTo,
        new TextEncoder().encode(JSON.stringify({ type: 'Bogus', version: 1 })),
      );
      const local = new DistganDevice(SPEC);
      const w = local.trainer.discriminatorWeights();
      local.dispose();
      w.values[5] = NaN;
      const blob = encodeWeights(w);
      const key = n.deviceBlobKey(task.round, 'rogue', 'discriminator');
      await h.store.put(key, blob);
      const update: DeviceUpdate = {
        type: 'DeviceUpdate',
        version: PROTOCOL_VERSION,
        runId: RUN,
        round: task.round,
        deviceId: 'rogue',
        samples: 1_000_000,
        outputs: { discriminator: { key, digest: blobDigestHex(blob), bytes: blob.length } },
        losses: { d: 1, dReal: 0.5, dFake: 0.5 },
        computeMs: 1,
        steps: 1,
        optimizerReset: true,
        sentAt: Date.now(),
      };
      await h.transport.publishUpdate(task.replyTo, encodeMessage(update));
    });
    try {
      const report = await h.coordinator.runRound();
      assert.equal(report.outcomes.accepted, 3);
      assert.equal(report.outcomes.rejected, 3);
      assert.deepEqual(
        report.accepted.map((a) => a.deviceId),
        ['dev-0', 'dev-1', 'dev-2'],
      );
      const reasons = h.events.flatMap((e) => (e.kind === 'update' && e.reason ? [e.reason] : []));
      assert.ok(
        reasons.some((r) => /not UTF-8 JSON/.test(r)),
        reasons.join('\n'),
      );
      assert.ok(
        reasons.some((r) => /unknown message type "Bogus"/.test(r)),
        reasons.join('\n'),
      );
      assert.ok(
        reasons.some((r) => /non-finite/.test(r)),
        reasons.join('\n'),
      );
      assert.equal(h.transport.deadLetters.length, 3);
      assert.ok(h.gan.discriminatorWeights().values.every(Number.isFinite));
      assert.deepEqual(
        Array.from(h.gan.discriminatorWeights().values),
        Array.from(await averageFromStore(h, 0)),
      );
    } finally {
      await rogue.close();
      await h.stop();
    }
  });

  it('counts a duplicated update once', async () => {
    const inner = new MemoryRoundTransport(RUN);
    const doubling: RoundTransport = {
      runId: RUN,
      openRound: (t) => inner.openRound(t),
      publishTask: (b, target) => inner.publishTask(b, target),
      subscribeTasks: (id, handler) => inner.subscribeTasks(id, handler),
      publishUpdate: async (to, body) => {
        await inner.publishUpdate(to, body);
        await inner.publishUpdate(to, body); // at-least-once delivery: a redelivery
      },
      close: () => inner.close(),
    };
    // An absent participant keeps the round open until its deadline, so the copies arrive in it.
    const h = await harness({
      transport: doubling,
      extraParticipants: ['absent'],
      quorum: 3,
      roundDeadlineMs: 800,
    });
    try {
      const report = await h.coordinator.runRound();
      assert.equal(report.outcomes.accepted, 3);
      assert.equal(report.outcomes.duplicate, 3);
      assert.deepEqual(
        Array.from(h.gan.discriminatorWeights().values),
        Array.from(await averageFromStore(h, 0)),
      );
    } finally {
      await h.stop();
      await inner.close();
    }
  });

  it('retries a round that misses its quorum, then fails clearly; parallel rolls G back', async () => {
    const h = await harness({
      schedule: 'parallel',
      extraParticipants: ['absent'],
      quorum: 4,
      roundDeadlineMs: 300,
      maxRoundAttempts: 2,
    });
    try {
      const g0 = h.gan.generatorWeights().values.slice();
      const d0 = h.gan.discriminatorWeights().values.slice();
      const step0 = h.gan.optimizerStep;
      await assert.rejects(h.coordinator.runRound(), (err: unknown) => {
        assert.ok(err instanceof RoundFailedError);
        assert.match(
          err.message,
          /round 0 .* failed 2 time\(s\).*3 accepted update\(s\), fewer than the quorum of 4/,
        );
        return true;
      });
      assert.equal(h.events.filter((e) => e.kind === 'round-failed').length, 2);
      assert.deepEqual(Array.from(h.gan.generatorWeights().values), Array.from(g0));
      assert.deepEqual(Array.from(h.gan.discriminatorWeights().values), Array.from(d0));
      assert.equal(h.gan.optimizerStep, step0);
      assert.equal(h.coordinator.round, 0);
    } finally {
      await h.stop();
    }
  });

  it("counts a straggler's update as late in the next round, and drops it", async () => {
    const h = await harness({ deviceCount: 1, quorum: 1 });
    try {
      await h.coordinator.runRound();
      await h.transport.publishUpdate(n.roundQueue(0), new TextEncoder().encode('a late update'));
      const report = await h.coordinator.runRound();
      assert.equal(report.outcomes.late, 1);
      assert.equal(report.outcomes.rejected, 0);
      assert.equal(report.outcomes.accepted, 1);
      // two rounds later the queue of round 0 is gone: the update is dropped at the transport
      const before = h.transport.traffic.droppedUpdates;
      await h.transport.publishUpdate(n.roundQueue(0), new TextEncoder().encode('later still'));
      assert.equal(h.transport.traffic.droppedUpdates, before + 1);
    } finally {
      await h.coordinator.close();
      await h.stop();
    }
  });

  it('keeps device Adam state between consecutive rounds and resets it for a returning device', async () => {
    const h = await harness({ deviceCount: 1, quorum: 1 });
    try {
      await h.coordinator.runRound();
      await h.coordinator.runRound();
      h.coordinator.round = 5; // the device missed rounds 2-4
      await h.coordinator.runRound();
      await h.coordinator.runRound();
      h.coordinator.round = 4; // the server resumed from round 3's checkpoint
      await h.coordinator.runRound();
      const trained = h.outcomes.flatMap((o) =>
        o.kind === 'trained' ? [o.update.optimizerReset] : [],
      );
      assert.deepEqual(trained, [true, false, true, false, true]);
    } finally {
      await h.stop();
    }
  });

  it('a device that cannot train declines the task: the round closes without waiting for its deadline', async () => {
    const h = await harness({ deviceCount: 1, quorum: 1, roundDeadlineMs: 4_000 });
    class BrokenTrainer extends DistganDevice {
      override train(): never {
        throw new Error("Kernel 'Conv2DBackpropFilter' not registered");
      }
    }
    const broken = new DeviceRuntime(new BrokenTrainer(SPEC), h.transport, h.store, {
      runId: RUN,
      deviceId: 'dev-9',
      data: { dataset: toyData(100), indices: Int32Array.from([1, 2, 3]) },
      blobTtlSeconds: 60,
    });
    await broken.start();
    const coordinator = new Coordinator(
      h.coordinator.method,
      h.transport,
      h.store,
      () => ['dev-0', 'dev-9'],
      h.coordinator.config,
      (e) => h.events.push(e),
    );
    try {
      const report = await coordinator.runRound();
      assert.equal(
        report.closedBy,
        'answers',
        'closed when both had answered, not at the deadline',
      );
      assert.equal(report.outcomes.declined, 1);
      assert.deepEqual(
        report.accepted.map((a) => a.deviceId),
        ['dev-0'],
      );
      const missed = h.events.find((e) => e.kind === 'device-missed');
      assert.ok(missed?.kind === 'device-missed');
      assert.equal(missed.deviceId, 'dev-9');
      assert.match(missed.why, /^declined: failed: Kernel 'Conv2DBackpropFilter' not registered/);
    } finally {
      await broken.stop();
      broken.method.dispose();
      await h.stop();
    }
  });

  it('rounds stop waiting for a device that misses MAX_MISSED_ROUNDS in a row, and wait again once it answers', async () => {
    // dev-2 is a participant from the start but takes tasks only from round 3 on.
    const h = await harness({
      deviceCount: 2,
      quorum: 2,
      roundDeadlineMs: 600,
      maxMissedRounds: 2,
      extraParticipants: ['dev-2'],
    });
    const late = new DeviceRuntime(new DistganDevice(SPEC), h.transport, h.store, {
      runId: RUN,
      deviceId: 'dev-2',
      data: { dataset: toyData(100), indices: Int32Array.from({ length: 50 }, (_, i) => i) },
      blobTtlSeconds: 60,
    });
    try {
      const closed: (string | undefined)[] = [];
      for (let t = 0; t < 3; t++) closed.push((await h.coordinator.runRound()).closedBy);
      // Missed rounds 0 and 1 (waited for until the deadline), then set aside: round 2 closes
      // as soon as the two others have answered.
      assert.deepEqual(closed, ['deadline', 'deadline', 'answers']);
      const kinds = h.events.flatMap((e) =>
        e.kind === 'device-missed' ||
        e.kind === 'device-not-waited-for' ||
        e.kind === 'device-answers-again'
          ? [
              `${e.round}:${e.kind}${e.kind === 'device-missed' && e.notWaitedFor ? '(set aside)' : ''}`,
            ]
          : [],
      );
      assert.deepEqual(kinds, [
        '0:device-missed',
        '1:device-missed',
        '1:device-not-waited-for',
        '2:device-missed(set aside)',
      ]);
      assert.deepEqual(h.coordinator.devicesNotWaitedFor, ['dev-2']);
      await late.start();
      for (let t = 3; t < 6 && h.coordinator.devicesNotWaitedFor.length > 0; t++)
        await h.coordinator.runRound();
      assert.deepEqual(
        h.coordinator.devicesNotWaitedFor,
        [],
        'it answered, so it is waited for again',
      );
      assert.ok(h.events.some((e) => e.kind === 'device-answers-again' && e.deviceId === 'dev-2'));
    } finally {
      await late.stop();
      late.method.dispose();
      await h.stop();
    }
  });

  it('a device that cannot train dead-letters the task instead of retrying it forever', async () => {
    const data = toyData(100);
    const transport = new MemoryRoundTransport(RUN);
    const store = new MemoryBlobStore();
    class BrokenTrainer extends DistganDevice {
      override train(): never {
        throw new Error("Kernel 'Conv2DBackpropFilter' not registered");
      }
    }
    const outcomes: TaskOutcome[] = [];
    const device = new DeviceRuntime(
      new BrokenTrainer(SPEC),
      transport,
      store,
      {
        runId: RUN,
        deviceId: 'dev-0',
        data: { dataset: data, indices: Int32Array.from([1, 2, 3]) },
        blobTtlSeconds: 60,
      },
      (o) => outcomes.push(o),
    );
    await device.start();
    const gan = new GlobalGan(SPEC, { seed: 3, generatorAdam: ADAM });
    const method = distgan(gan, { seed: 1, schedule: 'serial', generatorSteps: 1, batchSize: 4 });
    const coordinator = new Coordinator(method, transport, store, () => ['dev-0'], {
      runId: RUN,
      schedule: 'serial',
      training: { localSteps: 1, batchSize: 4, ...ADAM },
      seed: 1,
      roundDeadlineMs: 300,
      quorum: 1,
      maxRoundAttempts: 1,
      blobTtlSeconds: 60,
    });
    try {
      await assert.rejects(coordinator.runRound(), RoundFailedError);
      assert.equal(outcomes.length, 1);
      assert.equal(outcomes[0]!.kind, 'failed');
      assert.equal(transport.deadLetters.length, 1);
    } finally {
      await device.stop();
      await transport.close();
      gan.dispose();
    }
  });
});
