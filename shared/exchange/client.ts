// One exchange behind domain methods (candles, trades, books, tickers, funding, markets, capabilities): ccxt stays
// private here, with URL rewrite, exact decimals, market cache, weight budget and retries with meaning around it.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { MarketType } from '../config.ts';
import { BadRequestError, PermanentUpstreamError, PipelineError, TransientError } from '../errors.ts';
import {
  DATASETS,
  type Dataset,
  type FundingRecord,
  type OhlcvRecord,
  type OrderBookLevelRecord,
  type TickerRecord,
  type TradeRecord,
} from '../events/schemas.ts';
import type { Logger } from '../log.ts';
import type { Timeframe } from '../time.ts';
import { count } from '../telemetry/index.ts';
import { WeightBudget, realTimer, type Timer } from './budget.ts';
import {
  BadRequest,
  BadResponse,
  BadSymbol,
  ExchangeError,
  NetworkError,
  NotSupported,
  newExchange,
  type Exchange,
  type FundingRate,
  type Market,
  type Ticker,
} from './ccxt.ts';
import { RawDecimals, toFunding, toOhlcv, toOrderBookLevels, toTicker, toTrades } from './normalize.ts';
import type { PagingBehaviour } from './paging.ts';
import { featureCandleLimit } from './profile.ts';
import { VENUES, bookDepth, pagingBehaviour, windowParams } from './venues.ts';

/** Counters of one extract request, attributed to its exchange calls through async context. */
export interface CallStats {
  requests: number;
  retries: number;
  weight: number;
}

/** Whose counters a call adds to and where it logs. */
export interface CallContext {
  stats: CallStats;
  log: Logger;
}

/** A market as the pipeline reads it (ccxt's unified market). */
export type { Market };

/** What an exchange offers, from ccxt's `has`, `timeframes` and `features`. */
export interface Capabilities {
  /** Datasets the exchange provides. */
  datasets: Dataset[];
  /** Timeframes its candles come in (empty when ccxt does not say). */
  timeframes: string[];
  /** Tickers and funding rates of many symbols in one call. */
  many: { tickers: boolean; funding: boolean };
}

/** ccxt capabilities that provide each dataset (any one is enough). */
const DATASET_METHODS: Record<Exclude<Dataset, 'markets'>, string[]> = {
  ohlcv: ['fetchOHLCV'],
  trades: ['fetchTrades'],
  tickers: ['fetchTickers', 'fetchTicker'],
  orderbook: ['fetchOrderBook'],
  funding: ['fetchFundingRates', 'fetchFundingRate'],
};

/** Sums weights without float noise (ccxt's costs are decimal fractions such as 0.2). */
export function addWeight(a: number, b: number): number {
  return Math.round((a + b) * 1e6) / 1e6;
}

/** Settings of a client (a subset of ExtractConfig). */
export interface ClientSettings {
  exchange: string;
  apiBaseUrl: string | undefined;
  marketTypes: readonly MarketType[];
  marketsTtlMs: number;
  exchangeTimeoutMs: number;
  retryWindowMs: number;
  retryBaseDelayMs: number;
  weightBudgetPerMinute: number | undefined;
}

/** An HTTP answer the fetch layer refuses to hand to ccxt because it has a meaning of its own. */
class ExchangeRefusal extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'ExchangeRefusal';
  }
}

/** Replaces scheme and host of every API URL (templates such as `https://api.{hostname}` included). */
export function rewriteApiUrls(api: unknown, baseUrl: string): unknown {
  const base = baseUrl.replace(/\/+$/, '');
  if (typeof api === 'string') return api.replace(/^https?:\/\/[^/]+/, base);
  if (Array.isArray(api)) return api.map((v) => rewriteApiUrls(v, base));
  if (api && typeof api === 'object') {
    return Object.fromEntries(Object.entries(api).map(([k, v]) => [k, rewriteApiUrls(v, base)]));
  }
  return api;
}

/**
 * A ccxt instance as the pipeline reads exchanges: the exchange's decimal strings instead of floats, no currencies
 * (they need API keys on several exchanges and the pipeline does not use them), markets of the configured types only,
 * API URLs on `apiBaseUrl` when given. The client adds its budget, retries and HTTP layer around it; tests that drive
 * ccxt's parsers directly start from it too.
 */
export function pipelineExchange(
  id: string,
  settings: { apiBaseUrl?: string | undefined; marketTypes: readonly MarketType[] },
  config: Record<string, unknown> = {},
): Exchange {
  const ex = newExchange(id, config);
  (ex as unknown as { number: unknown }).number = String;
  (ex.has as Record<string, unknown>)['fetchCurrencies'] = false;
  const options = ex.options as Record<string, unknown>;
  const fm = options['fetchMarkets'];
  if (fm && typeof fm === 'object' && Array.isArray((fm as { types?: unknown }).types)) {
    const types = ccxtMarketTypes((fm as { types: string[] }).types, settings.marketTypes);
    options['fetchMarkets'] = { ...(fm as object), types };
  }
  if (settings.apiBaseUrl) {
    (ex.urls as Record<string, unknown>)['api'] = rewriteApiUrls(ex.urls['api'], settings.apiBaseUrl);
  }
  return ex;
}

/** Seconds or an HTTP date in Retry-After, as milliseconds. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** ccxt's per-exchange `fetchMarkets.types` values for the unified market types we want. */
export function ccxtMarketTypes(defaults: readonly string[], wanted: readonly MarketType[]): string[] {
  const out = new Set<string>();
  const splitsContracts = defaults.includes('linear') || defaults.includes('inverse');
  for (const t of wanted) {
    if ((t === 'swap' || t === 'future') && splitsContracts) {
      for (const d of ['linear', 'inverse']) if (defaults.includes(d)) out.add(d);
    } else if (defaults.includes(t)) {
      out.add(t);
    }
  }
  return [...out];
}

const DEFAULT_BAN_MS = 120_000;

/** The part of ccxt's throttler the idle refill adjusts. */
export interface Throttler {
  running?: boolean;
  config?: Record<string, number>;
}

/**
 * ccxt's own leaky bucket spaces calls by cost x rateLimit but only refills while calls are queued: after a heavy
 * call (tickers of 20 symbols: cost 16) the next call, even a minute later, still waits 800 ms. This refills it for
 * the idle time too, up to one second of its nominal rate: any exchange limit over windows of a second or more still
 * holds, and the minute budget is the one that counts. Returns the function to call before each throttled call.
 */
export function idleRefill(throttler: Throttler | undefined, rateLimitMs: number, timer: Timer): () => void {
  const bucket = throttler?.config;
  if (!bucket || !(rateLimitMs > 0)) return () => undefined;
  bucket['capacity'] = bucket['tokens'] = 1000 / rateLimitMs;
  let lastCall = timer.now();
  return () => {
    const now = timer.now();
    if (!throttler?.running) {
      const refilled = (bucket['tokens'] ?? 0) + (now - lastCall) * (bucket['refillRate'] ?? 0);
      bucket['tokens'] = Math.min(refilled, bucket['capacity'] ?? 1);
    }
    lastCall = now;
  };
}

/** One exchange with everything the pipeline adds around ccxt. Reused by a warm instance. */
export class ExchangeClient {
  readonly id: string;
  readonly budget: WeightBudget;
  private readonly ex: Exchange;
  private readonly context = new AsyncLocalStorage<{ stats: CallStats; bodies: string[] }>();
  private marketsLoadedAt = -Infinity;
  private marketsLoading: Promise<Record<string, Market>> | undefined;
  private bannedUntil = 0;

  constructor(
    readonly settings: ClientSettings,
    private readonly timer: Timer = realTimer,
  ) {
    this.id = settings.exchange;
    this.ex = pipelineExchange(settings.exchange, settings, {
      enableRateLimit: true,
      timeout: settings.exchangeTimeoutMs,
    });
    const ex = this.ex;
    this.budget = new WeightBudget(
      settings.weightBudgetPerMinute ?? Math.floor(60_000 / (ex.rateLimit || 1000)),
      timer,
    );
    const refill = idleRefill(
      (ex as unknown as { throttler?: Throttler }).throttler,
      ex.rateLimit ?? 0,
      timer,
    );
    const throttle = ex.throttle.bind(ex) as (cost?: number) => Promise<unknown>;
    // ccxt computes the cost with safeNumber, which goes through `number` (String above): it may arrive as text.
    ex.throttle = (async (cost?: number | string) => {
      const n = typeof cost === 'string' ? Number(cost) : cost;
      const weight = typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : 1;
      await this.budget.take(weight);
      const s = this.context.getStore();
      if (s) s.stats.weight = addWeight(s.stats.weight, weight);
      count('cryptopipe_exchange_weight_used', weight, { exchange: this.id });
      refill();
      return throttle(weight);
    }) as Exchange['throttle'];
    ex.fetchImplementation = this.fetchImplementation.bind(this);
  }

  /** What the exchange offers: datasets, timeframes, and whether tickers and funding come many per call. */
  capabilities(): Capabilities {
    const has = this.ex.has as Record<string, unknown>;
    const can = (m: string) => has[m] === true || has[m] === 'emulated';
    return {
      datasets: DATASETS.filter((d) => d === 'markets' || DATASET_METHODS[d].some(can)),
      timeframes: Object.keys((this.ex.timeframes ?? {}) as Record<string, unknown>),
      many: { tickers: can('fetchTickers'), funding: can('fetchFundingRates') },
    };
  }

  /** Symbols of the loaded markets whose exchange id is `id` (for "did you mean"). */
  symbolsForId(id: string): string[] {
    const byId = (this.ex.markets_by_id ?? {}) as Record<string, Market[] | undefined>;
    return (byId[id] ?? []).flatMap((m) => (m ? [m.symbol] : []));
  }

  /** Uses these markets instead of loading them (recorded instruments, offline). */
  useMarkets(markets: Record<string, unknown>): void {
    this.ex.setMarkets(markets as never);
    this.marketsLoadedAt = this.timer.now();
  }

  /** Candles per request the exchange allows for this market, from ccxt's `features`. */
  candleLimit(market: Market): number | undefined {
    return market ? featureCandleLimit(this.ex, market) : undefined;
  }

  /** How paging treats the exchange's candles or trades (the venue table). */
  paging(dataset: 'ohlcv' | 'trades'): PagingBehaviour {
    return pagingBehaviour(this.id, dataset);
  }

  /**
   * Candles of `symbol` opening in [since, until) as far as the exchange answers one request (`until` is only sent
   * when the venue table says ccxt maps it), with the exchange's decimal text; `closed` decided against `now`.
   */
  async candles(
    symbol: string,
    tf: Timeframe,
    window: { since: number; until: number | undefined; limit: number; now: number },
    ctx: CallContext,
  ): Promise<OhlcvRecord[]> {
    const params = this.windowed('ohlcv', window.since, window.until);
    const { value: rows, raw } = await this.callWithRaw(`fetchOHLCV ${symbol} ${tf.text}`, ctx, (ex) =>
      ex.fetchOHLCV(symbol, tf.text, params.since, window.limit, params.params),
    );
    const texts = new RawDecimals(raw);
    return rows.map((row) => toOhlcv(row, tf, window.now, texts));
  }

  /** Trades of `symbol` from `since` (before `until` where the exchange takes it), one request. */
  async trades(
    symbol: string,
    window: { since: number; until: number | undefined; limit: number },
    ctx: CallContext,
  ): Promise<TradeRecord[]> {
    const params = this.windowed('trades', window.since, window.until);
    const { value: trades, raw } = await this.callWithRaw(`fetchTrades ${symbol}`, ctx, (ex) =>
      ex.fetchTrades(symbol, params.since, window.limit, params.params),
    );
    return toTrades(trades, new RawDecimals(raw));
  }

  /**
   * The order book of `symbol`, `depth` levels a side (asked at the next depth the exchange accepts, cut to `depth`),
   * with the exchange's text (ccxt parses books to floats).
   */
  async orderBook(
    symbol: string,
    depth: number,
    now: number,
    ctx: CallContext,
  ): Promise<OrderBookLevelRecord[]> {
    const { value: book, raw } = await this.callWithRaw(`fetchOrderBook ${symbol}`, ctx, (ex) =>
      ex.fetchOrderBook(symbol, bookDepth(this.id, depth)),
    );
    return toOrderBookLevels(book, depth, now, new RawDecimals(raw));
  }

  /** Tickers of `symbols` (one market kind) in one call, by symbol; a symbol left out is absent. */
  async tickers(symbols: string[], now: number, ctx: CallContext): Promise<Map<string, TickerRecord>> {
    const { value, raw } = await this.callWithRaw(`fetchTickers (${symbols.length})`, ctx, (ex) =>
      ex.fetchTickers(symbols),
    );
    const texts = new RawDecimals(raw);
    return bySymbol(symbols, value, (t: Ticker, s) => toTicker(t, now, s, texts));
  }

  /** The ticker of one symbol. */
  async ticker(symbol: string, now: number, ctx: CallContext): Promise<TickerRecord> {
    const { value, raw } = await this.callWithRaw(`fetchTicker ${symbol}`, ctx, (ex) =>
      ex.fetchTicker(symbol),
    );
    return toTicker(value, now, symbol, new RawDecimals(raw));
  }

  /** Funding rates of `symbols` (one market kind) in one call, by symbol; a symbol left out is absent. */
  async fundingRates(symbols: string[], now: number, ctx: CallContext): Promise<Map<string, FundingRecord>> {
    const { value, raw } = await this.callWithRaw(`fetchFundingRates (${symbols.length})`, ctx, (ex) =>
      ex.fetchFundingRates(symbols),
    );
    const texts = new RawDecimals(raw);
    return bySymbol(symbols, value, (f: FundingRate, s) => toFunding(f, now, s, texts));
  }

  /** The funding rate of one swap. */
  async fundingRate(symbol: string, now: number, ctx: CallContext): Promise<FundingRecord> {
    const { value, raw } = await this.callWithRaw(`fetchFundingRate ${symbol}`, ctx, (ex) =>
      ex.fetchFundingRate(symbol),
    );
    return toFunding(value, now, symbol, new RawDecimals(raw));
  }

  /** ccxt's `since` and extra params for a window: the venue's own parameters, `until` only where ccxt maps it. */
  private windowed(
    dataset: 'ohlcv' | 'trades',
    since: number,
    until: number | undefined,
  ): { since: number | undefined; params: Record<string, unknown> } {
    // The pipeline's windows end before `until`; exchanges take their end parameter inclusively.
    const end = until === undefined ? undefined : until - 1;
    const own = windowParams(this.id, dataset, since, end);
    if (own) return { since: undefined, params: own };
    const mapsUntil = this.paging(dataset).until;
    return { since, params: mapsUntil && end !== undefined ? { until: end } : {} };
  }

  /** The HTTP layer under ccxt: counts requests, enforces an IP ban, and lifts 418/429/451 and bad JSON out. */
  private async fetchImplementation(url: string, init: Record<string, unknown>): Promise<Response> {
    const now = this.timer.now();
    if (now < this.bannedUntil) {
      throw new ExchangeRefusal(418, this.bannedUntil - now, 'exchange IP ban in force');
    }
    const ctx = this.context.getStore();
    if (ctx) ctx.stats.requests += 1;
    count('cryptopipe_exchange_calls', 1, { exchange: this.id });
    const res = await fetch(url, {
      method: init['method'] as string,
      headers: init['headers'] as Record<string, string>,
      body: init['body'] as string | undefined,
      signal: init['signal'] as AbortSignal | undefined,
      redirect: 'error',
    });
    count('cryptopipe_exchange_responses', 1, { exchange: this.id, status: String(res.status) });
    if (res.status === 418 || res.status === 429 || res.status === 451) {
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), now);
      const text = (await res.text()).slice(0, 300);
      if (res.status === 418) this.bannedUntil = this.timer.now() + (retryAfterMs ?? DEFAULT_BAN_MS);
      throw new ExchangeRefusal(res.status, retryAfterMs, `HTTP ${res.status}: ${text}`);
    }
    const text = await res.text();
    if (res.status === 404) {
      // No such route at this host (a wrong EXCHANGE_API_BASE_URL, or an API ccxt knows and the host does not):
      // ccxt maps a 404 to retryable or generic errors depending on the exchange; it is permanent on every one.
      throw new ExchangeRefusal(
        404,
        undefined,
        `HTTP 404 for ${new URL(url).pathname}: ${text.slice(0, 200)}`,
      );
    }
    if (res.status >= 500) {
      // Whatever the body says (some exchanges put a business code there), a 5xx is the exchange failing: retry.
      throw new ExchangeRefusal(
        res.status,
        parseRetryAfter(res.headers.get('retry-after'), now),
        `HTTP ${res.status}: ${text.slice(0, 300)}`,
      );
    }
    if (ctx && res.ok) ctx.bodies.push(text);
    const type = res.headers.get('content-type') ?? '';
    if (res.ok && type.includes('json')) {
      try {
        JSON.parse(text);
      } catch {
        throw new ExchangeRefusal(
          502,
          undefined,
          `HTTP ${res.status} with an invalid JSON body (${text.length} bytes)`,
        );
      }
    }
    return new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers });
  }

  /** Loaded markets of the configured types, reloaded after MARKETS_TTL. Concurrent callers share one load. */
  async markets(ctx: CallContext): Promise<Record<string, Market>> {
    if (this.timer.now() - this.marketsLoadedAt < this.settings.marketsTtlMs && this.ex.markets) {
      return this.ex.markets;
    }
    if (!this.marketsLoading) {
      const reload = this.marketsLoadedAt !== -Infinity;
      this.marketsLoading = this.call('loadMarkets', ctx, (ex) => ex.loadMarkets(reload))
        .then((m) => {
          this.marketsLoadedAt = this.timer.now();
          ctx.log.info('markets loaded', { markets: Object.keys(m).length, reload });
          return m;
        })
        .finally(() => {
          this.marketsLoading = undefined;
        });
    }
    return this.marketsLoading;
  }

  /**
   * Runs one ccxt call with the pipeline's failure rules: network errors, timeouts, 5xx, 429 and bad JSON are
   * retried with exponential backoff (honouring Retry-After) within RETRY_WINDOW_MS, then a 503; 418 stops every
   * call until its Retry-After; 451 names the setting for another host; a 404 (no such route), bad symbols and
   * parameters are permanent 4xx.
   */
  private async call<T>(what: string, ctx: CallContext, fn: (ex: Exchange) => Promise<T>): Promise<T> {
    return (await this.callWithRaw(what, ctx, fn)).value;
  }

  /** Like `call`, and also returns the raw bodies of the successful answer, to recover the exchange's exact text. */
  private async callWithRaw<T>(
    what: string,
    { stats, log }: CallContext,
    fn: (ex: Exchange) => Promise<T>,
  ): Promise<{ value: T; raw: string[] }> {
    const started = this.timer.now();
    for (let attempt = 0; ; attempt++) {
      const ctx = { stats, bodies: [] as string[] };
      try {
        const value = await this.context.run(ctx, () => fn(this.ex));
        return { value, raw: ctx.bodies };
      } catch (err) {
        const mapped = this.classify(err, what);
        if (!mapped.retry) throw mapped.error;
        const backoff = this.settings.retryBaseDelayMs * 2 ** attempt * (0.5 + Math.random() / 2);
        const delay = Math.max(backoff, mapped.retryAfterMs ?? 0);
        if (this.timer.now() + delay - started > this.settings.retryWindowMs) {
          log.warn('exchange call failed, retry window used up', { call: what, attempts: attempt + 1 });
          throw new TransientError(
            mapped.error.code,
            `${mapped.error.message} (gave up after ${attempt + 1} attempts in ${this.timer.now() - started} ms)`,
            mapped.error.details,
            {
              cause: err,
              ...(mapped.retryAfterMs !== undefined
                ? { retryAfterSeconds: Math.ceil(mapped.retryAfterMs / 1000) }
                : {}),
            },
          );
        }
        stats.retries += 1;
        count('cryptopipe_exchange_retries', 1, { exchange: this.id });
        log.warn('exchange call failed, retrying', {
          call: what,
          attempt: attempt + 1,
          delayMs: Math.round(delay),
          reason: mapped.error.message,
        });
        await this.timer.sleep(delay);
      }
    }
  }

  /** The host the exchange is reached at, for messages: EXCHANGE_API_BASE_URL or ccxt's default. */
  private host(): string {
    if (this.settings.apiBaseUrl) return `${this.settings.apiBaseUrl} (EXCHANGE_API_BASE_URL)`;
    const first = /https?:\/\/[^/"{]+/.exec(JSON.stringify(this.ex.urls['api'] ?? ''));
    return first ? `${first[0]} (ccxt's default; EXCHANGE_API_BASE_URL overrides it)` : 'its default host';
  }

  private classify(
    err: unknown,
    what: string,
  ): { retry: boolean; error: PipelineError; retryAfterMs?: number } {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof PipelineError) return { retry: false, error: err };
    if (err instanceof ExchangeRefusal) {
      if (err.status === 418) {
        const wait = Math.max(0, this.bannedUntil - this.timer.now());
        return {
          retry: false,
          error: new TransientError(
            'exchange_ip_banned',
            `${this.id} banned this IP (HTTP 418); no calls until the ban ends in ${Math.ceil(wait / 1000)} s`,
            { call: what },
            { retryAfterSeconds: Math.ceil(wait / 1000) },
          ),
        };
      }
      if (err.status === 451) {
        const alt = VENUES[this.id]?.alternativeHost;
        return {
          retry: false,
          error: new PermanentUpstreamError(
            'exchange_geo_blocked',
            `${this.id} refuses requests from this location (HTTP 451) at ${this.host()}; set EXCHANGE_API_BASE_URL to an alternative host or proxy${alt ? ` (for ${this.id} market data: ${alt})` : ''}`,
            { call: what },
            451,
          ),
        };
      }
      if (err.status === 404) {
        return {
          retry: false,
          error: new PermanentUpstreamError(
            'exchange_route_not_found',
            `${this.id} ${what}: ${this.host()} has no such route (${err.message}); check EXCHANGE_API_BASE_URL`,
            { call: what },
            422,
          ),
        };
      }
      const code =
        err.status === 429
          ? 'exchange_rate_limited'
          : err.status >= 500
            ? 'exchange_unavailable'
            : 'exchange_bad_response';
      return {
        retry: true,
        error: new TransientError(code, `${this.id} ${what}: ${err.message}`, { call: what }),
        ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
      };
    }
    if (err instanceof BadSymbol) {
      return {
        retry: false,
        error: new BadRequestError(
          `${this.id} ${what}: unknown symbol (${message})`,
          { call: what },
          'bad_symbol',
        ),
      };
    }
    if (err instanceof NotSupported) {
      return {
        retry: false,
        error: new BadRequestError(
          `${this.id} ${what}: not supported (${message})`,
          { call: what },
          'not_supported',
        ),
      };
    }
    if (err instanceof BadRequest) {
      return {
        retry: false,
        error: new BadRequestError(
          `${this.id} ${what}: the exchange rejected the parameters (${message})`,
          { call: what },
          'exchange_bad_request',
        ),
      };
    }
    if (err instanceof NetworkError || err instanceof BadResponse) {
      return {
        retry: true,
        error: new TransientError('exchange_unavailable', `${this.id} ${what}: ${message}`, { call: what }),
      };
    }
    if (err instanceof ExchangeError) {
      return {
        retry: false,
        error: new TransientError(
          'exchange_error',
          `${this.id} ${what}: ${message}`,
          { call: what },
          { status: 502 },
        ),
      };
    }
    throw err;
  }
}

/** Picks `symbols` out of a many-symbol answer, normalised; symbols the exchange left out are absent. */
function bySymbol<T, R>(
  symbols: string[],
  all: Record<string, T>,
  record: (item: T, symbol: string) => R,
): Map<string, R> {
  const out = new Map<string, R>();
  for (const s of symbols) {
    const item = all[s];
    if (item) out.set(s, record(item, s));
  }
  return out;
}

const clients = new Map<string, ExchangeClient>();

/** The warm instance's client for these settings (created on first use). */
export function getClient(settings: ClientSettings): ExchangeClient {
  const key = JSON.stringify(settings);
  let client = clients.get(key);
  if (!client) {
    client = new ExchangeClient(settings);
    clients.set(key, client);
  }
  return client;
}
