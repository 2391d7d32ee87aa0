// The exchange client against the offline fake: URL rewrite, market cache with TTL, timeouts and bad JSON retried.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExtractConfig } from '../../../shared/config.ts';
import { PermanentUpstreamError, TransientError } from '../../../shared/errors.ts';
import {
  ExchangeClient,
  addWeight,
  ccxtMarketTypes,
  parseRetryAfter,
  rewriteApiUrls,
  idleRefill,
  type CallContext,
  type CallStats,
} from '../../../shared/exchange/client.ts';
import { log } from '../../../shared/log.ts';
import { parseTimeframe } from '../../../shared/time.ts';
import { startFakeExchange, type FakeExchange } from '../../../scripts/offline/fake-exchange.ts';

const NOW = Date.UTC(2026, 10, 24, 12, 0, 30);
const stats = (): CallStats => ({ requests: 0, retries: 0, weight: 0 });
const ctx = (s: CallStats = stats()): CallContext => ({ stats: s, log });

describe('pure helpers', () => {
  it('rewrites scheme and host of every API URL, templates included', () => {
    const api = {
      public: 'https://api.binance.com/api/v3',
      fapi: ['https://fapi.binance.com/fapi/v1'],
      rest: 'https://{hostname}',
      spot: 'https://api.{hostname}/v5',
    };
    expect(rewriteApiUrls(api, 'http://127.0.0.1:9000/')).toEqual({
      public: 'http://127.0.0.1:9000/api/v3',
      fapi: ['http://127.0.0.1:9000/fapi/v1'],
      rest: 'http://127.0.0.1:9000',
      spot: 'http://127.0.0.1:9000/v5',
    });
  });
  it('sums ccxt costs without float noise (a summary once said weightUsed 554.9999999999998)', () => {
    let w = 0;
    for (let i = 0; i < 2_775; i++) w = addWeight(w, 0.2);
    expect(w).toBe(555);
    expect(addWeight(0.1, 0.2)).toBe(0.3);
  });
  it('reads Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
  it('maps unified market types to ccxt fetchMarkets types', () => {
    expect(ccxtMarketTypes(['spot', 'linear', 'inverse'], ['spot', 'swap'])).toEqual([
      'spot',
      'linear',
      'inverse',
    ]);
    expect(ccxtMarketTypes(['spot', 'linear', 'inverse', 'option'], ['swap'])).toEqual(['linear', 'inverse']);
    expect(ccxtMarketTypes(['spot', 'future', 'swap', 'option'], ['spot', 'swap'])).toEqual(['spot', 'swap']);
  });
});

describe('ExchangeClient', () => {
  let fake: FakeExchange;
  beforeAll(async () => {
    fake = await startFakeExchange({ exchange: 'binance', now: NOW });
  });
  afterAll(() => fake?.close());
  const client = (env: Record<string, string> = {}) =>
    new ExchangeClient(
      loadExtractConfig({
        EXCHANGE: 'binance',
        K_SINK: 'http://127.0.0.1:9/',
        EXCHANGE_API_BASE_URL: fake.url,
        RETRY_BASE_DELAY_MS: '5',
        RETRY_WINDOW_MS: '2000',
        ...env,
      }),
    );

  it('loads markets only for the configured types and caches them until MARKETS_TTL', async () => {
    const c = client({ MARKET_TYPES: 'spot', MARKETS_TTL: 'PT0.3S' });
    const count = () => fake.requests.filter((r) => r.path.endsWith('/exchangeInfo')).length;
    const before = count();
    const markets = await c.markets(ctx());
    expect(Object.values(markets).every((m) => m?.type === 'spot')).toBe(true);
    expect(fake.requests.filter((r) => r.path.endsWith('/exchangeInfo')).slice(-1)[0]?.path).toBe(
      '/api/v3/exchangeInfo',
    );
    await c.markets(ctx());
    expect(count() - before).toBe(1);
    await new Promise((r) => setTimeout(r, 350));
    await c.markets(ctx());
    expect(count() - before).toBe(2);
  });

  it('a slow exchange times out and is retried within the retry window, then 503', async () => {
    const c = client({ EXCHANGE_TIMEOUT_MS: '100', RETRY_WINDOW_MS: '400' });
    await c.markets(ctx());
    fake.addFault({ pathPrefix: '/api/v3/depth', delayMs: 300, status: 200, body: '{}' });
    const s = stats();
    const err = await c.orderBook('BTC/USDT', 5, NOW, ctx(s)).catch((e: unknown) => e);
    fake.clearFaults();
    expect(err).toBeInstanceOf(TransientError);
    expect((err as TransientError).status).toBe(503);
    expect((err as TransientError).message).toMatch(/timed out/);
    expect(s.retries).toBeGreaterThan(0);
  });

  it('a 404 (no such route at the host) is permanent at once: no retries, a 4xx naming the exchange and its setting', async () => {
    const c = client({ EXCHANGE_API_BASE_URL: `${fake.url}/wrong-prefix`, RETRY_WINDOW_MS: '5000' });
    const s = stats();
    const started = Date.now();
    const err = await c.markets(ctx(s)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentUpstreamError);
    expect((err as PermanentUpstreamError).status).toBe(422);
    expect((err as PermanentUpstreamError).code).toBe('exchange_route_not_found');
    expect((err as Error).message).toMatch(
      /^binance loadMarkets: .*wrong-prefix \(EXCHANGE_API_BASE_URL\) has no such route/,
    );
    expect(s.retries).toBe(0);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a truncated JSON answer is retried and then succeeds', async () => {
    const c = client();
    await c.markets(ctx());
    fake.addFault({ pathPrefix: '/api/v3/depth', truncate: true, times: 1 });
    const s = stats();
    const book = await c.orderBook('BTC/USDT', 5, NOW, ctx(s));
    expect(book.filter((l) => l.side === 'bid')).toHaveLength(5);
    expect(s.retries).toBe(1);
  });

  it('counts the weight it spends and keeps within WEIGHT_BUDGET_PER_MINUTE', async () => {
    const c = client({ WEIGHT_BUDGET_PER_MINUTE: '1000', MARKET_TYPES: 'spot' });
    const s = stats();
    await c.markets(ctx(s));
    await c.candles(
      'BTC/USDT',
      parseTimeframe('1m')!,
      { since: NOW - 3_600_000, until: NOW, limit: 1000, now: NOW },
      ctx(s),
    );
    expect(s.requests).toBe(2);
    // ccxt's costs for Binance spot, 0.2 per unit of Binance weight: exchangeInfo 20 -> 4, klines 2 -> 0.4.
    expect(s.weight).toBe(4.4);
    expect(c.budget.used()).toBe(s.weight);
    expect(c.budget.limitPerMinute).toBe(1000);
  });

  it("refills ccxt's leaky bucket for idle time, so one heavy call does not delay the next tick", () => {
    let now = 1_000_000;
    const timer = { now: () => now, sleep: async () => undefined };
    // ccxt's throttler after a heavy call (tickers of 20 symbols at Binance's rateLimit of 50 ms: cost 16).
    const throttler = { running: false, config: { tokens: 0, capacity: 1, refillRate: 1 / 50 } };
    const refill = idleRefill(throttler, 50, timer);
    expect(throttler.config.capacity).toBe(20); // one second of the nominal rate
    throttler.config.tokens = 4;
    now += 60_000; // the next tick
    refill();
    expect(throttler.config.tokens).toBe(20);
    throttler.config.tokens = 4;
    throttler.running = true; // calls queued: ccxt refills by itself
    now += 60_000;
    refill();
    expect(throttler.config.tokens).toBe(4);
  });
});
