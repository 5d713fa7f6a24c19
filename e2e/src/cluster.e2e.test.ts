import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEVICE,
  exitOf,
  SERVER,
  tearDown,
  nextPort,
  start,
  uniqueRun,
  until,
} from '@distgan/server/harness';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Prometheus } from './prometheus.js';
import {
  assertMalformedUpdateRefused,
  assertMetricsPassPromtool,
  assertRoundLatencies,
} from './checks.js';
import { startServices, type Services } from './services.js';

/*
 * The whole system end to end: the server and device services as real processes, RabbitMQ and
 * Redis (containers, or the services at RABBITMQ_URL / REDIS_URL), and a real Prometheus that
 * scrapes them. Everything is checked from the outside: PromQL, the HTTP API, the run folder.
 * One run goes through scaling up and down, a malformed message, a device killed and restarted,
 * and the server killed and restarted, and must still finish with a falling FID.
 */
const ROUNDS = 100;
let services: Services;
let prom: Prometheus;

before(async () => {
  services = await startServices();
  console.log(`e2e services: ${services.source}`);
  if (!Prometheus.available()) {
    throw new Error(
      "Prometheus is not installed: the e2e suite needs Debian's prometheus package (apt-get install prometheus)",
    );
  }
  prom = new Prometheus(nextPort());
});

after(async () => {
  await tearDown();
  prom?.stop();
  await services?.stop();
});

describe('end to end: server, devices, RabbitMQ, Redis and Prometheus', () => {
  it('scales, survives faults and bad input, and trains (FID falls), as Prometheus sees it', async () => {
    const runId = uniqueRun('e2e');
    const out = mkdtempSync(join(tmpdir(), 'distgan-e2e-'));
    const common = {
      RABBITMQ_URL: services.rabbitmqUrl,
      REDIS_URL: services.redisUrl,
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
      NUM_DEVICES: '4',
      SEED: '5',
      LOCAL_STEPS: '5',
      GENERATOR_STEPS: '5',
      // A device killed outright stays alive in the membership for 14 s or more (its last
      // heartbeat plus this), so a round starts with it as a participant and closes at the
      // deadline even when the server spends seconds between two rounds (5 generator steps, an
      // evaluation, a checkpoint). With 3 s, a kill just after the device answered left no such
      // round in 1 run of 3.
      HEARTBEAT_TIMEOUT_S: '15',
      LOG_LEVEL: 'warn',
    };
    const serverPort = nextPort();
    const serverEnv = {
      ...common,
      PORT: String(serverPort),
      OUT: out,
      ROUNDS: String(ROUNDS),
      MIN_DEVICES: '1',
      QUORUM: '1',
      ROUND_DEADLINE_MS: '6000',
      // Rounds wait for every participant: one short of an update closed at the deadline.
      MAX_MISSED_ROUNDS: '0',
      CHECKPOINT_EVERY: '5',
      EVAL_EVERY: '20',
      EVAL_SAMPLES: '500',
      SAMPLE_EVERY: '1000',
    };
    const devicePorts = [0, 1, 2, 3].map(() => nextPort());
    const devices = new Map<number, ChildProcess>();
    const startDevice = (k: number): void => {
      devices.set(
        k,
        start(DEVICE, {
          ...common,
          DEVICE_INDEX: String(k),
          PORT: String(devicePorts[k]),
          HEARTBEAT_S: '1',
        }),
      );
    };
    const targets = (): { port: number; job: string }[] => [
      { port: serverPort, job: 'server' },
      ...[...devices.keys()].map((k) => ({ port: devicePorts[k]!, job: 'device' })),
    ];
    const api = async (): Promise<{ status: string; round: number; resumedFrom?: number }> =>
      (await (await fetch(`http://127.0.0.1:${serverPort}/api/run`)).json()) as {
        status: string;
        round: number;
        resumedFrom?: number;
      };
    const q = (expr: string): Promise<number | undefined> => prom.scalar(expr);
    const sel = `{job="distgan-server"}`;
    const roundNow = async (): Promise<number> => (await q(`distgan_round${sel}`)) ?? -1;
    const waitFor = (what: string, f: () => Promise<boolean>, ms = 120_000): Promise<true> =>
      until(what, async () => ((await f()) ? true : undefined), ms);
    type RoundLine = {
      round: number;
      fid?: number;
      participants: number;
      accepted: { deviceId: string }[];
      outcomes: { declined: number };
      closedBy?: string;
      phases: { collectMs: number };
    };
    const roundLines = (): RoundLine[] =>
      readFileSync(join(out, runId, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as RoundLine);
    const answered = (l: RoundLine, deviceId: string): boolean =>
      l.accepted.some((a) => a.deviceId === deviceId);

    let server = start(SERVER, serverEnv);
    startDevice(0);
    startDevice(1);
    await prom.start(targets());

    // Rounds advance, and Prometheus sees it.
    await assertRoundLatencies(prom, 8);
    await waitFor('2 active devices', async () => (await q(`distgan_active_devices${sel}`)) === 2);

    // Scale up: a third device takes part from the next rounds.
    const joinedAt = await roundNow();
    startDevice(2);
    prom.setTargets(targets());
    await waitFor('3 active devices', async () => (await q(`distgan_active_devices${sel}`)) === 3);
    await waitFor(
      'the new device to train a round',
      async () =>
        ((await q(`distgan_device_last_round{instance="127.0.0.1:${devicePorts[2]}"}`)) ?? -1) >
        joinedAt,
    );

    // A malformed update in the round queue: refused, counted, and the run goes on.
    await assertMalformedUpdateRefused({
      rabbitmqUrl: services.rabbitmqUrl,
      runId,
      prom,
      roundNow: async () => (await api()).round,
    });

    // Scale down: a device that leaves stops being expected; rounds do not wait for it.
    devices.get(2)!.kill('SIGTERM');
    await waitFor('2 active devices', async () => (await q(`distgan_active_devices${sel}`)) === 2);
    const leftAt = await roundNow();
    await waitFor('3 rounds after the device left', async () => (await roundNow()) >= leftAt + 3);
    devices.delete(2);
    prom.setTargets(targets());

    // A device killed outright: rounds go on with the quorum of 1, closing at the deadline while
    // it still counts as alive; it restarts and rejoins.
    const killed = devices.get(1)!;
    killed.kill('SIGKILL');
    await exitOf(killed);
    // Round `killedAt` + 1 may be in flight with the dead process's last update; every round
    // after it starts after the kill (the run folder, not Prometheus: a scrape is up to 1 s old).
    const killedAt = roundLines().at(-1)!.round;
    const without = await until('a round without the killed device', async () =>
      roundLines().find((l) => l.round > killedAt && !answered(l, 'device-1')),
    );
    // It waits by itself for its old self's liveness to expire, then joins.
    startDevice(1);
    const rejoined = await until('a round that the restarted device answered', async () =>
      roundLines().find(
        (l) => l.round > Math.max(killedAt + 1, without.round) && answered(l, 'device-1'),
      ),
    );
    await waitFor(
      'Prometheus to see the restarted device train',
      async () =>
        ((await q(`distgan_device_last_round{instance="127.0.0.1:${devicePorts[1]}"}`)) ?? -1) >=
        rejoined.round,
    );

    // The server killed outright: it restarts, resumes from its checkpoint, and finishes.
    await waitFor('round 50', async () => (await roundNow()) >= 50);
    // A device's metrics while it trains: devices exit by themselves once the run is over.
    await assertMetricsPassPromtool(prom, [devicePorts[0]!]);
    server.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    server = start(SERVER, serverEnv);
    await waitFor(
      'the restarted server to be scraped',
      async () => (await q(`up{job="distgan-server"}`)) === 1 && (await roundNow()) >= 45,
    );
    await waitFor('the run to finish', async () => (await api()).status === 'finished', 600_000);
    await new Promise((r) => setTimeout(r, 2500)); // the last scrape
    assert.equal(await roundNow(), ROUNDS - 1);

    // FID falls: every evaluation, as Prometheus recorded it, and in the run folder.
    const fids = await prom.range(`distgan_fid${sel}`, 3600);
    // Distinct values: one evaluation is scraped many times over.
    assert.ok(new Set(fids).size >= 4, `${new Set(fids).size} distinct FID values in Prometheus`);
    assert.ok(fids.at(-1)! < 0.9 * fids[0]!, `FID from ${fids[0]} to ${fids.at(-1)}`);
    const lines = roundLines();
    const deadline = Number(serverEnv.ROUND_DEADLINE_MS);
    // After the clean leave: rounds of 2 devices that closed long before the deadline.
    const afterLeave = lines.filter((l) => l.round > leftAt && l.round <= leftAt + 3);
    assert.ok(afterLeave.length >= 3, 'the rounds after the leave are recorded');
    for (const l of afterLeave) {
      assert.equal(l.participants, 2, `round ${l.round} expects only the devices still there`);
      assert.ok(
        l.phases.collectMs < deadline / 2,
        `round ${l.round} did not wait for the deadline`,
      );
    }
    // After the kill: while the killed device still counted as alive, a round closed at the
    // deadline with the quorum (fewer updates than participants).
    const afterKill = lines.filter((l) => l.round > killedAt && l.round < rejoined.round);
    assert.ok(
      afterKill.some(
        (l) =>
          l.participants === 2 &&
          !answered(l, 'device-1') &&
          l.accepted.length >= 1 &&
          l.closedBy === 'deadline',
      ),
      `a round closed at its deadline without the killed device: ${JSON.stringify(afterKill.map((l) => [l.round, l.participants, l.accepted.length, l.closedBy]))}`,
    );
    // No round short of an update closed before its deadline, unless a device declined.
    for (const l of lines) {
      if (l.accepted.length < l.participants && l.outcomes.declined === 0)
        assert.equal(l.closedBy, 'deadline', `round ${l.round} waited for its missing update`);
    }
    // The restarted server resumed from a checkpoint near the kill, not from scratch: every round
    // up to that checkpoint is recorded once.
    const resumedFrom = (await api()).resumedFrom;
    assert.ok(resumedFrom !== undefined && resumedFrom >= 45, `resumed from round ${resumedFrom}`);
    for (let t = 0; t <= resumedFrom; t++)
      assert.equal(lines.filter((l) => l.round === t).length, 1, `round ${t} trained once`);
    const evaluated = lines.filter((l) => l.fid !== undefined);
    assert.ok(evaluated.length >= 4, `${evaluated.length} evaluations in metrics.jsonl`);
    assert.ok(evaluated.at(-1)!.fid! < 0.9 * evaluated[0]!.fid!);
    // Every round up to the last is in the run folder (re-run rounds after the restart too).
    const rounds = new Set(lines.map((l) => l.round));
    for (let t = 0; t < ROUNDS; t++) assert.ok(rounds.has(t), `round ${t} recorded`);
    assert.ok(
      lines.some((l) => l.participants === 3),
      'rounds with 3 devices',
    );

    await assertMetricsPassPromtool(prom, [serverPort]);

    // The run is over: the devices exit 0 by themselves, the server after its linger time (or
    // now, on SIGTERM).
    for (const d of devices.values())
      await waitFor('a device to exit', async () => d.exitCode !== null || d.signalCode !== null);
    const codes = [...devices.values()].map((d) => d.exitCode);
    assert.deepEqual(
      codes,
      codes.map(() => 0),
    );
    server.kill('SIGTERM');
  });
});
