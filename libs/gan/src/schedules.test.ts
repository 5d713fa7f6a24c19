import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runScheduledRound, type RoundPhases } from './schedules.js';

/**
 * An instrumented round: "the discriminator" is a number the generator reads when its step
 * starts; the devices' average arrives asynchronously, after a delay.
 */
function instrumented(): {
  phases: RoundPhases<number>;
  events: string[];
  seenByG: () => number | undefined;
} {
  const events: string[] = [];
  let discriminator = 1; // φ_t
  let seen: number | undefined;
  return {
    events,
    seenByG: () => seen,
    phases: {
      broadcast: async () => {
        events.push('broadcast');
      },
      collect: async () => {
        events.push('collect-start');
        await new Promise((r) => setTimeout(r, 20)); // devices still training
        events.push('collect-end');
        return 2; // φ_{t+1}
      },
      generatorSteps: async () => {
        events.push('g-start');
        seen = discriminator;
        await new Promise((r) => setTimeout(r, 5));
        events.push('g-end');
      },
      install: (avg) => {
        events.push('install');
        discriminator = avg;
      },
    },
  };
}

describe('schedules', () => {
  it('serial: G steps against the fresh average φ_{t+1}, after the devices', async () => {
    const r = instrumented();
    await runScheduledRound('serial', r.phases);
    assert.equal(r.seenByG(), 2);
    assert.deepEqual(r.events, [
      'broadcast',
      'collect-start',
      'collect-end',
      'install',
      'g-start',
      'g-end',
    ]);
  });

  it('parallel: G steps against φ_t, started before the updates are awaited, and overlapping them', async () => {
    const r = instrumented();
    await runScheduledRound('parallel', r.phases);
    assert.equal(r.seenByG(), 1);
    assert.deepEqual(r.events, [
      'broadcast',
      'g-start',
      'collect-start',
      'g-end',
      'collect-end',
      'install',
    ]);
  });

  it('parallel: φ_{t+1} is installed only after G finished, even when the updates come first', async () => {
    const r = instrumented();
    const slowG: RoundPhases<number> = {
      ...r.phases,
      collect: async () => {
        r.events.push('collect-start');
        r.events.push('collect-end');
        return 2;
      },
      generatorSteps: async () => {
        r.events.push('g-start');
        await new Promise((res) => setTimeout(res, 20));
        r.events.push('g-end');
      },
    };
    await runScheduledRound('parallel', slowG);
    assert.deepEqual(r.events, [
      'broadcast',
      'g-start',
      'collect-start',
      'collect-end',
      'g-end',
      'install',
    ]);
  });

  it('a failing collect fails the round without installing anything', async () => {
    for (const schedule of ['serial', 'parallel'] as const) {
      const r = instrumented();
      const failing: RoundPhases<number> = {
        ...r.phases,
        collect: async () => {
          throw new Error('quorum not reached');
        },
      };
      await assert.rejects(runScheduledRound(schedule, failing), /quorum/);
      assert.ok(!r.events.includes('install'), schedule);
      // parallel: the round ends only after its generator steps ended (safe to roll back)
      if (schedule === 'parallel') assert.equal(r.events.at(-1), 'g-end');
    }
  });
});
