import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEmbedded, type Method } from '@distgan/embedded';
import { initBackend } from '@distgan/gan';
import { decodeWeights, names } from '@distgan/protocol';
import { TRAINING_SETTINGS } from '@distgan/run';
import { Redis } from 'ioredis';
import {
  api,
  children,
  describeServices,
  DEVICE,
  exitOf,
  killAll,
  tearDown,
  metric,
  nextPort,
  RABBITMQ_URL,
  REDIS_URL,
  RUN,
  runDistributed,
  SERVER,
  start,
  uniqueRun,
  until,
} from './process-harness.js';

/*
 * The server and device services as separate processes over the real RabbitMQ and Redis
 * (RABBITMQ_URL, REDIS_URL; default: the local services).
 */
console.log(`distributed tests use ${describeServices()}`);
after(tearDown);

/**
 * Runs the embedded run with the settings of `RUN` and the method, and checks that the services'
 * final weights (in `out`) are the same bits.
 */
async function sameAsEmbedded(
  runId: string,
  out: string,
  method: Method,
  gAverage = TRAINING_SETTINGS.G_AVERAGE.default ?? 0, // the services' default
): Promise<void> {
  await initBackend();
  const embeddedOut = mkdtempSync(join(tmpdir(), 'distgan-emb-'));
  await runEmbedded({
    runId,
    out: embeddedOut,
    devices: method === 'centralized' ? 1 : 3,
    rounds: 6,
    method,
    schedule: 'serial',
    gAverage,
    localSteps: 1,
    generatorSteps: 1,
    batchSize: 32,
    lrD: 2e-4,
    lrG: 2e-4,
    beta1: 0.5,
    beta2: 0.999,
    model: 'mlp',
    modelWidth: 32,
    latentDim: 2,
    conditional: false,
    dataset: 'ring',
    limit: 2000,
    ringStd: 0.1,
    partition: 'iid',
    alpha: 0.5,
    shardsPerDevice: 2,
    seed: 3,
    sampleEvery: 100,
    sampleCount: 16,
    updateDtype: 'float32',
    blobDigest: 'auto',
    deviceThreads: method === 'centralized' ? 0 : 2, // and the embedded devices in worker threads
    deviceThreadHeapMb: 0,
    evalEvery: 0,
    evalSamples: 2000,
  });
  for (const file of ['generator.dgwb', 'discriminator.dgwb']) {
    const inEmbedded = join(embeddedOut, runId, file);
    // MD-GAN's server holds no discriminator until the workers swap theirs.
    if (file === 'discriminator.dgwb' && method === 'md-gan' && !existsSync(inEmbedded)) continue;
    const dist = decodeWeights(readFileSync(join(out, runId, file))).values;
    const emb = decodeWeights(readFileSync(inEmbedded)).values;
    assert.deepEqual(Array.from(dist), Array.from(emb), `${method}: ${file}`);
  }
}

describe('server and device services over RabbitMQ and Redis', () => {
  it('a distributed serial run with 3 device processes equals the embedded run with the same seed', async () => {
    const runId = uniqueRun('equiv');
    // A mixed fleet as well: device 1 writes SHA-256 blobs, the others and the server BLAKE3.
    const d = await runDistributed(
      runId,
      { ROUNDS: '6', QUORUM: '3', SCHEDULE: 'serial', LINGER_S: '3' },
      3,
      (k) => ({ BLOB_DIGEST: k === 1 ? 'sha256' : 'auto', LOG_LEVEL: 'info' }),
    );
    const logs = d.devices.map((p) => {
      const seen = { text: '' };
      p.stdout?.on('data', (b: Buffer) => (seen.text += b.toString()));
      return seen;
    });
    await until('the run to finish', async () =>
      (await api(d.port)).status === 'finished' ? true : undefined,
    );
    // Each device said which digest it writes.
    const digestOf = (text: string): unknown =>
      text
        .split('\n')
        .filter((l) => l.includes('"blob digest"'))
        .map((l) => (JSON.parse(l) as { algorithm: string }).algorithm)[0];
    assert.deepEqual(
      logs.map((l) => digestOf(l.text)),
      ['blake3', 'sha256', 'blake3'],
    );

    const text = await (await fetch(`http://127.0.0.1:${d.port}/metrics`)).text();
    assert.equal(metric(text, 'distgan_round'), 5);
    assert.match(text, /distgan_device_updates_total\{outcome="accepted"\} 18\n/);
    assert.match(text, /distgan_round_phase_seconds_count\{phase="total"\} 6\n/);
    // A finished run: every process exits 0 by itself, the devices once they read that the run
    // is over, the server after LINGER_S.
    assert.deepEqual(await Promise.all([d.server, ...d.devices].map(exitOf)), [0, 0, 0, 0]);
    await sameAsEmbedded(runId, d.out, 'distgan');
  });

  for (const method of ['md-gan', 'fl-gan', 'centralized'] as const) {
    it(`METHOD=${method} on the services gives the embedded run's weights, bit for bit`, async () => {
      const runId = uniqueRun(method);
      const devices = method === 'centralized' ? 0 : 3;
      const d = await runDistributed(
        runId,
        // The final generator is the average over rounds here: its checkpointed state included.
        { ROUNDS: '6', QUORUM: String(Math.max(1, devices)), METHOD: method, G_AVERAGE: '0.9' },
        devices,
      );
      await until(`the ${method} run to finish`, async () =>
        (await api(d.port)).status === 'finished' ? true : undefined,
      );
      const lines = readFileSync(join(d.out, runId, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { method: string; accepted: unknown[] });
      assert.deepEqual(
        lines.map((l) => [l.method, l.accepted.length]),
        Array.from({ length: 6 }, () => [method, devices]),
      );
      await sameAsEmbedded(runId, d.out, method, 0.9);
      // The devices exit 0 by themselves once the run is over; the lingering server on SIGTERM.
      d.server.kill('SIGTERM');
      assert.deepEqual(
        await Promise.all([d.server, ...d.devices].map(exitOf)),
        Array.from({ length: devices + 1 }, () => 0),
      );
    });
  }

  it('parallel: 3 devices complete the rounds and /metrics counts them', async () => {
    const runId = uniqueRun('par');
    const d = await runDistributed(runId, { ROUNDS: '5', QUORUM: '3', SCHEDULE: 'parallel' }, 3);
    await until('the run to finish', async () =>
      (await api(d.port)).status === 'finished' ? true : undefined,
    );
    const run = await api(d.port);
    assert.equal(run.round, 4);
    const text = await (await fetch(`http://127.0.0.1:${d.port}/metrics`)).text();
    assert.equal(metric(text, 'distgan_round'), 4);
    assert.equal(metric(text, 'distgan_rounds_total'), 5);
    assert.match(text, /distgan_device_updates_total\{outcome="accepted"\} 15\n/);
    assert.match(text, /distgan_round_phase_seconds_count\{phase="generator"\} 5\n/);
    assert.match(text, /distgan_round_phase_seconds_count\{phase="collect"\} 5\n/);
    const ready = await fetch(`http://127.0.0.1:${d.port}/readyz`);
    assert.equal(ready.status, 200);
    // Every round had its 3 devices; then they left by themselves, exiting 0.
    const lines = readFileSync(join(d.out, runId, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n');
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { accepted: unknown[] }).accepted.length),
      [3, 3, 3, 3, 3],
    );
    assert.deepEqual(await Promise.all(d.devices.map(exitOf)), [0, 0, 0]);
    d.server.kill('SIGTERM');
  });

  it('MNIST with EVAL_EVERY: FID, modes, balance and class match in /metrics, metrics.jsonl and /api/run', async () => {
    const runId = uniqueRun('fid');
    const env = {
      DATASET: 'mnist',
      CONDITIONAL: 'true',
      LIMIT: '1000',
      LATENT_DIM: '16',
      ROUNDS: '4',
      QUORUM: '2',
      EVAL_EVERY: '2',
      EVAL_SAMPLES: '300',
    };
    const d = await runDistributed(runId, env, 2);
    await until('the run to finish', async () =>
      (await api(d.port)).status === 'finished' ? true : undefined,
    );
    const text = await (await fetch(`http://127.0.0.1:${d.port}/metrics`)).text();
    const fid = metric(text, 'distgan_fid{dataset="mnist"}');
    assert.ok(Number.isFinite(fid) && fid > 0, `distgan_fid ${fid}`);
    assert.ok(metric(text, 'distgan_modes_covered{dataset="mnist"}') >= 1);
    assert.ok(metric(text, 'distgan_class_balance{dataset="mnist"}') > 0);
    const match = metric(text, 'distgan_class_match{dataset="mnist"}');
    assert.ok(match >= 0 && match <= 1, `distgan_class_match ${match}`);
    assert.equal(metric(text, 'distgan_eval_duration_seconds_count'), 2);
    const lines = readFileSync(join(d.out, runId, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { round: number; fid?: number });
    assert.deepEqual(
      lines.filter((l) => l.fid !== undefined).map((l) => l.round),
      [1, 3],
    );
    assert.equal(lines.at(-1)!.fid, fid);
    const run = (await (await fetch(`http://127.0.0.1:${d.port}/api/run`)).json()) as {
      evaluation: { round: number; fid: number };
    };
    assert.deepEqual({ round: run.evaluation.round, fid: run.evaluation.fid }, { round: 3, fid });
    for (const c of [d.server, ...d.devices]) c.kill('SIGTERM');
  });

  it('refuses a missing or malformed variable with a clear message', () => {
    const run = (
      script: string,
      env: Record<string, string>,
    ): { status: number | null; stderr: string } => {
      const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', script], {
        env: { PATH: process.env['PATH'] ?? '', ...env },
        encoding: 'utf8',
        timeout: 60_000,
      });
      return { status: r.status, stderr: r.stderr };
    };
    const s = run(SERVER, { RABBITMQ_URL: 'http://x', ROUNDS: 'many', SCHEDULE: 'async' });
    assert.equal(s.status, 2);
    assert.match(s.stderr, /RUN_ID is required/);
    assert.match(s.stderr, /REDIS_URL is required/);
    assert.match(
      s.stderr,
      /RABBITMQ_URL: expected a URL of scheme amqp or amqps, got "http:\/\/x"/,
    );
    assert.match(s.stderr, /ROUNDS: expected a whole number of 1 or more, got "many"/);
    assert.match(s.stderr, /SCHEDULE: expected one of serial, parallel, got "async"/);
    const d = run(DEVICE, {
      RABBITMQ_URL,
      REDIS_URL,
      RUN_ID: 'x',
      DEVICE_INDEX: '3',
      NUM_DEVICES: '3',
    });
    assert.equal(d.status, 2);
    assert.match(d.stderr, /DEVICE_INDEX: 3 must be below NUM_DEVICES \(3\)/);
    const m = run(DEVICE, { RABBITMQ_URL, REDIS_URL, RUN_ID: 'x' });
    assert.match(m.stderr, /DEVICE_INDEX is required/);
    assert.match(m.stderr, /NUM_DEVICES is required/);
  });

  it('a device killed mid-run: rounds close at their deadline with quorum, the device restarts and rejoins', async () => {
    const runId = uniqueRun('kill-dev');
    const env = {
      // Never ends by itself: the test stops it once it has seen the rejoin. A run of a fixed
      // length could end, or stall, before the restarted device joins.
      ROUNDS: '1000000',
      QUORUM: '2',
      SCHEDULE: 'serial',
      ROUND_DEADLINE_MS: '2000',
      // The killed device stays alive in the membership for 5 s or more (its last heartbeat plus
      // this): a round starts in that time even on a loaded machine, with it as a participant, and
      // closes at the deadline. With 3 s, a server held up for 2 s between two rounds saw it gone,
      // ran no round without it (MIN_DEVICES is 3) and the test waited for one for ever.
      HEARTBEAT_TIMEOUT_S: '6',
      // Rounds wait for every participant: one short of an update closed at the deadline.
      MAX_MISSED_ROUNDS: '0',
    };
    const d = await runDistributed(runId, { ...env, HEARTBEAT_S: '1' }, 3);
    type Report = {
      round: number;
      participants: number;
      accepted: { deviceId: string }[];
      outcomes: { declined: number };
      closedBy?: string;
    };
    const reports = (): Report[] =>
      readFileSync(join(d.out, runId, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Report);
    const answered = (r: Report): boolean => r.accepted.some((a) => a.deviceId === 'device-1');

    await until('round 5', async () => ((await api(d.port)).round >= 5 ? true : undefined));
    const killed = d.devices[1]!;
    killed.kill('SIGKILL');
    await exitOf(killed);
    // Round `seen` + 1 may be in flight with the dead process's last update; every round after it
    // starts after the kill, so device-1's update there is the restarted process's.
    const seen = reports().at(-1)!.round;
    // Restarted at once: it waits by itself for its old self's liveness to expire, then joins.
    start(DEVICE, {
      ...RUN,
      ...env,
      HEARTBEAT_S: '1',
      RUN_ID: runId,
      DEVICE_INDEX: '1',
      NUM_DEVICES: '3',
      PORT: String(nextPort()),
    });
    const rejoined = await until('a round that the restarted device-1 answered', async () =>
      reports().find((r) => r.round > seen + 1 && answered(r)),
    );
    const rounds = reports();
    assert.deepEqual(
      rounds.map((r) => r.round),
      Array.from({ length: rounds.length }, (_, i) => i),
      'every round recorded once, in order',
    );
    const afterKill = rounds.filter((r) => r.round > seen && r.round < rejoined.round);
    assert.ok(
      afterKill.some(
        (r) =>
          r.participants === 3 &&
          !answered(r) &&
          r.accepted.length >= 2 &&
          r.closedBy === 'deadline',
      ),
      `a round went on without device-1 and closed at its deadline with the quorum: ${JSON.stringify(afterKill.map((r) => [r.round, r.participants, r.accepted.length, r.closedBy]))}`,
    );
    // And no round short of an update closed before its deadline (no device declined here).
    for (const r of rounds) {
      assert.equal(r.outcomes.declined, 0, `round ${r.round}: no device declined`);
      if (r.accepted.length < r.participants)
        assert.equal(r.closedBy, 'deadline', `round ${r.round} waited for its missing update`);
    }
    for (const c of children) c.kill('SIGTERM');
  });

  it('the server killed with SIGKILL resumes from its checkpoint without counting a round twice', async () => {
    const runId = uniqueRun('kill-srv');
    const env = { ROUNDS: '30', QUORUM: '2', SCHEDULE: 'parallel', CHECKPOINT_EVERY: '1' };
    const d = await runDistributed(runId, env, 2);
    await until('round 8', async () => ((await api(d.port)).round >= 8 ? true : undefined));
    // Stopped, the server writes no checkpoint between the read below and the kill: the kill
    // point is the checkpoint read, whatever the machine's speed.
    d.server.kill('SIGSTOP');
    const redis = new Redis(REDIS_URL);
    const pointer = JSON.parse((await redis.get(names(runId).checkpointKey))!) as {
      round: number;
      keys: { g: string };
    };
    const generator = await redis.getBuffer(pointer.keys.g);
    await redis.quit();
    assert.ok(generator && generator.length > 100, 'the checkpoint generator blob');
    d.server.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    const port = nextPort();
    start(SERVER, {
      ...RUN,
      ...env,
      RUN_ID: runId,
      PORT: String(port),
      OUT: d.out,
      MIN_DEVICES: '2',
    });
    await until('the resumed run to finish', async () =>
      (await api(port)).status === 'finished' ? true : undefined,
    );
    // The new server went on with the checkpoint's generator, byte for byte (it writes what it
    // resumed with to the run folder): a resume that kept its fresh weights fails here.
    const resumed = readFileSync(
      join(d.out, runId, `resumed-round-${String(pointer.round).padStart(6, '0')}-generator.dgwb`),
    );
    assert.ok(resumed.equals(generator), "resumed with the checkpoint's generator");
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const resumedRounds = metric(text, 'distgan_rounds_total');
    const rounds = readFileSync(join(d.out, runId, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { round: number }).round);
    // every round is there; only the round in flight at the kill (checkpointed or not) can repeat
    assert.deepEqual(
      [...new Set(rounds)],
      Array.from({ length: 30 }, (_, i) => i),
    );
    assert.ok(rounds.length <= 31, `${rounds.length} round records`);
    assert.equal(resumedRounds, 30 - (pointer.round + 1), 'the new server trained only the rest');
    assert.equal(metric(text, 'distgan_round'), 29);
    for (const c of children) c.kill('SIGTERM');
  });

  it('devices that start before the server wait for it, and the run completes', async () => {
    const runId = uniqueRun('early');
    const out = mkdtempSync(join(tmpdir(), 'distgan-dist-'));
    const env = { ...RUN, RUN_ID: runId, ROUNDS: '4', QUORUM: '2' };
    for (let k = 0; k < 2; k++) {
      start(DEVICE, {
        ...env,
        DEVICE_INDEX: String(k),
        NUM_DEVICES: '2',
        PORT: String(nextPort()),
      });
    }
    await new Promise((r) => setTimeout(r, 3000));
    const port = nextPort();
    start(SERVER, { ...env, PORT: String(port), OUT: out, MIN_DEVICES: '2' });
    await until('the run to finish', async () =>
      (await api(port)).status === 'finished' ? true : undefined,
    );
    assert.equal((await api(port)).round, 3);
    killAll('SIGTERM');
  });
});
