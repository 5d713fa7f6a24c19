/**
 * Milliseconds of one round's phases, as the coordinator measures them. The one shape that
 * metrics.jsonl, the Prometheus histograms, `GET /api/run` and the dashboard all carry.
 */
export interface PhaseTimings {
  /** Encode G and D, store them, publish the task. */
  broadcastMs: number;
  /** Longest local training time reported by an accepted device. */
  deviceComputeMs: number;
  /** From the task's publication to the round's close. */
  collectMs: number;
  /** Fetch, verify, decode and average the updates, install φ_{t+1}. */
  aggregateMs: number;
  /** The M generator steps. */
  generatorMs: number;
  /**
   * Of aggregateMs and generatorMs, the server's compute timed before the round's broadcast,
   * which the devices wait for: MD-GAN's fake batches (counted in generatorMs too); 0 for the
   * other methods and in rounds without devices. Absent in lines written before 2026-12-06.
   */
  preBroadcastMs?: number;
  totalMs: number;
}
