// The ccxt client of one exchange: URL rewrite, exact decimals, market cache, weight budget, retries with meaning.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { MarketType } from '../config.ts';
import { BadRequestError, PermanentUpstreamError, PipelineError, TransientError } from '../errors.ts';
import type { Logger } from '../log.ts';
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
  type Market,
} from './ccxt.ts';

/** Counters of one extract request, attributed to its exchange calls through async context. */
export interface CallStats {
  requests: number;
  retries: number;
  weight: number;
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

/** One exchange's ccxt instance with everything the pipeline adds around it. Reused by a warm instance. */
export class ExchangeClient {
  readonly id: string;
  readonly ex: Exchange;
  readonly budget: WeightBudget;
  private readonly context = new AsyncLocalStorage<{ stats: CallStats; bodies: string[] }>();
  private marketsLoadedAt = -Infinity;
  private marketsLoading: Promise<Record<string, Market>> | undefined;
  private bannedUntil = 0;

  constructor(
    readonly settings: ClientSettings,
    private readonly timer: Timer = realTimer,
  ) {
    this.id = settings.exchange;
    this.ex = newExchange(settings.exchange, { enableRateLimit: true, timeout: settings.exchangeTimeoutMs });
    const ex = this.ex as Exchange & Record<string, unknown>;
    // Keep the exchange's decimal strings instead of floats.
    (ex as { number: unknown }).number = String;
    // Currencies need API keys on several exchanges and the pipeline does not use them.
    (ex.has as Record<string, unknown>)['fetchCurrencies'] = false;
    const fm = (ex.options as Record<string, unknown>)['fetchMarkets'];
    if (fm && typeof fm === 'object' && Array.isArray((fm as { types?: unknown }).types)) {
      const types = ccxtMarketTypes((fm as { types: string[] }).types, settings.marketTypes);
      (ex.options as Record<string, unknown>)['fetchMarkets'] = { ...(fm as object), types };
    }
    if (settings.apiBaseUrl) {
      (ex.urls as Record<string, unknown>)['api'] = rewriteApiUrls(ex.urls['api'], settings.apiBaseUrl);
    }
    this.budget = new WeightBudget(
      settings.weightBudgetPerMinute ?? Math.floor(60_000 / (ex.rateLimit || 1000)),
      timer,
    );
    // ccxt's own leaky bucket spaces calls by cost x rateLimit but only refills while calls are queued: after a
    // heavy call (tickers of 20 symbols: cost 16) the next call, even a minute later, still waits 800 ms. Refill it
    // for the idle time too, up to one second of its nominal rate: any exchange limit over windows of a second or
    // more still holds, and the minute budget above is the one that counts.
    const throttler = (
      ex as unknown as { throttler?: { running?: boolean; config?: Record<string, number> } }
    ).throttler;
    const bucket = throttler?.config;
    const nominal = ex.rateLimit ?? 0;
    if (bucket && nominal > 0) bucket['capacity'] = bucket['tokens'] = 1000 / nominal;
    let lastCall = timer.now();
    const throttle = ex.throttle.bind(ex) as (cost?: number) => Promise<unknown>;
    // ccxt computes the cost with safeNumber, which goes through `number` (String above): it may arrive as text.
    ex.throttle = (async (cost?: number | string) => {
      const n = typeof cost === 'string' ? Number(cost) : cost;
      const weight = typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : 1;
      await this.budget.take(weight);
      const s = this.context.getStore();
      if (s) s.stats.weight += weight;
      const now = timer.now();
      if (bucket && !throttler?.running) {
        const refilled = (bucket['tokens'] ?? 0) + (now - lastCall) * (bucket['refillRate'] ?? 0);
        bucket['tokens'] = Math.min(refilled, bucket['capacity'] ?? 1);
      }
      lastCall = now;
      return throttle(weight);
    }) as Exchange['throttle'];
    ex.fetchImplementation = this.fetchImplementation.bind(this);
  }

  /** The HTTP layer under ccxt: counts requests, enforces an IP ban, and lifts 418/429/451 and bad JSON out. */
  private async fetchImplementation(url: string, init: Record<string, unknown>): Promise<Response> {
    const now = this.timer.now();
    if (now < this.bannedUntil) {
      throw new ExchangeRefusal(418, this.bannedUntil - now, 'exchange IP ban in force');
    }
    const ctx = this.context.getStore();
    if (ctx) ctx.stats.requests += 1;
    const res = await fetch(url, {
      method: init['method'] as string,
      headers: init['headers'] as Record<string, string>,
      body: init['body'] as string | undefined,
      signal: init['signal'] as AbortSignal | undefined,
      redirect: 'error',
    });
    if (res.status === 418 || res.status === 429 || res.status === 451) {
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), now);
      const text = (await res.text()).slice(0, 300);
      if (res.status === 418) this.bannedUntil = this.timer.now() + (retryAfterMs ?? DEFAULT_BAN_MS);
      throw new ExchangeRefusal(res.status, retryAfterMs, `HTTP ${res.status}: ${text}`);
    }
    const text = await res.text();
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
  async markets(stats: CallStats, log: Logger): Promise<Record<string, Market>> {
    if (this.timer.now() - this.marketsLoadedAt < this.settings.marketsTtlMs && this.ex.markets) {
      return this.ex.markets;
    }
    if (!this.marketsLoading) {
      const reload = this.marketsLoadedAt !== -Infinity;
      this.marketsLoading = this.call('loadMarkets', stats, log, (ex) => ex.loadMarkets(reload))
        .then((m) => {
          this.marketsLoadedAt = this.timer.now();
          log.info('markets loaded', { markets: Object.keys(m).length, reload });
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
   * call until its Retry-After; 451 names the setting for another host; bad symbols and parameters are 400.
   */
  async call<T>(what: string, stats: CallStats, log: Logger, fn: (ex: Exchange) => Promise<T>): Promise<T> {
    return (await this.callWithRaw(what, stats, log, fn)).value;
  }

  /** Like `call`, and also returns the raw bodies of the successful answer, to recover the exchange's exact text. */
  async callWithRaw<T>(
    what: string,
    stats: CallStats,
    log: Logger,
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
        return {
          retry: false,
          error: new PermanentUpstreamError(
            'exchange_geo_blocked',
            `${this.id} refuses requests from this location (HTTP 451); set EXCHANGE_API_BASE_URL to an alternative host or proxy (for Binance market data: https://data-api.binance.vision)`,
            { call: what },
            451,
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
          400,
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
          400,
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
          400,
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
