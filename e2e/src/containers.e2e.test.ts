import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { StartedTestContainer } from 'testcontainers';
import { names } from '@distgan/protocol';
import { uniqueRun, until } from '@distgan/server/harness';
import { buildImages, engineStatus, type Images } from './images.js';
import { Fleet, freePort } from './containers.js';
import { Prometheus } from './prometheus.js';
import {
  assertMalformedUpdateRefused,
  assertMetricsPassPromtool,
  assertRoundLatencies,
} from './checks.js';

/*
 * The deployment end to end, as containers: RabbitMQ, Redis and Prometheus from Debian's
 * packages, the server and the devices from the project's own images (built by `npm run images`,
 * content-cached), all started and stopped by testcontainers on the host network. The services
 * run as the chart runs them: user 1000, read-only root file system, /tmp on tmpfs, no
 * capabilities, the run folder on a mounted volume. Everything is checked from the outside:
 * the HTTP API, PromQL, the run's files in the volume, and the engine's view of the containers.
 *
 * Without a Docker engine the suite says so and stops, unless CI=true, where that is a failure.
 * The process-mode suite (cluster.e2e.test.ts) runs the same services as processes either way.
 */
const engine = engineStatus();
const inCi = process.env['CI'] === 'true';
const skip =
  engine.ok || inCi ? false : `container mode not run: no Docker engine (${engine.reason})`;
if (skip) console.log(`e2e: ${skip}; the process-mode suite ran instead`);

const ROUNDS = 160;
const DEADLINE_MS = 6000;
const DEVICES = 4;

interface MetricsLine {
  round: number;
  participants: number;
  accepted: { deviceId: string }[];
  phases: { collectMs: number; totalMs: number };
  fid?: number;
}

describe('end to end in containers: server, devices, RabbitMQ, Redis, Prometheus', { skip }, () => {
  let fleet: Fleet;
  let volume: string;
  const runId = uniqueRun('ctr');
  let images: Images;
  let prom: Prometheus;
  let rabbit: StartedTestContainer;
  let redisContainer: StartedTestContainer;
  let server: StartedTestContainer;
  const devices = new Map<number, StartedTestContainer>();
  const ports = {
    amqp: 0,
    dist: 0,
    epmd: 0,
    redis: 0,
    prom: 0,
    server: 0,
    devices: [] as number[],
  };
  let redis: Redis;

  const onSigint = (): void => {
    void fleet?.tearDown().finally(() => process.exit(130));
  };

  const common = (): Record<string, string> => ({
    RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${ports.amqp}`,
    REDIS_URL: `redis://127.0.0.1:${ports.redis}`,
    RUN_ID: runId,
    DATASET: 'mnist',
    // The suite is about the deployment, and its timings were set with the MLP at these settings.
    MODEL: 'mlp',
    BATCH_SIZE: '64',
    LR_D: '2e-4',
    LR_G: '2e-4',
    BETA1: '0.5',
    BETA2: '0.999',
    G_AVERAGE: '0',
    LIMIT: '4000',
    NUM_DEVICES: String(DEVICES),
    SEED: '5',
    LOCAL_STEPS: '5',
    GENERATOR_STEPS: '5',
    HEARTBEAT_TIMEOUT_S: '3',
    LOG_LEVEL: 'info',
  });
  const startServer = (): Promise<StartedTestContainer> =>
    fleet.start({
      name: 'server',
      image: images.server,
      hardened: true,
      binds: [{ source: volume, target: '/data' }],
      env: {
        ...common(),
        PORT: String(ports.server),
        OUT: '/data/runs',
        ROUNDS: String(ROUNDS),
        MIN_DEVICES: '1',
        QUORUM: '1',
        ROUND_DEADLINE_MS: String(DEADLINE_MS),
        CHECKPOINT_EVERY: '5',
        EVAL_EVERY: '20',
        EVAL_SAMPLES: '500',
        SAMPLE_EVERY: '1000',
      },
    });
  const startDevice = async (k: number): Promise<StartedTestContainer> => {
    const c = await fleet.start({
      name: `device-${k}`,
      image: images.device,
      hardened: true,
      env: {
        ...common(),
        DEVICE_INDEX: String(k),
        PORT: String(ports.devices[k]),
        HEARTBEAT_S: '1',
      },
    });
    devices.set(k, c);
    prom?.setTargets(targets());
    return c;
  };
  const targets = (): { port: number; job: string }[] => [
    { port: ports.server, job: 'server' },
    ...[...devices.keys()].map((k) => ({ port: ports.devices[k]!, job: 'device' })),
  ];
  const api = async (): Promise<{ status: string; round: number; resumedFrom?: number }> =>
    (await (await fetch(`http://127.0.0.1:${ports.server}/api/run`)).json()) as {
      status: string;
      round: number;
      resumedFrom?: number;
    };
  const q = (expr: string): Promise<number | undefined> => prom.scalar(expr);
  const sel = `{job="distgan-server"}`;
  /** The last completed round, as the server's API says. */
  const roundNow = async (): Promise<number> => {
    try {
      return (await api()).round;
    } catch {
      return -1;
    }
  };
  const waitFor = (what: string, f: () => Promise<boolean>, ms = 180_000): Promise<true> =>
    until(what, async () => ((await f()) ? true : undefined), ms);
  const deviceRound = async (k: number): Promise<number> =>
    (await q(`distgan_device_last_round{instance="127.0.0.1:${ports.devices[k]}"}`)) ?? -1;
  const metricsLines = (): MetricsLine[] => {
    const file = join(volume, 'runs', runId, 'metrics.jsonl');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as MetricsLine);
  };

  before(async () => {
    if (!engine.ok) {
      throw new Error(
        `CI=true and no Docker engine: ${engine.reason}. .ci/run installs docker.io and starts dockerd.`,
      );
    }
    fleet = new Fleet();
    volume = mkdtempSync(join(tmpdir(), 'distgan-e2e-volume-'));
    console.log(`e2e: container mode (Docker engine ${engine.version}), suite ${fleet.id}`);
    process.once('SIGINT', onSigint);
    try {
      await startBrokers();
    } catch (err) {
      // The runner does not always run `after` when `before` fails: leave nothing behind.
      await fleet.tearDown();
      throw err;
    }
  });

  const startBrokers = async (): Promise<void> => {
    images = await buildImages((l) => {
      if (!l.startsWith('  [')) console.log(`e2e images: ${l}`);
    });
    // The volume belongs to the services' user, as a PersistentVolume with fsGroup 1000 does.
    chmodSync(volume, 0o777);
    for (const k of ['amqp', 'dist', 'epmd', 'redis', 'prom', 'server'] as const)
      ports[k] = await freePort();
    for (let k = 0; k < DEVICES; k++) ports.devices.push(await freePort());

    rabbit = await fleet.start({
      name: 'rabbitmq',
      image: images.rabbitmq,
      env: {
        RABBITMQ_NODE_PORT: String(ports.amqp),
        RABBITMQ_DIST_PORT: String(ports.dist),
        ERL_EPMD_PORT: String(ports.epmd),
        RABBITMQ_NODENAME: `${fleet.id}@localhost`,
      },
    });
    redisContainer = await fleet.start({
      name: 'redis',
      image: images.redis,
      env: { REDIS_PORT: String(ports.redis) },
    });
    redis = new Redis(`redis://127.0.0.1:${ports.redis}`, { maxRetriesPerRequest: 3 });
    redis.on('error', () => {}); // refused while its container restarts; it reconnects

    prom = new Prometheus(ports.prom, { kind: 'container', fleet, image: images.prometheus });
    await prom.start([{ port: ports.server, job: 'server' }]);
  };

  after(async () => {
    process.removeListener('SIGINT', onSigint);
    redis?.disconnect();
    if (!fleet) return;
    await fleet.tearDown();
    prom?.stop();
    rmSync(volume, { recursive: true, force: true });
    const left = await fleet.leftOver();
    assert.deepEqual(left, [], `containers left after the suite: ${left.join('; ')}`);
  });

  it('starts the server and two devices, non-root on a read-only root, healthy', async () => {
    server = await startServer();
    await startDevice(0);
    await startDevice(1);
    for (const c of [server, devices.get(0)!, devices.get(1)!]) {
      const i = await fleet.inspect(c);
      assert.equal(i.user, '1000:1000', 'the image runs as user 1000');
      assert.ok(i.readOnly, 'the root file system is read-only');
      assert.equal(i.health, 'healthy', 'the image answers its own health check');
      const id = await c.exec(['id', '-u']);
      assert.equal(id.output.trim(), '1000');
      const write = await c.exec(['sh', '-c', 'echo x > /app/probe']);
      assert.notEqual(write.exitCode, 0, 'writing under /app fails');
      assert.match(write.output, /Read-only file system/);
    }
    for (const c of [rabbit, redisContainer])
      assert.equal((await fleet.inspect(c)).health, 'healthy', 'the broker images answer theirs');
    // The dashboard's script is bundled inside the server image on the first request.
    const page = await fetch(`http://127.0.0.1:${ports.server}/`);
    assert.equal(page.status, 200);
    const script = /src="([^"]+\.js)"/.exec(await page.text())?.[1];
    assert.ok(script, 'the dashboard page names its script');
    const js = await fetch(new URL(script, `http://127.0.0.1:${ports.server}/`));
    assert.equal(js.status, 200, `the dashboard script ${script}`);
  });

  it('trains: rounds advance, and Prometheus sees every phase of their latency', async () => {
    await assertRoundLatencies(prom, 8);
    await waitFor('2 active devices', async () => (await q(`distgan_active_devices${sel}`)) === 2);
    // A device's metrics while it trains: devices exit by themselves once the run is over.
    await assertMetricsPassPromtool(prom, [ports.devices[0]!]);
  });

  it('scales up: a device container started mid-run trains from the next rounds', async () => {
    const joinedAt = await roundNow();
    await startDevice(2);
    await waitFor('3 active devices', async () => (await q(`distgan_active_devices${sel}`)) === 3);
    await waitFor('the new device to train a round', async () => (await deviceRound(2)) > joinedAt);
    await waitFor('a round with 3 participants', async () =>
      metricsLines().some((l) => l.round > joinedAt && l.accepted.length === 3),
    );
  });

  it('refuses and counts a malformed update, and goes on', async () => {
    await assertMalformedUpdateRefused({
      rabbitmqUrl: `amqp://guest:guest@127.0.0.1:${ports.amqp}`,
      runId,
      prom,
      roundNow,
    });
  });

  it('scales down: a stopped device container is no longer waited for', async () => {
    await devices.get(2)!.stop({ timeout: 20_000 });
    devices.delete(2);
    prom.setTargets(targets());
    await waitFor('2 active devices', async () => (await q(`distgan_active_devices${sel}`)) === 2);
    const leftAt = await roundNow();
    await waitFor('5 rounds after the device left', async () => (await roundNow()) >= leftAt + 5);
    const after = metricsLines().filter((l) => l.round > leftAt + 1 && l.round <= leftAt + 5);
    assert.ok(after.length >= 3, `${after.length} rounds recorded after the device left`);
    for (const l of after) {
      assert.equal(l.accepted.length, 2, `round ${l.round}: the two devices left`);
      assert.ok(
        l.phases.collectMs < DEADLINE_MS / 2,
        `round ${l.round} collected in ${l.phases.collectMs} ms: it waited for the departed device`,
      );
    }
  });

  it('docker kill of a device: its rounds close at the deadline with the quorum; a new container takes its place', async () => {
    const killedAt = await roundNow();
    await fleet.kill(devices.get(1)!);
    await waitFor(
      '2 rounds without the killed device',
      async () => (await roundNow()) >= killedAt + 3,
    );
    const closedAtDeadline = metricsLines().filter(
      (l) =>
        l.round > killedAt && l.accepted.length === 1 && l.phases.collectMs >= DEADLINE_MS * 0.95,
    );
    assert.ok(
      closedAtDeadline.length >= 1,
      'a round after the kill closed at its deadline with the one device left',
    );
    const replacedAt = await roundNow();
    await startDevice(1);
    await waitFor(
      'the new device-1 container to train',
      async () => (await deviceRound(1)) > replacedAt,
    );
  });

  it('docker pause of a device beyond the deadline: rounds close without it; unpaused, it trains again', async () => {
    const device = devices.get(0)!;
    const pausedAt = await roundNow();
    await fleet.pause(device);
    await new Promise((r) => setTimeout(r, DEADLINE_MS + 4000));
    const during = await roundNow();
    await fleet.unpause(device);
    assert.ok(
      during > pausedAt,
      `rounds went on while device-0 was paused (${pausedAt} → ${during})`,
    );
    const withoutIt = metricsLines().filter(
      (l) =>
        l.round > pausedAt &&
        l.round <= during &&
        !l.accepted.some((a) => a.deviceId === 'device-0'),
    );
    assert.ok(withoutIt.length >= 1, 'rounds closed without the paused device');
    await waitFor('device-0 to train again', async () => (await deviceRound(0)) > during);
  });

  for (const [name, container] of [
    ['RabbitMQ', () => rabbit],
    ['Redis', () => redisContainer],
  ] as const) {
    it(`a restart of the ${name} container: the run goes on`, async () => {
      const before = await roundNow();
      await container().restart({ timeout: 10_000 });
      await waitFor(
        `3 rounds after the ${name} restart`,
        async () => (await roundNow()) >= before + 3,
        240_000,
      );
    });
  }

  it('docker kill of the server: a new container on the same volume resumes from the checkpoint, byte for byte', async () => {
    const key = names(runId).checkpointKey;
    await waitFor('a checkpoint', async () => (await redis.get(key)) !== null);
    // Paused, the server writes no new checkpoint between reading it and the kill.
    await fleet.pause(server);
    const pointer = JSON.parse((await redis.get(key))!) as { round: number; keys: { g: string } };
    const generator = await redis.getBuffer(pointer.keys.g);
    assert.ok(generator && generator.length > 1000, 'the checkpoint generator blob');
    await fleet.kill(server);
    server = await startServer();
    await waitFor(
      'the new server to resume',
      async () => (await api().catch(() => undefined))?.resumedFrom !== undefined,
    );
    assert.equal(
      (await api()).resumedFrom,
      pointer.round,
      'resumed from the checkpoint read before the kill',
    );
    const record = join(
      volume,
      'runs',
      runId,
      `resumed-round-${String(pointer.round).padStart(6, '0')}-generator.dgwb`,
    );
    const resumed = readFileSync(record);
    assert.ok(
      resumed.equals(generator),
      "the generator the run goes on with is the checkpoint's, byte for byte",
    );
    await waitFor('rounds after the resume', async () => (await roundNow()) > pointer.round + 2);
    assert.ok(
      metricsLines().filter((l) => l.round === pointer.round + 1).length >= 1,
      'the round after the checkpoint is trained',
    );
  });

  it('finishes the run; FID falls; the metrics pass promtool', async () => {
    await waitFor('the run to finish', async () => (await api()).status === 'finished', 900_000);
    await new Promise((r) => setTimeout(r, 2500)); // the last scrape
    assert.equal(await q(`distgan_round${sel}`), ROUNDS - 1);
    const lines = metricsLines();
    const rounds = new Set(lines.map((l) => l.round));
    for (let t = 0; t < ROUNDS; t++) assert.ok(rounds.has(t), `round ${t} recorded`);
    // One FID per evaluation (a resumed run evaluates its re-run rounds again: keep the last).
    const fidOf = new Map<number, number>();
    for (const l of lines) if (l.fid !== undefined) fidOf.set(l.round, l.fid);
    const fids = [...fidOf.entries()].sort((a, b) => a[0] - b[0]).map(([, f]) => f);
    assert.ok(fids.length >= ROUNDS / 20, `${fids.length} evaluations`);
    assert.ok(fids.at(-1)! < 0.8 * fids[0]!, `FID from ${fids[0]} to ${fids.at(-1)}`);
    assert.ok(
      existsSync(join(volume, 'runs', runId, 'generator.dgwb')),
      'the final generator is in the volume',
    );
    const promFid = await q(`distgan_fid${sel}`);
    assert.equal(promFid, fids.at(-1), 'Prometheus has the last FID');

    await assertMetricsPassPromtool(prom, [ports.server]);

    // The run is over: every device container still there exits 0 by itself.
    for (const [k, c] of devices) {
      await waitFor(`device ${k} to exit`, async () => !(await fleet.inspect(c)).running);
      assert.equal((await fleet.inspect(c)).exitCode, 0, `device ${k} exits 0`);
    }
  });
});
