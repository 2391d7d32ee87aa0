// A sliding one-minute weight budget per exchange that calls wait for and never exceed.
import { TransientError } from '../errors.ts';

const WINDOW_MS = 60_000;

/** Clock and sleep, injectable for tests. */
export interface Timer {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** The real clock. */
export const realTimer: Timer = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Weight spent in the last 60 s never exceeds `limitPerMinute`. `take` waits for room; when the wait would
 * be longer than `maxWaitMs` it fails with a transient error (503) telling when to retry.
 */
export class WeightBudget {
  private readonly spent: Array<{ at: number; weight: number }> = [];
  private queue: Promise<void> = Promise.resolve();
  /** Total weight taken since start. */
  total = 0;

  constructor(
    readonly limitPerMinute: number,
    private readonly timer: Timer = realTimer,
    private readonly maxWaitMs = WINDOW_MS,
  ) {}

  /** Weight spent in the current window. */
  used(now = this.timer.now()): number {
    this.expire(now);
    return this.spent.reduce((sum, s) => sum + s.weight, 0);
  }

  /** Waits until `weight` fits in the window, then records it. Calls are served in order. */
  take(weight: number): Promise<void> {
    const w = Math.min(Math.max(weight, 0), this.limitPerMinute);
    const next = this.queue.then(() => this.reserve(w));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async reserve(weight: number): Promise<void> {
    for (;;) {
      const now = this.timer.now();
      if (this.used(now) + weight <= this.limitPerMinute) {
        this.spent.push({ at: now, weight });
        this.total += weight;
        return;
      }
      let freed = 0;
      let waitUntil = now;
      const needed = this.used(now) + weight - this.limitPerMinute;
      for (const s of this.spent) {
        freed += s.weight;
        waitUntil = s.at + WINDOW_MS;
        if (freed >= needed) break;
      }
      const wait = Math.max(1, waitUntil - now);
      if (wait > this.maxWaitMs) {
        throw new TransientError(
          'weight_budget_exhausted',
          'the exchange weight budget is used up for now',
          undefined,
          {
            retryAfterSeconds: Math.ceil(wait / 1000),
          },
        );
      }
      await this.timer.sleep(wait);
    }
  }

  private expire(now: number): void {
    while (this.spent.length > 0 && (this.spent[0] as { at: number }).at <= now - WINDOW_MS)
      this.spent.shift();
  }
}
