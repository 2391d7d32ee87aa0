// ccxt's real code against the offline exchange of each of the seven venues: markets, OHLCV, trades, tickers,
// order book and funding parse to sane values, and each venue's documented quirks hold.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Exchange } from '../../shared/exchange/ccxt.ts';
import { pipelineExchange } from '../../shared/exchange/client.ts';
import {
  FAKE_EXCHANGES,
  startFakeExchange,
  type FakeExchange,
  type FakeExchangeId,
} from '../../scripts/offline/fake-exchange.ts';

const MIN = 60_000;
const DAY = 1440 * MIN;
/** 30 s into the previous minute of the wall clock: ccxt computes some windows from its own clock. */
const NOW = Math.floor(Date.now() / MIN) * MIN - 30_000;

interface VenueCase {
  id: FakeExchangeId;
  markets: string[];
  /** Symbols with a perpetual swap served by this ccxt class. */
  swap?: string;
  /** An order-book depth the venue accepts. */
  depth: number;
}

const venues: VenueCase[] = [
  {
    id: 'binance',
    markets: ['BTC/USDT', 'ETH/USDT', 'LTC/USDT', 'BTC/USDT:USDT', 'ETH/USDT:USDT', 'BTC/USD:BTC'],
    swap: 'BTC/USDT:USDT',
    depth: 20,
  },
  {
    id: 'bybit',
    markets: ['BTC/USDT', 'ETH/USDT', 'LTC/USDT', 'BTC/USDT:USDT', 'LTC/USDT:USDT', 'BTC/USD:BTC'],
    swap: 'BTC/USDT:USDT',
    depth: 20,
  },
  { id: 'okx', markets: ['BTC/USDT', 'ETH/USDT', 'BTC/USDT:USDT'], swap: 'BTC/USDT:USDT', depth: 20 },
  { id: 'kraken', markets: ['BTC/USDT', 'ETH/USDT'], depth: 20 },
  { id: 'kucoin', markets: ['BTC/USDT', 'ETH/USDT'], depth: 20 },
  {
    id: 'gate',
    markets: ['BTC/USDT', 'ETH/USDT', 'BTC/USDT:USDT', 'ETH/USDT:USDT', 'BTC/USD:BTC'],
    swap: 'BTC/USDT:USDT',
    depth: 20,
  },
  {
    id: 'bitget',
    markets: ['BTC/USDT', 'ETH/USDT', 'BTC/USDT:USDT', 'ETH/USDT:USDT', 'BTC/USD:BTC'],
    swap: 'BTC/USDT:USDT',
    depth: 15,
  },
];

/** ccxt as the pipeline's client sets it up (spot and swap markets), its URLs on the fake. */
function ccxtFor(id: string, fake: FakeExchange): Exchange {
  return pipelineExchange(
    id,
    { apiBaseUrl: fake.url, marketTypes: ['spot', 'swap'] },
    { enableRateLimit: false },
  );
}

const decimal = /^\d+(\.\d+)?$/;
const positive = (v: unknown) => typeof v === 'string' && decimal.test(v) && Number(v) > 0;
const lastBody = (fake: FakeExchange, path: string) => {
  const r = fake.requests.filter((x) => x.path === path).at(-1);
  if (!r) throw new Error(`no request to ${path}`);
  return { ...r, json: JSON.parse(r.body) as unknown };
};

it('serves the seven venues, and names them when asked for another', async () => {
  expect(FAKE_EXCHANGES).toEqual(venues.map((v) => v.id));
  await expect(startFakeExchange({ exchange: 'krakenfutures' as FakeExchangeId })).rejects.toThrow(
    "no offline simulator for 'krakenfutures' (there are: binance, bybit, okx, kraken, kucoin, gate, bitget)",
  );
});

describe.each(venues)('$id through ccxt', (v) => {
  let fake: FakeExchange;
  let ex: Exchange;
  beforeAll(async () => {
    fake = await startFakeExchange({ exchange: v.id, now: NOW });
    ex = ccxtFor(v.id, fake);
    await ex.loadMarkets();
  });
  afterAll(() => fake?.close());
  const symbols = () => [v.markets[0] ?? '', ...(v.swap ? [v.swap] : [])];

  it('loads the recorded instruments of the configured market types, nothing unanswered', () => {
    expect(Object.keys(ex.markets ?? {}).sort()).toEqual([...v.markets].sort());
    expect(fake.requests.filter((r) => r.status !== 200)).toEqual([]);
  });

  it('OHLCV: the 1m candles of a window (as the pipeline asks: since, limit, until), oldest first', async () => {
    for (const symbol of symbols()) {
      const since = Math.floor(NOW / MIN) * MIN - 30 * MIN;
      const candles = await ex.fetchOHLCV(symbol, '1m', since, 10, { until: since + 10 * MIN - 1 });
      expect(
        candles.map((c) => c[0]),
        symbol,
      ).toEqual([...Array(10).keys()].map((i) => since + i * MIN));
      for (const c of candles) {
        const [, o, h, l, close, vol] = c as unknown as [number, string, string, string, string, string];
        for (const x of [o, h, l, close]) expect(positive(x), `${symbol} ${x}`).toBe(true);
        expect(Number(h)).toBeGreaterThanOrEqual(Math.max(Number(o), Number(close)));
        expect(Number(l)).toBeLessThanOrEqual(Math.min(Number(o), Number(close)));
        expect(Number(vol)).toBeGreaterThan(0);
      }
    }
  });

  it('trades: recent trades with prices, amounts, sides and times not after now', async () => {
    for (const symbol of symbols()) {
      const list = await ex.fetchTrades(symbol, undefined, 50);
      expect(list.length, symbol).toBeGreaterThan(0);
      for (const t of list) {
        expect(positive(t.price) && positive(t.amount), JSON.stringify(t)).toBe(true);
        expect(['buy', 'sell']).toContain(t.side);
        expect(t.timestamp).toBeLessThanOrEqual(NOW);
        expect(t.timestamp).toBeGreaterThan(NOW - DAY);
      }
      const times = list.map((t) => t.timestamp ?? 0);
      expect(times).toEqual([...times].sort((a, b) => a - b));
    }
  });

  it('tickers: one and many', async () => {
    for (const symbol of symbols()) {
      const t = await ex.fetchTicker(symbol);
      expect(t.symbol).toBe(symbol);
      expect(positive(t.last) && positive(t.high) && positive(t.low), JSON.stringify(t)).toBe(true);
      expect(Number(t.low)).toBeLessThanOrEqual(Number(t.high));
    }
    const spots = v.markets.filter((s) => !s.includes(':'));
    expect(Object.keys(await ex.fetchTickers(spots)).sort()).toEqual(spots.sort());
  });

  it('order book: the depth asked, bids below asks, both sides sorted', async () => {
    for (const symbol of symbols()) {
      const b = await ex.fetchOrderBook(symbol, v.depth);
      expect(b.bids.length, symbol).toBe(v.depth);
      expect(b.asks.length).toBe(v.depth);
      const bids = b.bids.map((l) => Number(l[0]));
      const asks = b.asks.map((l) => Number(l[0]));
      expect(bids[0]).toBeLessThan(asks[0] ?? 0);
      expect(bids).toEqual([...bids].sort((x, y) => y - x));
      expect(asks).toEqual([...asks].sort((x, y) => x - y));
      for (const l of [...b.bids, ...b.asks]) expect(Number(l[1])).toBeGreaterThan(0);
    }
  });

  it.runIf(v.swap)('funding: the current rate and the next funding time, one and many', async () => {
    const swap = v.swap ?? '';
    const f = await ex.fetchFundingRate(swap);
    expect(f.symbol).toBe(swap);
    expect(Math.abs(Number(f.fundingRate))).toBeLessThan(0.01);
    expect(Number(f.fundingRate)).not.toBe(0);
    const many = await ex.fetchFundingRates([swap]);
    expect(Number(many[swap]?.fundingRate)).toBe(Number(f.fundingRate));
  });

  it('an unknown route is a 404 in the venue own error format, and ccxt raises it', async () => {
    const res = await fetch(`${fake.url}/no/such/route`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as Record<string, unknown>;
    const expected: Record<FakeExchangeId, Record<string, unknown>> = {
      binance: { code: -1 },
      bybit: { retCode: -1 },
      okx: { code: '50000' },
      kraken: { error: ['EGeneral:Unknown method'] },
      kucoin: { code: '404000', msg: 'Url Not Found' },
      gate: { label: 'NOT_FOUND', message: 'Not Found' },
      bitget: { code: '40404', msg: 'Request URL NOT FOUND', data: null },
    };
    expect(body).toMatchObject(expected[v.id]);
    await expect(
      (ex as unknown as { fetch2: (p: string, api: unknown) => Promise<unknown> }).fetch2(
        'no/such/route',
        v.id === 'gate' ? ['public', 'spot'] : v.id === 'bitget' ? ['public', 'spot'] : 'public',
      ),
    ).rejects.toThrow();
  });
});

describe('venue quirks', () => {
  const venue = async (id: FakeExchangeId) => {
    const fake = await startFakeExchange({ exchange: id, now: NOW });
    const ex = ccxtFor(id, fake);
    await ex.loadMarkets();
    return { fake, ex };
  };

  it('kraken OHLC: an old `since` still gets only the newest 720 candles (the last one still forming)', async () => {
    const { fake, ex } = await venue('kraken');
    try {
      const since = NOW - 2 * DAY;
      const candles = await ex.fetchOHLCV('BTC/USDT', '1m', since);
      const current = Math.floor(NOW / MIN) * MIN;
      expect(candles).toHaveLength(720);
      expect(candles[0]?.[0]).toBe(current - 719 * MIN);
      expect(candles.at(-1)?.[0]).toBe(current);
      const { query, json } = lastBody(fake, '/0/public/OHLC');
      expect(Number(query['since'])).toBeLessThan((current - 719 * MIN) / 1000);
      expect((json as { result: { last: number } }).result.last).toBe((current - MIN) / 1000);
      // A recent `since` gets the candles after it, plus the forming one.
      const recent = await ex.fetchOHLCV('BTC/USDT', '1m', current - 5 * MIN);
      expect(recent.map((c) => c[0])).toEqual([0, 1, 2, 3, 4, 5].map((i) => current - (5 - i) * MIN));
    } finally {
      await fake.close();
    }
  });

  it('kraken Trades: up to 1000 from `since`, oldest first, and `last` continues without overlap', async () => {
    const { fake } = await venue('kraken');
    try {
      const get = async (since: string) =>
        (
          (await (await fetch(`${fake.url}/0/public/Trades?pair=XBTUSDT&since=${since}`)).json()) as {
            result: { XBTUSDT: [string, string, number, string, string, string, number][]; last: string };
          }
        ).result;
      const first = await get(String((NOW - 3 * 3_600_000) * 1_000_000));
      expect(first.XBTUSDT).toHaveLength(1000);
      expect(first.XBTUSDT[0]?.[2]).toBeGreaterThanOrEqual((NOW - 3 * 3_600_000) / 1000);
      expect(first.last).toMatch(/^\d{19}$/);
      const next = await get(first.last);
      expect(next.XBTUSDT[0]?.[6]).toBe((first.XBTUSDT.at(-1)?.[6] ?? 0) + 1);
      // Seconds work too (ccxt 4.5.84 sends seconds).
      const bySeconds = await get(String(Math.floor((NOW - 3 * 3_600_000) / 1000)));
      expect(bySeconds.XBTUSDT[0]?.[6]).toBe(first.XBTUSDT[0]?.[6]);
    } finally {
      await fake.close();
    }
  });

  it('kucoin trade histories: the newest 100 whatever is asked, no trade id, a sequence and a time in ns', async () => {
    const { fake, ex } = await venue('kucoin');
    try {
      const list = await ex.fetchTrades('BTC/USDT', NOW - DAY, 500, { until: NOW - DAY + 3_600_000 });
      expect(list).toHaveLength(100);
      for (const t of list) {
        expect(t.id ?? null).toBeNull();
        expect(t.info.sequence).toMatch(/^\d+$/);
        expect(t.timestamp).toBeGreaterThan(NOW - 300_000);
      }
      const raw = fake.requests.filter((r) => r.path === '/api/v1/market/histories').at(-1)?.body ?? '';
      const times = [...raw.matchAll(/"time":(\d+)/g)].map((m) => m[1] ?? '');
      expect(times).toHaveLength(100);
      for (const [i, ns] of times.entries()) {
        expect(ns).toMatch(/^\d{19}$/);
        expect(list[i]?.timestamp).toBe(Number(ns.slice(0, 13)));
      }
      expect(raw).not.toMatch(/"(trade)?[iI]d"/);
    } finally {
      await fake.close();
    }
  });

  it('kucoin candles: newest first, [time, open, close, high, low, ...], at most 1500 per call', async () => {
    const { fake } = await venue('kucoin');
    try {
      const end = Math.floor(NOW / MIN) * MIN;
      const res = await fetch(
        `${fake.url}/api/v1/market/candles?symbol=BTC-USDT&type=1min&startAt=${end / 1000 - 2000 * 60}&endAt=${end / 1000}`,
      );
      const rows = ((await res.json()) as { data: string[][] }).data;
      expect(rows).toHaveLength(1500);
      expect(Number(rows[0]?.[0])).toBe(end / 1000 - 60);
      expect(Number(rows[1]?.[0])).toBe(end / 1000 - 120);
      for (const [, o, c, h, l] of rows.map((r) => r.map(Number)))
        expect(h! >= Math.max(o!, c!) && l! <= Math.min(o!, c!)).toBe(true);
    } finally {
      await fake.close();
    }
  });

  it('gate spot trades: ccxt sends no `from`, and without it the answer is the newest trades', async () => {
    const { fake, ex } = await venue('gate');
    try {
      const list = await ex.fetchTrades('BTC/USDT', NOW - DAY, 100);
      const { query } = lastBody(fake, '/api/v4/spot/trades');
      expect(query['from']).toBeUndefined();
      expect(list).toHaveLength(100);
      expect(list.at(-1)?.timestamp).toBeGreaterThan(NOW - 5_000);
      expect(list[0]?.timestamp).toBeGreaterThan(NOW - 300_000);
      // Gate pads amounts to the pair's precision: text such as "0.00020" keeps its trailing zeros.
      const amounts = list.map((t) => (t.info as { amount: string }).amount);
      expect(amounts.every((a) => /^\d+\.\d{5}$/.test(a))).toBe(true);
      expect(amounts.some((a) => a.endsWith('0'))).toBe(true);
    } finally {
      await fake.close();
    }
  });

  it('gate candlesticks: limit conflicts with from/to, at most 1000 spot points, old spot windows refused', async () => {
    const { fake } = await venue('gate');
    try {
      const from = Math.floor(NOW / MIN) * 60 - 3600;
      const ask = async (q: string) => {
        const res = await fetch(
          `${fake.url}/api/v4/spot/candlesticks?currency_pair=BTC_USDT&interval=1m&${q}`,
        );
        return { status: res.status, body: (await res.json()) as unknown };
      };
      expect(await ask(`from=${from}&limit=10`)).toMatchObject({
        status: 400,
        body: { label: 'INVALID_PARAM_VALUE' },
      });
      expect((await ask(`from=${from - 1000 * 60}&to=${from}`)).status).toBe(400);
      expect((await ask(`from=${from - 20_000 * 60}&to=${from - 19_500 * 60}`)).status).toBe(400);
      const ok = await ask(`from=${from}&to=${from + 600}`);
      expect(ok.status).toBe(200);
      expect(ok.body).toHaveLength(11);
    } finally {
      await fake.close();
    }
  });

  it('bitget: an old window goes to history-candles (at most 200) and the recent endpoint has nothing that old', async () => {
    const { fake, ex } = await venue('bitget');
    try {
      const since = Math.floor((NOW - 40 * DAY) / MIN) * MIN;
      const candles = await ex.fetchOHLCV('BTC/USDT', '1m', since, 500, { until: since + 100 * MIN });
      expect(lastBody(fake, '/api/v2/spot/market/history-candles').query['limit']).toBe('200');
      expect(candles.length).toBeGreaterThan(0);
      expect(candles[0]?.[0]).toBeGreaterThanOrEqual(since);
      const res = await fetch(
        `${fake.url}/api/v2/spot/market/candles?symbol=BTCUSDT&granularity=1min&startTime=${since}&endTime=${since + 100 * MIN}`,
      );
      expect(((await res.json()) as { data: unknown[] }).data).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it('kraken and kucoin list no swaps (kraken: krakenfutures is another class; kucoin: none recorded)', async () => {
    for (const id of ['kraken', 'kucoin'] as const) {
      const { fake, ex } = await venue(id);
      try {
        expect(Object.values(ex.markets ?? {}).filter((m) => m?.swap)).toEqual([]);
      } finally {
        await fake.close();
      }
    }
  });
});
