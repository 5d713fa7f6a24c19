import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'amqplib';
import type { Dataset } from '@distgan/data';
import { GlobalGan, initBackend, type ModelSpec } from '@distgan/gan';
import {
  blobDigestHex,
  encodeWeights,
  names,
  parseMessage,
  PROTOCOL_VERSION,
  type DeviceUpdate,
} from '@distgan/protocol';
import {
  Coordinator,
  DeviceRuntime,
  MemoryBlobStore,
  MemoryRoundTransport,
  type BlobStore,
  type RoundTransport,
} from '@distgan/engine';
import { DistganDevice, DistganServer } from '@distgan/methods';
import { RabbitRoundTransport } from './rabbit-round-transport.js';
import { RedisBlobStore } from './redis-blob-store.js';
import { RABBITMQ_URL, connectRabbit, uniqueRun } from './rabbit.test-helpers.js';

/*
 * Against the real RabbitMQ and Redis named by RABBITMQ_URL and REDIS_URL (default: the local
 * services). These suites need the services; they say which ones they use, and fail with a
 * clear message when they cannot reach them.
 */
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
console.log(
  `broker tests use RabbitMQ at ${RABBITMQ_URL.replace(/:[^:@/]+@/, ':***@')} and Redis at ${REDIS_URL}`,
);

const SPEC: ModelSpec = { arch: 'mlp', sampleShape: [2], latentDim: 4 };
const ADAM = { learningRate: 1e-3, beta1: 0.5, beta2: 0.999 };
const DEVICES = ['dev-0', 'dev-1', 'dev-2'];

function toyData(count: number): Dataset {
  const images = new Float32Array(count * 2).map((_, i) => Math.sin(i * 0.37));
  return {
    name: 'toy',
    sampleShape: [1, 1, 2],
    count,
    images,
    labels: new Uint8Array(count),
    numClasses: 1,
  };
}

/** Two rounds of the engine over the given transports; returns the final G and D. */
async function train(
  runId: string,
  serverT: RoundTransport,
  deviceT: (k: number) => RoundTransport,
  store: BlobStore,
  rogue?: { transport: RoundTransport; reasons: readonly RegExp[] },
): Promise<number[]> {
  const data = toyData(300);
  const devices = DEVICES.map(
    (id, k) =>
      new DeviceRuntime(new DistganDevice(SPEC), deviceT(k), store, {
        runId,
        deviceId: id,
        data: {
          dataset: data,
          indices: Int32Array.from({ length: 50 + 40 * k }, (_, i) => (i * 5 + k) % 300),
        },
        blobTtlSeconds: 60,
      }),
  );
  for (const d of devices) await d.start();
  const gan = new GlobalGan(SPEC, { seed: 5, generatorAdam: ADAM });
  const participants = rogue ? [...DEVICES, 'rogue'] : DEVICES;
  const rogueSub = rogue
    ? await rogue.transport.subscribeTasks('rogue', (m) =>
        misbehave(runId, m, rogue.transport, store),
      )
    : undefined;
  const method = new DistganServer(
    {
      spec: SPEC,
      generatorAverage: 0,
      seed: 99,
      batchSize: 8,
      localSteps: 2,
      generatorSteps: 2,
      adamD: ADAM,
      adamG: ADAM,
      schedule: 'serial',
    },
    gan,
  );
  let reasons: string[] = [];
  const coordinator = new Coordinator(
    method,
    serverT,
    store,
    () => participants,
    {
      runId,
      schedule: 'serial',
      training: { localSteps: 2, batchSize: 8, ...ADAM },
      seed: 99,
      roundDeadlineMs: rogue ? 4_000 : 20_000,
      quorum: 3,
      maxRoundAttempts: 1,
      blobTtlSeconds: 60,
    },
    (e) => {
      if (e.kind === 'update' && e.reason) reasons.push(e.reason);
    },
  );
  try {
    for (let r = 0; r < 2; r++) {
      reasons = [];
      const report = await coordinator.runRound();
      assert.equal(report.outcomes.accepted, 3);
      if (!rogue) continue;
      // Each bad update refused once, for its own reason.
      assert.equal(report.outcomes.rejected, rogue.reasons.length, `round ${r}`);
      for (const pattern of rogue.reasons)
        assert.equal(
          reasons.filter((x) => pattern.test(x)).length,
          1,
          `round ${r}: ${pattern} in\n${reasons.join('\n')}`,
        );
    }
    return [...gan.generatorWeights().values, ...gan.discriminatorWeights().values];
  } finally {
    await rogueSub?.close();
    for (const d of devices) await d.stop();
    gan.dispose();
  }
}

/** A participant that answers every task with one of each kind of bad update. */
async function misbehave(
  runId: string,
  msg: { body: Uint8Array; ack(): void },
  t: RoundTransport,
  store: BlobStore,
): Promise<void> {
  const task = parseMessage(msg.body, { runId, types: ['RoundTask'] });
  msg.ack();
  const enc = new TextEncoder();
  const local = new DistganDevice(SPEC);
  const good = local.trainer.discriminatorWeights();
  local.dispose();
  // Each bad update names a blob of its own: only the field under test is wrong.
  let n = 0;
  const update = async (
    blob: Uint8Array,
    patch: Partial<DeviceUpdate>,
    announced = blobDigestHex(blob),
  ): Promise<Uint8Array> => {
    const key = `${names(runId).deviceBlobKey(task.round, 'rogue', 'discriminator')}-case-${n++}`;
    await store.put(key, blob, { ttlSeconds: 60 });
    const u: DeviceUpdate = {
      type: 'DeviceUpdate',
      version: PROTOCOL_VERSION,
      runId,
      round: task.round,
      deviceId: 'rogue',
      samples: 1_000_000,
      outputs: { discriminator: { key, digest: announced, bytes: blob.length } },
      losses: { d: 1, dReal: 0.5, dFake: 0.5 },
      computeMs: 1,
      steps: 1,
      optimizerReset: true,
      sentAt: Date.now(),
      ...patch,
    };
    return enc.encode(JSON.stringify(u));
  };
  const nan = { specs: good.specs, values: good.values.slice() };
  nan.values[0] = NaN;
  const other = encodeWeights({ specs: good.specs, values: good.values.map((v) => v + 1) });
  const bad = [
    enc.encode('{"type":"DeviceUpdate",'), // malformed JSON
    enc.encode(JSON.stringify({ type: 'DeviceUpdate', version: 1, runId, round: task.round })), // wrong schema
    await update(encodeWeights(good), { runId: 'another-run' }), // unknown run
    await update(encodeWeights(good), { round: task.round === 0 ? 1 : task.round - 1 }), // another round's update
    await update(encodeWeights(good), {}, blobDigestHex(other)), // checksum differs from the announced one
    await update(encodeWeights(nan), {}), // NaN weights
  ];
  for (const body of bad) await t.publishUpdate(task.replyTo, body);
}

describe('RabbitMQ round transport and Redis blob store', () => {
  let redis: RedisBlobStore;
  before(async () => {
    await initBackend();
    redis = new RedisBlobStore({ url: REDIS_URL });
    if (!(await redis.ping()))
      throw new Error(`Redis is not reachable at ${REDIS_URL} (set REDIS_URL)`);
  });
  after(() => redis.close());

  it('Redis stores, expires and deletes blobs byte for byte', async () => {
    const key = `distgan:${uniqueRun('blob')}:g:0`;
    const bytes = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 31) % 256);
    await redis.put(key, bytes, { ttlSeconds: 30 });
    assert.deepEqual(await redis.get(key), Buffer.from(bytes));
    const ttl = await redis.client.ttl(key);
    assert.ok(ttl > 0 && ttl <= 30, `ttl ${ttl}`);
    await redis.delete([key]);
    assert.equal(await redis.get(key), null);
  });

  it('the engine over RabbitMQ and Redis gives the same weights as over the in-memory twins', async () => {
    const runId = uniqueRun('equiv');
    const server = await connectRabbit(runId);
    const deviceTransports = await Promise.all(DEVICES.map(() => connectRabbit(runId)));
    let real: number[];
    try {
      real = await train(runId, server, (k) => deviceTransports[k]!, redis);
    } finally {
      await server.deleteRunTopology(DEVICES);
      for (const t of deviceTransports) await t.close();
      await server.close();
    }
    const memory = new MemoryRoundTransport(runId);
    const twin = await train(runId, memory, () => memory, new MemoryBlobStore());
    await memory.close();
    assert.deepEqual(real, twin);
  });

  it('refuses every kind of bad update over the real services; the weights equal a clean run', async () => {
    const runId = uniqueRun('rogue');
    const server = await connectRabbit(runId);
    const deviceTransports = await Promise.all(
      [...DEVICES, 'rogue'].map(() => connectRabbit(runId)),
    );
    let attacked: number[];
    try {
      attacked = await train(runId, server, (k) => deviceTransports[k]!, redis, {
        transport: deviceTransports[3]!,
        reasons: [
          /not UTF-8 JSON/,
          new RegExp(`protocol version 1, this build speaks version ${PROTOCOL_VERSION}`),
          /belongs to run "another-run"/,
          /update for round \d+ arrived in round \d+'s queue/,
          /differs from the message's/,
          /non-finite/,
        ],
      });
      assert.ok((await server.deadLetterCount()) >= 12, 'refused updates are dead-lettered');
    } finally {
      await server.deleteRunTopology([...DEVICES, 'rogue']);
      for (const t of deviceTransports) await t.close();
      await server.close();
    }
    const memory = new MemoryRoundTransport(runId);
    const clean = await train(runId, memory, () => memory, new MemoryBlobStore());
    await memory.close();
    assert.deepEqual(attacked, clean);
  });

  it('dead-letters a malformed update and drops one for a closed round', async () => {
    const runId = uniqueRun('bad');
    const t = await connectRabbit(runId);
    try {
      const inbox = await t.openRound(0);
      await t.publishUpdate(inbox.name, new TextEncoder().encode('{"not": "an update"'));
      const msg = await inbox.receive(5_000);
      assert.ok(msg, 'the update arrived');
      msg.reject();
      await inbox.close();
      for (let i = 0; i < 50 && (await t.deadLetterCount()) < 1; i++)
        await new Promise((r) => setTimeout(r, 100));
      assert.equal(await t.deadLetterCount(), 1);
      await t.publishUpdate(names(runId).roundQueue(0), new TextEncoder().encode('late'));
      for (let i = 0; i < 50 && t.traffic.droppedUpdates < 1; i++)
        await new Promise((r) => setTimeout(r, 100));
      assert.equal(t.traffic.droppedUpdates, 1);
    } finally {
      await t.deleteRunTopology([]);
      await t.close();
    }
  });

  it('the broker deletes a device queue and the dead-letter queue once they are idle', async () => {
    const runId = uniqueRun('idle');
    const t = await RabbitRoundTransport.connect({
      url: RABBITMQ_URL,
      runId,
      initialMaxRetries: 2,
      idleQueueExpiresMs: 1_000,
    });
    const sub = await t.subscribeTasks('idle-dev', async (m) => m.ack());
    const n = names(runId);
    const raw = await connect(RABBITMQ_URL);
    try {
      const exists = async (queue: string): Promise<boolean> => {
        const ch = await raw.createChannel();
        ch.on('error', () => {});
        try {
          await ch.checkQueue(queue);
          await ch.close();
          return true;
        } catch {
          return false; // 404 closes the channel
        }
      };
      assert.ok(await exists(n.deviceQueue('idle-dev')), 'declared');
      await new Promise((r) => setTimeout(r, 1_500));
      assert.ok(await exists(n.deviceQueue('idle-dev')), 'kept while its device consumes');
      await sub.close();
      await t.close();
      let gone = false;
      for (let i = 0; i < 40 && !gone; i++) {
        await new Promise((r) => setTimeout(r, 250));
        gone =
          !(await exists(n.deviceQueue('idle-dev'))) &&
          !(await exists(n.deadLetterQueue)) &&
          !(await exists(n.droppedDeadLetterQueue));
      }
      assert.ok(gone, 'the three queues deleted by the broker after 1 s idle');
    } finally {
      await raw.close();
      await t.close();
    }
  });

  it('a task published before its device connects waits in the device queue', async () => {
    const runId = uniqueRun('early');
    const server = await connectRabbit(runId);
    const device = await connectRabbit(runId);
    try {
      await server.publishTask(new TextEncoder().encode('task-0'), {
        kind: 'devices',
        deviceIds: ['late-dev'],
      });
      const got: string[] = [];
      const sub = await device.subscribeTasks('late-dev', async (m) => {
        got.push(new TextDecoder().decode(m.body));
        m.ack();
      });
      for (let i = 0; i < 50 && got.length < 1; i++) await new Promise((r) => setTimeout(r, 100));
      await sub.close();
      assert.deepEqual(got, ['task-0']);
    } finally {
      await server.deleteRunTopology(['late-dev']);
      await device.close();
      await server.close();
    }
  });
});
