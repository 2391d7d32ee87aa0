// KuCoin's public spot REST API for the offline exchange: trade histories are the newest 100, without trade ids.
import {
  ApiError,
  MIN,
  RawJson,
  book,
  candle,
  candleTimes,
  fmt,
  noise,
  num,
  trades,
  type Market,
  type Query,
  type Route,
  type Style,
  type Venue,
} from '../core.ts';

/** Candles per call at most. */
export const KUCOIN_CANDLES_MAX = 1500;
/** Trade histories return only this many of the newest trades, whatever is asked. */
export const KUCOIN_HISTORIES = 100;

const TYPES: Record<string, number> = {
  '1min': 1,
  '3min': 3,
  '5min': 5,
  '15min': 15,
  '30min': 30,
  '1hour': 60,
  '2hour': 120,
  '4hour': 240,
  '6hour': 360,
  '8hour': 480,
  '12hour': 720,
  '1day': 1440,
  '1week': 10080,
  '1month': 43200,
};

/** KuCoin writes decimals without trailing zeros. */
const trim = (s: string) => (s.includes('.') ? s.replace(/\.?0+$/, '') : s);

function routes(markets: Market[]): Record<string, Route> {
  const s: Style = { priceDecimals: 1, pricePad: 0, amountDecimals: 8, amountPad: 8 };
  const market = (q: Query) => {
    const m = markets.find((x) => x.id === q['symbol']);
    if (!m) throw new ApiError(200, '400100', 'This pair is not provided at present');
    return m;
  };
  const bad = (k: string) => new ApiError(200, '400100', `${k} invalid`);
  const ok = (data: unknown) => ({ code: '200000', data });
  const stats = (m: Market, now: number) => {
    const c = candle(m.base, now - 86_400_000, 86_400_000, now, s);
    const change = Number(c.c) - Number(c.o);
    return {
      time: now,
      symbol: m.id,
      buy: trim(fmt(Number(c.c) - 0.1, 1, 0)),
      sell: trim(c.c),
      changeRate: trim(fmt(change / Number(c.o), 4, 0)),
      changePrice: trim(fmt(change, 1, 0)),
      high: trim(c.h),
      low: trim(c.l),
      vol: c.v,
      volValue: c.q,
      last: trim(c.c),
      averagePrice: trim(fmt((Number(c.o) + Number(c.c)) / 2, 8, 0)),
      takerFeeRate: '0.001',
      makerFeeRate: '0.001',
      takerCoefficient: '1',
      makerCoefficient: '1',
    };
  };
  return {
    '/api/v1/timestamp': (_q, now) => ({ code: '200000', msg: 'success', data: now }),
    '/api/v1/status': () => ok({ status: 'open', msg: '' }),
    '/api/v2/symbols': (q) =>
      ok(markets.filter((m) => !q['market'] || m.info?.['market'] === q['market']).map((m) => m.info)),
    // The futures API's instruments (the `kucoin` class loads them for swap markets); none were recorded.
    '/api/v1/contracts/active': () => ok([]),
    '/api/v1/market/allTickers': (_q, now) =>
      ok({
        time: now,
        ticker: markets.map((m) => {
          const { time: _time, ...rest } = stats(m, now);
          return { symbolName: m.id, ...rest, bestBidSize: '0.5', bestAskSize: '0.25' };
        }),
      }),
    '/api/v1/market/stats': (q, now) => ok(stats(market(q), now)),
    '/api/v1/market/orderbook/level2_20': (q, now) => orderbook(market(q), now, 20),
    '/api/v1/market/orderbook/level2_100': (q, now) => orderbook(market(q), now, 100),
    // The newest 100 trades, oldest first; time parameters are ignored. No trade id: `sequence` and a time in ns.
    '/api/v1/market/histories': (q, now) => {
      const m = market(q);
      const list = trades(m.base, undefined, now, now, KUCOIN_HISTORIES, true);
      const items = list.map((t) => {
        const head = JSON.stringify({
          sequence: String(7_000_000_000_000 + t.id * 3),
          price: trim(fmt(t.price, 1, 0)),
          size: fmt(t.amount, 8, 8),
          side: t.buy ? 'buy' : 'sell',
        });
        return `${head.slice(0, -1)},"time":${t.ts}${String(t.nanos).padStart(6, '0')}}`;
      });
      return new RawJson(`{"code":"200000","data":[${items.join(',')}]}`);
    },
    // [time (s), open, close, high, low, volume, turnover], newest first, at most 1500 of [startAt, endAt).
    '/api/v1/market/candles': (q, now) => {
      const m = market(q);
      const minutes = TYPES[q['type'] ?? ''];
      if (minutes === undefined) throw new ApiError(200, '400100', 'type invalid');
      const ms = minutes * MIN;
      const startAt = (num(q, 'startAt', bad) ?? 0) * 1000;
      const endAt = (num(q, 'endAt', bad) || now / 1000) * 1000;
      const times = candleTimes(ms, startAt, endAt - 1, now)
        .slice(-KUCOIN_CANDLES_MAX)
        .reverse();
      return ok(
        times.map((t) => {
          const c = candle(m.base, t, ms, now, s);
          return [String(t / 1000), trim(c.o), trim(c.c), trim(c.h), trim(c.l), c.v, c.q];
        }),
      );
    },
  };
  function orderbook(m: Market, now: number, depth: number) {
    const b = book(m.base, now, depth, s);
    const level = (l: string[]) => [trim(l[0] ?? ''), trim(l[1] ?? '')];
    return ok({
      time: now,
      sequence: String(Math.floor(now / 100) + Math.floor(noise(now) * 10)),
      bids: b.bids.map(level),
      asks: b.asks.map(level),
    });
  }
}

/**
 * KuCoin spot. ccxt 4.5.84's `kucoin` class also asks KuCoin Futures' contracts/active when swaps are configured;
 * no contract instruments were recorded, so it lists none (kucoinfutures is the class made for KuCoin Futures).
 */
export const kucoin: Venue = {
  routes,
  errorBody: (code, message) => JSON.stringify({ code: String(code), msg: message }),
  codes: { notFound: '404000', tooMany: '429000', failure: '500000' },
  notFoundMessage: 'Url Not Found',
};
