// Runs a planned extract request: fetch each series (paged), chunk it into CloudEvents, deliver, advance cursors.
import type { ExtractConfig } from '../config.ts';
import { buildBatchEvents, type SeriesHeader } from '../events/batches.ts';
import { sendEvent } from '../events/sink.ts';
import {
  SCHEMA_VERSION,
  type Dataset,
  type ExtractRequest,
  type ExtractSummary,
  type MissingRange,
  type RecordOf,
  type SeriesSummary,
} from '../events/schemas.ts';
import type { CallStats, ExchangeClient } from '../exchange/client.ts';
import type { Exchange, FundingRate, Market, OHLCV, Ticker } from '../exchange/ccxt.ts';
import {
  RawDecimals,
  exactRow,
  toFunding,
  toMarket,
  toOhlcv,
  toOrderBookLevels,
  toTicker,
  toTrades,
} from '../exchange/normalize.ts';
import { pageCandles, pageTrades, type Candle } from '../exchange/paging.ts';
import type { CursorStore, SeriesKey } from '../lake/cursors.ts';
import type { Logger } from '../log.ts';
import { nextOpen } from '../time.ts';
import { planRequest, type SeriesPlan } from './plan.ts';

/** What a run needs; injected so tests can use fakes for time and cursors. */
export interface ExtractDeps {
  cfg: ExtractConfig;
  client: ExchangeClient;
  cursors: CursorStore;
  now: () => number;
  log: Logger;
}

/** Identity of one request, for logs and events. */
export interface RequestContext {
  requestId: string;
  traceparent?: string;
}

const SERIES_CONCURRENCY = 4;
const SYMBOLS_PER_CALL = 100;
const TRADES_PAGE_LIMIT = 1000;
const TRADES_OVERLAP_MS = 60_000;

/** What fetching one series produced, before delivery. */
interface Fetched<D extends Dataset> {
  records: RecordOf[D][];
  window: { since: number; until: number } | null;
  caughtUp: boolean;
  pages: number;
  missing: MissingRange[];
  /** Cursor to store once every event of the series was accepted (incremental runs only). */
  nextCursor?: { key: SeriesKey; next: number };
}

/**
 * Extracts everything the request asks for and delivers it to K_SINK. Resolves with the summary once every event
 * was accepted; rejects (transient: 5xx) if any page or any event failed, in which case no cursor moved past it.
 */
export async function runExtract(
  req: ExtractRequest,
  ctx: RequestContext,
  deps: ExtractDeps,
): Promise<ExtractSummary> {
  const startedAt = deps.now();
  const stats: CallStats = { requests: 0, retries: 0, weight: 0 };
  const log = deps.log.child({
    exchange: deps.cfg.exchange,
    requestId: ctx.requestId,
    ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
  });
  const markets = await deps.client.markets(stats, log);
  const plans = planRequest(req, deps.cfg, deps.client.ex, markets);
  log.info('extract started', { datasets: req.datasets, series: plans.length, runId: req.runId });

  const series: SeriesSummary[] = new Array(plans.length);
  let events = 0;
  let bytes = 0;
  let next = 0;
  const worker = async () => {
    while (next < plans.length) {
      const i = next++;
      const plan = plans[i] as SeriesPlan;
      const slog = log.child({ dataset: plan.dataset, ...(plan.symbol ? { symbol: plan.symbol } : {}) });
      const fetched = await fetchSeries(plan, req, deps, stats, slog);
      const header: SeriesHeader<Dataset> = {
        exchange: deps.cfg.exchange,
        dataset: plan.dataset,
        symbol: plan.symbol,
        timeframe: plan.dataset === 'ohlcv' ? plan.tf.text : null,
        window: fetched.window,
        requestId: ctx.requestId,
        extractedAt: deps.now(),
      };
      const batch = buildBatchEvents(header, fetched.records, deps.cfg.maxEventBytes, ctx.traceparent);
      for (const event of batch) {
        bytes += await sendEvent(
          event,
          { url: deps.cfg.sinkUrl, timeoutMs: deps.cfg.sinkTimeoutMs, retries: deps.cfg.sinkRetries },
          slog,
        );
        events += 1;
      }
      if (fetched.nextCursor) {
        await deps.cursors.put(fetched.nextCursor.key, {
          next: fetched.nextCursor.next,
          updatedAt: deps.now(),
        });
      }
      // A loop, not Math.min(...times): a day of trades is more arguments than a call may take.
      let first: number | null = null;
      let last: number | null = null;
      for (const r of fetched.records as Array<{ ts?: unknown }>) {
        if (typeof r.ts !== 'number') continue;
        if (first === null || r.ts < first) first = r.ts;
        if (last === null || r.ts > last) last = r.ts;
      }
      const summary: SeriesSummary = {
        dataset: plan.dataset,
        symbol: plan.symbol,
        timeframe: header.timeframe,
        records: fetched.records.length,
        closed:
          plan.dataset === 'ohlcv'
            ? (fetched.records as RecordOf['ohlcv'][]).filter((r) => r.closed).length
            : null,
        first,
        last,
        window: fetched.window,
        caughtUp: fetched.caughtUp,
        pages: fetched.pages,
        events: batch.length,
        missing: fetched.missing,
      };
      series[i] = summary;
      slog.info('series delivered', {
        records: summary.records,
        events: summary.events,
        pages: summary.pages,
        first: summary.first,
        last: summary.last,
        missing: summary.missing.length,
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(SERIES_CONCURRENCY, plans.length) }, worker));

  const summary: ExtractSummary = {
    schemaVersion: SCHEMA_VERSION,
    exchange: deps.cfg.exchange,
    requestId: ctx.requestId,
    runId: req.runId ?? null,
    startedAt,
    finishedAt: deps.now(),
    series,
    exchangeRequests: stats.requests,
    retries: stats.retries,
    weightUsed: stats.weight,
    events,
    bytes,
  };
  log.info('extract finished', {
    events,
    exchangeRequests: stats.requests,
    retries: stats.retries,
    weightUsed: stats.weight,
    weightBudgetPerMinute: deps.client.budget.limitPerMinute,
    durationMs: summary.finishedAt - startedAt,
  });
  return summary;
}

/** The time window of a windowed series: explicit (since/until/lookback) or from the cursor (incremental). */
async function resolveWindow(
  req: ExtractRequest,
  key: SeriesKey,
  align: (t: number) => number,
  deps: ExtractDeps,
): Promise<{ since: number; until: number; caughtUp: boolean; incremental: boolean }> {
  const now = deps.now();
  const until = Math.min(req.until ?? now, now);
  if (req.since !== undefined || req.lookback !== undefined) {
    const since = req.since ?? until - (req.lookback as number);
    return { since, until: Math.max(until, since), caughtUp: true, incremental: false };
  }
  const cursor = await deps.cursors.get(key);
  const since = cursor ? cursor.next : align(until - deps.cfg.initialLookbackMs);
  if (until - since > deps.cfg.maxCatchupMs) {
    return { since, until: since + deps.cfg.maxCatchupMs, caughtUp: false, incremental: true };
  }
  return { since, until: Math.max(until, since), caughtUp: true, incremental: true };
}

function featureLimit(ex: Exchange, market: Market, method: string): number | undefined {
  const features = (ex as unknown as { features?: Record<string, unknown> }).features;
  if (!features || !market) return undefined;
  const byType = features[market.type as string] as Record<string, unknown> | undefined;
  const scoped = (market.linear ? byType?.['linear'] : market.inverse ? byType?.['inverse'] : byType) as
    Record<string, unknown> | undefined;
  const entry = (scoped?.[method] ?? byType?.[method]) as { limit?: unknown } | undefined;
  return typeof entry?.limit === 'number' ? entry.limit : undefined;
}

/** The first retryable gap bounds how far a cursor may move: that range must be fetched again. */
function cursorBound(missing: MissingRange[], proposed: number): number {
  return missing.filter((m) => m.retryable).reduce((min, m) => Math.min(min, m.since), proposed);
}

function groupBy<T>(items: T[], keyOf: (t: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = keyOf(item);
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  const out: T[][] = [];
  for (const g of groups.values())
    for (let i = 0; i < g.length; i += SYMBOLS_PER_CALL) out.push(g.slice(i, i + SYMBOLS_PER_CALL));
  return out;
}

function marketKind(markets: Record<string, Market>, symbol: string): string {
  const m = markets[symbol];
  return `${m?.type ?? '?'}:${m?.linear ? 'linear' : m?.inverse ? 'inverse' : ''}`;
}

async function fetchSeries(
  plan: SeriesPlan,
  req: ExtractRequest,
  deps: ExtractDeps,
  stats: CallStats,
  log: Logger,
): Promise<Fetched<Dataset>> {
  const { client } = deps;
  const has = client.ex.has as Record<string, unknown>;
  const can = (m: string) => has[m] === true || has[m] === 'emulated';
  const snapshot = { window: null, caughtUp: true, missing: [] as MissingRange[] };
  switch (plan.dataset) {
    case 'markets': {
      const markets = await client.markets(stats, log);
      const wanted = new Set(plan.marketTypes);
      const records = Object.values(markets)
        .filter((m): m is NonNullable<Market> => m !== undefined && wanted.has(String(m.type)))
        .sort((a, b) => (a.symbol < b.symbol ? -1 : 1))
        .map((m) => toMarket(m, RawDecimals.none));
      return { ...snapshot, records, pages: 0 };
    }
    case 'ohlcv': {
      const tf = plan.tf;
      const key: SeriesKey = {
        exchange: deps.cfg.exchange,
        dataset: 'ohlcv',
        symbol: plan.symbol,
        timeframe: tf.text,
      };
      const align = (t: number) => (tf.unit === 'M' || tf.unit === 'w' ? t : Math.floor(t / tf.ms) * tf.ms);
      const w = await resolveWindow(req, key, align, deps);
      const pageLimit = deps.cfg.ohlcvPageLimit ?? featureLimit(client.ex, plan.market, 'fetchOHLCV') ?? 500;
      const paged = await pageCandles({
        since: w.since,
        until: w.until,
        tf,
        pageLimit,
        maxPages: deps.cfg.maxPagesPerSeries,
        fetchPage: async (since, until, limit) => {
          // Each page's decimals become the exchange's text here, while its raw bodies are at hand.
          const { value, raw } = await client.callWithRaw(
            `fetchOHLCV ${plan.symbol} ${tf.text}`,
            stats,
            log,
            (ex) => ex.fetchOHLCV(plan.symbol, tf.text, since, limit, { until: until - 1 }),
          );
          const texts = new RawDecimals(raw);
          return value.map((c) => exactRow(c, texts)) as unknown as Candle[];
        },
      });
      const now = deps.now();
      const records = paged.items.map((c) => toOhlcv(c as unknown as OHLCV, tf, now, RawDecimals.none));
      const lastClosed = records.filter((r) => r.closed).at(-1);
      const fetched: Fetched<'ohlcv'> = {
        records,
        window: { since: w.since, until: w.until },
        caughtUp: w.caughtUp,
        pages: paged.pages,
        missing: paged.missing,
      };
      if (w.incremental && lastClosed) {
        fetched.nextCursor = { key, next: cursorBound(paged.missing, nextOpen(tf, lastClosed.ts)) };
      }
      return fetched as Fetched<Dataset>;
    }
    case 'trades': {
      const key: SeriesKey = {
        exchange: deps.cfg.exchange,
        dataset: 'trades',
        symbol: plan.symbol,
        timeframe: null,
      };
      const w = await resolveWindow(req, key, (t) => t, deps);
      const paged = await pageTrades({
        since: w.since,
        until: w.until,
        pageLimit: TRADES_PAGE_LIMIT,
        maxPages: deps.cfg.maxPagesPerSeries,
        fetchPage: async (since, until, limit) => {
          const { value: trades, raw } = await client.callWithRaw(
            `fetchTrades ${plan.symbol}`,
            stats,
            log,
            (ex) => ex.fetchTrades(plan.symbol, since, limit, { until: until - 1 }),
          );
          return toTrades(trades, new RawDecimals(raw));
        },
      });
      const fetched: Fetched<'trades'> = {
        records: paged.items,
        window: { since: w.since, until: w.until },
        caughtUp: w.caughtUp,
        pages: paged.pages,
        missing: paged.missing,
      };
      const newest = paged.items.at(-1);
      if (w.incremental) {
        // Trades may appear in the API shortly after they happen: the next run re-reads the last minute too.
        const next = Math.max(newest ? newest.ts : w.since, w.until - TRADES_OVERLAP_MS);
        fetched.nextCursor = { key, next: cursorBound(paged.missing, next) };
      }
      return fetched as Fetched<Dataset>;
    }
    case 'orderbook': {
      // ccxt parses order books to floats: take the exchange's own text back from the raw answer.
      const { value: book, raw } = await client.callWithRaw(
        `fetchOrderBook ${plan.symbol}`,
        stats,
        log,
        (ex) => ex.fetchOrderBook(plan.symbol, plan.depth),
      );
      return {
        ...snapshot,
        records: toOrderBookLevels(book, plan.depth, deps.now(), new RawDecimals(raw)),
        pages: 1,
      };
    }
    case 'tickers':
      return fetchSnapshots(plan.symbols, 'ticker', deps, stats, log, {
        many: can('fetchTickers') ? (ex, group) => ex.fetchTickers(group) : undefined,
        one: (ex, s) => ex.fetchTicker(s),
        record: (t: Ticker, s, raw) => toTicker(t, deps.now(), s, raw),
      });
    case 'funding':
      return fetchSnapshots(plan.symbols, 'funding rate', deps, stats, log, {
        many: can('fetchFundingRates') ? (ex, group) => ex.fetchFundingRates(group) : undefined,
        one: (ex, s) => ex.fetchFundingRate(s),
        record: (f: FundingRate, s, raw) => toFunding(f, deps.now(), s, raw),
      });
  }
}

/**
 * Snapshots of many symbols: one call per group of the same market kind when the exchange can (`many`), else one
 * call per symbol. A symbol the exchange leaves out of its answer is reported in `missing`.
 */
async function fetchSnapshots<T, R>(
  symbols: string[],
  what: string,
  deps: ExtractDeps,
  stats: CallStats,
  log: Logger,
  fetch: {
    many: ((ex: Exchange, group: string[]) => Promise<Record<string, T>>) | undefined;
    one: (ex: Exchange, symbol: string) => Promise<T>;
    record: (item: T, symbol: string, raw: RawDecimals) => R;
  },
): Promise<Fetched<Dataset>> {
  const { client } = deps;
  const records: R[] = [];
  const missing: MissingRange[] = [];
  let pages = 0;
  if (fetch.many) {
    const many = fetch.many;
    const markets = await client.markets(stats, log);
    for (const group of groupBy(symbols, (s) => marketKind(markets, s))) {
      const { value: items, raw } = await client.callWithRaw(
        `fetch ${what}s (${group.length})`,
        stats,
        log,
        (ex) => many(ex, group),
      );
      const texts = new RawDecimals(raw);
      pages += 1;
      for (const s of group) {
        const item = items[s];
        if (item) records.push(fetch.record(item, s, texts));
        else missing.push(notReturned(what, s, deps.now()));
      }
    }
  } else {
    for (const s of symbols) {
      const { value, raw } = await client.callWithRaw(`fetch ${what} ${s}`, stats, log, (ex) =>
        fetch.one(ex, s),
      );
      records.push(fetch.record(value, s, new RawDecimals(raw)));
      pages += 1;
    }
  }
  return { records: records as unknown as RecordOf[Dataset][], window: null, caughtUp: true, pages, missing };
}

/** A snapshot the exchange did not include in its answer: reported, not silently dropped. */
function notReturned(what: string, symbol: string, now: number): MissingRange {
  return {
    since: now,
    until: now,
    reason: `the exchange returned no ${what} for ${symbol}`,
    retryable: true,
  };
}
