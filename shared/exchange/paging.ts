// Paging over time windows that never skips a page: every part of the window is fetched or reported missing.
import type { MissingRange } from '../events/schemas.ts';
import { nextOpen, type Timeframe } from '../time.ts';

/** A candle as ccxt returns it: [open time, open, high, low, close, volume]. */
export type Candle = [number, ...unknown[]];

/** What paging delivered: items in time order, pages used, and the ranges it could not cover. */
export interface Paged<T> {
  items: T[];
  pages: number;
  missing: MissingRange[];
}

interface Window {
  since: number;
  until: number;
}

/**
 * Fetches every candle whose open time is in [since, until). The range is cut into windows of at most
 * `pageLimit` candles; each answer is checked against its window: a part before the first candle or after the
 * last one is fetched again (a shorter exchange page or newest-first answers never lose candles), and only an
 * empty answer marks a window as having no data. Past `maxPages`, the rest is reported in `missing`.
 */
export async function pageCandles(opts: {
  since: number;
  until: number;
  tf: Timeframe;
  pageLimit: number;
  maxPages: number;
  fetchPage: (since: number, until: number, limit: number) => Promise<Candle[]>;
}): Promise<Paged<Candle>> {
  const { tf, pageLimit } = opts;
  const span = tf.ms * pageLimit;
  const todo: Window[] = [];
  for (let a = opts.since; a < opts.until; a += span)
    todo.push({ since: a, until: Math.min(a + span, opts.until) });
  const byTs = new Map<number, Candle>();
  let pages = 0;
  while (todo.length > 0) {
    if (pages >= opts.maxPages) break;
    const w = todo.shift() as Window;
    const page = await opts.fetchPage(w.since, w.until, pageLimit);
    pages += 1;
    const inside = page.filter((c) => c[0] >= w.since && c[0] < w.until).sort((x, y) => x[0] - y[0]);
    if (inside.length === 0) continue;
    for (const c of inside) byTs.set(c[0], c);
    const first = (inside[0] as Candle)[0];
    const after = nextOpen(tf, (inside[inside.length - 1] as Candle)[0]);
    const rest: Window[] = [];
    if (first - w.since >= tf.ms) rest.push({ since: w.since, until: first });
    if (after < w.until) rest.push({ since: after, until: w.until });
    todo.unshift(...rest);
  }
  const missing = todo.map((w) => ({
    ...w,
    reason: `not fetched: MAX_PAGES_PER_SERIES (${opts.maxPages}) reached`,
    retryable: true,
  }));
  return { items: [...byTs.values()].sort((x, y) => x[0] - y[0]), pages, missing };
}

/** A trade as paging needs it. */
export interface TimedItem {
  id: string;
  ts: number;
}

/** Longest window one trades request asks for (Binance refuses more than one hour). */
export const TRADES_WINDOW_MS = 3_600_000;

/**
 * Fetches every trade with a time in [since, until), in windows of at most one hour, paging inside a window from
 * the newest trade seen (inclusive, de-duplicated by id) until a page brings nothing new. When the first page of a
 * window starts after the window does, the gap is asked for once more: an exchange that honours time windows
 * answers with what is there (often nothing), one that serves only recent trades answers outside the window, and
 * then what it did not cover is reported in `missing` rather than passed over.
 */
export async function pageTrades<T extends TimedItem>(opts: {
  since: number;
  until: number;
  pageLimit: number;
  maxPages: number;
  fetchPage: (since: number, until: number, limit: number) => Promise<T[]>;
}): Promise<Paged<T>> {
  const byId = new Map<string, T>();
  const missing: MissingRange[] = [];
  let pages = 0;
  const fetch = async (since: number, until: number): Promise<T[]> => {
    pages += 1;
    return opts.fetchPage(since, until, opts.pageLimit);
  };
  const outside = (page: T[], since: number, until: number) =>
    page.some((t) => t.ts < since || t.ts >= until);
  const oldestOf = (page: T[]) => page.reduce((m, t) => Math.min(m, t.ts), Infinity);
  /** A recent-only exchange: keep what falls in the range, report the part before its oldest trade. */
  const recentOnly = (answers: T[]) => {
    for (const t of answers) if (t.ts >= opts.since && t.ts < opts.until) byId.set(t.id, t);
    const oldest = oldestOf(answers);
    if (oldest > opts.since) {
      missing.push({
        since: opts.since,
        until: Math.min(oldest, opts.until),
        reason:
          'the exchange serves only its most recent trades; older ones in the window were not available',
        retryable: false,
      });
    }
  };

  let windowStart = opts.since;
  outer: while (windowStart < opts.until) {
    const windowEnd = Math.min(windowStart + TRADES_WINDOW_MS, opts.until);
    let cursor = windowStart;
    for (let first = true; ; first = false) {
      if (pages >= opts.maxPages) {
        missing.push({
          since: cursor,
          until: opts.until,
          reason: `not fetched: MAX_PAGES_PER_SERIES (${opts.maxPages}) reached`,
          retryable: true,
        });
        break outer;
      }
      const page = await fetch(cursor, windowEnd);
      if (outside(page, cursor, windowEnd)) {
        recentOnly(page);
        break outer;
      }
      const oldest = oldestOf(page);
      if (first && page.length > 0 && oldest > cursor) {
        const probe = await fetch(cursor, oldest);
        if (outside(probe, cursor, oldest)) {
          recentOnly([...page, ...probe]);
          break outer;
        }
        for (const t of probe) byId.set(t.id, t);
        if (probe.length >= opts.pageLimit) {
          missing.push({
            since: cursor,
            until: oldestOf(probe),
            reason: 'more trades before the first page than one page holds',
            retryable: false,
          });
        }
      }
      const fresh = page.filter((t) => !byId.has(t.id));
      for (const t of fresh) byId.set(t.id, t);
      if (fresh.length === 0) {
        if (page.length >= opts.pageLimit && page.every((t) => t.ts === cursor)) {
          missing.push({
            since: cursor,
            until: cursor + 1,
            reason: 'more trades in one millisecond than one page holds',
            retryable: false,
          });
        }
        break;
      }
      // A short page is not proof of the end (exchanges cap pages below what was asked): page on until nothing is new.
      cursor = fresh.reduce((m, t) => Math.max(m, t.ts), cursor);
    }
    windowStart = windowEnd;
  }
  const items = [...byId.values()].sort((x, y) => x.ts - y.ts || compareIds(x.id, y.id));
  return { items, pages, missing };
}

/** Orders trade ids numerically when both are digit strings (exchange ids grow), else as text. */
export function compareIds(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b) && a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
