// Tests of paging against simulated exchanges: short pages, newest-first pages, gaps and page limits.
import { describe, expect, it } from 'vitest';
import { pageCandles, pageTrades, type Candle } from '../../../shared/exchange/paging.ts';
import { parseTimeframe } from '../../../shared/time.ts';

const tf = parseTimeframe('1m')!;
const T0 = Date.UTC(2024, 0, 1);
const MIN = 60_000;

/** A simulated exchange with candles at every minute of [T0, T0 + n min) except `holes`. */
function exchange(n: number, opts: { cap?: number; newestFirst?: boolean; holes?: Set<number> } = {}) {
  const all: Candle[] = [];
  for (let i = 0; i < n; i++) if (!opts.holes?.has(i)) all.push([T0 + i * MIN, `${i}.0`, '1', '1', '1', '1']);
  const calls: Array<[number, number, number]> = [];
  const fetchPage = async (since: number, until: number, limit: number) => {
    calls.push([since, until, limit]);
    const inRange = all.filter((c) => c[0] >= since && c[0] < until);
    const size = Math.min(limit, opts.cap ?? limit);
    // newest-first exchanges (Bybit) answer the newest `size` candles of the range.
    return opts.newestFirst ? inRange.slice(-size).reverse() : inRange.slice(0, size);
  };
  return { all, calls, fetchPage };
}

describe('pageCandles', () => {
  const cases = [
    { name: 'oldest-first, full pages', n: 2_500, opts: {} },
    { name: 'exchange caps pages below the asked limit', n: 2_500, opts: { cap: 300 } },
    { name: 'newest-first answers with a cap', n: 2_500, opts: { newestFirst: true, cap: 200 } },
    { name: 'gaps in the exchange data', n: 2_500, opts: { holes: new Set([0, 1, 999, 1000, 1001, 2499]) } },
  ];
  it.each(cases)('$name: every candle once, in order', async ({ n, opts }) => {
    const ex = exchange(n, opts);
    const out = await pageCandles({
      since: T0,
      until: T0 + n * MIN,
      tf,
      pageLimit: 1000,
      maxPages: 1000,
      fetchPage: ex.fetchPage,
    });
    expect(out.items.map((c) => c[0])).toEqual(ex.all.map((c) => c[0]));
    expect(out.missing).toEqual([]);
    expect(out.pages).toBe(ex.calls.length);
    for (const [since, until, limit] of ex.calls) expect((until - since) / MIN).toBeLessThanOrEqual(limit);
  });
  it('reports exactly the range it did not fetch when MAX_PAGES is reached', async () => {
    const ex = exchange(5_000);
    const out = await pageCandles({
      since: T0,
      until: T0 + 5_000 * MIN,
      tf,
      pageLimit: 1000,
      maxPages: 2,
      fetchPage: ex.fetchPage,
    });
    expect(out.items).toHaveLength(2_000);
    expect(out.missing).toEqual([
      expect.objectContaining({ since: T0 + 2_000 * MIN, until: T0 + 3_000 * MIN, retryable: true }),
      expect.objectContaining({ since: T0 + 3_000 * MIN, until: T0 + 4_000 * MIN, retryable: true }),
      expect.objectContaining({ since: T0 + 4_000 * MIN, until: T0 + 5_000 * MIN, retryable: true }),
    ]);
  });
  it('a failing page fails the whole paging (never skipped)', async () => {
    const ex = exchange(3_000);
    let n = 0;
    const failing = async (s: number, u: number, l: number) => {
      if (++n === 2) throw new Error('HTTP 500');
      return ex.fetchPage(s, u, l);
    };
    await expect(
      pageCandles({
        since: T0,
        until: T0 + 3_000 * MIN,
        tf,
        pageLimit: 1000,
        maxPages: 100,
        fetchPage: failing,
      }),
    ).rejects.toThrow('HTTP 500');
  });
});

describe('pageTrades', () => {
  const trades = Array.from({ length: 5_000 }, (_, i) => ({
    id: String(i),
    ts: T0 + Math.floor(i / 3) * 1000,
  }));
  const windowed = (cap: number) => async (since: number, until: number, limit: number) =>
    trades.filter((t) => t.ts >= since && t.ts < until).slice(0, Math.min(limit, cap));

  it('pages through windows and pages, every trade once', async () => {
    const until = T0 + 2_000_000;
    const out = await pageTrades({
      since: T0,
      until,
      pageLimit: 1000,
      maxPages: 1000,
      fetchPage: windowed(1000),
    });
    expect(out.items.map((t) => t.id)).toEqual(trades.filter((t) => t.ts < until).map((t) => t.id));
    expect(out.missing).toEqual([]);
  });
  it('an exchange capping pages below the limit loses nothing', async () => {
    const until = T0 + 1_500_000;
    const out = await pageTrades({
      since: T0,
      until,
      pageLimit: 1000,
      maxPages: 1000,
      fetchPage: windowed(100),
    });
    expect(out.items.map((t) => t.id)).toEqual(trades.filter((t) => t.ts < until).map((t) => t.id));
  });
  it('a recent-only exchange that caps its answer below the page size still gets the gap reported', async () => {
    const recent = async () => trades.slice(-60);
    const until = trades.at(-1)!.ts + 1;
    const out = await pageTrades({
      since: until - 600_000,
      until,
      pageLimit: 1000,
      maxPages: 1000,
      fetchPage: recent,
    });
    expect(out.items).toHaveLength(60);
    expect(out.missing).toEqual([
      expect.objectContaining({ since: until - 600_000, until: trades.at(-60)!.ts, retryable: false }),
    ]);
  });
  it('a quiet start of the window is asked once more and is not reported', async () => {
    const quiet = trades.filter((t) => t.ts >= T0 + 100_000);
    const fetchPage = async (since: number, until: number, limit: number) =>
      quiet.filter((t) => t.ts >= since && t.ts < until).slice(0, limit);
    const out = await pageTrades({
      since: T0,
      until: T0 + 200_000,
      pageLimit: 1000,
      maxPages: 1000,
      fetchPage,
    });
    expect(out.missing).toEqual([]);
    expect(out.items.map((t) => t.id)).toEqual(quiet.filter((t) => t.ts < T0 + 200_000).map((t) => t.id));
  });
  it('a recent-only exchange gets the uncovered part reported as missing', async () => {
    const recent = async () => trades.slice(-100);
    const out = await pageTrades({
      since: T0,
      until: T0 + 2_000_000,
      pageLimit: 1000,
      maxPages: 1000,
      fetchPage: recent,
    });
    const oldest = trades.at(-100)!.ts;
    expect(out.missing).toEqual([expect.objectContaining({ since: T0, until: oldest, retryable: false })]);
  });
});
