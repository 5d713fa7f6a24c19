import type { PhaseTimings } from '@distgan/protocol';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/*
 * The Prometheus metrics of docs/design.md §4. Base units and the usual suffixes; no device id as a
 * label (hundreds of devices would explode the series count): per-device detail belongs in
 * GET /api/run and the logs.
 */

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export type Phase =
  'broadcast' | 'device_compute' | 'collect' | 'aggregate' | 'generator' | 'total';
export type UpdateOutcomeLabel = 'accepted' | 'duplicate' | 'rejected' | 'late';

export interface ServerMetrics {
  registry: Registry;
  round: Gauge;
  roundsTotal: Counter;
  roundFailuresTotal: Counter;
  phaseSeconds: Histogram<'phase'>;
  updatesTotal: Counter<'outcome'>;
  activeDevices: Gauge;
  membershipChangesTotal: Counter<'change'>;
  /** Devices refused at join, by what was wrong (identity, shard-held, invalid-registration). */
  devicesRefusedTotal: Counter<'reason'>;
  /** Rounds a participant missed (no update by the deadline, or it declined the task). */
  missedRoundsTotal: Counter;
  /** Devices that rounds have stopped waiting for (MAX_MISSED_ROUNDS), until they answer. */
  benchedDevices: Gauge;
  /** 1 for the run's current status, 0 for the others. */
  runStatus: Gauge<'status'>;
  /**
   * Dead letters that the run's bounded dead-letter queue dropped, by the broker's reason
   * (maxlen: over its length or byte bound; expired: older than its TTL).
   */
  deadLettersDroppedTotal: Counter<'reason'>;
  bytesTotal: Counter<'direction'>;
  loss: Gauge<'network'>;
  /** Labelled by dataset: no series at all before the first evaluation (never a false 0). */
  fid: Gauge<'dataset'>;
  modesCovered: Gauge<'dataset'>;
  classBalance: Gauge<'dataset'>;
  inceptionScore: Gauge<'dataset'>;
  /** Conditional models only: no series for an unconditional run. */
  classMatch: Gauge<'dataset'>;
  evalSeconds: Histogram;
}

export function createServerMetrics(opts: { defaultMetrics?: boolean } = {}): ServerMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false)
    collectDefaultMetrics({ register: registry, prefix: 'distgan_process_' });
  const r = [registry];
  return {
    registry,
    round: new Gauge({
      name: 'distgan_round',
      help: 'The last completed round (-1 before the first).',
      registers: r,
    }),
    roundsTotal: new Counter({
      name: 'distgan_rounds_total',
      help: 'Rounds completed.',
      registers: r,
    }),
    roundFailuresTotal: new Counter({
      name: 'distgan_round_failures_total',
      help: 'Round attempts that failed (no quorum, or the broker or the store failed).',
      registers: r,
    }),
    phaseSeconds: new Histogram({
      name: 'distgan_round_phase_seconds',
      help: 'Duration of each phase of a round (total: the whole round).',
      labelNames: ['phase'],
      buckets: SECONDS,
      registers: r,
    }),
    updatesTotal: new Counter({
      name: 'distgan_device_updates_total',
      help: 'Device updates received, by outcome.',
      labelNames: ['outcome'],
      registers: r,
    }),
    activeDevices: new Gauge({
      name: 'distgan_active_devices',
      help: 'Devices alive (recent heartbeat).',
      registers: r,
    }),
    membershipChangesTotal: new Counter({
      name: 'distgan_device_membership_changes_total',
      help: 'Devices that joined, left (cleanly or by an expired heartbeat) or rejoined the run.',
      labelNames: ['change'],
      registers: r,
    }),
    devicesRefusedTotal: new Counter({
      name: 'distgan_devices_refused_total',
      help: 'Devices refused at join: identity (a setting differs from the run), shard-held (another live device holds its shard), invalid-registration.',
      labelNames: ['reason'],
      registers: r,
    }),
    missedRoundsTotal: new Counter({
      name: 'distgan_device_missed_rounds_total',
      help: 'Rounds a participant missed: no update by the deadline, or it declined the task.',
      registers: r,
    }),
    benchedDevices: new Gauge({
      name: 'distgan_devices_not_waited_for',
      help: 'Devices that missed MAX_MISSED_ROUNDS rounds in a row: rounds no longer wait for them until they answer again.',
      registers: r,
    }),
    runStatus: new Gauge({
      name: 'distgan_run_status',
      help: "The run's status: 1 for the current one (starting, waiting-for-devices, training, finished, stopping, failed).",
      labelNames: ['status'],
      registers: r,
    }),
    deadLettersDroppedTotal: new Counter({
      name: 'distgan_dead_letters_dropped_total',
      help: "Dead letters dropped by the run's bounded dead-letter queue, by reason: maxlen (over its length or byte bound), expired (older than its TTL).",
      labelNames: ['reason'],
      registers: r,
    }),
    bytesTotal: new Counter({
      name: 'distgan_bytes_total',
      help: 'Bytes of blobs and messages moved, by direction (down: to devices, up: to the server).',
      labelNames: ['direction'],
      registers: r,
    }),
    loss: new Gauge({
      name: 'distgan_loss',
      help: 'Loss of the last round: network="d" (sample-weighted device mean) or "g".',
      labelNames: ['network'],
      registers: r,
    }),
    fid: new Gauge({
      name: 'distgan_fid',
      help: "FID at the last evaluation: Fréchet distance between generated samples and the test set in the feature space of the dataset's classifier.",
      labelNames: ['dataset'],
      registers: r,
    }),
    modesCovered: new Gauge({
      name: 'distgan_modes_covered',
      help: 'Classes (ring: modes) present in the generated samples at the last evaluation.',
      labelNames: ['dataset'],
      registers: r,
    }),
    classBalance: new Gauge({
      name: 'distgan_class_balance',
      help: 'Normalised entropy of the classes of the generated samples at the last evaluation (1 = uniform).',
      labelNames: ['dataset'],
      registers: r,
    }),
    inceptionScore: new Gauge({
      name: 'distgan_inception_score',
      help: "Inception-style score of the generated samples at the last evaluation, with the dataset's classifier.",
      labelNames: ['dataset'],
      registers: r,
    }),
    classMatch: new Gauge({
      name: 'distgan_class_match',
      help: 'Conditional models: share of the generated samples the classifier labels with the class they were asked for, at the last evaluation.',
      labelNames: ['dataset'],
      registers: r,
    }),
    evalSeconds: new Histogram({
      name: 'distgan_eval_duration_seconds',
      help: 'Time of one evaluation (sampling, classifier, FID).',
      buckets: SECONDS,
      registers: r,
    }),
  };
}

/** A device's time on one task, piece by piece (the update's `timings`, and its training). */
export type DevicePhase = 'fetch' | 'verify' | 'train' | 'encode' | 'store';

export interface DeviceMetrics {
  registry: Registry;
  tasksTotal: Counter<'outcome'>;
  trainSeconds: Histogram;
  phaseSeconds: Histogram<'phase'>;
  lastRound: Gauge;
}

export function createDeviceMetrics(opts: { defaultMetrics?: boolean } = {}): DeviceMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false)
    collectDefaultMetrics({ register: registry, prefix: 'distgan_process_' });
  const r = [registry];
  return {
    registry,
    tasksTotal: new Counter({
      name: 'distgan_device_tasks_total',
      help: 'Round tasks handled by this device, by outcome (trained, skipped, refused, retry, failed).',
      labelNames: ['outcome'],
      registers: r,
    }),
    trainSeconds: new Histogram({
      name: 'distgan_device_train_seconds',
      help: 'Local training time of one task (L discriminator steps).',
      buckets: SECONDS,
      registers: r,
    }),
    phaseSeconds: new Histogram({
      name: 'distgan_device_phase_seconds',
      help: 'Time of one task by phase: fetch and verify (θ_t, φ_t), train, encode and store φ_k.',
      labelNames: ['phase'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: r,
    }),
    lastRound: new Gauge({
      name: 'distgan_device_last_round',
      help: 'Last round this device trained.',
      registers: r,
    }),
  };
}

/**
 * Records one completed round (shape of the engine's RoundReport). Update outcomes are counted
 * as they happen (the engine's `update` events), so failed attempts count too.
 */
export function recordRound(
  m: ServerMetrics,
  report: {
    round: number;
    outcomes: Record<UpdateOutcomeLabel, number>;
    losses: { d: number; g: number };
    phases: PhaseTimings;
    bytes: { down: number; up: number };
  },
): void {
  m.round.set(report.round);
  m.roundsTotal.inc();
  const p = report.phases;
  m.phaseSeconds.observe({ phase: 'broadcast' }, p.broadcastMs / 1000);
  m.phaseSeconds.observe({ phase: 'device_compute' }, p.deviceComputeMs / 1000);
  m.phaseSeconds.observe({ phase: 'collect' }, p.collectMs / 1000);
  m.phaseSeconds.observe({ phase: 'aggregate' }, p.aggregateMs / 1000);
  m.phaseSeconds.observe({ phase: 'generator' }, p.generatorMs / 1000);
  m.phaseSeconds.observe({ phase: 'total' }, p.totalMs / 1000);
  m.bytesTotal.inc({ direction: 'down' }, report.bytes.down);
  m.bytesTotal.inc({ direction: 'up' }, report.bytes.up);
  if (Number.isFinite(report.losses.d)) m.loss.set({ network: 'd' }, report.losses.d);
  if (Number.isFinite(report.losses.g)) m.loss.set({ network: 'g' }, report.losses.g);
}
