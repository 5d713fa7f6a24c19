import type { Cell } from './convergence-bench.js';
import type { DeploymentTimeModel } from './convergence-report.js';
import type { RoundLine } from './run.js';
import { measuredRoundOf, modelRoundMs, networkProfile, NETWORK_PROFILES } from './time-model.js';

/*
 * The convergence benchmark's cells through the deployment time model (time-model.ts): modelled
 * round times per network profile, from the per-round means each cell stores.
 */

/**
 * One round line carrying a cell's means (roundMeans). The time model's measurement is a mean of
 * quantities that are linear in each line's phases and bytes, and of the slowest device's codec
 * time per round, which the cell keeps as such: on this one line it gives the same numbers as on
 * the cell's own lines (without their warm-up round).
 */
export function lineOfMeans(cell: Cell): RoundLine {
  const m = cell.roundMeans;
  const p = m.phases;
  const method = cell.key.method;
  return {
    round: 0,
    method: method === 'serial' || method === 'parallel' ? 'distgan' : method,
    schedule: method === 'parallel' ? 'parallel' : 'serial',
    attempts: 1,
    participants: cell.devices,
    accepted:
      cell.devices > 0
        ? [
            {
              deviceId: 'means',
              samples: 0,
              losses: { d: 0, dReal: 0, dFake: 0 },
              computeMs: p['deviceComputeMs'] ?? 0,
              timings: { fetchMs: 0, verifyMs: m.deviceCodecMs, encodeMs: 0, storeMs: 0 },
              latencyMs: 0,
            },
          ]
        : [],
    outcomes: { accepted: cell.devices, duplicate: 0, rejected: 0, late: 0, declined: 0 },
    losses: { d: 0, dReal: 0, dFake: 0, g: 0 },
    phases: {
      broadcastMs: p['broadcastMs'] ?? 0,
      deviceComputeMs: p['deviceComputeMs'] ?? 0,
      collectMs: p['collectMs'] ?? 0,
      aggregateMs: p['aggregateMs'] ?? 0,
      generatorMs: p['generatorMs'] ?? 0,
      ...(p['preBroadcastMs'] !== undefined ? { preBroadcastMs: p['preBroadcastMs'] } : {}),
      totalMs: p['totalMs'] ?? 0,
    },
    bytes: { ...m.bytes },
    elapsedS: 0,
    trainS: 0,
  } as RoundLine;
}

/** The time model over the network profiles, for the report's modelled seconds and verdicts. */
export function deploymentTimeModel(): DeploymentTimeModel {
  return {
    profiles: NETWORK_PROFILES.map((p) => ({ name: p.name, label: p.label })),
    roundMs: (cell, profile) =>
      modelRoundMs(
        measuredRoundOf(cell.key.method, cell.devices, [lineOfMeans(cell)]),
        networkProfile(profile.name),
      ),
  };
}
