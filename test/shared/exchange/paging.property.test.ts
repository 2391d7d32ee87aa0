// Property tests of the paging engine against a simulated exchange with every combination of quirks and windows:
// each record the exchange holds in the window is delivered exactly once, or its time is inside a reported range.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MissingRange } from '../../../shared/events/schemas.ts';
import {
  pageCandles,
  pageTrades,
  type PagingBehaviour,
  type PagingResult,
} from '../../../shared/exchange/paging.ts';
import { parseTimeframe } from '../../../shared/time.ts';
import { simExchange, type Quirks, type SimRecord } from '../../support/sim-exchange.ts';

const tf = parseTimeframe('1m')!;
const MIN = 60_000;
const T0 = Date.UTC(2025, 0, 1);
const SPAN = 3_000; // minutes of history the exchange holds
const NOW = T0 + SPAN * MIN + 17_000;
const RUNS = Number(process.env['PAGING_RUNS'] ?? 300);
const SEED = process.env['PAGING_SEED'] === undefined ? undefined : Number(process.env['PAGING_SEED']);

const quirksArb: fc.Arbitrary<Quirks> = fc.record({
  since: fc.boolean(),
  until: fc.boolean(),
  anchor: fc.constantFrom('since' as const, 'until' as const),
  // No exchange caps a page at one record: a full page of one millisecond is told apart from a quiet one.
  cap: fc.integer({ min: 2, max: 400 }),
  retainsNewest: fc.option(fc.integer({ min: 1, max: 2_500 }), { nil: undefined }),
  descending: fc.boolean(),
  inclusiveUntil: fc.boolean(),
  boundaryDuplicate: fc.boolean(),
});

/**
 * What the engine is told: the truth where the venue table would know it (retention, whether `until` reaches the
 * exchange), and the exchange's `since` handling either known or left to be found out. `until` is only sent when
 * the exchange honours it (the table's promise: no parameter it does not define).
 */
const behaviourArb = (q: Quirks): fc.Arbitrary<PagingBehaviour> =>
  fc.record({ knowsSince: fc.boolean(), sendsUntil: fc.boolean() }).map(({ knowsSince, sendsUntil }) => ({
    // A venue known to keep only its newest records is in the table with what it does with `since`.
    since:
      knowsSince || q.retainsNewest !== undefined
        ? q.since && (q.anchor === 'since' || (q.until && sendsUntil))
        : undefined,
    until: q.until && sendsUntil,
    // The table says so only where it is true: both bounds honoured, answered from `since`.
    oldestFirst: knowsSince && q.since && q.until && sendsUntil && q.anchor === 'since',
    ...(q.retainsNewest !== undefined ? { retainsNewest: q.retainsNewest } : {}),
    venue: 'sim',
  }));

/** A window in minutes relative to T0: may start before listing, end in the future, or be empty of data. */
const windowArb = fc
  .tuple(fc.integer({ min: -300, max: SPAN + 100 }), fc.integer({ min: 1, max: 2_500 }))
  .map(([start, len]) => ({ since: T0 + start * MIN, until: Math.min(T0 + (start + len) * MIN, NOW) }))
  .filter((w) => w.until > w.since);

/**
 * Checks the promise: delivered once, in time order, inside the window, held by the exchange; the rest covered by
 * `missing`.
 */
function checkPromise(
  held: readonly SimRecord[],
  window: { since: number; until: number },
  delivered: readonly SimRecord[],
  result: PagingResult,
): void {
  for (let i = 1; i < delivered.length; i++) {
    expect(delivered[i]!.ts, 'delivered in time order').toBeGreaterThanOrEqual(delivered[i - 1]!.ts);
  }
  const keys = delivered.map((r) => r.key);
  expect(new Set(keys).size, 'no record delivered twice').toBe(keys.length);
  expect(result.delivered).toBe(delivered.length);
  const heldKeys = new Set(held.map((r) => r.key));
  for (const r of delivered) {
    expect(heldKeys.has(r.key), `delivered ${r.key} is the exchange's`).toBe(true);
    expect(r.ts >= window.since && r.ts < window.until, `delivered ${r.key} is in the window`).toBe(true);
  }
  const got = new Set(keys);
  const covered = (ts: number) => result.missing.some((m) => ts >= m.since && ts < m.until);
  for (const r of held) {
    if (r.ts < window.since || r.ts >= window.until) continue;
    if (!got.has(r.key) && !covered(r.ts)) {
      throw new Error(
        `silent gap: ${r.key} at ${r.ts} neither delivered nor in missing ${JSON.stringify(result.missing)}`,
      );
    }
  }
  checkMerged(result.missing);
}

function checkMerged(missing: readonly MissingRange[]): void {
  for (let i = 1; i < missing.length; i++) {
    const a = missing[i - 1]!;
    const b = missing[i]!;
    expect(b.since, 'missing ranges in time order').toBeGreaterThanOrEqual(a.since);
    if (b.since <= a.until)
      expect(`${a.reason}|${a.retryable}`, 'touching ranges merged').not.toBe(`${b.reason}|${b.retryable}`);
  }
}

describe('pageCandles against every quirk combination', () => {
  it('delivers each held candle once or reports its range', async () => {
    await fc.assert(
      fc.asyncProperty(
        quirksArb.chain((q) =>
          fc.record({
            q: fc.constant(q),
            b: behaviourArb(q),
            w: windowArb,
            holes: fc.array(fc.tuple(fc.integer({ min: 0, max: SPAN }), fc.integer({ min: 1, max: 400 })), {
              maxLength: 4,
            }),
            pageLimit: fc.integer({ min: 1, max: 1_000 }),
          }),
        ),
        async ({ q, b, w, holes, pageLimit }) => {
          const records: SimRecord[] = [];
          for (let i = 0; i <= SPAN; i++) {
            if (holes.some(([at, len]) => i >= at && i < at + len)) continue;
            records.push({ ts: T0 + i * MIN, key: String(T0 + i * MIN) });
          }
          const sim = simExchange(records, NOW, q);
          const delivered: SimRecord[] = [];
          const result = await pageCandles({
            since: w.since,
            until: w.until,
            now: NOW,
            tf,
            pageLimit,
            maxPages: 100_000,
            behaviour: b,
            fetchPage: async (since, until, limit) =>
              (await sim.fetchPage(since, until, limit)).map((r) => ({ ts: r.ts, key: r.key })),
            deliver: (cs) => void delivered.push(...cs),
          });
          checkPromise(sim.held, w, delivered, result);
          if (b.since === true && q.retainsNewest === undefined) {
            expect(result.missing, 'an exchange serving the whole window leaves nothing missing').toEqual([]);
          }
        },
      ),
      { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) },
    );
  });
});

/** Venues that keep only their newest trades answer those whatever `since` says (bybit, okx, kucoin). */
const tradeQuirksArb = quirksArb.map((q) => (q.retainsNewest !== undefined ? { ...q, since: false } : q));

describe('pageTrades against every quirk combination', () => {
  it('delivers each held trade once or reports its range', async () => {
    await fc.assert(
      fc.asyncProperty(
        tradeQuirksArb.chain((q) =>
          fc.record({
            q: fc.constant(q),
            b: behaviourArb(q),
            w: windowArb,
            // Trades at random milliseconds, several sharing one, bursts and quiet stretches.
            times: fc.array(fc.integer({ min: 0, max: SPAN * 60 }), { minLength: 0, maxLength: 1_500 }),
            bursts: fc.array(
              fc.tuple(fc.integer({ min: 0, max: SPAN * 60 }), fc.integer({ min: 2, max: 30 })),
              {
                maxLength: 3,
              },
            ),
            pageLimit: fc.integer({ min: 2, max: 1_000 }),
          }),
        ),
        async ({ q, b, w, times, bursts, pageLimit }) => {
          const records: SimRecord[] = [];
          times.forEach((s, i) => records.push({ ts: T0 + s * 1000 + (i % 3), key: `t${i}` }));
          bursts.forEach(([s, n], j) => {
            for (let k = 0; k < n; k++) records.push({ ts: T0 + s * 1000, key: `b${j}-${k}` });
          });
          const sim = simExchange(records, NOW, q);
          const delivered: SimRecord[] = [];
          const result = await pageTrades({
            since: w.since,
            until: w.until,
            now: NOW,
            pageLimit,
            maxPages: 100_000,
            behaviour: b,
            fetchPage: async (since, until, limit) =>
              (await sim.fetchPage(since, until, limit)).map((r) => ({ id: r.key, ts: r.ts })),
            deliver: (ts) => void delivered.push(...ts.map((t) => ({ ts: t.ts, key: t.id }))),
          });
          checkPromise(sim.held, w, delivered, result);
        },
      ),
      { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) },
    );
  });
});
