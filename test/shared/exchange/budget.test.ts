// Tests of the sliding one-minute weight budget with a fake clock.
import { describe, expect, it } from 'vitest';
import { WeightBudget, type Timer } from '../../../shared/exchange/budget.ts';
import { TransientError } from '../../../shared/errors.ts';

function fakeTimer(): Timer & { t: number; slept: number[] } {
  const timer = {
    t: 0,
    slept: [] as number[],
    now: () => timer.t,
    sleep: async (ms: number) => {
      timer.slept.push(ms);
      timer.t += ms;
    },
  };
  return timer;
}

describe('WeightBudget', () => {
  it('never lets the weight of any 60 s window exceed the limit', async () => {
    const timer = fakeTimer();
    const budget = new WeightBudget(100, timer, 120_000);
    const taken: Array<[number, number]> = [];
    for (let i = 0; i < 60; i++) {
      await budget.take(7);
      taken.push([timer.t, 7]);
      timer.t += 500;
    }
    for (const [at] of taken) {
      const inWindow = taken.filter(([t]) => t > at - 60_000 && t <= at).reduce((s, [, w]) => s + w, 0);
      expect(inWindow).toBeLessThanOrEqual(100);
    }
    expect(timer.slept.length).toBeGreaterThan(0);
    expect(budget.total).toBe(420);
  });
  it('fails with a transient error and Retry-After when the wait would be too long', async () => {
    const timer = fakeTimer();
    const budget = new WeightBudget(10, timer, 1_000);
    await budget.take(10);
    const err = await budget.take(5).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as TransientError).retryAfterSeconds).toBe(60);
  });
});
