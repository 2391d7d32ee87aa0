// Tests of paging against simulated exchanges: short pages, newest-first pages, gaps and page limits.
import { describe, expect, it } from 'vitest';
import {
  pageCandles,
  pageTrades,
  type FetchPage,
  type PagingBehaviour,
} from '../../../shared/exchange/paging.ts';
import { parseTimeframe } from '../../../shared/time.ts';

const tf = parseTimeframe('1m')!;
const T0 = Date.UTC(2024, 0, 1);
const MIN = 60_000;

/** A candle as paging sees it. */
type Candle = { ts: number; open: string };
const NOW = Date.UTC(2024, 1, 1);
const WINDOWED: PagingBehaviour = { since: true, until: true, venue: 'test' };

/** Runs pageCandles and collects what it delivered. */
async function candles(
  opts: Omit<Parameters<typeof pageCandles<Candle>>[0], 'deliver' | 'now' | 'behaviour'> & {
    behaviour?: PagingBehaviour;
    now?: number;
  },
) {
  const items: Candle[] = [];
  const r = await pageCandles<Candle>({
    now: NOW,
    behaviour: WINDOWED,
    ...opts,
    deliver: (cs) => void items.push(...cs),
  });
  return { ...r, items: items.sort((a, b) => a.ts - b.ts) };
}

/** Runs pageTrades and collects what it delivered. */
async function trades<T extends { id: string; ts: number }>(
  opts: Omit<Parameters<typeof pageTrades<T>>[0], 'deliver' | 'now' | 'behaviour'> & {
    behaviour?: PagingBehaviour;
  },
) {
  const items: T[] = [];
  const r = await pageTrades<T>({
    now: NOW,
    behaviour: WINDOWED,
    ...opts,
    deliver: (ts) => void items.push(...ts),
  });
  return { ...r, items: items.sort((a, b) => a.ts - b.ts || Number(a.id) - Number(b.id)) };
}

/** A simulated exchange with candles at every minute of [T0, T0 + n min) except `holes`. */
function exchange(n: number, opts: { cap?: number; newestFirst?: boolean; holes?: Set<number> } = {}) {
  const all: Candle[] = [];
  for (let i = 0; i < n; i++) if (!opts.holes?.has(i)) all.push({ ts: T0 + i * MIN, open: `${i}.0` });
  const calls: Array<[number, number, number]> = [];
  const fetchPage: FetchPage<Candle> = async (since, until = Infinity, limit) => {
    calls.push([since, until, limit]);
    const inRange = all.filter((c) => c.ts >= since && c.ts < until);
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
    const out = await candles({
      since: T0,
      until: T0 + n * MIN,
      tf,
      pageLimit: 1000,
      maxPages: 1000,
      fetchPage: ex.fetchPage,
    });
    expect(out.items.map((c) => c.ts)).toEqual(ex.all.map((c) => c.ts));
    expect(out.missing).toEqual([]);
    expect(out.pages).toBe(ex.calls.length);
    for (const [since, until, limit] of ex.calls) expect((until - since) / MIN).toBeLessThanOrEqual(limit);
  });
  it('reports exactly the range it did not fetch when MAX_PAGES is reached', async () => {
    const ex = exchange(5_000);
    const out = await candles({
      since: T0,
      until: T0 + 5_000 * MIN,
      tf,
      pageLimit: 1000,
      maxPages: 2,
      fetchPage: ex.fetchPage,
    });
    expect(out.items).toHaveLength(2_000);
    // One range, not one per page: adjacent ranges with the same reason are merged.
    expect(out.missing).toEqual([
      expect.objectContaining({ since: T0 + 2_000 * MIN, until: T0 + 5_000 * MIN, retryable: true }),
    ]);
  });
  it('an exchange keeping only its newest 720 candles (kraken): the older part is reported, not passed over', async () => {
    const now = T0 + 5_000 * MIN;
    const ex = exchange(5_000);
    // Kraken's OHLC answers its newest 720 candles whatever `since` asks, and has no `until`.
    const kraken: FetchPage<Candle> = async () => ex.all.slice(-720);
    const out = await candles({
      since: now - 63 * 60 * MIN,
      until: now,
      now,
      tf,
      pageLimit: 720,
      maxPages: 100,
      behaviour: { since: true, until: false, retainsNewest: 720, venue: 'kraken' },
      fetchPage: kraken,
    });
    expect(out.missing).toEqual([
      {
        since: now - 63 * 60 * MIN,
        until: now - 718 * MIN,
        reason: 'kraken serves only its newest 720 candles of a series',
        retryable: false,
      },
    ]);
    expect(out.items.map((c) => c.ts)).toEqual(ex.all.slice(-718).map((c) => c.ts));
  });
  it('the same exchange not in the venue table: the answer after the window is found out, not taken as no data', async () => {
    const now = T0 + 5_000 * MIN;
    const ex = exchange(5_000);
    const out = await candles({
      since: now - 63 * 60 * MIN,
      until: now - 61 * 60 * MIN,
      now,
      tf,
      pageLimit: 720,
      maxPages: 100,
      behaviour: { since: undefined, until: false, venue: 'newest-only' },
      fetchPage: async (_s, _u, limit) => ex.all.slice(-Math.min(limit, 720)),
    });
    expect(out.items).toEqual([]);
    expect(out.missing).toEqual([
      expect.objectContaining({ since: now - 63 * 60 * MIN, until: now - 61 * 60 * MIN, retryable: false }),
    ]);
  });
  it('a failing page fails the whole paging (never skipped)', async () => {
    const ex = exchange(3_000);
    let n = 0;
    const failing: FetchPage<Candle> = async (s, u, l) => {
      if (++n === 2) throw new Error('HTTP 500');
      return ex.fetchPage(s, u, l);
    };
    await expect(
      candles({
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
  const all = Array.from({ length: 5_000 }, (_, i) => ({
    id: String(i),
    ts: T0 + Math.floor(i / 3) * 1000,
  }));
  const windowed = (cap: number) => async (since: number, until: number | undefined, limit: number) =>
    all.filter((t) => t.ts >= since && t.ts < (until ?? Infinity)).slice(0, Math.min(limit, cap));

  it('pages through windows and pages, every trade once', async () => {
    const until = T0 + 2_000_000;
    const out = await trades({
      since: T0,
      until,
      pageLimit: 1000,
      maxPages: 1000,
      fetchPage: windowed(1000),
    });
    expect(out.items.map((t) => t.id)).toEqual(all.filter((t) => t.ts < until).map((t) => t.id));
    expect(out.missing).toEqual([]);
  });
  it('an exchange capping pages below the limit loses nothing', async () => {
    const until = T0 + 1_500_000;
    const out = await trades({
      since: T0,
      until,
      pageLimit: 1000,
      maxPages: 1000,
      fetchPage: windowed(100),
    });
    expect(out.items.map((t) => t.id)).toEqual(all.filter((t) => t.ts < until).map((t) => t.id));
  });
  it('a recent-only exchange that caps its answer below the page size still gets the gap reported', async () => {
    const recent = async () => all.slice(-60);
    const until = all.at(-1)!.ts + 1;
    const out = await trades({
      since: until - 600_000,
      until,
      pageLimit: 1000,
      maxPages: 1000,
      fetchPage: recent,
      behaviour: { since: undefined, until: false, venue: 'test' },
    });
    expect(out.items).toHaveLength(60);
    expect(out.missing).toEqual([
      expect.objectContaining({ since: until - 600_000, until: all.at(-60)!.ts + 1, retryable: false }),
    ]);
  });
  it('a quiet start of the window is asked once more and is not reported', async () => {
    const quiet = all.filter((t) => t.ts >= T0 + 100_000);
    const fetchPage = async (since: number, until: number | undefined, limit: number) =>
      quiet.filter((t) => t.ts >= since && t.ts < (until ?? Infinity)).slice(0, limit);
    const out = await trades({
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
    const recent = async () => all.slice(-100);
    const out = await trades({
      since: T0,
      until: T0 + 2_000_000,
      pageLimit: 1000,
      maxPages: 1000,
      fetchPage: recent,
      behaviour: { since: undefined, until: false, venue: 'test' },
    });
    const oldest = all.at(-100)!.ts + 1;
    expect(out.missing).toEqual([expect.objectContaining({ since: T0, until: oldest, retryable: false })]);
  });
});
