// The venue table: what ccxt does not say about an exchange's public history, as data (how its windows answer).
import type { PagingBehaviour } from './paging.ts';

const HOUR = 3_600_000;
const DAY = 86_400_000;

/** How one exchange answers windowed requests for one dataset. */
export interface WindowQuirks {
  /** Answers from `since` (true), only its newest records (false); left out: found out from the answers. */
  since?: boolean;
  /** ccxt turns the unified `until` into this exchange's own parameter (otherwise it is not sent). */
  until?: boolean;
  /** Serves only its newest N candles of a series. */
  retainsNewest?: number;
  /** Serves only records younger than this (ms). */
  retainsMs?: number;
  /** Longest span one request may cover (ms). */
  maxSpanMs?: number;
  /** Given both bounds, answers its oldest records from `since` (not the newest before `until`). */
  oldestFirst?: boolean;
  /**
   * The window in the exchange's own parameter names, for a call where ccxt sends none (or leaks `until` as an
   * unknown query parameter): sent as params instead of ccxt's `since` and `until`.
   */
  windowParams?: { since: string; until: string; unit: 's' | 'ms' };
}

/** What the table knows of one exchange. */
export interface VenueQuirks {
  ohlcv?: WindowQuirks;
  trades?: WindowQuirks;
  /** Another host for market data when the main one refuses a location (HTTP 451). */
  alternativeHost?: string;
  /** The only order-book depths the exchange (or ccxt for it) accepts; a depth between is asked as the next one. */
  bookDepths?: readonly number[];
}

/**
 * Checked against ccxt 4.5.84's request building for each exchange (test/shared/exchange/venues.test.ts records the
 * URLs ccxt builds and checks that no parameter outside the exchange's API is sent) and against the exchanges' API
 * documentation for what they serve.
 */
export const VENUES: Readonly<Record<string, VenueQuirks>> = {
  binance: {
    // klines and aggTrades answer from startTime, oldest first, up to endTime.
    ohlcv: { since: true, until: true, oldestFirst: true },
    // aggTrades refuses startTime/endTime more than an hour apart.
    trades: { since: true, until: true, maxSpanMs: HOUR, oldestFirst: true },
    alternativeHost: 'https://data-api.binance.vision',
  },
  bybit: {
    ohlcv: { since: true, until: true },
    // /v5/market/recent-trade: the newest trades only (spot 60, derivatives 1000), no time parameters.
    trades: { since: false, until: false },
  },
  okx: {
    ohlcv: { since: true, until: true },
    // /api/v5/market/trades: the newest trades only (at most 500).
    trades: { since: false, until: false },
  },
  kraken: {
    // /0/public/OHLC: only the newest 720 candles whatever `since` says; no end parameter.
    ohlcv: { since: true, until: false, retainsNewest: 720 },
    // /0/public/Trades: from `since` (nanoseconds), up to 1000; no end parameter.
    trades: { since: true, until: false },
  },
  kucoin: {
    // level2_20 and level2_100: ccxt refuses any other limit before calling.
    bookDepths: [20, 100],
    // /api/v1/market/candles: startAt/endAt, but ccxt computes endAt from the limit and leaks `until`.
    ohlcv: { since: true, until: false },
    // /api/v1/market/histories: the newest 100 trades, no time parameters, no trade id.
    trades: { since: false, until: false },
  },
  gate: {
    // Candlesticks no older than 10,000 intervals.
    ohlcv: { since: true, until: true, retainsNewest: 10_000 },
    // ccxt sends `from` for contracts only and leaks `until`: the window goes as Gate's own from/to (seconds).
    trades: { since: true, until: true, windowParams: { since: 'from', until: 'to', unit: 's' } },
  },
  bitget: {
    ohlcv: { since: true, until: true },
    // fills-history: startTime/endTime, the last 90 days.
    trades: { since: true, until: true, retainsMs: 90 * DAY },
  },
  coinbase: {
    ohlcv: { since: true, until: true },
    // ccxt requires `until` with `since` for coinbase trades.
    trades: { since: true, until: true },
  },
};

/** How paging treats `dataset` on `exchange`: the table's entry, else nothing assumed (found out, nothing sent). */
export function pagingBehaviour(exchange: string, dataset: 'ohlcv' | 'trades'): PagingBehaviour {
  const q = VENUES[exchange]?.[dataset] ?? {};
  return {
    since: q.since,
    until: q.until ?? false,
    ...(q.retainsNewest !== undefined ? { retainsNewest: q.retainsNewest } : {}),
    ...(q.retainsMs !== undefined ? { retainsMs: q.retainsMs } : {}),
    ...(q.maxSpanMs !== undefined ? { maxSpanMs: q.maxSpanMs } : {}),
    ...(q.oldestFirst !== undefined ? { oldestFirst: q.oldestFirst } : {}),
    venue: exchange,
  };
}

/** The exchange's own window parameters for `dataset`, when the table has them. */
export function windowParams(
  exchange: string,
  dataset: 'ohlcv' | 'trades',
  since: number,
  until: number | undefined,
): Record<string, number> | undefined {
  const p = VENUES[exchange]?.[dataset]?.windowParams;
  if (!p) return undefined;
  const unit = (t: number) => (p.unit === 's' ? Math.floor(t / 1000) : t);
  return { [p.since]: unit(since), ...(until !== undefined ? { [p.until]: unit(until) } : {}) };
}

/** The depth to ask the exchange for so that `depth` levels a side come back: the next depth it accepts. */
export function bookDepth(exchange: string, depth: number): number {
  const allowed = VENUES[exchange]?.bookDepths;
  if (!allowed || allowed.length === 0) return depth;
  return allowed.find((d) => d >= depth) ?? Math.max(...allowed);
}
