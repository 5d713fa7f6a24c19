import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBlobStore, MemoryMembership, MemoryRoundTransport } from '@distgan/engine';
import { publishRoundTask } from '@distgan/engine/testing';
import { GlobalGan, initBackend } from '@distgan/gan';
import { parseMessage, type DeviceUpdate } from '@distgan/protocol';
import { dataConfigOf, loadRunDataset } from '@distgan/run';
import { createLogger } from '@distgan/telemetry';
import { buildDeviceApp, deviceData, type DeviceApp } from './app.js';
import { loadDeviceConfig } from './config.js';

/*
 * The device service without RabbitMQ or Redis: the app on the in-memory transport, blob store
 * and membership, on a shard of the 2D ring.
 */
const RUN = 'device-app';
const env = {
  RABBITMQ_URL: 'amqp://127.0.0.1:1',
  REDIS_URL: 'redis://127.0.0.1:1',
  RUN_ID: RUN,
  DATASET: 'ring',
  MODEL: 'mlp',
  LIMIT: '400',
  LATENT_DIM: '2',
  CONDITIONAL: 'false',
  NUM_DEVICES: '4',
  DEVICE_INDEX: '2',
  HEARTBEAT_S: '1',
  HEARTBEAT_TIMEOUT_S: '3',
  UPDATE_TTL_S: '42',
  LOG_LEVEL: 'error',
};

describe('the device service (in-memory twins)', () => {
  const transport = new MemoryRoundTransport(RUN);
  const store = new MemoryBlobStore();
  const membership = new MemoryMembership(3);
  let ready = true;
  let app: DeviceApp;
  let gan: GlobalGan;

  before(async () => {
    await initBackend({ forced: 'cpu' });
    const config = loadDeviceConfig(env);
    const dataset = await loadRunDataset(dataConfigOf(config));
    const data = deviceData(config, dataset);
    gan = new GlobalGan(data.spec, {
      seed: 1,
      generatorAdam: { learningRate: 1e-3, beta1: 0.5, beta2: 0.999 },
    });
    app = buildDeviceApp({
      config,
      log: createLogger({ service: 'test', level: 'error' }),
      transport,
      store,
      membership,
      data,
      backend: 'cpu',
      ready: () => Promise.resolve({ ready, detail: { rabbitmq: ready } }),
    });
    await app.start();
  });

  after(async () => {
    await app?.stop();
    gan?.dispose();
  });

  it('registers with its shard, its sample count and its backend, and is alive', async () => {
    const [me] = await membership.list();
    assert.equal(me?.deviceId, 'device-2');
    assert.equal(me?.shard, 2);
    assert.equal(me?.backend, 'cpu');
    assert.equal(me?.samples, app.runtime.samples);
    assert.ok(me!.samples > 50 && me!.samples < 150, `a quarter of 400 samples (${me!.samples})`);
    assert.equal(me?.alive, true);
  });

  it('answers /healthz, and /readyz says when its services cannot be reached', async () => {
    const health = await app.http.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200);
    assert.equal(health.json<{ state: string }>().state, 'running');
    assert.equal((await app.http.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    ready = false;
    const notReady = await app.http.inject({ method: 'GET', url: '/readyz' });
    ready = true;
    assert.equal(notReady.statusCode, 503);
    assert.deepEqual(notReady.json(), { rabbitmq: false, ready: false, state: 'running' });
  });

  it('trains a task, publishes its update with the blob TTL it is configured with, and counts it', async () => {
    const inbox = await publishRoundTask({
      transport,
      store,
      weights: { generator: gan.generatorWeights(), discriminator: gan.discriminatorWeights() },
      participants: ['device-2'],
      training: { localSteps: 2, batchSize: 16, learningRate: 1e-3, beta1: 0.5, beta2: 0.999 },
    });
    const msg = await inbox.receive(30_000);
    assert.ok(msg, 'an update arrived');
    msg.ack();
    const update = parseMessage(msg.body, { runId: RUN, types: ['DeviceUpdate'] }) as DeviceUpdate;
    assert.equal(update.deviceId, 'device-2');
    assert.equal(update.samples, app.registration.samples);
    const ttl = store.ttlOf(update.outputs['discriminator']!.key);
    assert.ok(ttl !== undefined && ttl > 40 && ttl <= 42, `the update blob's TTL (${ttl} s)`);
    const metrics = await (await app.http.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /distgan_device_tasks_total\{outcome="trained"\} 1/);
    assert.match(metrics, /distgan_device_last_round 0/);
  });

  it('leaves the run when it stops', async () => {
    await app.stop();
    assert.deepEqual(await membership.list(), []);
    assert.equal(app.runtime.state, 'stopped');
  });
});
