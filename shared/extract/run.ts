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
import { RawDecimals, toMarket } from '../exchange/normalize.ts';
import { compareIds, pageCandles, pageTrades } from '../exchange/paging.ts';
import { BadRequestError } from '../errors.ts';
import type { CursorStore, SeriesKey } from '../lake/cursors.ts';
import type { Logger } from '../log.ts';
import { candleOpen, nextOpen } from '../time.ts';
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

/** Hands records of one series on as they arrive: events to K_SINK, and a running tally for the summary. */
type Deliver = (records: RecordOf[Dataset][]) => Promise<void>;

/** What fetching one series did (its records went to `deliver` as they came). */
interface Fetched {
  window: { since: number; until: number } | null;
  caughtUp: boolean;
  pages: number;
  missing: MissingRange[];
  /** Incremental runs: the cursor's key and where it may move given what was delivered. */
  cursor?: { key: SeriesKey; next: (tally: Tally) => number | undefined };
}

/** Running figures of one series' delivered records (no record is kept). */
class Tally {
  records = 0;
  closed = 0;
  first: number | null = null;
  last: number | null = null;
  lastClosed: number | null = null;

  add(records: readonly RecordOf[Dataset][]): void {
    for (const r of records as ReadonlyArray<{ ts?: unknown; closed?: unknown }>) {
      this.records += 1;
      if (typeof r.ts !== 'number') continue;
      if (this.first === null || r.ts < this.first) this.first = r.ts;
      if (this.last === null || r.ts > this.last) this.last = r.ts;
      if (r.closed === true) {
        this.closed += 1;
        if (this.lastClosed === null || r.ts > this.lastClosed) this.lastClosed = r.ts;
      }
    }
  }
}

/**
 * Extracts everything the request asks for and delivers it to K_SINK page by page, so memory does not grow with the
 * window. Resolves with the summary once every event was accepted; rejects (transient: 5xx) if any page or any event
 * failed, in which case no cursor moved past it (events already accepted load idempotently when it is retried).
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
      const tally = new Tally();
      let seriesEvents = 0;
      let window: SeriesHeader<Dataset>['window'] = null;
      // A page of records becomes its own batch (deterministic id from its records); nothing empty is written.
      const deliver: Deliver = async (records) => {
        if (records.length === 0) return;
        const header: SeriesHeader<Dataset> = {
          exchange: deps.cfg.exchange,
          dataset: plan.dataset,
          symbol: plan.symbol,
          timeframe: plan.dataset === 'ohlcv' ? plan.tf.text : null,
          window,
          requestId: ctx.requestId,
          extractedAt: deps.now(),
        };
        const batch = buildBatchEvents(header, records, deps.cfg.maxEventBytes, ctx.traceparent);
        for (const event of batch) {
          // Awaited first, then added: `bytes += await …` would read `bytes` before another worker's addition lands.
          const sent = await sendEvent(
            event,
            { url: deps.cfg.sinkUrl, timeoutMs: deps.cfg.sinkTimeoutMs, retries: deps.cfg.sinkRetries },
            slog,
          );
          bytes += sent;
          events += 1;
          seriesEvents += 1;
        }
        tally.add(records);
      };
      const fetched = await fetchSeries(plan, req, deps, { stats, log: slog }, deliver, (w) => {
        window = w;
      });
      const cursorNext = fetched.cursor?.next(tally);
      if (fetched.cursor && cursorNext !== undefined) {
        await deps.cursors.put(fetched.cursor.key, { next: cursorNext, updatedAt: deps.now() });
      }
      const summary: SeriesSummary = {
        dataset: plan.dataset,
        symbol: plan.symbol,
        timeframe: plan.dataset === 'ohlcv' ? plan.tf.text : null,
        records: tally.records,
        closed: plan.dataset === 'ohlcv' ? tally.closed : null,
        first: tally.first,
        last: tally.last,
        window: fetched.window,
        caughtUp: fetched.caughtUp,
        pages: fetched.pages,
        events: seriesEvents,
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
  deliver: Deliver,
  windowIs: (w: { since: number; until: number }) => void,
): Promise<Fetched> {
  const { client } = deps;
  const snapshot = { window: null, caughtUp: true, missing: [] as MissingRange[] };
  switch (plan.dataset) {
    case 'markets': {
      const markets = await client.markets(call);
      const wanted = new Set(plan.marketTypes);
      await deliver(
        Object.values(markets)
          .filter((m): m is NonNullable<Market> => m !== undefined && wanted.has(String(m.type)))
          .sort((a, b) => (a.symbol < b.symbol ? -1 : 1))
          .map((m) => toMarket(m, RawDecimals.none)),
      );
      return { ...snapshot, pages: 0 };
    }
    case 'ohlcv': {
      const tf = plan.tf;
      const key: SeriesKey = {
        exchange: deps.cfg.exchange,
        dataset: 'ohlcv',
        symbol: plan.symbol,
        timeframe: tf.text,
      };
      const align = (t: number) => candleOpen(tf, t);
      const w = await resolveWindow(req, key, align, deps);
      windowIs({ since: w.since, until: w.until });
      const now = deps.now();
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
        deliver: (candles) => deliver(candles.sort((a, b) => a.ts - b.ts)),
      });
      return {
        window: { since: w.since, until: w.until },
        caughtUp: w.caughtUp,
        pages: paged.pages,
        missing: paged.missing,
        ...(w.incremental
          ? {
              cursor: {
                key,
                next: (t: Tally) =>
                  t.lastClosed === null ? undefined : cursorBound(paged.missing, nextOpen(tf, t.lastClosed)),
              },
            }
          : {}),
      };
    }
    case 'trades': {
      const key: SeriesKey = {
        exchange: deps.cfg.exchange,
        dataset: 'trades',
        symbol: plan.symbol,
        timeframe: null,
      };
      const w = await resolveWindow(req, key, (t) => t, deps);
      windowIs({ since: w.since, until: w.until });
      const paged = await pageTrades({
        since: w.since,
        until: w.until,
        now: deps.now(),
        pageLimit: TRADES_PAGE_LIMIT,
        maxPages: deps.cfg.maxPagesPerSeries,
        behaviour: client.paging('trades'),
        fetchPage: (since, until, limit) => client.trades(plan.symbol, { since, until, limit }, call),
        deliver: (trades) => deliver(trades.sort((x, y) => x.ts - y.ts || compareIds(x.id, y.id))),
      });
      return {
        window: { since: w.since, until: w.until },
        caughtUp: w.caughtUp,
        pages: paged.pages,
        missing: paged.missing,
        // Trades may appear in the API shortly after they happen: the next run re-reads the last minute too.
        ...(w.incremental
          ? {
              cursor: {
                key,
                next: (t: Tally) =>
                  cursorBound(paged.missing, Math.max(t.last ?? w.since, w.until - TRADES_OVERLAP_MS)),
              },
            }
          : {}),
      };
    }
    case 'orderbook':
      await deliver(await client.orderBook(plan.symbol, plan.depth, deps.now(), call));
      return { ...snapshot, pages: 1 };
    case 'tickers':
      return fetchSnapshots(plan.symbols, 'ticker', deps, call, deliver, {
        many: client.capabilities().many.tickers
          ? (group) => client.tickers(group, deps.now(), call)
          : undefined,
        one: (s) => client.ticker(s, deps.now(), call),
      });
    case 'funding':
      return fetchSnapshots(plan.symbols, 'funding rate', deps, call, deliver, {
        many: client.capabilities().many.funding
          ? (group) => client.fundingRates(group, deps.now(), call)
          : undefined,
        one: (s) => client.fundingRate(s, deps.now(), call),
      });
  }
}

/**
 * Snapshots of many symbols: one call per group of the same market kind when the exchange can (`many`), else one
 * call per symbol; delivered together. A symbol the exchange leaves out of its answer is reported in `missing`.
 */
async function fetchSnapshots<R>(
  symbols: string[],
  what: string,
  deps: ExtractDeps,
  call: CallContext,
  deliver: Deliver,
  fetch: {
    many: ((group: string[]) => Promise<Map<string, R>>) | undefined;
    one: (symbol: string) => Promise<R>;
  },
): Promise<Fetched> {
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
  await deliver(records as unknown as RecordOf[Dataset][]);
  return { window: null, caughtUp: true, pages, missing };
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
