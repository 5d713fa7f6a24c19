import type { PhaseTimings } from '@distgan/protocol';

export type { PhaseTimings };

// What the dashboard's server side and its page agree on: the snapshot (GET /api/dashboard, and
// the first event of every stream) and the events of GET /api/events. No Node or DOM imports:
// the page's bundle includes this file.

/**
 * Where the run is. `starting`: loading data and building models; `waiting-for-devices`: fewer
 * live devices than the run needs; `training`; `stopping`: finishing the round in progress;
 * `stopped`: stopped before its last round; `finished`: every round done; `failed`.
 */
export type RunStatus =
  'starting' | 'waiting-for-devices' | 'training' | 'stopping' | 'stopped' | 'finished' | 'failed';

/** Which process serves the page. */
export type RunKind = 'embedded' | 'server';

export interface RunInfo {
  runId: string;
  kind: RunKind;
  /** Rounds the run is set to train. */
  rounds: number;
  /** `distgan` or a baseline (MD-GAN, FL-GAN, centralized). */
  method: string;
  /** `serial` or `parallel` (distgan only). */
  schedule?: string;
  /** Every setting, without secrets (see publicConfig). */
  config: Record<string, unknown>;
}

/** One round in the history. `round` counts from 0, as in metrics.jsonl. */
export interface RoundPoint {
  round: number;
  /** Seconds since the run started. */
  elapsedS: number;
  d: number;
  g: number;
  /** Absent for the baselines, whose rounds have no such phases. */
  phases?: PhaseTimings;
  /** Updates the round averaged. */
  accepted: number;
  late: number;
  rejected: number;
}

/** One evaluation: FID in the classifier's feature space (absent for the ring). */
export interface EvalPoint {
  round: number;
  elapsedS: number;
  fid?: number;
  modesCovered?: number;
}

export interface DeviceRow {
  deviceId: string;
  /** Samples in the device's shard, when known. */
  samples?: number;
  /** Whether its heartbeat is current (the server's membership); absent in the embedded run. */
  alive?: boolean;
  /** The last round whose average took this device's update; -1 before the first. */
  lastRound: number;
  /** Task publication to update arrival, in the last round answered. */
  latencyMs?: number;
  /** The device's own training time in the last round answered. */
  computeMs?: number;
  accepted: number;
  /** Updates that came after their round closed, or tasks skipped as stale. */
  late: number;
  /** Updates the server refused (integrity, shape, NaN) or tasks the device refused. */
  refused: number;
}

/** A sample grid the server keeps in memory, PNG at `url`. */
export interface GridRef {
  /** The last round trained before the grid was drawn. */
  round: number;
  url: string;
}

export interface DashboardSnapshot {
  run: RunInfo;
  status: RunStatus;
  /** A line about the status, e.g. "1 of 2 devices alive". */
  statusDetail?: string;
  /** The last completed round (-1 before the first). */
  round: number;
  history: RoundPoint[];
  evals: EvalPoint[];
  devices: DeviceRow[];
  /** Oldest first; the last one is the latest grid. */
  grids: GridRef[];
  /** Late updates that named no device (drained from a closed round's queue). */
  lateUnattributed: number;
  /** Most history points kept (older ones are thinned past this). */
  maxHistoryPoints: number;
  /** Earlier grids kept beside the latest. */
  gridStripSize: number;
}

/** The events of GET /api/events after the first `snapshot` event, by SSE event name. */
export type DashboardEvent =
  | { type: 'round'; point: RoundPoint; devices: DeviceRow[] }
  | { type: 'eval'; point: EvalPoint }
  | { type: 'grid'; grid: GridRef }
  | { type: 'status'; status: RunStatus; detail?: string }
  | { type: 'devices'; devices: DeviceRow[] }
  | { type: 'run'; run: RunInfo };

/**
 * Keeps a history within `max` points over a run of any length: when it is full, every other
 * point of the older half is dropped, so the whole run stays on the chart at a coarser grain
 * while the recent rounds keep every point.
 */
export function thinHistory<T>(points: T[], max: number): T[] {
  if (points.length <= max) return points;
  const half = Math.floor(points.length / 2);
  const older = points.slice(0, half).filter((_, i) => i % 2 === 0);
  return [...older, ...points.slice(half)];
}
