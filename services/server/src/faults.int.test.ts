import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  blobDigestAlgorithm,
  encodeMessage,
  names,
  parseMessage,
  parseRecord,
  parseSettings,
  PROTOCOL_VERSION,
  toDomain,
  type RoundTask,
} from '@distgan/protocol';
import { DATA_SETTINGS, identityOf } from '@distgan/run';
import { RabbitRoundTransport, RedisBlobStore, RedisMembership } from '@distgan/transport';
import type { DeviceRegistration, TaskSubscription } from '@distgan/engine';
import {
  api,
  DEVICE,
  exitOf,
  metric,
  nextPort,
  RABBITMQ_URL,
  REDIS_URL,
  RUN,
  runDistributed,
  start,
  tearDown,
  uniqueRun,
  until,
} from './process-harness.js';

/*
 * Faults that used to stall a run or degrade it without a word (issue #21), reproduced against
 * the real RabbitMQ and Redis with the services as processes, and devices written in the test
 * where a misbehaving one is needed (they speak the protocol through the transport library).
 */
after(tearDown);

/** Everything a process printed, for assertions on its log. */
function output(child: ReturnType<typeof start>): { text: string } {
  const seen = { text: '' };
  const keep = (b: Buffer): void => void (seen.text += b.toString());
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return seen;
}

/**
 * A device that registers with the right identity and keeps beating, and does with its tasks what
 * `onTask` says (nothing: it never answers). Stands for a device whose queue was lost, or a
 * device in another language that declines everything.
 */
async function fakeDevice(
  runId: string,
  k: number,
  devices: number,
  onTask?: (task: RoundTask, transport: RabbitRoundTransport) => Promise<void>,
  /** The blob digests it says it can verify. */
  digests: DeviceRegistration['digests'] = ['blake3', 'sha256'],
): Promise<{ stop(): Promise<void> }> {
  const c = { ...toDomain(parseSettings(DATA_SETTINGS, RUN)), deviceId: `device-${k}` };
  const store = new RedisBlobStore({ url: REDIS_URL });
  const membership = new RedisMembership(store, runId, 10);
  const transport = await RabbitRoundTransport.connect({ url: RABBITMQ_URL, runId });
  const reg: DeviceRegistration = {
    deviceId: c.deviceId,
    instance: randomUUID(),
    samples: 100,
    shard: k,
    backend: 'test',
    digests,
    registeredAt: Date.now(),
    identity: identityOf({ ...c, numDevices: devices }),
  };
  await membership.register(reg);
  const beat = setInterval(() => void membership.heartbeat(reg).catch(() => {}), 1000);
  let sub: TaskSubscription | undefined;
  if (onTask) {
    sub = await transport.subscribeTasks(c.deviceId, async (msg) => {
      msg.ack();
      await onTask(parseMessage(msg.body, { runId, types: ['RoundTask'] }), transport);
    });
  }
  return {
    async stop() {
      clearInterval(beat);
      await sub?.close();
      await membership.leave(reg.deviceId, reg.instance).catch(() => {});
      await transport.close();
      await store.close();
    },
  };
}

/** A fake device 0 that answers every task with a TaskDeclined giving `reason`. */
function decliningDevice(runId: string, reason: string): ReturnType<typeof fakeDevice> {
  return fakeDevice(runId, 0, 1, async (task, transport) => {
    await transport.publishUpdate(
      task.replyTo,
      encodeMessage({
        type: 'TaskDeclined',
        version: PROTOCOL_VERSION,
        runId,
        round: task.round,
        deviceId: 'device-0',
        reason,
        sentAt: Date.now(),
      }),
    );
  });
}

async function runRecord(runId: string) {
  const store = new RedisBlobStore({ url: REDIS_URL });
  try {
    const v = await store.client.get(names(runId).runKey);
    return v ? parseRecord('RunRecord', v) : undefined;
  } finally {
    await store.close();
  }
}

describe('faults that stalled a run, over RabbitMQ and Redis', () => {
  it('a device with another setting is refused at join, naming it, and exits 2; the run goes on', async () => {
    const runId = uniqueRun('identity');
    // Device 1 starts before the server (the server refuses it) ...
    const early = start(DEVICE, {
      ...RUN,
      RUN_ID: runId,
      DEVICE_INDEX: '1',
      NUM_DEVICES: '2',
      LATENT_DIM: '3',
      LOG_LEVEL: 'info',
      PORT: String(nextPort()),
    });
    const earlyLog = output(early);
    await until('device 1 to join', async () =>
      earlyLog.text.includes('"device ready"') ? true : undefined,
    );
    const d = await runDistributed(runId, { ROUNDS: '100000', QUORUM: '1' }, 1, () => ({
      NUM_DEVICES: '2',
    }));
    d.server.stdout?.resume();
    assert.equal(await exitOf(early), 2);
    assert.match(earlyLog.text, /LATENT_DIM differs: the device has 3, the run 2/);
    // ... and device 1 started after the server checks itself against the run's record.
    const late = start(DEVICE, {
      ...RUN,
      RUN_ID: runId,
      DEVICE_INDEX: '1',
      NUM_DEVICES: '2',
      SEED: '4',
      PORT: String(nextPort()),
    });
    const lateLog = output(late);
    assert.equal(await exitOf(late), 2);
    assert.match(lateLog.text, /SEED differs: the device has 4, the run 3/);
    // The run went on with device 0 alone.
    const before = (await api(d.port)).round;
    await until('more rounds', async () =>
      (await api(d.port)).round > before + 20 ? true : undefined,
    );
    const text = await (await fetch(`http://127.0.0.1:${d.port}/metrics`)).text();
    assert.match(text, /distgan_devices_refused_total\{reason="identity"\} 1\n/);
    for (const c of [d.server, ...d.devices]) c.kill('SIGTERM');
  });

  it('a second live device with the same id, or the same shard, is refused and exits 2', async () => {
    const runId = uniqueRun('dup');
    const d = await runDistributed(
      runId,
      { ROUNDS: '100000', QUORUM: '1', HEARTBEAT_TIMEOUT_S: '3' },
      2,
    );
    await until('round 3', async () => ((await api(d.port)).round >= 3 ? true : undefined));
    const twin = start(DEVICE, {
      ...RUN,
      RUN_ID: runId,
      DEVICE_INDEX: '1',
      NUM_DEVICES: '2',
      HEARTBEAT_TIMEOUT_S: '3',
      PORT: String(nextPort()),
    });
    const twinLog = output(twin);
    assert.equal(await exitOf(twin), 2);
    assert.match(twinLog.text, /another live device already runs as \\"device-1\\"/);
    const sameShard = start(DEVICE, {
      ...RUN,
      RUN_ID: runId,
      DEVICE_INDEX: '0',
      DEVICE_ID: 'device-zero-again',
      NUM_DEVICES: '2',
      PORT: String(nextPort()),
    });
    const shardLog = output(sameShard);
    assert.equal(await exitOf(sameShard), 2);
    assert.match(shardLog.text, /shard 0 is held by device-0/);
    const text = await (await fetch(`http://127.0.0.1:${d.port}/metrics`)).text();
    assert.match(text, /distgan_devices_refused_total\{reason="shard-held"\} 1\n/);
    // The originals trained on, untouched: every round had both.
    await until('round 20', async () => ((await api(d.port)).round >= 20 ? true : undefined));
    const lines = readFileSync(join(d.out, runId, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n');
    assert.ok(lines.every((l) => (JSON.parse(l) as { accepted: unknown[] }).accepted.length === 2));
    for (const c of [d.server, ...d.devices]) c.kill('SIGTERM');
  });

  it('a device that heartbeats but never answers: after MAX_MISSED_ROUNDS the rounds stop waiting for it', async () => {
    const runId = uniqueRun('silent');
    const d = await runDistributed(
      runId,
      // Enough rounds that the run is still going when the fake device has joined.
      { ROUNDS: '40', QUORUM: '1', ROUND_DEADLINE_MS: '1500', MAX_MISSED_ROUNDS: '2' },
      1,
      () => ({ NUM_DEVICES: '2' }),
    );
    const serverLog = output(d.server);
    // Joins once device 0 trains (alone, it would be the only participant of a round).
    await until('round 0', async () => ((await api(d.port)).round >= 0 ? true : undefined));
    const silent = await fakeDevice(runId, 1, 2);
    try {
      await until('the run to finish', async () =>
        (await api(d.port)).status === 'finished' ? true : undefined,
      );
      const rounds = readFileSync(join(d.out, runId, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { participants: number; closedBy: string });
      // Every round had both as participants. Once device-1 had missed two rounds, the rounds
      // closed on device-0's answer instead of at the deadline.
      const waited = rounds.filter((r) => r.participants === 2 && r.closedBy === 'deadline');
      assert.ok(
        waited.length === 2,
        `${waited.length} rounds waited: ${JSON.stringify(rounds.map((r) => [r.participants, r.closedBy]))}`,
      );
      assert.equal(rounds.at(-1)!.closedBy, 'answers');
      assert.match(serverLog.text, /rounds no longer wait for this device/);
      const text = await (await fetch(`http://127.0.0.1:${d.port}/metrics`)).text();
      assert.equal(metric(text, 'distgan_devices_not_waited_for'), 1);
      // It missed every round it was a participant of, and each was counted.
      assert.equal(
        metric(text, 'distgan_device_missed_rounds_total'),
        rounds.filter((r) => r.participants === 2).length,
      );
    } finally {
      await silent.stop();
      d.server.kill('SIGTERM');
    }
  });

  it('a device that verifies SHA-256 only gets SHA-256 blobs from the round it takes part in on, said in the log and on /api/run', async () => {
    const runId = uniqueRun('digest');
    const d = await runDistributed(
      runId,
      { ROUNDS: '100000', QUORUM: '1', ROUND_DEADLINE_MS: '1500', LOG_LEVEL: 'info' },
      1,
      () => ({ NUM_DEVICES: '2' }),
    );
    const serverLog = output(d.server);
    await until('round 0', async () => ((await api(d.port)).round >= 0 ? true : undefined));
    const before = (await api(d.port)) as unknown as { blobDigest: string };
    assert.equal(before.blobDigest, 'blake3', 'BLAKE3 while every participant verifies it');
    const store = new RedisBlobStore({ url: REDIS_URL });
    const seen: string[][] = [];
    const sha256Only = await fakeDevice(
      runId,
      1,
      2,
      async (task) => {
        const algorithms: string[] = [];
        for (const ref of Object.values(task.inputs)) {
          const blob = await store.get(ref.key);
          if (blob) algorithms.push(blobDigestAlgorithm(blob));
        }
        seen.push(algorithms);
      },
      ['sha256'],
    );
    try {
      await until('two tasks for the SHA-256 device', async () =>
        seen.length >= 2 ? true : undefined,
      );
      assert.deepEqual(new Set(seen.flat()), new Set(['sha256']), JSON.stringify(seen));
      const now = (await api(d.port)) as unknown as { blobDigest: string };
      assert.equal(now.blobDigest, 'sha256');
      assert.match(
        serverLog.text,
        /global blobs carry sha256: not every participant can verify blake3/,
      );
    } finally {
      await sha256Only.stop();
      await store.close();
      for (const c of [d.server, ...d.devices]) c.kill('SIGTERM');
    }
  });

  it('a device that declines every task: the round does not wait for it, and with enough devices alive the run fails after MAX_ROUND_ATTEMPTS, exit 1', async () => {
    const runId = uniqueRun('decline');
    const d = await runDistributed(
      runId,
      { ROUNDS: '5', QUORUM: '1', ROUND_DEADLINE_MS: '60000', MAX_ROUND_ATTEMPTS: '3' },
      0,
    );
    const serverLog = output(d.server);
    const decliner = await decliningDevice(runId, 'this device cannot train that model');
    try {
      // Three attempts with a 60 s deadline each would take 3 minutes; declined, they take none.
      assert.equal(await exitOf(d.server), 1);
      assert.match(serverLog.text, /"the run failed"/);
      assert.match(serverLog.text, /round 0 of run [^ ]+ failed 3 time\(s\)/);
      const record = await runRecord(runId);
      assert.equal(record?.status, 'failed');
      assert.match(record?.reason ?? '', /failed 3 time\(s\).*quorum/);
    } finally {
      await decliner.stop();
    }
  });

  it('SIGTERM to a server whose rounds are failing exits 1, not 0 like a clean stop', async () => {
    const runId = uniqueRun('sigterm');
    const d = await runDistributed(
      runId,
      { ROUNDS: '5', QUORUM: '1', MAX_ROUND_ATTEMPTS: '100000' },
      0,
    );
    const serverLog = output(d.server);
    const decliner = await decliningDevice(runId, 'no');
    try {
      await until('failed round attempts', async () =>
        serverLog.text.includes('round attempt failed') ? true : undefined,
      );
      d.server.kill('SIGTERM');
      assert.equal(await exitOf(d.server), 1);
      assert.match(serverLog.text, /stopped while rounds were failing/);
    } finally {
      await decliner.stop();
    }
  });

  it('a run that cannot progress (too few devices for the quorum) fails after STALL_TIMEOUT_S; its devices exit 1', async () => {
    const runId = uniqueRun('stall');
    const d = await runDistributed(
      runId,
      { ROUNDS: '5', QUORUM: '2', STALL_TIMEOUT_S: '4' },
      1,
      () => ({ NUM_DEVICES: '2' }),
    );
    const serverLog = output(d.server);
    const deviceLog = output(d.devices[0]!);
    assert.equal(await exitOf(d.server), 1);
    assert.match(
      serverLog.text,
      /no round completed in 4 s \(STALL_TIMEOUT_S\) while waiting-for-devices: 1 of the 2 devices needed/,
    );
    assert.equal(await exitOf(d.devices[0]!), 1);
    assert.match(deviceLog.text, /the run failed: no round completed in 4 s/);
  });
});
