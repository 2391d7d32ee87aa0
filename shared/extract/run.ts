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
import type { CallContext, CallStats, ExchangeClient, Market } from '../exchange/client.ts';
import { toMarket } from '../exchange/normalize.ts';
import { pageCandles, pageTrades } from '../exchange/paging.ts';
import { BadRequestError } from '../errors.ts';
import type { CursorStore, SeriesKey } from '../lake/cursors.ts';
import type { Logger } from '../log.ts';
import { nextOpen } from '../time.ts';
import { compareIds } from '../exchange/paging.ts';
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
  const call: CallContext = { stats, log };
  if (req.since !== undefined && req.since >= startedAt) {
    throw new BadRequestError(
      `the window starts in the future (since ${new Date(req.since).toISOString()}, now ${new Date(startedAt).toISOString()}): no exchange has data there yet`,
      { since: req.since, now: startedAt },
      400,
      'window_in_future',
    );
  }
  const markets = await deps.client.markets(call);
  const plans = planRequest(req, deps.cfg, deps.client.capabilities(), markets, (id) =>
    deps.client.symbolsForId(id),
  );
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
      const fetched = await fetchSeries(plan, req, deps, { stats, log: slog });
      const header: SeriesHeader<Dataset> = {
        exchange: deps.cfg.exchange,
        dataset: plan.dataset,
        symbol: plan.symbol,
        timeframe: plan.dataset === 'ohlcv' ? plan.tf.text : null,
        window: fetched.window,
        requestId: ctx.requestId,
        extractedAt: deps.now(),
      };
      // A series with no records writes nothing: its summary and `missing` say what happened.
      const batch =
        fetched.records.length === 0
          ? []
          : buildBatchEvents(header, fetched.records, deps.cfg.maxEventBytes, ctx.traceparent);
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
  call: CallContext,
): Promise<Fetched<Dataset>> {
  const { client } = deps;
  const snapshot = { window: null, caughtUp: true, missing: [] as MissingRange[] };
  switch (plan.dataset) {
    case 'markets': {
      const markets = await client.markets(call);
      const wanted = new Set(plan.marketTypes);
      const records = Object.values(markets)
        .filter((m): m is NonNullable<Market> => m !== undefined && wanted.has(String(m.type)))
        .sort((a, b) => (a.symbol < b.symbol ? -1 : 1))
        .map(toMarket);
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
      const now = deps.now();
      const records: RecordOf['ohlcv'][] = [];
      const paged = await pageCandles({
        since: w.since,
        until: w.until,
        now,
        tf,
        pageLimit: deps.cfg.ohlcvPageLimit ?? client.candleLimit(plan.market) ?? 500,
        maxPages: deps.cfg.maxPagesPerSeries,
        behaviour: client.paging('ohlcv'),
        fetchPage: (since, until, limit) =>
          client.candles(plan.symbol, tf, { since, until, limit, now }, call),
        deliver: (candles) => void records.push(...candles),
      });
      records.sort((a, b) => a.ts - b.ts);
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
      const records: RecordOf['trades'][] = [];
      const paged = await pageTrades({
        since: w.since,
        until: w.until,
        now: deps.now(),
        pageLimit: TRADES_PAGE_LIMIT,
        maxPages: deps.cfg.maxPagesPerSeries,
        behaviour: client.paging('trades'),
        fetchPage: (since, until, limit) => client.trades(plan.symbol, { since, until, limit }, call),
        deliver: (trades) => void records.push(...trades),
      });
      records.sort((x, y) => x.ts - y.ts || compareIds(x.id, y.id));
      const fetched: Fetched<'trades'> = {
        records,
        window: { since: w.since, until: w.until },
        caughtUp: w.caughtUp,
        pages: paged.pages,
        missing: paged.missing,
      };
      const newest = records.at(-1);
      if (w.incremental) {
        // Trades may appear in the API shortly after they happen: the next run re-reads the last minute too.
        const next = Math.max(newest ? newest.ts : w.since, w.until - TRADES_OVERLAP_MS);
        fetched.nextCursor = { key, next: cursorBound(paged.missing, next) };
      }
      return fetched as Fetched<Dataset>;
    }
    case 'orderbook':
      return {
        ...snapshot,
        records: await client.orderBook(plan.symbol, plan.depth, deps.now(), call),
        pages: 1,
      };
    case 'tickers':
      return fetchSnapshots(plan.symbols, 'ticker', deps, call, {
        many: client.capabilities().many.tickers
          ? (group) => client.tickers(group, deps.now(), call)
          : undefined,
        one: (s) => client.ticker(s, deps.now(), call),
      });
    case 'funding':
      return fetchSnapshots(plan.symbols, 'funding rate', deps, call, {
        many: client.capabilities().many.funding
          ? (group) => client.fundingRates(group, deps.now(), call)
          : undefined,
        one: (s) => client.fundingRate(s, deps.now(), call),
      });
  }
}

/**
 * Snapshots of many symbols: one call per group of the same market kind when the exchange can (`many`), else one
 * call per symbol. A symbol the exchange leaves out of its answer is reported in `missing`.
 */
async function fetchSnapshots<R>(
  symbols: string[],
  what: string,
  deps: ExtractDeps,
  call: CallContext,
  fetch: {
    many: ((group: string[]) => Promise<Map<string, R>>) | undefined;
    one: (symbol: string) => Promise<R>;
  },
): Promise<Fetched<Dataset>> {
  const records: R[] = [];
  const missing: MissingRange[] = [];
  let pages = 0;
  if (fetch.many) {
    const markets = await deps.client.markets(call);
    for (const group of groupBy(symbols, (s) => marketKind(markets, s))) {
      const items = await fetch.many(group);
      pages += 1;
      for (const s of group) {
        const item = items.get(s);
        if (item) records.push(item);
        else missing.push(notReturned(what, s, deps.now()));
      }
    }
  } else {
    for (const s of symbols) {
      records.push(await fetch.one(s));
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
