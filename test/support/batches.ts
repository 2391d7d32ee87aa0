// Extract-batch CloudEvents for the reliability suites: seeded synthetic series full of key collisions, and the
// events the real extract function sends for given requests against the offline fake exchange.
import request from 'supertest';
import type { CloudEvent } from 'cloudevents';
import { buildBatchEvents } from '../../shared/events/batches.ts';
import {
  EventType,
  type Dataset,
  type ExtractBatch,
  type FundingRecord,
  type MarketRecord,
  type OhlcvRecord,
  type OrderBookLevelRecord,
  type RecordOf,
  type TickerRecord,
  type TradeRecord,
} from '../../shared/events/schemas.ts';
import { startFakeExchange, type FakeExchangeId } from '../../scripts/offline/fake-exchange.ts';
import { extractUnderTest } from './extract.ts';
import { randInt } from './reliability.ts';
import { startSink } from './sink.ts';

const MIN = 60_000;

/** Batch events of one series, chunked at `maxBytes`. */
export function seriesEvents<D extends Dataset>(
  header: {
    exchange: string;
    dataset: D;
    symbol: string | null;
    timeframe: string | null;
    window?: { since: number; until: number } | null;
    requestId?: string;
    extractedAt: number;
  },
  records: RecordOf[D][],
  maxBytes = 8 * 1024,
): CloudEvent<ExtractBatch>[] {
  return buildBatchEvents(
    { requestId: 'reliability', ...header, window: header.window ?? null },
    records,
    maxBytes,
  );
}

function decimal(rand: () => number, int: number, digits: number): string {
  return `${randInt(rand, 1, int)}.${String(randInt(rand, 0, 10 ** digits - 1)).padStart(digits, '0')}`;
}

/** One OHLCV candle with random (valid or, rarely, broken) prices. */
function randomCandle(rand: () => number, ts: number, closed: boolean): OhlcvRecord {
  const base = randInt(rand, 100, 50_000);
  const open = `${base}.${String(randInt(rand, 0, 99)).padStart(2, '0')}`;
  const broken = rand() < 0.05;
  return {
    ts,
    open,
    // A broken candle (high below open) becomes an ohlc_invariant finding; the row is still kept.
    high: broken ? '1.00' : `${base + randInt(rand, 1, 50)}.00`,
    low: `${base - randInt(rand, 1, 50)}.00`,
    close: open,
    volume: rand() < 0.05 ? null : decimal(rand, 100, 4),
    closed,
  };
}

function randomTicker(rand: () => number, symbol: string, ts: number): TickerRecord {
  const d = () => (rand() < 0.2 ? null : decimal(rand, 50_000, 3));
  return {
    symbol,
    ts,
    exchangeTs: rand() < 0.3 ? null : ts - randInt(rand, 0, 500),
    bid: d(),
    bidVolume: d(),
    ask: d(),
    askVolume: d(),
    last: d(),
    open: d(),
    high: d(),
    low: d(),
    vwap: d(),
    baseVolume: d(),
    quoteVolume: d(),
    change: rand() < 0.5 ? `-${decimal(rand, 100, 2)}` : decimal(rand, 100, 2),
    percentage: d(),
    markPrice: d(),
    indexPrice: d(),
  };
}

function randomMarket(rand: () => number, symbol: string, extractedAt: number): MarketRecord {
  const [base = 'X', quote = 'USDT'] = symbol.split(/[/:]/);
  const swap = symbol.includes(':');
  return {
    symbol,
    id: symbol.replace(/[/:]/g, ''),
    type: swap ? 'swap' : 'spot',
    base,
    quote,
    settle: swap ? quote : null,
    active: rand() < 0.9,
    linear: swap ? true : null,
    inverse: swap ? false : null,
    contractSize: swap ? '1' : null,
    expiry: null,
    strike: null,
    optionType: null,
    pricePrecision: '0.01',
    amountPrecision: '0.00001',
    minAmount: decimal(rand, 1, 5),
    minCost: rand() < 0.5 ? null : '5',
    maker: '0.001',
    taker: '0.001',
    info: { listedBy: 'reliability', at: extractedAt, nested: { tags: ['a', 'b'], n: randInt(rand, 0, 9) } },
  };
}

/**
 * Seeded batches of every dataset whose objects overlap on purpose: the same candle closed in several objects with
 * different prices, partial candles from several extractions, one trade id at different prices, order-book and
 * ticker snapshots at one time in two objects, instruments described twice at the same extraction time.
 */
export function collidingEvents(rand: () => number, exchange = 'binance'): CloudEvent<ExtractBatch>[] {
  const T0 = Date.UTC(2026, 10, 24, 6, 0);
  const events: CloudEvent<ExtractBatch>[] = [];
  const symbols = ['SYNA/USDT', 'SYNB/USDT:USDT'];
  for (const symbol of symbols) {
    // OHLCV: several extractions of overlapping windows.
    for (let k = randInt(rand, 3, 6); k > 0; k--) {
      const from = randInt(rand, 0, 40);
      const len = randInt(rand, 5, 30);
      const extractedAt = T0 + (from + len) * MIN - randInt(rand, 0, 2) * MIN + randInt(rand, 0, 59_000);
      const recs = Array.from({ length: len }, (_, i) => {
        const ts = T0 + (from + i) * MIN;
        return randomCandle(rand, ts, ts + MIN <= extractedAt);
      });
      events.push(
        ...seriesEvents(
          { exchange, dataset: 'ohlcv', symbol, timeframe: '1m', extractedAt, requestId: `r${k}` },
          recs,
          randInt(rand, 3, 12) * 1024,
        ),
      );
    }
    // Trades: overlapping id ranges; a repeated id may carry another price.
    for (let k = randInt(rand, 2, 4); k > 0; k--) {
      const first = randInt(rand, 0, 60);
      const recs: TradeRecord[] = Array.from({ length: randInt(rand, 5, 40) }, (_, i) => ({
        id: String(1000 + first + i),
        ts: T0 + (first + i) * 1000,
        side: rand() < 0.5 ? 'buy' : rand() < 0.9 ? 'sell' : null,
        price: decimal(rand, 50_000, 2),
        amount: decimal(rand, 5, 5),
        cost: rand() < 0.1 ? null : decimal(rand, 100_000, 2),
        takerOrMaker: rand() < 0.5 ? 'taker' : null,
      }));
      events.push(
        ...seriesEvents(
          { exchange, dataset: 'trades', symbol, timeframe: null, extractedAt: T0 + 3_600_000 + k },
          recs,
          4 * 1024,
        ),
      );
    }
    // Order book: two snapshots share a time stamp in different objects.
    for (let k = randInt(rand, 2, 3); k > 0; k--) {
      const ts = T0 + randInt(rand, 0, 1) * MIN;
      const depth = randInt(rand, 3, 25);
      const recs: OrderBookLevelRecord[] = (['bid', 'ask'] as const).flatMap((side) =>
        Array.from({ length: depth }, (_, level) => ({
          ts,
          exchangeTs: ts - 3,
          nonce: rand() < 0.5 ? String(randInt(rand, 1, 1e9)) : null,
          side,
          level,
          price: decimal(rand, 50_000, 2),
          amount: decimal(rand, 10, 4),
        })),
      );
      events.push(
        ...seriesEvents(
          { exchange, dataset: 'orderbook', symbol, timeframe: null, extractedAt: ts + k },
          recs,
          randInt(rand, 2, 6) * 1024,
        ),
      );
    }
  }
  // Tickers, funding and instruments: many symbols per batch, snapshot times colliding across batches.
  for (let k = randInt(rand, 2, 4); k > 0; k--) {
    const ts = T0 + randInt(rand, 0, 2) * MIN;
    events.push(
      ...seriesEvents(
        { exchange, dataset: 'tickers', symbol: null, timeframe: null, extractedAt: ts + k },
        symbols.map((s) => randomTicker(rand, s, ts)),
      ),
    );
    const funding: FundingRecord[] = symbols
      .filter((s) => s.includes(':'))
      .map((s) => ({
        symbol: s,
        ts,
        exchangeTs: ts,
        fundingRate: rand() < 0.1 ? null : `0.000${randInt(rand, 1, 9)}`,
        fundingTs: ts,
        nextFundingTs: ts + 8 * 3_600_000,
        markPrice: decimal(rand, 50_000, 2),
        indexPrice: decimal(rand, 50_000, 2),
        interval: rand() < 0.5 ? '8h' : null,
      }));
    events.push(
      ...seriesEvents(
        { exchange, dataset: 'funding', symbol: null, timeframe: null, extractedAt: ts + k },
        funding,
      ),
    );
    const extractedAt = T0 + randInt(rand, 0, 1) * 3_600_000;
    events.push(
      ...seriesEvents(
        { exchange, dataset: 'markets', symbol: null, timeframe: null, extractedAt },
        symbols.map((s) => randomMarket(rand, s, extractedAt)),
      ),
    );
  }
  return events;
}

/**
 * The batch events the real extract function sends for `requests` against the offline fake `exchange` at `now`
 * (cursors off, so every request carries its own window).
 */
export async function extractedEvents(
  exchange: FakeExchangeId,
  now: number,
  requests: ReadonlyArray<Record<string, unknown>>,
  env: Record<string, string> = {},
): Promise<CloudEvent<ExtractBatch>[]> {
  const fake = await startFakeExchange({ exchange, now });
  const sink = await startSink();
  try {
    const fn = extractUnderTest({
      exchange,
      apiBaseUrl: fake.url,
      sinkUrl: sink.url,
      now,
      env: { CURSOR_STORE: 'none', ...env },
    });
    for (const body of requests) {
      const res = await request(fn.server).post('/').send(body);
      if (res.status !== 200)
        throw new Error(`extract ${exchange} ${JSON.stringify(body)}: ${res.status} ${res.text}`);
    }
    return sink.events.filter((e) => e.type === EventType.extractBatch) as CloudEvent<ExtractBatch>[];
  } finally {
    await sink.close();
    await fake.close();
  }
}
