import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeviceRuntime,
  directoryCheckpointStore,
  MemoryBlobStore,
  MemoryMembership,
  MemoryRoundTransport,
  TransportError,
  type RoundTransport,
  type DeviceRegistration,
} from '@distgan/engine';
import { DistganDevice } from '@distgan/methods';
import { blobDigestAlgorithm, defaultDigestAlgorithm } from '@distgan/protocol';
import { initBackend, type ModelSpec } from '@distgan/gan';
import type { Dataset } from '@distgan/data';
import { dataConfigOf, identityOf, loadRunDataset, modelSpecFor, shardOf } from '@distgan/run';
import { createLogger } from '@distgan/telemetry';
import { ServerApp } from './app.js';
import { loadServerConfig } from './config.js';

/*
 * The server without RabbitMQ or Redis: the app on the in-memory transport, blob store and
 * membership, checkpoints in a folder, two devices on the same transport, the 2D ring.
 */
const RUN = 'server-app';
const env = (rounds: number, out: string) => ({
  RABBITMQ_URL: 'amqp://127.0.0.1:1',
  REDIS_URL: 'redis://127.0.0.1:1',
  RUN_ID: RUN,
  DATASET: 'ring',
  MODEL: 'mlp',
  // The final generator is then the trained one, which the resume test compares with its checkpoint.
  G_AVERAGE: '0',
  LIMIT: '400',
  LATENT_DIM: '2',
  CONDITIONAL: 'false',
  BATCH_SIZE: '32',
  ROUNDS: String(rounds),
  MIN_DEVICES: '2',
  QUORUM: '2',
  ROUND_DEADLINE_MS: '20000',
  CHECKPOINT_EVERY: '2',
  SAMPLE_EVERY: '3',
  EVAL_EVERY: '3',
  EVAL_SAMPLES: '200',
  OUT: out,
  LOG_LEVEL: 'error',
});

describe('the server app (in-memory twins, checkpoints in a folder)', () => {
  const out = mkdtempSync(join(tmpdir(), 'distgan-server-app-'));
  const transport = new MemoryRoundTransport(RUN);
  const store = new MemoryBlobStore();
  const membership = new MemoryMembership(60);
  const checkpoints = directoryCheckpointStore(join(out, 'checkpoints'), RUN);
  const devices: DeviceRuntime[] = [];
  const server = (rounds: number): ServerApp =>
    new ServerApp({
      config: loadServerConfig(env(rounds, out)),
      log: createLogger({ service: 'test', level: 'error' }),
      transport,
      store,
      membership,
      checkpoints,
      ready: () => Promise.resolve({ ready: true, detail: {} }),
    });
  const runDir = join(out, RUN);
  let spec: ModelSpec;
  let ringData: Dataset;
  const lines = (): { round: number; modesCovered?: number; eval?: unknown }[] =>
    readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { round: number });

  before(async () => {
    await initBackend({ forced: 'cpu' });
    const config = loadServerConfig(env(1, out));
    const dataset = await loadRunDataset(dataConfigOf(config));
    ringData = dataset;
    spec = modelSpecFor({ model: config.model, latentDim: 2 }, dataset);
    for (const k of [0, 1]) {
      const indices = shardOf(dataset, {
        scheme: config.partition,
        devices: 2,
        index: k,
        seed: config.seed,
        alpha: config.alpha,
        shardsPerDevice: config.shardsPerDevice,
      });
      const runtime = new DeviceRuntime(new DistganDevice(spec), transport, store, {
        runId: RUN,
        deviceId: `device-${k}`,
        data: { dataset, indices },
        blobTtlSeconds: 60,
      });
      await runtime.start();
      await membership.register({
        deviceId: `device-${k}`,
        instance: `instance-${k}`,
        samples: indices.length,
        shard: k,
        backend: 'cpu',
        digests: ['blake3', 'sha256'],
        registeredAt: 0,
        identity: identityOf({ ...config, numDevices: 2 }),
      });
      devices.push(runtime);
    }
  });

  after(async () => {
    for (const d of devices) {
      await d.stop();
      d.method.dispose();
    }
    rmSync(out, { recursive: true, force: true });
  });

  it('trains a run to its end, records every round, evaluates, checkpoints and writes the generator', async () => {
    const app = server(6);
    await app.start({ listen: false });
    await app.finished();
    assert.equal(app.status, 'finished');
    assert.deepEqual(
      lines().map((l) => l.round),
      [0, 1, 2, 3, 4, 5],
    );
    assert.equal(lines().filter((l) => l.eval !== undefined).length, 2, 'evaluated at 3 and 6');
    assert.ok(existsSync(join(runDir, 'generator.dgwb')));
    assert.ok(existsSync(join(runDir, 'samples', 'round-000006.png')));
    // Both devices were seen joining, once each, and nobody left.
    const seen = await app.metrics.registry.metrics();
    assert.match(seen, /distgan_device_membership_changes_total\{change="joined"\} 2\n/);
    assert.doesNotMatch(seen, /change="left"/);
    const run = (await app.http.inject({ method: 'GET', url: '/api/run' })).json<{
      status: string;
      round: number;
      devices: { deviceId: string }[];
    }>();
    assert.equal(run.status, 'finished');
    assert.equal(run.round, 5);
    assert.deepEqual(
      run.devices.map((d) => d.deviceId),
      ['device-0', 'device-1'],
    );
    assert.equal((await app.http.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    const metrics = (await app.http.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /distgan_round 5/);
    await app.stop();
  });

  /** A server of this run that needs three devices, with short rounds and few attempts. */
  const needsThree = (name: string, stallS: number): ServerApp =>
    new ServerApp({
      config: loadServerConfig({
        ...env(4, join(out, name)),
        QUORUM: '3',
        MIN_DEVICES: '3',
        ROUND_DEADLINE_MS: '300',
        MAX_ROUND_ATTEMPTS: '2',
        STALL_TIMEOUT_S: String(stallS),
      }),
      log: createLogger({ service: 'test', level: 'error' }),
      transport,
      store,
      membership,
      checkpoints: directoryCheckpointStore(join(out, `${name}-checkpoints`), RUN),
      ready: () => Promise.resolve({ ready: true, detail: {} }),
    });
  const thirdDevice: DeviceRegistration = {
    deviceId: 'device-2',
    instance: 'third-instance',
    samples: 10,
    shard: 2,
    backend: 'cpu',
    digests: ['blake3', 'sha256'],
    registeredAt: 0,
    identity: identityOf({ ...loadServerConfig(env(1, out)), numDevices: 2 }),
  };

  it('a run whose devices answer but cannot reach the quorum fails: status, reason, /readyz 503, the run record', async () => {
    // A third device that declines every task (its trainer fails), with a quorum of three.
    class BrokenTrainer extends DistganDevice {
      override train(): never {
        throw new Error('no kernel for this model');
      }
    }
    const broken = new DeviceRuntime(new BrokenTrainer(spec), transport, store, {
      runId: RUN,
      deviceId: 'device-2',
      data: { dataset: ringData, indices: Int32Array.from([1, 2, 3]) },
      blobTtlSeconds: 60,
    });
    await broken.start();
    await membership.register(thirdDevice);
    // STALL_TIMEOUT_S far away: only the attempts can end this run in time.
    const failing = needsThree('failing', 600);
    try {
      await failing.start({ listen: false });
      await assert.rejects(failing.finished(), /failed 2 time\(s\)/);
      assert.equal(failing.status, 'failed');
      const ready = await failing.http.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503);
      assert.match(ready.json<{ reason: string }>().reason, /failed 2 time\(s\)/);
      const record = await membership.run();
      assert.equal(record?.status, 'failed');
      assert.match(record?.reason ?? '', /failed 2 time\(s\)/);
      const metrics = await failing.metrics.registry.metrics();
      assert.match(metrics, /distgan_run_status\{status="failed"\} 1\n/);
    } finally {
      await failing.stop();
      await broken.stop();
      broken.method.dispose();
      await membership.leave('device-2', 'third-instance');
    }
  });

  it('a participant that sends nothing is waited for (a broker reconnect), until STALL_TIMEOUT_S fails the run', async () => {
    await membership.register(thirdDevice); // alive, but takes no task
    const stalled = needsThree('stalled', 3);
    try {
      await stalled.start({ listen: false });
      await assert.rejects(
        stalled.finished(),
        /no round completed in 3 s \(STALL_TIMEOUT_S\) while training: .*fewer than the quorum of 3/,
      );
      // More than MAX_ROUND_ATTEMPTS (2) failed attempts: the silent device was waited for.
      const failures = /distgan_round_failures_total (\d+)/.exec(
        await stalled.metrics.registry.metrics(),
      );
      assert.ok(Number(failures?.[1]) > 2, `${failures?.[1]} failed attempts`);
    } finally {
      await stalled.stop();
      await membership.leave('device-2', 'third-instance');
    }
  });

  it('a broker outage longer than MAX_ROUND_ATTEMPTS is waited out, not a failed run', async () => {
    // The broker refuses the next 6 round queues (a restart): 3 round failures of 2 attempts.
    let refusals = 6;
    const outage: RoundTransport = {
      runId: transport.runId,
      openRound: (t) =>
        refusals-- > 0
          ? Promise.reject(
              new TransportError(`opening round ${t}'s queue`, new Error('Channel closed')),
            )
          : transport.openRound(t),
      publishTask: (body, target) => transport.publishTask(body, target),
      subscribeTasks: (id, handler) => transport.subscribeTasks(id, handler),
      publishUpdate: (replyTo, body) => transport.publishUpdate(replyTo, body),
      close: () => Promise.resolve(),
    };
    const app = new ServerApp({
      config: loadServerConfig({ ...env(2, join(out, 'outage')), MAX_ROUND_ATTEMPTS: '2' }),
      log: createLogger({ service: 'test', level: 'error' }),
      transport: outage,
      store,
      membership,
      checkpoints: directoryCheckpointStore(join(out, 'outage-checkpoints'), RUN),
      ready: () => Promise.resolve({ ready: true, detail: {} }),
    });
    await app.start({ listen: false });
    await app.finished();
    assert.equal(app.status, 'finished');
    assert.ok(refusals < 0, 'every refusal was met');
    assert.match(await app.metrics.registry.metrics(), /distgan_round_failures_total 6\n/);
    await app.stop();
  });

  it('a new server on the same checkpoints resumes after the last one, with its generator', async () => {
    // The first run checkpointed its last round, whose generator is also its final one.
    const finalOfFirstRun = readFileSync(join(runDir, 'generator.dgwb'));
    const app = server(9);
    await app.start({ listen: false });
    await app.finished();
    const run = (await app.http.inject({ method: 'GET', url: '/api/run' })).json<{
      resumedFrom?: number;
      round: number;
    }>();
    assert.equal(run.resumedFrom, 5, 'resumed from the checkpoint of the last round');
    assert.equal(run.round, 8);
    // The rounds after the checkpoint, appended to the same metrics.jsonl.
    assert.deepEqual(
      lines().map((l) => l.round),
      [0, 1, 2, 3, 4, 5, 6, 7, 8],
    );
    const record = readFileSync(join(runDir, 'resumed-round-000005-generator.dgwb'));
    assert.ok(record.equals(finalOfFirstRun), 'the run goes on with the checkpoint generator');
    await app.stop();
  });
});

describe('the blob digest the server writes (in-memory twins)', () => {
  const RUN_D = 'server-digest';
  const out = mkdtempSync(join(tmpdir(), 'distgan-server-digest-'));
  after(() => rmSync(out, { recursive: true, force: true }));

  /** The digest of every round input the server stored, in order. */
  class WatchedStore extends MemoryBlobStore {
    readonly inputs: string[] = [];
    override async put(key: string, bytes: Uint8Array, opts?: { ttlSeconds?: number }) {
      if (key.includes(':r:')) this.inputs.push(blobDigestAlgorithm(bytes));
      return super.put(key, bytes, opts);
    }
  }

  it('a participant that verifies SHA-256 only gets SHA-256 blobs, said on /api/run; one that verifies none is refused', async () => {
    await initBackend({ forced: 'cpu' });
    assert.equal(defaultDigestAlgorithm(), 'blake3', 'the server would write BLAKE3 by itself');
    const config = loadServerConfig({
      ...env(2, out),
      RUN_ID: RUN_D,
      MIN_DEVICES: '1',
      QUORUM: '1',
    });
    const transport = new MemoryRoundTransport(RUN_D);
    const store = new WatchedStore();
    const membership = new MemoryMembership(60);
    const dataset = await loadRunDataset(dataConfigOf(config));
    const spec = modelSpecFor({ model: config.model, latentDim: 2 }, dataset);
    const indices = shardOf(dataset, {
      scheme: config.partition,
      devices: 2,
      index: 0,
      seed: config.seed,
      alpha: config.alpha,
      shardsPerDevice: config.shardsPerDevice,
    });
    const device = new DeviceRuntime(new DistganDevice(spec), transport, store, {
      runId: RUN_D,
      deviceId: 'device-0',
      data: { dataset, indices },
      blobTtlSeconds: 60,
    });
    await device.start();
    const identity = identityOf({ ...config, numDevices: 2 });
    const sha256Only: DeviceRegistration = {
      deviceId: 'device-0',
      instance: 'instance-0',
      samples: indices.length,
      shard: 0,
      backend: 'cpu',
      digests: ['sha256'],
      registeredAt: 0,
      identity,
    };
    const none: DeviceRegistration = {
      ...sha256Only,
      deviceId: 'device-1',
      instance: 'instance-1',
      shard: 1,
      digests: [],
      registeredAt: 1,
    };
    await membership.register(sha256Only);
    await membership.register(none);
    const app = new ServerApp({
      config,
      log: createLogger({ service: 'test', level: 'error' }),
      transport,
      store,
      membership,
      checkpoints: directoryCheckpointStore(join(out, 'checkpoints'), RUN_D),
      ready: () => Promise.resolve({ ready: true, detail: {} }),
    });
    try {
      await app.start({ listen: false });
      await app.finished();
      assert.equal(app.status, 'finished');
      assert.ok(store.inputs.length >= 4, 'two rounds, two inputs each');
      assert.deepEqual(new Set(store.inputs), new Set(['sha256']));
      const run = (await app.http.inject({ method: 'GET', url: '/api/run' })).json<{
        blobDigest: string;
      }>();
      assert.equal(run.blobDigest, 'sha256');
      const reply = await membership.heartbeat(none);
      assert.match(reply.refused ?? '', /can verify none of the blob digests/);
      const metrics = await app.metrics.registry.metrics();
      assert.match(metrics, /distgan_devices_refused_total\{reason="digest"\} 1\n/);
    } finally {
      await app.stop();
      await device.stop();
      device.method.dispose();
    }
  });
});
