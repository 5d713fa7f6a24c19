/**
 * The two update schedules of docs/design.md §1. They differ only in which discriminator the
 * generator trains against and in what overlaps:
 * - `serial`: broadcast (θ_t, φ_t) → collect and average φ_{t+1} → G steps against φ_{t+1}.
 * - `parallel`: broadcast (θ_t, φ_t) → G steps against φ_t, started before the devices'
 *   updates are awaited, so that they overlap wherever the devices run elsewhere → collect
 *   and average φ_{t+1}, installed after the G steps.
 */
export type Schedule = 'serial' | 'parallel';
export const SCHEDULES: readonly Schedule[] = ['serial', 'parallel'];

/** What one round needs from the coordinator; each hook is one phase of the round. */
export interface RoundPhases<Avg> {
  /** Makes (θ_t, φ_t) available to the round's devices and publishes the task. */
  broadcast(): Promise<void>;
  /** Awaits the devices' updates and returns their weighted average φ_{t+1}. */
  collect(): Promise<Avg>;
  /** Runs the M generator steps against the server's current global discriminator. */
  generatorSteps(): Promise<void>;
  /** Makes φ_{t+1} the server's global discriminator. */
  install(average: Avg): void;
}

export async function runScheduledRound<Avg>(
  schedule: Schedule,
  phases: RoundPhases<Avg>,
): Promise<void> {
  await phases.broadcast();
  if (schedule === 'serial') {
    phases.install(await phases.collect());
    await phases.generatorSteps();
    return;
  }
  // parallel: the G steps start first; the average is installed only after they finished,
  // so they always see φ_t even if every update arrives while they run.
  const generator = phases.generatorSteps();
  const collected = phases.collect();
  // Both settle before the round ends either way: a failed round must not be rolled back
  // while its generator steps are still running.
  const [g, c] = await Promise.allSettled([generator, collected]);
  if (c.status === 'rejected') throw c.reason;
  if (g.status === 'rejected') throw g.reason;
  phases.install(c.value);
}
