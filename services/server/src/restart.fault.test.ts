import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  api,
  describeServices,
  tearDown,
  REDIS_URL,
  RABBITMQ_URL,
  runDistributed,
  uniqueRun,
  until,
} from './process-harness.js';

/*
 * Restarts RabbitMQ and Redis under a running training run. These suites restart the services
 * themselves, so they need local ones (rabbitmqctl and redis-server on this machine) and run
 * alone (`node scripts/run-tests.mjs fault`, the last step of `npm test`).
 */
console.log(`restart tests use ${describeServices()}`);
after(tearDown);

const local = (url: string): boolean => ['127.0.0.1', 'localhost'].includes(new URL(url).hostname);

function restartRedis(): void {
  const port = new URL(REDIS_URL).port || '6379';
  try {
    execFileSync('redis-cli', ['-p', port, 'shutdown', 'nosave'], { stdio: 'ignore' });
  } catch {
    /* the connection drops as Redis exits */
  }
  execFileSync('redis-server', [
    '--daemonize',
    'yes',
    '--bind',
    '127.0.0.1',
    '--port',
    port,
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
}

const ROUNDS = 200;

function restartRabbit(): void {
  execFileSync('rabbitmqctl', ['stop_app'], { stdio: 'ignore' });
  execFileSync('rabbitmqctl', ['start_app'], { stdio: 'ignore' });
}

describe('the run survives service restarts', () => {
  it('restarting Redis and then RabbitMQ mid-run: the run continues to its last round', async (t) => {
    if (!local(REDIS_URL) || !local(RABBITMQ_URL)) {
      t.skip('RABBITMQ_URL or REDIS_URL names a remote service, which this suite cannot restart');
      return;
    }
    const runId = uniqueRun('restart');
    const d = await runDistributed(
      runId,
      {
        // Rounds of the ring take tens of ms: rabbitmqctl alone lets dozens pass, so the run must
        // be long enough to show progress after both restarts.
        ROUNDS: String(ROUNDS),
        QUORUM: '2',
        SCHEDULE: 'serial',
        ROUND_DEADLINE_MS: '3000',
        HEARTBEAT_S: '1',
        CHECKPOINT_EVERY: '5',
      },
      2,
    );
    await until('round 10', async () => ((await api(d.port)).round >= 10 ? true : undefined));
    restartRedis();
    const afterRedis = (await api(d.port)).round;
    await until('progress after the Redis restart', async () =>
      (await api(d.port)).round >= afterRedis + 5 ? true : undefined,
    );
    restartRabbit();
    const afterRabbit = (await api(d.port)).round;
    assert.ok(
      afterRabbit + 5 <= ROUNDS,
      `the RabbitMQ restart came at round ${afterRabbit}: too late`,
    );
    await until('progress after the RabbitMQ restart', async () =>
      (await api(d.port)).round >= afterRabbit + 5 ? true : undefined,
    );
    await until(
      'the run to finish',
      async () => ((await api(d.port)).status === 'finished' ? true : undefined),
      180_000,
    );
    const rounds = readFileSync(join(d.out, runId, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { round: number }).round);
    assert.deepEqual(
      rounds,
      Array.from({ length: ROUNDS }, (_, i) => i),
    );
    const ready = await fetch(`http://127.0.0.1:${d.port}/readyz`);
    assert.equal(ready.status, 200);
  });
});
