import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GlobalGan, initBackend } from '@distgan/gan';
import {
  blobDigestAlgorithm,
  blobDigestHex,
  parseMessage,
  type DeviceUpdate,
} from '@distgan/protocol';
import { DEFAULTS, type EmbeddedConfig } from './config.js';
import { runEmbedded } from './run.js';
import { shareDataset, startThreadedDevices } from './device-threads.js';
import {
  MemoryBlobStore,
  MemoryRoundTransport,
  TransportError,
  type RoundInbox,
  type TaskOutcome,
} from '@distgan/engine';
import { publishRoundTask } from '@distgan/engine/testing';

function config(deviceThreads: number, schedule: EmbeddedConfig['schedule']): EmbeddedConfig {
  return {
    ...DEFAULTS,
    runId: `threads-${deviceThreads}-${schedule}`,
    out: mkdtempSync(join(tmpdir(), 'distgan-threads-')),
    dataset: 'ring',
    model: 'mlp',
    devices: 5,
    rounds: 12,
    schedule,
    localSteps: 2,
    batchSize: 32,
    latentDim: 2,
    conditional: false,
    seed: 3,
    sampleEvery: 1000,
    deviceThreads,
  };
}

interface Line {
  losses: { d: number; g: number };
  accepted: { deviceId: string; samples: number; losses: unknown }[];
}
const lines = (runDir: string): Line[] =>
  readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
/** What a round's devices computed (their timings aside), in device order. */
const computed = (line: Line): unknown =>
  line.accepted
    .map(({ deviceId, samples, losses }) => ({ deviceId, samples, losses }))
    .sort((x, y) => (x.deviceId < y.deviceId ? -1 : 1));

describe('devices in worker threads (embedded run)', () => {
  for (const schedule of ['serial', 'parallel'] as const) {
    it(`${schedule}: 5 devices on 2 threads train exactly as in the main thread`, async () => {
      await initBackend();
      const inMain = await runEmbedded(config(0, schedule));
      const failures: string[] = [];
      const threaded = await runEmbedded(config(2, schedule), {
        onDeviceOutcome: (id, o) => {
          if (o.kind !== 'trained') failures.push(`${id}: ${o.kind}`);
        },
      });
      assert.deepEqual(failures, [], 'every device trained every round');
      assert.equal(threaded.rounds, 12);
      // The same bits: the final generator, and every round's losses of every device.
      assert.deepEqual(
        readFileSync(threaded.generatorPath),
        readFileSync(inMain.generatorPath),
        'final generator',
      );
      const [a, b] = [lines(inMain.runDir), lines(threaded.runDir)];
      assert.equal(b.length, a.length);
      for (let t = 0; t < a.length; t++) {
        assert.deepEqual(computed(b[t]!), computed(a[t]!), `round ${t}: the devices' losses`);
        assert.equal(b[t]!.losses.d, a[t]!.losses.d, `round ${t}: D loss`);
        assert.equal(b[t]!.losses.g, a[t]!.losses.g, `round ${t}: G loss`);
      }
    });
  }

  it('shares the dataset without copying it again, and keeps its values', () => {
    const images = Float32Array.from({ length: 12 }, (_, i) => i / 12);
    const ds = {
      name: 't',
      sampleShape: [1, 1, 2] as const,
      count: 6,
      images,
      labels: Uint8Array.from([0, 1, 0, 1, 0, 1]),
      numClasses: 2,
    };
    const shared = shareDataset(ds);
    assert.ok(shared.images.buffer instanceof SharedArrayBuffer);
    assert.ok(shared.labels.buffer instanceof SharedArrayBuffer);
    assert.deepEqual(Array.from(shared.images), Array.from(images));
    assert.equal(shareDataset(shared), shared);
  });

  it('starts and stops its workers without reporting a failure', async () => {
    const failures: Error[] = [];
    const devices = await startTiny({ threads: 2, devices: 3, backend: 'cpu' }, failures);
    await devices.stop();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(failures, []);
  });

  it('caps each worker heap when asked: a cap too small to load the backend is a clear error', async () => {
    const tooSmall: Error[] = [];
    await assert.rejects(
      startTiny({ heapMb: 4, backend: 'cpu' }, tooSmall),
      /ran out of its 4 MB heap \(--device-thread-heap-mb\)/,
    );
    assert.equal(tooSmall.length, 1);
    const enough: Error[] = [];
    const devices = await startTiny({ heapMb: 256, backend: 'cpu' }, enough);
    await devices.stop();
    assert.deepEqual(enough, []);
  });

  it('a worker writes the digest it is told, and reads the other one', async () => {
    await initBackend();
    const transport = new MemoryRoundTransport('tiny');
    const store = new MemoryBlobStore();
    const failures: Error[] = [];
    const devices = await startTiny({ backend: 'cpu' }, failures, { transport, store });
    const gan = new GlobalGan(tinySetup().spec, { seed: 1, generatorAdam: ADAM });
    try {
      // The main thread writes BLAKE3 (its default here); the worker was set up with SHA-256.
      const inbox = await publishTinyTask(transport, store, gan);
      const msg = await inbox.receive(30_000);
      assert.ok(msg, 'an update arrived');
      const update = parseMessage(msg.body, {
        runId: 'tiny',
        types: ['DeviceUpdate'],
      }) as DeviceUpdate;
      const ref = update.outputs['discriminator']!;
      const blob = await store.get(ref.key);
      assert.ok(blob);
      assert.equal(blobDigestAlgorithm(blob), 'sha256');
      assert.equal(blobDigestHex(blob), ref.digest);
      assert.deepEqual(failures, []);
    } finally {
      gan.dispose();
      await devices.stop();
    }
  });

  it("an error of the main thread's store reaches the worker with its class: a TransportError is a retry", async () => {
    await initBackend();
    const transport = new MemoryRoundTransport('tiny');
    const memory = new MemoryBlobStore();
    let failGets = 1;
    const store = Object.assign(Object.create(memory) as MemoryBlobStore, {
      get: (key: string) =>
        failGets-- > 0
          ? Promise.reject(new TransportError('Redis GET', new Error('ECONNRESET')))
          : memory.get(key),
    });
    const outcomes: string[] = [];
    const failures: Error[] = [];
    const devices = await startTiny({ backend: 'cpu' }, failures, { transport, store }, (o) =>
      outcomes.push(o.kind),
    );
    const gan = new GlobalGan(tinySetup().spec, { seed: 1, generatorAdam: ADAM });
    try {
      const inbox = await publishTinyTask(transport, memory, gan);
      assert.ok(await inbox.receive(30_000), 'the requeued task was trained');
      // The outcome is posted after the update: wait for it.
      for (let i = 0; i < 250 && outcomes.length < 2; i++)
        await new Promise((r) => setTimeout(r, 20));
      // Across the thread boundary the error was still a TransportError: the task went back to
      // its queue. As a plain Error it would have been a failure, and the task dead-lettered.
      assert.deepEqual(outcomes, ['retry', 'trained']);
      assert.deepEqual(failures, []);
    } finally {
      gan.dispose();
      await devices.stop();
    }
  });

  it('a worker that cannot start fails the start with its error, and is reported', async () => {
    const failures: Error[] = [];
    await assert.rejects(startTiny({ backend: 'no-such-backend' }, failures), /no-such-backend/);
    assert.equal(failures.length, 1);
  });
});

/** Tiny devices (two samples each) in worker threads, their failures collected in `failures`. */
function startTiny(
  opts: { threads?: number; devices?: number; heapMb?: number; backend: string },
  failures: Error[],
  wire: { transport: MemoryRoundTransport; store: MemoryBlobStore } = {
    transport: new MemoryRoundTransport('tiny'),
    store: new MemoryBlobStore(),
  },
  onOutcome: (o: TaskOutcome) => void = () => {},
): ReturnType<typeof startThreadedDevices> {
  return startThreadedDevices({
    threads: opts.threads ?? 1,
    heapMb: opts.heapMb,
    setup: { ...tinySetup(), backend: opts.backend },
    devices: Array.from({ length: opts.devices ?? 1 }, (_, k) => ({
      id: `device-${k}`,
      indices: Int32Array.from([0, 1]),
    })),
    transport: wire.transport,
    store: wire.store,
    onOutcome: (_id, o) => onOutcome(o),
    onFailure: (err) => failures.push(err),
  });
}

/** Round 0's blobs (BLAKE3) and task for one tiny device; the round's inbox. */
const publishTinyTask = (
  transport: MemoryRoundTransport,
  store: MemoryBlobStore,
  gan: GlobalGan,
): Promise<RoundInbox> =>
  publishRoundTask({
    transport,
    store,
    weights: { generator: gan.generatorWeights(), discriminator: gan.discriminatorWeights() },
    participants: ['device-0'],
    training: { localSteps: 1, batchSize: 2, ...ADAM },
    digest: 'blake3',
  });

const ADAM = { learningRate: 1e-3, beta1: 0.5, beta2: 0.999 };

function tinySetup(): Omit<Parameters<typeof startThreadedDevices>[0]['setup'], 'backend'> {
  return {
    patchWasm: false,
    spec: { arch: 'mlp', sampleShape: [1, 1, 2], latentDim: 2 },
    method: 'distgan',
    runId: 'tiny',
    dataset: shareDataset({
      name: 't',
      sampleShape: [1, 1, 2] as const,
      count: 2,
      images: new Float32Array(4),
      labels: new Uint8Array(2),
      numClasses: 1,
    }),
    blobTtlSeconds: 60,
    updateDtype: 'float32',
    blobDigest: 'sha256',
  };
}
