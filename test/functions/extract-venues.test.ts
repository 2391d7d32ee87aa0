// extract against each of the seven offline venues: every candle and trade of a window is delivered once or its
// range is in `missing` with a reason; order books at the default depth; the venues' retention and since quirks.
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExtractBatch, ExtractSummary, MissingRange } from '../../shared/events/schemas.ts';
import {
  startFakeExchange,
  type FakeExchange,
  type FakeExchangeId,
} from '../../scripts/offline/fake-exchange.ts';
import { extractUnderTest } from '../support/extract.ts';
import { startSink, type TestSink } from '../support/sink.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** Near the wall clock: ccxt computes some windows (kucoin's endAt, bitget's endpoint choice) from its own clock. */
const NOW = Math.floor(Date.now() / MIN) * MIN - 30_000;

/** How each venue serves history, as its documentation says (and its offline simulator does). */
const venues: Array<{ id: FakeExchangeId; newestTradesOnly: boolean }> = [
  { id: 'binance', newestTradesOnly: false },
  { id: 'bybit', newestTradesOnly: true },
  { id: 'okx', newestTradesOnly: true },
  { id: 'kraken', newestTradesOnly: false },
  { id: 'kucoin', newestTradesOnly: true },
  { id: 'gate', newestTradesOnly: false },
  { id: 'bitget', newestTradesOnly: false },
];

let sink: TestSink;
beforeAll(async () => {
  sink = await startSink();
});
afterAll(() => sink.close());

function records<T>(dataset: string): T[] {
  return sink.events
    .map((e) => e.data as ExtractBatch)
    .filter((b) => b.dataset === dataset)
    .flatMap((b) => b.records as T[]);
}

/** Every minute of [since, until) is a delivered candle or inside a reported range. */
function expectCovered(times: number[], missing: MissingRange[], since: number, until: number, step: number) {
  const got = new Set(times);
  for (let t = since; t < until; t += step) {
    const reported = missing.some((m) => t >= m.since && t < m.until);
    if (!got.has(t) && !reported) throw new Error(`silent gap at ${new Date(t).toISOString()}`);
  }
}

describe.each(venues)('extract on $id (offline venue)', (v) => {
  let fake: FakeExchange;
  beforeAll(async () => {
    fake = await startFakeExchange({ exchange: v.id, now: NOW });
  });
  afterAll(() => fake?.close());
  const post = async (body: Record<string, unknown>) => {
    sink.events.length = 0;
    const fn = extractUnderTest({
      exchange: v.id,
      apiBaseUrl: fake.url,
      sinkUrl: sink.url,
      now: NOW,
      env: { CURSOR_STORE: 'none' },
    });
    const res = await request(fn.server).post('/').send(body);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return (res.body as ExtractSummary).series[0]!;
  };

  it('three hours of 1m candles: every one, once, in order, nothing missing', async () => {
    const s = await post({ datasets: ['ohlcv'], symbols: ['BTC/USDT'], timeframe: '1m', lookback: 'PT3H' });
    const times = records<{ ts: number }>('ohlcv').map((c) => c.ts);
    expect(times).toEqual(
      Array.from({ length: 180 }, (_, i) => Math.floor(NOW / MIN) * MIN - (179 - i) * MIN),
    );
    expect(s.missing).toEqual([]);
  });

  it('a 20-hour window of 1m candles: delivered or reported, never passed over', async () => {
    const until = Math.floor(NOW / MIN) * MIN;
    const since = until - 20 * HOUR;
    const s = await post({ datasets: ['ohlcv'], symbols: ['BTC/USDT'], timeframe: '1m', since, until });
    const times = records<{ ts: number }>('ohlcv').map((c) => c.ts);
    expect(new Set(times).size).toBe(times.length);
    expectCovered(times, s.missing, since, until, MIN);
    if (v.id === 'kraken') {
      // Kraken's OHLC serves only its newest 720 candles: the older 8 hours are reported with the reason.
      expect(s.missing).toEqual([
        expect.objectContaining({ since, reason: 'kraken serves only its newest 720 candles of a series' }),
      ]);
    } else {
      expect(s.missing).toEqual([]);
    }
  });

  it('two hours of trades: each once inside the window, the part a venue does not serve reported', async () => {
    const until = NOW;
    const since = until - 2 * HOUR;
    const s = await post({ datasets: ['trades'], symbols: ['BTC/USDT'], since, until });
    const trades = records<{ id: string; ts: number }>('trades');
    expect(new Set(trades.map((t) => t.id)).size).toBe(trades.length);
    expect(trades.every((t) => t.ts >= since && t.ts < until)).toBe(true);
    if (v.newestTradesOnly) {
      expect(s.missing).toEqual([
        expect.objectContaining({ since, until: trades[0]!.ts + 1, retryable: false }),
      ]);
    } else {
      // The simulated venues trade every two seconds: the whole window arrives, from its start to its end.
      expect(s.missing).toEqual([]);
      expect(trades[0]!.ts - since).toBeLessThan(4_000);
      expect(until - trades.at(-1)!.ts).toBeLessThan(4_000);
      expect(trades.length).toBeGreaterThan(3_000);
    }
  });

  it('a route the host does not have (404 in the venue format) is permanent: 422 at once, naming the exchange', async () => {
    const fn = extractUnderTest({
      exchange: v.id,
      apiBaseUrl: `${fake.url}/not-the-api`,
      sinkUrl: sink.url,
      now: NOW,
      env: { CURSOR_STORE: 'none', RETRY_WINDOW_MS: '20000' },
    });
    const started = Date.now();
    const res = await request(fn.server)
      .post('/')
      .send({ datasets: ['ohlcv'], symbols: ['BTC/USDT'], lookback: 'PT1H' });
    expect(res.status).toBe(422);
    expect(res.body.error).toBe('exchange_route_not_found');
    expect(res.body.message).toMatch(
      new RegExp(`^${v.id} .*not-the-api \\(EXCHANGE_API_BASE_URL\\) has no such route`),
    );
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('an order book at the default depth the venue accepts', async () => {
    const s = await post({ datasets: ['orderbook'], symbols: ['BTC/USDT'] });
    const levels = records<{ side: string }>('orderbook');
    expect(s.missing).toEqual([]);
    expect(levels.filter((l) => l.side === 'bid').length).toBeGreaterThan(0);
    expect(levels.filter((l) => l.side === 'bid').length).toBeLessThanOrEqual(50);
  });
});

describe('venue retention', () => {
  const cases: Array<{ id: FakeExchangeId; body: Record<string, unknown>; reason: RegExp }> = [
    {
      id: 'gate',
      body: { datasets: ['ohlcv'], timeframe: '1m', since: NOW - 8 * DAY, until: NOW - 8 * DAY + HOUR },
      reason: /gate serves only its newest 10000 candles/,
    },
    {
      id: 'bitget',
      body: { datasets: ['trades'], since: NOW - 100 * DAY, until: NOW - 100 * DAY + HOUR },
      reason: /bitget serves only the last 90 days of trades/,
    },
    {
      id: 'kraken',
      body: { datasets: ['ohlcv'], timeframe: '1m', since: NOW - 2 * DAY, until: NOW - 2 * DAY + HOUR },
      reason: /kraken serves only its newest 720 candles/,
    },
  ];
  it.each(cases)('$id: a window older than the venue keeps is reported, not answered empty', async (c) => {
    const fake = await startFakeExchange({ exchange: c.id, now: NOW });
    try {
      sink.events.length = 0;
      const fn = extractUnderTest({
        exchange: c.id,
        apiBaseUrl: fake.url,
        sinkUrl: sink.url,
        now: NOW,
        env: { CURSOR_STORE: 'none' },
      });
      const res = await request(fn.server)
        .post('/')
        .send({ symbols: ['BTC/USDT'], ...c.body });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const s = (res.body as ExtractSummary).series[0]!;
      expect(s.records).toBe(0);
      expect(s.missing).toEqual([
        expect.objectContaining({
          since: c.body['since'],
          until: c.body['until'],
          reason: expect.stringMatching(c.reason),
          retryable: false,
        }),
      ]);
      expect(sink.events).toEqual([]);
    } finally {
      await fake.close();
    }
  });
});
