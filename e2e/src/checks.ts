import assert from 'node:assert/strict';
import { connect } from 'amqplib';
import { names } from '@distgan/protocol';
import { until } from '@distgan/server/harness';
import type { Prometheus } from './prometheus.js';

/*
 * Checks that both end-to-end suites (processes and containers) make the same way, from the
 * outside: through Prometheus, the broker and the services' HTTP endpoints.
 */

const SERVER = '{job="distgan-server"}';

/** Rounds advance and Prometheus has a real p50 round latency and every phase's count. */
export async function assertRoundLatencies(prom: Prometheus, rounds: number): Promise<void> {
  await until(
    `round ${rounds} in Prometheus`,
    async () =>
      ((await prom.scalar(`distgan_round${SERVER}`)) ?? -1) >= rounds ? true : undefined,
    180_000,
  );
  const p50 = await prom.scalar(
    `histogram_quantile(0.5, sum by (le) (rate(distgan_round_phase_seconds_bucket{job="distgan-server",phase="total"}[30s])))`,
  );
  assert.ok(p50 !== undefined && p50 > 0 && Number.isFinite(p50), `p50 ${p50}`);
  for (const phase of ['broadcast', 'collect', 'aggregate', 'generator']) {
    const n = await prom.scalar(
      `distgan_round_phase_seconds_count{job="distgan-server",phase="${phase}"}`,
    );
    assert.ok(n !== undefined && n >= rounds, `${phase} latency reported (${n})`);
  }
}

/**
 * A malformed update published into the next rounds' queues is refused and counted
 * (`distgan_device_updates_total{outcome="rejected"}`), and the run goes on.
 */
export async function assertMalformedUpdateRefused(o: {
  rabbitmqUrl: string;
  runId: string;
  prom: Prometheus;
  roundNow: () => Promise<number>;
}): Promise<void> {
  const conn = await connect(o.rabbitmqUrl);
  try {
    const ch = await conn.createChannel();
    await until(
      'the malformed update to be refused',
      async () => {
        const r = await o.roundNow();
        for (const t of [r + 1, r + 2])
          ch.sendToQueue(names(o.runId).roundQueue(t), Buffer.from('{"type":"DeviceUpdate",'));
        await new Promise((res) => setTimeout(res, 500));
        const refused = await o.prom.scalar(
          `distgan_device_updates_total{job="distgan-server",outcome="rejected"}`,
        );
        return (refused ?? 0) >= 1 ? true : undefined;
      },
      60_000,
    );
  } finally {
    await conn.close();
  }
}

/**
 * The project's metrics on each port pass `promtool check metrics` (names, units, help, types).
 * prom-client's process metrics (distgan_process_*) are left out: their gauges end in _total
 * upstream.
 */
export async function assertMetricsPassPromtool(prom: Prometheus, ports: number[]): Promise<void> {
  for (const port of ports) {
    const text = (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())
      .split('\n')
      .filter((l) => !/^(# (HELP|TYPE) )?distgan_process_/.test(l))
      .join('\n');
    const check = await prom.checkMetrics(text);
    assert.equal(check.status, 0, `promtool check metrics (:${port}): ${check.output}`);
  }
}
