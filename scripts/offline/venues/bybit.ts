// Bybit's public v5 REST API (spot, linear, inverse) for the offline exchange.
import {
  ApiError,
  book,
  candle,
  candleTimes,
  fmt,
  nextFunding,
  noise,
  num,
  priceAt,
  tfMs,
  trades,
  type Market,
  type Route,
  type Style,
  type Venue,
} from '../core.ts';

const INTERVALS: Record<string, string> = {
  '1': '1m',
  '3': '3m',
  '5': '5m',
  '15': '15m',
  '30': '30m',
  '60': '1h',
  '120': '2h',
  '240': '4h',
  '360': '6h',
  '720': '12h',
  D: '1d',
  W: '1w',
  M: '1M',
};

function routes(markets: Market[]): Record<string, Route> {
  const s: Style = { priceDecimals: 1, pricePad: 1, amountDecimals: 3, amountPad: 3 };
  const category = (m: Market) => (m.type === 'spot' ? 'spot' : m.linear ? 'linear' : 'inverse');
  const market = (q: Record<string, string>) => {
    const m = markets.find((x) => category(x) === q['category'] && x.id === q['symbol']);
    if (!m) throw new ApiError(200, 10001, 'params error: symbol invalid');
    return m;
  };
  const wrap = (result: unknown, now: number) => ({
    retCode: 0,
    retMsg: 'OK',
    result,
    retExtInfo: {},
    time: now,
  });
  const ticker = (m: Market, now: number) => {
    const c = candle(m.base, now - 86_400_000, 86_400_000, now, s);
    return {
      symbol: m.id,
      lastPrice: c.c,
      indexPrice: fmt(priceAt(m.base, now - 500), 2, 2),
      markPrice: c.c,
      prevPrice24h: c.o,
      price24hPcnt: fmt((Number(c.c) - Number(c.o)) / Number(c.o), 6, 6),
      highPrice24h: c.h,
      lowPrice24h: c.l,
      turnover24h: c.q,
      volume24h: c.v,
      bid1Price: fmt(Number(c.c) - 0.1, 1, 1),
      bid1Size: '1.000',
      ask1Price: c.c,
      ask1Size: '0.500',
      ...(m.type === 'spot'
        ? {}
        : {
            fundingRate: fmt(0.0001 * (1 + noise(Math.floor(now / 28_800_000))), 8, 8),
            nextFundingTime: String(nextFunding(now)),
            openInterest: '1000.000',
            openInterestValue: '43000000.00',
            fundingIntervalHour: '8',
          }),
    };
  };
  return {
    '/v5/market/time': (_q, now) =>
      wrap({ timeSecond: String(Math.floor(now / 1000)), timeNano: `${now}000000` }, now),
    '/v5/market/instruments-info': (q, now) =>
      wrap(
        {
          category: q['category'],
          list: markets.filter((m) => category(m) === q['category']).map((m) => m.info),
          nextPageCursor: '',
        },
        now,
      ),
    '/v5/market/kline': (q, now) => {
      const m = market(q);
      const tf = INTERVALS[q['interval'] ?? ''];
      if (!tf) throw new ApiError(200, 10001, 'params error: interval invalid');
      const ms = tfMs(tf);
      const limit = Math.min(num(q, 'limit') ?? 200, 1000);
      const end = num(q, 'end') ?? now;
      const start = num(q, 'start') ?? 0;
      // Bybit answers the newest `limit` candles of [start, end], newest first.
      const times = candleTimes(ms, start, end, now).slice(-limit).reverse();
      return wrap(
        {
          symbol: m.id,
          category: q['category'],
          list: times.map((t) => {
            const c = candle(m.base, t, ms, now, s);
            return [String(t), c.o, c.h, c.l, c.c, c.v, c.q];
          }),
        },
        now,
      );
    },
    '/v5/market/recent-trade': (q, now) => {
      const m = market(q);
      const limit = Math.min(
        num(q, 'limit') ?? (m.type === 'spot' ? 60 : 500),
        m.type === 'spot' ? 60 : 1000,
      );
      const list = trades(m.base, undefined, now, now, limit, true).reverse();
      return wrap(
        {
          category: q['category'],
          list: list.map((t) => ({
            execId: `e-${t.id}`,
            symbol: m.id,
            price: fmt(t.price, 1, 1),
            size: fmt(t.amount, 3, 3),
            side: t.buy ? 'Buy' : 'Sell',
            time: String(t.ts),
            isBlockTrade: false,
          })),
        },
        now,
      );
    },
    '/v5/market/orderbook': (q, now) => {
      const m = market(q);
      const limit = Math.min(num(q, 'limit') ?? 25, m.type === 'spot' ? 200 : 500);
      const b = book(m.base, now, limit, s);
      return wrap(
        { s: m.id, b: b.bids, a: b.asks, ts: now, u: Math.floor(now / 100), seq: Math.floor(now / 10) },
        now,
      );
    },
    '/v5/market/tickers': (q, now) => {
      const list = q['symbol'] ? [market(q)] : markets.filter((m) => category(m) === q['category']);
      return wrap({ category: q['category'], list: list.map((m) => ticker(m, now)) }, now);
    },
  };
}

/** Bybit v5: spot, linear and inverse categories. */
export const bybit: Venue = {
  routes,
  errorBody: (code, message) =>
    JSON.stringify({
      retCode: typeof code === 'number' ? code : 10016,
      retMsg: message,
      result: {},
      retExtInfo: {},
      time: Date.now(),
    }),
  codes: { notFound: -1, tooMany: 10006, failure: 10016 },
};
