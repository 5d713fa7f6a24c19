import {
  thinHistory,
  type DashboardEvent,
  type DashboardSnapshot,
  type DeviceRow,
  type EvalPoint,
  type GridRef,
  type PhaseTimings,
  type RoundPoint,
  type RunInfo,
  type RunStatus,
} from './types.js';

export interface DashboardHubOptions {
  /** Most round points kept; past it the older half is thinned (default 2,000). */
  maxHistoryPoints?: number;
  /** Earlier sample grids kept in memory beside the latest (default 8). */
  gridStripSize?: number;
  /** Most evaluations kept; past it they are thinned like the rounds (default 1,000). */
  maxEvalPoints?: number;
  /** Milliseconds since some origin; the run's clock starts at construction (default: performance.now). */
  now?: () => number;
}

/** What a round contributes: the coordinator's RoundReport fits, so does a baseline's round. */
export interface RoundInput {
  round: number;
  /** Seconds since the run started (default: the hub's clock). */
  elapsedS?: number;
  losses: { d: number; g: number };
  phases?: PhaseTimings;
  accepted?: {
    deviceId: string;
    samples: number;
    computeMs: number;
    latencyMs: number;
  }[];
  outcomes?: { accepted: number; late: number; rejected: number };
}

/** One update's fate at the server, or one task's at a device. */
export type DeviceOutcome = 'accepted' | 'late' | 'refused';

/** Gets the events from the moment it subscribes; `close` when the hub closes. */
export interface DashboardListener {
  event(e: DashboardEvent): void;
  close(): void;
}

type Grid = GridRef & { png: Uint8Array };

/**
 * The state the dashboard shows, fed by whoever runs the rounds (the server's loop, the embedded
 * run's hooks) and read by the HTTP plugin: a snapshot for a new page, events for open ones.
 * Memory stays bounded over any run: a thinned history, a fixed strip of grids.
 */
export class DashboardHub {
  private readonly options: Required<DashboardHubOptions>;
  private readonly startedMs: number;
  private run: RunInfo;
  private status: RunStatus = 'starting';
  private statusDetail: string | undefined;
  private lastRound = -1;
  private history: RoundPoint[] = [];
  private evals: EvalPoint[] = [];
  private readonly devices = new Map<string, DeviceRow>();
  /** Devices whose row changed since the last round event. */
  private readonly dirty = new Set<string>();
  private grids: Grid[] = [];
  private lateUnattributed = 0;
  private readonly listeners = new Set<DashboardListener>();
  private closed = false;

  constructor(run: RunInfo, options: DashboardHubOptions = {}) {
    this.options = {
      maxHistoryPoints: options.maxHistoryPoints ?? 2000,
      gridStripSize: options.gridStripSize ?? 8,
      maxEvalPoints: options.maxEvalPoints ?? 1000,
      now: options.now ?? (() => performance.now()),
    };
    if (this.options.maxHistoryPoints < 2)
      throw new RangeError(
        `maxHistoryPoints must be at least 2, got ${this.options.maxHistoryPoints}`,
      );
    this.startedMs = this.options.now();
    this.run = run;
  }

  get runStatus(): RunStatus {
    return this.status;
  }

  /** Replaces the run's description (e.g. once the server knows its dataset). */
  setRun(run: RunInfo): void {
    this.run = run;
    this.emit({ type: 'run', run });
  }

  setStatus(status: RunStatus, detail?: string): void {
    if (status === this.status && detail === this.statusDetail) return;
    this.status = status;
    this.statusDetail = detail;
    this.emit({ type: 'status', status, ...(detail === undefined ? {} : { detail }) });
  }

  recordRound(input: RoundInput): RoundPoint {
    const point: RoundPoint = {
      round: input.round,
      elapsedS: input.elapsedS ?? this.elapsedS(),
      d: input.losses.d,
      g: input.losses.g,
      accepted: input.outcomes?.accepted ?? input.accepted?.length ?? 0,
      late: input.outcomes?.late ?? 0,
      rejected: input.outcomes?.rejected ?? 0,
      ...(input.phases ? { phases: pickPhases(input.phases) } : {}),
    };
    this.lastRound = Math.max(this.lastRound, input.round);
    this.history.push(point);
    this.history = thinHistory(this.history, this.options.maxHistoryPoints);
    for (const a of input.accepted ?? []) {
      const row = this.device(a.deviceId);
      row.samples = a.samples;
      row.lastRound = input.round;
      row.latencyMs = a.latencyMs;
      row.computeMs = a.computeMs;
      row.accepted += 1;
      this.dirty.add(a.deviceId);
    }
    const devices = [...this.dirty].map((id) => publicRow(this.device(id)));
    this.dirty.clear();
    this.emit({ type: 'round', point, devices });
    return point;
  }

  recordEvaluation(input: { round: number; fid?: number; modesCovered?: number }): EvalPoint {
    const point: EvalPoint = {
      round: input.round,
      elapsedS: this.elapsedAt(input.round),
      ...(input.fid === undefined ? {} : { fid: input.fid }),
      ...(input.modesCovered === undefined ? {} : { modesCovered: input.modesCovered }),
    };
    this.evals.push(point);
    this.evals = thinHistory(this.evals, this.options.maxEvalPoints);
    this.emit({ type: 'eval', point });
    return point;
  }

  /** A sample grid drawn after `round`; the hub keeps it and a strip of earlier ones. */
  recordGrid(round: number, png: Uint8Array): GridRef {
    const grid: Grid = { round, url: `/api/dashboard/grids/${round}.png`, png };
    this.grids = [...this.grids.filter((g) => g.round !== round), grid].slice(
      -(this.options.gridStripSize + 1),
    );
    const ref = { round, url: grid.url };
    this.emit({ type: 'grid', grid: ref });
    return ref;
  }

  /** The PNG of a grid still kept, by its round. */
  grid(round: number): Uint8Array | undefined {
    return this.grids.find((g) => g.round === round)?.png;
  }

  /**
   * One update's or task's outcome. Without a device (a late update drained from a closed
   * round's queue) it is counted for the run only.
   */
  recordDeviceOutcome(deviceId: string | undefined, outcome: DeviceOutcome): void {
    if (deviceId === undefined) {
      if (outcome === 'late') this.lateUnattributed += 1;
      return;
    }
    const row = this.device(deviceId);
    // Accepted updates are counted from the round's report, which names them all.
    if (outcome === 'late') row.late += 1;
    else if (outcome === 'refused') row.refused += 1;
    this.dirty.add(deviceId);
  }

  /**
   * The devices known to take part (the server's membership, the embedded run's shards). Rows
   * of devices no longer listed stay, marked not alive: their counts are history.
   */
  setDevices(list: { deviceId: string; samples?: number; alive?: boolean }[]): void {
    const changed: DeviceRow[] = [];
    const listed = new Set(list.map((d) => d.deviceId));
    for (const d of list) {
      const row = this.device(d.deviceId);
      const before = JSON.stringify(publicRow(row));
      if (d.samples !== undefined) row.samples = d.samples;
      if (d.alive !== undefined) row.alive = d.alive;
      if (JSON.stringify(publicRow(row)) !== before) changed.push(publicRow(row));
    }
    for (const row of this.devices.values()) {
      if (!listed.has(row.deviceId) && row.alive === true) {
        row.alive = false;
        changed.push(publicRow(row));
      }
    }
    if (changed.length > 0) this.emit({ type: 'devices', devices: changed });
  }

  snapshot(): DashboardSnapshot {
    return {
      run: this.run,
      status: this.status,
      ...(this.statusDetail === undefined ? {} : { statusDetail: this.statusDetail }),
      round: this.lastRound,
      history: [...this.history],
      evals: [...this.evals],
      devices: [...this.devices.values()]
        .map(publicRow)
        .sort((a, b) => a.deviceId.localeCompare(b.deviceId, 'en', { numeric: true })),
      grids: this.grids.map((g) => ({ round: g.round, url: g.url })),
      lateUnattributed: this.lateUnattributed,
      maxHistoryPoints: this.options.maxHistoryPoints,
      gridStripSize: this.options.gridStripSize,
    };
  }

  /** Events from now on; returns the unsubscribe. A closed hub closes the listener at once. */
  subscribe(listener: DashboardListener): () => void {
    if (this.closed) {
      listener.close();
      return () => {};
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** Closes every open stream (the page keeps what it has and says the server is gone). */
  close(): void {
    this.closed = true;
    for (const l of [...this.listeners]) l.close();
    this.listeners.clear();
  }

  /** The round's time when it is the last one recorded (evaluations follow their round). */
  private elapsedAt(round: number): number {
    const last = this.history.at(-1);
    return last?.round === round ? last.elapsedS : this.elapsedS();
  }

  private elapsedS(): number {
    return (this.options.now() - this.startedMs) / 1000;
  }

  private device(deviceId: string): DeviceRow {
    let row = this.devices.get(deviceId);
    if (!row) {
      row = { deviceId, lastRound: -1, accepted: 0, late: 0, refused: 0 };
      this.devices.set(deviceId, row);
    }
    return row;
  }

  private emit(e: DashboardEvent): void {
    for (const l of this.listeners) {
      try {
        l.event(e);
      } catch {
        // A listener's broken socket must not stop the run: drop it.
        this.listeners.delete(l);
        l.close();
      }
    }
  }
}

function pickPhases(p: PhaseTimings): PhaseTimings {
  return {
    broadcastMs: p.broadcastMs,
    deviceComputeMs: p.deviceComputeMs,
    collectMs: p.collectMs,
    aggregateMs: p.aggregateMs,
    generatorMs: p.generatorMs,
    totalMs: p.totalMs,
  };
}

function publicRow(row: DeviceRow): DeviceRow {
  return { ...row };
}
