import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Dataset } from '@distgan/data';
import {
  averageWeights,
  deriveSeed,
  initBackend,
  latentClassesOf,
  type ModelSpec,
} from '@distgan/gan';
import {
  decodeWeights,
  encodeWeights,
  names,
  ProtocolError,
  type RoundTask,
  type TensorSpec,
} from '@distgan/protocol';
import {
  Coordinator,
  DeviceRuntime,
  MemoryBlobStore,
  MemoryRoundTransport,
  type DeviceTask,
  type MethodName,
  type RoundReport,
  type ServerMethod,
  type TaskOutcome,
} from '@distgan/engine';
import { methodSettingsOf, type MethodSettings, type TrainingSettings } from './settings.js';
import { createDeviceMethod, createServerMethod } from './index.js';
import { MdGanDevice, MdGanServer } from './md-gan.js';
import { latent } from './shared.js';

/*
 * Every method runs through the same engine: the coordinator and device runtimes over the
 * in-memory transport and store, every input and output encoded, stored, fetched and verified.
 */

const RUN = 'methods-test';
const SPEC: ModelSpec = { arch: 'mlp', sampleShape: [2], latentDim: 3 };
const ADAM = { learningRate: 1e-3, beta1: 0.5, beta2: 0.999 };
const SETTINGS: MethodSettings = {
  spec: SPEC,
  generatorAverage: 0,
  seed: 4,
  batchSize: 8,
  localSteps: 2,
  generatorSteps: 1,
  adamD: ADAM,
  adamG: ADAM,
  schedule: 'serial',
};
const n = names(RUN);

/** Points on a curve, labelled 0, 1, 2 in turn. */
function toyData(count: number): Dataset {
  const images = Float32Array.from({ length: count * 2 }, (_, i) => Math.sin(i * 0.7));
  return {
    name: 'toy',
    sampleShape: [1, 1, 2],
    count,
    images,
    labels: Uint8Array.from({ length: count }, (_, i) => i % 3),
    numClasses: 3,
  };
}

interface Run {
  method: ServerMethod;
  coordinator: Coordinator;
  store: MemoryBlobStore;
  tasks: RoundTask[];
  devices: DeviceRuntime[];
  outcomes: TaskOutcome[];
  stop(): Promise<void>;
}

/** A method on the engine with `shards.length` devices (shard k holds shards[k] samples). */
async function start(
  name: MethodName,
  shards: number[],
  settings: Partial<MethodSettings> = {},
): Promise<Run> {
  const data = toyData(200);
  const transport = new MemoryRoundTransport(RUN);
  const store = new MemoryBlobStore();
  const all = { ...SETTINGS, ...settings };
  const method = createServerMethod(name, all, {
    realBatch: (round, step) => ({
      images: Float32Array.from({ length: 16 }, (_, i) => Math.sin(round + step + i)),
      labels: Uint8Array.from({ length: 8 }, (_, i) => (round + step + i) % 2),
    }),
  });
  const outcomes: TaskOutcome[] = [];
  const devices = method.usesDevices
    ? shards.map(
        (size, k) =>
          new DeviceRuntime(
            createDeviceMethod(name, all.spec),
            transport,
            store,
            {
              runId: RUN,
              deviceId: `dev-${k}`,
              data: { dataset: data, indices: Int32Array.from({ length: size }, (_, i) => i + k) },
              blobTtlSeconds: 60,
            },
            (o) => outcomes.push(o),
          ),
      )
    : [];
  for (const d of devices) await d.start();
  // Every task the coordinator publishes, as the devices get it.
  const tasks: RoundTask[] = [];
  const publish = transport.publishTask.bind(transport);
  transport.publishTask = (body, target) => {
    tasks.push(JSON.parse(new TextDecoder().decode(body)) as RoundTask);
    return publish(body, target);
  };
  const ids = devices.map((d) => d.options.deviceId);
  const coordinator = new Coordinator(method, transport, store, () => ids, {
    runId: RUN,
    schedule: all.schedule,
    training: { localSteps: all.localSteps, batchSize: all.batchSize, ...ADAM },
    seed: all.seed,
    roundDeadlineMs: 10_000,
    quorum: Math.max(1, ids.length),
    maxRoundAttempts: 1,
    blobTtlSeconds: 60,
  });
  return {
    method,
    coordinator,
    store,
    tasks,
    devices,
    outcomes,
    stop: async () => {
      await coordinator.close();
      for (const d of devices) {
        await d.stop();
        d.method.dispose();
      }
      await transport.close();
      method.dispose();
    },
  };
}

async function output(r: Run, round: number, device: string, name: string): Promise<Float32Array> {
  const blob = await r.store.get(n.deviceBlobKey(round, device, name));
  assert.ok(blob, `${device}'s ${name} of round ${round} is in the store`);
  return decodeWeights(blob).values;
}

const blobSize = (specs: readonly TensorSpec[]): number =>
  encodeWeights({
    specs,
    values: new Float32Array(specs.reduce((s, x) => s + x.shape.reduce((a, b) => a * b, 1), 0)),
  }).length;

before(() => initBackend({ forced: 'cpu' }));

describe('methods on the engine', () => {
  it('FL-GAN: both models go down and come back; the new G and D are their n_k-weighted averages', async () => {
    const r = await start('fl-gan', [30, 10]);
    try {
      const g0 = r.method.generatorWeights().values.slice();
      const report = await r.coordinator.runRound();
      assert.equal(report.method, 'fl-gan');
      assert.deepEqual(r.tasks[0]!.outputs, ['generator', 'discriminator']);
      assert.deepEqual(Object.keys(r.tasks[0]!.inputs), ['generator', 'discriminator']);
      assert.equal(r.tasks[0]!.training.generatorSteps, 1);
      const both =
        blobSize(r.method.generatorWeights().specs) +
        blobSize(r.method.discriminatorWeights()!.specs);
      assert.ok(report.bytes.up >= 2 * both && report.bytes.down >= 2 * both);
      for (const part of ['generator', 'discriminator'] as const) {
        const expected = averageWeights([
          { values: await output(r, 0, 'dev-0', part), samples: 30 },
          { values: await output(r, 0, 'dev-1', part), samples: 10 },
        ]);
        const actual =
          part === 'generator' ? r.method.generatorWeights() : r.method.discriminatorWeights()!;
        assert.deepEqual(actual.values, expected, part);
      }
      assert.ok(
        r.method.generatorWeights().values.some((v, i) => v !== g0[i]),
        'G moved',
      );
      assert.ok(Number.isFinite(report.losses.g));
      assert.equal(report.phases.preBroadcastMs, 0, 'nothing before the broadcast');
    } finally {
      await r.stop();
    }
  });

  it("MD-GAN: each worker gets its own two fake batches, sends feedback, and the workers' discriminators rotate every swapEvery rounds", async () => {
    const r = await start('md-gan', [30, 20, 10], { swapEvery: 2, mdganBatches: 2 });
    try {
      const reports: RoundReport[] = [];
      reports.push(await r.coordinator.runRound());
      const t0 = r.tasks[0]!;
      assert.deepEqual(t0.inputs, {});
      assert.deepEqual(t0.outputs, ['feedback']);
      // Worker i trains on batch i mod k and judges batch i+1 mod k.
      const inputs = t0.deviceInputs!;
      assert.deepEqual(
        ['dev-0', 'dev-1', 'dev-2'].map((id) => [
          inputs[id]!['fake-d']!.key,
          inputs[id]!['fake-g']!.key,
        ]),
        [
          [n.roundBlobKey(0, 'fake-0'), n.roundBlobKey(0, 'fake-1')],
          [n.roundBlobKey(0, 'fake-1'), n.roundBlobKey(0, 'fake-0')],
          [n.roundBlobKey(0, 'fake-0'), n.roundBlobKey(0, 'fake-1')],
        ],
      );
      const batch = blobSize([{ name: 'samples', shape: [8, 2] }]);
      // Down: the task and two fake batches for each of the three workers; up: its feedback.
      const task = new TextEncoder().encode(JSON.stringify(t0)).length;
      assert.equal(reports[0]!.bytes.down, 3 * (task + 2 * batch));
      // The fake batches are made before the broadcast: the devices wait for them.
      const { preBroadcastMs = 0, generatorMs } = reports[0]!.phases;
      assert.ok(
        preBroadcastMs > 0 && preBroadcastMs < generatorMs,
        `${preBroadcastMs} of ${generatorMs} ms`,
      );
      assert.ok(reports[0]!.bytes.up > 3 * batch && reports[0]!.bytes.up < 3 * (batch + task));

      // Round 1 is a swap round: the workers send their discriminators with their Adam state.
      reports.push(await r.coordinator.runRound());
      assert.deepEqual(r.tasks[1]!.outputs, ['feedback', 'swap']);
      const sent = await Promise.all(
        ['dev-0', 'dev-1', 'dev-2'].map((id) => output(r, 1, id, 'swap')),
      );
      // Round 2: each worker loads another's, by the seeded rotation, before it trains.
      reports.push(await r.coordinator.runRound());
      const t2 = r.tasks[2]!;
      assert.deepEqual(t2.outputs, ['feedback']);
      const got = await Promise.all(
        ['dev-0', 'dev-1', 'dev-2'].map(async (id) => {
          const blob = await r.store.get(t2.deviceInputs![id]!['swap']!.key);
          assert.ok(blob, `${id} was sent a discriminator`);
          return decodeWeights(blob).values;
        }),
      );
      const offsets = got.map((g, i) => sent.findIndex((s) => s.every((v, j) => v === g[j])) - i);
      const offset = ((offsets[0]! % 3) + 3) % 3;
      assert.ok(
        offset === 1 || offset === 2,
        `a rotation, not the identity (${offsets.join(', ')})`,
      );
      assert.deepEqual(
        offsets.map((o) => ((o % 3) + 3) % 3),
        [offset, offset, offset],
      );
      assert.ok(r.method.discriminatorWeights(), 'a discriminator to save after a swap');
      assert.ok(reports.every((x) => Number.isFinite(x.losses.g) && x.accepted.length === 3));
      assert.equal((r.method as MdGanServer).swapEvery, 2);
    } finally {
      await r.stop();
    }
  });

  it("conditional models: every method trains through the engine; MD-GAN's fake batches carry the classes their latents ask for", async () => {
    const spec: ModelSpec = { ...SPEC, latentDim: 5, classes: 3 };
    for (const name of ['distgan', 'md-gan', 'fl-gan', 'centralized'] as const) {
      const r = await start(name, name === 'centralized' ? [] : [30, 20], {
        spec,
        mdganBatches: 2,
      });
      try {
        const before = r.method.generatorWeights().values.slice();
        const report = await r.coordinator.runRound();
        assert.ok(Number.isFinite(report.losses.g), `${name}: G loss ${report.losses.g}`);
        assert.equal(report.accepted.length, name === 'centralized' ? 0 : 2, name);
        const after = r.method.generatorWeights().values;
        assert.ok(
          after.some((v, i) => v !== before[i]),
          `${name}: G moved`,
        );
        if (name === 'md-gan') {
          for (const i of [0, 1]) {
            const blob = await r.store.get(n.roundBlobKey(0, `fake-${i}`));
            const fake = decodeWeights(blob!);
            assert.deepEqual(
              fake.specs.map((x) => [x.name, x.shape]),
              [
                ['samples', [8, 2]],
                ['classes', [8]],
              ],
            );
            const z = latent(8, 5, deriveSeed(SETTINGS.seed, 'md-gan', 0, i));
            const asked = latentClassesOf(z.dataSync() as Float32Array, 5, 3);
            z.dispose();
            assert.deepEqual(Array.from(fake.values.subarray(16)), Array.from(asked));
          }
        }
      } finally {
        await r.stop();
      }
    }
  });

  it('centralized: the server trains alone; no task, no byte on the wire', async () => {
    const r = await start('centralized', []);
    try {
      const g0 = r.method.generatorWeights().values.slice();
      const report = await r.coordinator.runRound();
      assert.equal(report.participants, 0);
      assert.deepEqual(report.bytes, { down: 0, up: 0 });
      assert.ok(Number.isFinite(report.losses.d) && Number.isFinite(report.losses.g));
      assert.ok(
        r.method.generatorWeights().values.some((v, i) => v !== g0[i]),
        'G moved',
      );
      assert.ok(report.phases.generatorMs > 0);
      assert.equal(report.phases.preBroadcastMs, 0, 'no broadcast: nothing waits');
    } finally {
      await r.stop();
    }
  });

  it("centralized: the generator steps take GENERATOR_BATCH_SIZE; unset, the run's batch", async () => {
    const trainedG = async (settings: Partial<MethodSettings>): Promise<number[]> => {
      const r = await start('centralized', [], settings);
      try {
        await r.coordinator.runRound();
        return Array.from(r.method.generatorWeights().values);
      } finally {
        await r.stop();
      }
    };
    const unset = await trainedG({});
    assert.deepEqual(await trainedG({ generatorBatchSize: SETTINGS.batchSize }), unset);
    assert.notDeepEqual(await trainedG({ generatorBatchSize: 3 * SETTINGS.batchSize }), unset);
  });

  it("a run's GENERATOR_BATCH_SIZE reaches the method; 0 leaves it unset", () => {
    const run: TrainingSettings = {
      seed: 1,
      batchSize: 32,
      localSteps: 1,
      generatorSteps: 1,
      lrD: 2e-3,
      lrG: 2e-3,
      beta1: 0,
      beta2: 0.99,
      schedule: 'serial',
      gAverage: 0,
    };
    assert.equal(methodSettingsOf({ ...run, generatorBatchSize: 64 }, SPEC).generatorBatchSize, 64);
    assert.ok(!('generatorBatchSize' in methodSettingsOf({ ...run, generatorBatchSize: 0 }, SPEC)));
    assert.ok(!('generatorBatchSize' in methodSettingsOf(run, SPEC)));
  });

  it('MD-GAN and FL-GAN refuse a generator batch size: their generator update takes BATCH_SIZE', () => {
    for (const name of ['md-gan', 'fl-gan'] as const)
      assert.throws(
        () => createServerMethod(name, { ...SETTINGS, generatorBatchSize: 16 }),
        new RegExp(
          `applies to distgan and centralized only: ${name}'s generator update takes BATCH_SIZE`,
        ),
      );
  });

  it('a method resumed from its state goes on exactly as the run it replaces', async () => {
    for (const name of ['distgan', 'fl-gan', 'md-gan', 'centralized'] as const) {
      const a = await start(name, [30, 10]);
      try {
        await a.coordinator.runRound();
        const state = Object.fromEntries(
          Object.entries(a.method.state()).map(([k, w]) => [k, w.values.slice()]),
        );
        const specs = a.method.stateSpecs();
        for (const [k, w] of Object.entries(a.method.state()))
          assert.deepEqual(w.specs, specs[k], `${name}: ${k}'s layout`);
        const b = createServerMethod(name, SETTINGS, {
          realBatch: () => ({ images: new Float32Array(16), labels: new Uint8Array(8) }),
        });
        b.restore(state);
        assert.deepEqual(b.generatorWeights().values, a.method.generatorWeights().values, name);
        b.dispose();
      } finally {
        await a.stop();
      }
    }
  });

  it('a device refuses a task of another method, naming both', async () => {
    const r = await start('distgan', [20]);
    const md = new DeviceRuntime(
      createDeviceMethod('md-gan', SPEC),
      new MemoryRoundTransport(RUN),
      r.store,
      {
        runId: RUN,
        deviceId: 'dev-0',
        data: { dataset: toyData(20), indices: Int32Array.from([1, 2, 3]) },
        blobTtlSeconds: 60,
      },
    );
    try {
      await r.coordinator.runRound();
      const body = new TextEncoder().encode(JSON.stringify(r.tasks[0]!));
      await assert.rejects(md.handle(body), (err: unknown) => {
        assert.ok(err instanceof ProtocolError);
        assert.match(err.message, /task of method "distgan", this device runs "md-gan"/);
        return true;
      });
    } finally {
      md.method.dispose();
      await r.stop();
    }
  });

  it('an MD-GAN worker refuses a fake batch whose classes are not classes, before anything moves', () => {
    const spec: ModelSpec = { ...SPEC, latentDim: 5, classes: 3 };
    const device = createDeviceMethod('md-gan', spec) as MdGanDevice;
    const batch = (classes: number[]): Float32Array =>
      Float32Array.from([...new Array<number>(16).fill(0.1), ...classes]);
    const task = (classes: number[]): DeviceTask => ({
      round: 0,
      deviceId: 'dev-0',
      rank: 0,
      seed: 1,
      training: { localSteps: 1, batchSize: 8, ...ADAM },
      schedule: 'serial',
      inputs: { 'fake-d': batch([0, 1, 2, 0, 1, 2, 0, 1]), 'fake-g': batch(classes) },
      outputs: ['feedback'],
      resumed: true,
      realBatch: () => ({ images: new Float32Array(16), labels: new Uint8Array(8) }),
    });
    try {
      for (const [classes, message] of [
        [[0, 1, 2, 0, 1, 2, 0, 3], /fake-g's class 7 is 3, not a whole number in \[0, 3\)/],
        [[0, 1, 2, 0, 1.5, 2, 0, 1], /fake-g's class 4 is 1.5/],
        [[-1, 1, 2, 0, 1, 2, 0, 1], /fake-g's class 0 is -1/],
      ] as const) {
        assert.throws(
          () => device.train(task([...classes])),
          (err: unknown) => err instanceof ProtocolError && message.test(err.message),
        );
      }
      // Nothing moved: a valid task afterwards trains as a first task would.
      const fresh = createDeviceMethod('md-gan', spec) as MdGanDevice;
      const good = task([0, 1, 2, 0, 1, 2, 0, 1]);
      const a = device.train(good).outputs['feedback'] as { values: Float32Array };
      const b = fresh.train(good).outputs['feedback'] as { values: Float32Array };
      assert.deepEqual(a.values, b.values);
      fresh.dispose();
    } finally {
      device.dispose();
    }
  });

  it('centralized has no device side', () => {
    assert.throws(() => createDeviceMethod('centralized', SPEC), /server alone/);
    assert.throws(() => createServerMethod('centralized', SETTINGS), /all the data/);
  });
});
