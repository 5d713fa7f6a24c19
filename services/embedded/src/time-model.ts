import type { BenchMethod } from './convergence-bench.js';
import type { RoundLine } from './run.js';

/*
 * The deployment time model (docs/time-model.md). In one process the devices and the server share
 * the machine's cores: the parallel schedule overlaps nothing and fewer bytes save nothing. This
 * predicts a round's time in a deployment from what an in-process run measures: each side's
 * compute per round and the bytes each round moves, under a named network profile.
 */

export type { BenchMethod };

/** A network between the devices and the server (the broker and the store sit by the server). */
export interface NetworkProfile {
  /** Key: 'lan' or 'edge'. */
  name: string;
  /** A human label for reports. */
  label: string;
  /** Each device's own link, server → device. */
  deviceDownBitsPerS: number;
  /** Each device's own link, device → server. */
  deviceUpBitsPerS: number;
  /** The server side's link (each direction), shared by every device's transfers. */
  serverBitsPerS: number;
  /** Round-trip time between a device and the server side. */
  rttMs: number;
}

/** The two profiles of docs/time-model.md §3, with the reasons for their numbers there. */
export const NETWORK_PROFILES: readonly NetworkProfile[] = [
  {
    name: 'lan',
    label: 'datacenter LAN (10 Gbit/s, 0.2 ms RTT)',
    deviceDownBitsPerS: 10e9,
    deviceUpBitsPerS: 10e9,
    serverBitsPerS: 10e9,
    rttMs: 0.2,
  },
  {
    name: 'edge',
    label: 'edge devices (20 Mbit/s down, 10 up, 40 ms RTT; server 1 Gbit/s)',
    deviceDownBitsPerS: 20e6,
    deviceUpBitsPerS: 10e6,
    serverBitsPerS: 1e9,
    rttMs: 40,
  },
];

/** The profile named `name` ('lan', 'edge'); throws for another name. */
export function networkProfile(name: string): NetworkProfile {
  const p = NETWORK_PROFILES.find((x) => x.name === name);
  if (!p) {
    throw new RangeError(
      `no network profile "${name}": use ${NETWORK_PROFILES.map((x) => x.name).join(' or ')}`,
    );
  }
  return p;
}

/**
 * Round trips of latency on each direction's critical path, from the protocol (docs/protocol.md):
 * down, the task reaches the device through the broker (½ RTT), which then GETs its blobs from
 * the store (1 RTT); up, the device SETs its blob in the store and waits for the reply (1 RTT),
 * then publishes its update to the broker (½ RTT). The broker and the store sit by the server:
 * their hop to it is neglected.
 */
export const LATENCY_RTTS = { down: 1.5, up: 1.5 } as const;

/** One method's round as an in-process run measured it: means per round over the run. */
export interface MeasuredRound {
  method: BenchMethod;
  /** Devices per round (0 for centralized). */
  devices: number;
  /** Rounds the means are over (the run's lines without its warm-up round). */
  rounds: number;
  /** The slowest device's local training per round (RoundReport phases.deviceComputeMs). */
  deviceComputeMs: number;
  /**
   * The slowest device's decoding and verifying of its inputs and encoding of its outputs (its
   * reported verifyMs + encodeMs); its fetch and store times are the network's, modelled instead.
   */
  deviceCodecMs: number;
  /**
   * Server compute before the devices can start: encoding, storing and publishing the round's
   * blobs (broadcastMs) and what the method computed before (preBroadcastMs: MD-GAN's fakes).
   */
  serverPreMs: number;
  /**
   * Server compute on the updates: fetch, verify, decode, average, install (aggregateMs).
   * Centralized: its L discriminator steps, which the coordinator times as aggregation.
   */
  aggregateMs: number;
  /**
   * The server's generator steps after the broadcast (generatorMs − preBroadcastMs): distgan's
   * and centralized's M steps, MD-GAN's one step along the feedback; FL-GAN: 0.
   */
  generatorMs: number;
  /** serverPreMs + aggregateMs + generatorMs. */
  serverComputeMs: number;
  /** Bytes server → devices per round, all devices together (RoundReport bytes.down). */
  bytesDown: number;
  /** Bytes devices → server per round, all devices together (RoundReport bytes.up). */
  bytesUp: number;
  /** The in-process round time (phases.totalMs), for comparison. */
  inProcessMs: number;
}

/** Where a modelled round's time goes; totalMs is the round's time. */
export interface RoundBreakdown {
  /** The down transfer: bandwidth and latency. */
  downMs: number;
  /** The slowest device's compute: training and its codec. */
  deviceMs: number;
  /** The up transfer: bandwidth and latency. */
  upMs: number;
  /** Server compute before the broadcast reaches the devices. */
  serverPreMs: number;
  aggregateMs: number;
  generatorMs: number;
  /** serverPreMs + aggregateMs + generatorMs. */
  serverMs: number;
  /** downMs + upMs. */
  networkMs: number;
  /** Time hidden by overlap: parallel's min(down + device + up, G); 0 for the other methods. */
  overlapMs: number;
  /** The sum of the parts less overlapMs. */
  totalMs: number;
}

/** The bench's name for a run's method and schedule. */
export function benchMethodOf(line: Pick<RoundLine, 'method' | 'schedule'>): BenchMethod {
  return line.method === 'distgan' ? line.schedule : line.method;
}

const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;

/**
 * `method`'s round from a run's metrics.jsonl lines: the mean of each quantity over the rounds,
 * without the first line (warm-up: kernels compiled, buffers allocated) when there are others.
 * Means, not medians: the model predicts time per round over a run, and rare costly rounds
 * (MD-GAN's swap rounds, a garbage collection) belong in it; transfer time is linear in bytes, so
 * mean bytes give the mean transfer time. Throws when the lines are of another method or do not
 * have `devices` participants.
 */
export function measuredRoundOf(
  method: BenchMethod,
  devices: number,
  lines: readonly RoundLine[],
): MeasuredRound {
  if (lines.length === 0) throw new RangeError(`no round lines to measure ${method} on`);
  const used = lines.length > 1 ? lines.slice(1) : lines;
  for (const l of used) {
    const got = benchMethodOf(l);
    if (got !== method) throw new RangeError(`round ${l.round} is of ${got}, not ${method}`);
    const expected = method === 'centralized' ? 0 : devices;
    if (l.participants !== expected) {
      throw new RangeError(
        `round ${l.round} of ${method} had ${l.participants} participants, not ${expected}`,
      );
    }
  }
  const pre = (l: RoundLine): number => l.phases.preBroadcastMs ?? 0;
  const codec = (l: RoundLine): number =>
    Math.max(
      0,
      ...l.accepted.map((a) => (a.timings ? a.timings.verifyMs + a.timings.encodeMs : 0)),
    );
  const serverPreMs = mean(used.map((l) => l.phases.broadcastMs + pre(l)));
  const aggregateMs = mean(used.map((l) => l.phases.aggregateMs));
  const generatorMs = mean(used.map((l) => l.phases.generatorMs - pre(l)));
  return {
    method,
    devices,
    rounds: used.length,
    deviceComputeMs: mean(used.map((l) => l.phases.deviceComputeMs)),
    deviceCodecMs: mean(used.map(codec)),
    serverPreMs,
    aggregateMs,
    generatorMs,
    serverComputeMs: serverPreMs + aggregateMs + generatorMs,
    bytesDown: mean(used.map((l) => l.bytes.down)),
    bytesUp: mean(used.map((l) => l.bytes.up)),
    inProcessMs: mean(used.map((l) => l.phases.totalMs)),
  };
}

/**
 * One direction's transfer: every device moves its share over its own link while the server's
 * link carries all of them, so the slower of the two bounds it; then the latency.
 */
export function transferMs(
  totalBytes: number,
  devices: number,
  deviceBitsPerS: number,
  serverBitsPerS: number,
  latencyMs: number,
): number {
  if (devices === 0 || totalBytes === 0) return 0;
  const bits = 8 * totalBytes;
  const s = Math.max(bits / devices / deviceBitsPerS, bits / serverBitsPerS);
  return 1000 * s + latencyMs;
}

/** Where a round of `m`'s method goes in profile `p` (docs/time-model.md §2). */
export function modelRoundBreakdown(m: MeasuredRound, p: NetworkProfile): RoundBreakdown {
  const central = m.method === 'centralized';
  // Centralized training has no devices and no network: the round is the server's compute.
  const downMs = central
    ? 0
    : transferMs(
        m.bytesDown,
        m.devices,
        p.deviceDownBitsPerS,
        p.serverBitsPerS,
        LATENCY_RTTS.down * p.rttMs,
      );
  const upMs = central
    ? 0
    : transferMs(
        m.bytesUp,
        m.devices,
        p.deviceUpBitsPerS,
        p.serverBitsPerS,
        LATENCY_RTTS.up * p.rttMs,
      );
  const deviceMs = central ? 0 : m.deviceComputeMs + m.deviceCodecMs;
  const serverMs = m.serverPreMs + m.aggregateMs + m.generatorMs;
  // parallel: the G steps (θ_t → θ_{t+1}, against φ_t) start once the task is out and run while
  // the devices fetch, train and send; the average needs every update and installs after the G
  // steps. Round t+1's broadcast needs both θ_{t+1} and φ_{t+1}: rounds do not overlap.
  // Every other method is sequential: serial's G steps need φ_{t+1}, MD-GAN's step the feedback.
  const overlapMs = m.method === 'parallel' ? Math.min(downMs + deviceMs + upMs, m.generatorMs) : 0;
  return {
    downMs,
    deviceMs,
    upMs,
    serverPreMs: m.serverPreMs,
    aggregateMs: m.aggregateMs,
    generatorMs: m.generatorMs,
    serverMs,
    networkMs: downMs + upMs,
    overlapMs,
    totalMs: serverMs + downMs + deviceMs + upMs - overlapMs,
  };
}

/** A round of `m`'s method in profile `p`, in ms. */
export function modelRoundMs(m: MeasuredRound, p: NetworkProfile): number {
  return modelRoundBreakdown(m, p).totalMs;
}

/**
 * A markdown table of each measured round in each profile: where the time goes, the round's
 * time, and its ratio to the first row's (the paper's method, serial, when it comes first).
 */
export function timeModelTable(
  rounds: readonly MeasuredRound[],
  profiles: readonly NetworkProfile[] = NETWORK_PROFILES,
): string {
  const f = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const rows = [
    '| profile | method | down ms | device ms | up ms | server ms | overlap ms | round ms | × first |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const p of profiles) {
    const first = rounds[0] ? modelRoundMs(rounds[0], p) : NaN;
    for (const m of rounds) {
      const b = modelRoundBreakdown(m, p);
      rows.push(
        `| ${p.name} | ${m.method} | ${f(b.downMs)} | ${f(b.deviceMs)} | ${f(b.upMs)} | ` +
          `${f(b.serverMs)} | ${f(b.overlapMs)} | ${f(b.totalMs)} | ${(b.totalMs / first).toFixed(2)} |`,
      );
    }
  }
  return rows.join('\n');
}
