import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RabbitRoundTransport } from '@distgan/transport';
import {
  api,
  DEVICE,
  exitOf,
  nextPort,
  RABBITMQ_URL,
  REDIS_URL,
  RUN,
  SERVER,
  start,
  tearDown,
  uniqueRun,
  until,
} from '@distgan/server/harness';
import { findPython } from './python.js';

/*
 * The Python device (examples/python-device) in a real run beside a TypeScript device: the
 * server and both devices as processes over the real RabbitMQ and Redis (issue #23 item 4).
 */
const root = fileURLToPath(new URL('../../../', import.meta.url));
const python = findPython();
const PY_ID = 'py-0';
let runId = '';
let pyDevice: ChildProcess | undefined;
let pyOutput = '';

after(async () => {
  pyDevice?.kill('SIGKILL');
  await tearDown();
  if (!runId) return;
  // The Python device's queue is not one the harness knows of.
  const t = await RabbitRoundTransport.connect({ url: RABBITMQ_URL, runId, initialMaxRetries: 1 });
  await t.deleteRunTopology([PY_ID]).catch(() => {});
  await t.close();
});

describe('the Python device in a run', () => {
  it(
    'takes part beside a TypeScript device: its updates are accepted every round and the run finishes',
    { skip: python || process.env['CI'] ? false : 'python3 with numpy, pika and redis is missing' },
    async () => {
      assert.ok(python, 'CI is set: python3 with numpy, pika and redis must be installed');
      runId = uniqueRun('python');
      const out = mkdtempSync(join(tmpdir(), 'distgan-python-'));
      const port = nextPort();
      const rounds = 6;
      const server = start(SERVER, {
        ...RUN,
        RUN_ID: runId,
        PORT: String(port),
        OUT: out,
        ROUNDS: String(rounds),
        MIN_DEVICES: '2',
        QUORUM: '2',
        LOCAL_STEPS: '2',
      });
      const tsDevice = start(DEVICE, {
        ...RUN,
        RUN_ID: runId,
        DEVICE_INDEX: '0',
        NUM_DEVICES: '1',
        PORT: String(nextPort()),
      });
      pyDevice = spawn(python!, ['examples/python-device/device.py'], {
        cwd: root,
        env: {
          ...process.env,
          ...RUN,
          RABBITMQ_URL,
          REDIS_URL,
          RUN_ID: runId,
          DEVICE_ID: PY_ID,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const keep = (b: Buffer): void => void (pyOutput = (pyOutput + b.toString()).slice(-8000));
      pyDevice.stdout?.on('data', keep);
      pyDevice.stderr?.on('data', keep);

      await until(
        'the run to finish',
        async () => ((await api(port)).status === 'finished' ? true : undefined),
        180_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n--- the Python device:\n${pyOutput}`);
      });
      const lines = readFileSync(join(out, runId, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { round: number; accepted: { deviceId: string }[] });
      assert.deepEqual(
        lines.map((l) => [l.round, l.accepted.map((a) => a.deviceId).sort()]),
        Array.from({ length: rounds }, (_, t) => [t, ['device-0', PY_ID]]),
        pyOutput,
      );
      // Both devices see the run finished and exit 0 by themselves.
      assert.deepEqual(await Promise.all([tsDevice, pyDevice].map(exitOf)), [0, 0], pyOutput);
      server.kill('SIGTERM');
      assert.equal(await exitOf(server), 0);
    },
  );
});
