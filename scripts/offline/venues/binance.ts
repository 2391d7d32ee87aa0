// Binance's public REST API (spot, USD-M and COIN-M futures) for the offline exchange, with its request weights.
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

/**
 * Binance's request weights (IP limits) of the public endpoints the pipeline calls, as Binance documents them:
 * spot /api/v3 and USD-M futures /fapi/v1 are counted separately, per calendar minute.
 */
export function binanceWeight(path: string, query: Record<string, string>): { pool: string; weight: number } {
  const limit = Number(query['limit'] ?? 0);
  const pool = path.startsWith('/api/v3') ? 'spot' : path.startsWith('/fapi') ? 'futures' : 'delivery';
  const endpoint = path.replace(/^\/(api\/v3|fapi\/v1|dapi\/v1)\//, '');
  if (pool === 'spot') {
    const spot: Record<string, number> = {
      klines: 2,
      exchangeInfo: 20,
      depth: limit <= 100 ? 5 : limit <= 500 ? 25 : limit <= 1000 ? 50 : 250,
      aggTrades: 2,
      'ticker/24hr': query['symbol'] ? 2 : query['symbols'] ? 40 : 80,
      time: 1,
      ping: 1,
    };
    return { pool, weight: spot[endpoint] ?? 1 };
  }
  const futures: Record<string, number> = {
    klines: limit < 100 ? 1 : limit < 500 ? 2 : limit <= 1000 ? 5 : 10,
    exchangeInfo: 1,
    depth: limit <= 50 ? 2 : limit <= 100 ? 5 : limit <= 500 ? 10 : 20,
    aggTrades: 20,
    'ticker/24hr': query['symbol'] ? 1 : 40,
    premiumIndex: query['symbol'] ? 1 : 10,
    fundingRate: 1,
    time: 1,
    ping: 1,
  };
  return { pool, weight: futures[endpoint] ?? 1 };
}

function routes(markets: Market[]): Record<string, Route> {
  const spot: Style = { priceDecimals: 2, pricePad: 8, amountDecimals: 5, amountPad: 8 };
  const fut: Style = { priceDecimals: 1, pricePad: 2, amountDecimals: 3, amountPad: 3 };
  const kind = (prefix: string) =>
    prefix === '/api/v3' ? 'spot' : prefix === '/fapi/v1' ? 'linear' : 'inverse';
  const inKind = (m: Market, k: string) =>
    k === 'spot'
      ? m.type === 'spot'
      : k === 'linear'
        ? m.type !== 'spot' && m.linear === true
        : m.type !== 'spot' && m.inverse === true;
  const market = (k: string, id: string | undefined) => {
    const m = markets.find((x) => inKind(x, k) && x.id === id);
    if (!m) throw new ApiError(400, -1121, 'Invalid symbol.');
    return m;
  };
  const ticker = (m: Market, now: number, s: Style) => {
    const c = candle(m.base, now - 86_400_000, 86_400_000, now, s);
    return {
      symbol: m.id,
      priceChange: fmt(Number(c.c) - Number(c.o), s.priceDecimals, s.pricePad),
      priceChangePercent: fmt(((Number(c.c) - Number(c.o)) / Number(c.o)) * 100, 3, 3),
      weightedAvgPrice: c.o,
      lastPrice: c.c,
      lastQty: '0.01000000',
      ...(s === spot
        ? {
            bidPrice: fmt(Number(c.c) - 0.01, 2, 8),
            bidQty: '1.00000000',
            askPrice: c.c,
            askQty: '0.50000000',
          }
        : {}),
      openPrice: c.o,
      highPrice: c.h,
      lowPrice: c.l,
      volume: c.v,
      quoteVolume: c.q,
      openTime: now - 86_400_000,
      closeTime: now,
      firstId: 1,
      lastId: 1000,
      count: 1000,
    };
  };
  const routes: Record<string, Route> = {
    '/api/v3/time': (_q, now) => ({ serverTime: now }),
    '/api/v3/ping': () => ({}),
  };
  for (const prefix of ['/api/v3', '/fapi/v1', '/dapi/v1']) {
    const k = kind(prefix);
    const s = k === 'spot' ? spot : fut;
    routes[`${prefix}/exchangeInfo`] = (_q, now) => ({
      timezone: 'UTC',
      serverTime: now,
      rateLimits: [],
      exchangeFilters: [],
      symbols: markets.filter((m) => inKind(m, k)).map((m) => m.info),
    });
    routes[`${prefix}/klines`] = (q, now) => {
      const m = market(k, q['symbol']);
      const ms = tfMs(q['interval'] ?? '');
      const limit = Math.min(num(q, 'limit') ?? 500, k === 'spot' ? 1000 : 1500);
      const end = num(q, 'endTime') ?? now;
      const start = num(q, 'startTime') ?? end - (limit - 1) * ms;
      return candleTimes(ms, start, end, now)
        .slice(0, limit)
        .map((t) => {
          const c = candle(m.base, t, ms, now, s);
          return [t, c.o, c.h, c.l, c.c, c.v, c.closeTime, c.q, 100, '0', '0', '0'];
        });
    };
    routes[`${prefix}/aggTrades`] = (q, now) => {
      const m = market(k, q['symbol']);
      const limit = Math.min(num(q, 'limit') ?? 500, 1000);
      const start = num(q, 'startTime');
      const end = num(q, 'endTime');
      if (start !== undefined && end !== undefined && end - start > 3_600_000)
        throw new ApiError(400, -1127, 'More than 1 hours between startTime and endTime.');
      const list = trades(
        m.base,
        start,
        end ?? (start !== undefined ? start + 3_600_000 : now),
        now,
        limit,
        start === undefined,
      );
      return list.map((t) => ({
        a: t.id,
        p: fmt(t.price, s.priceDecimals, s.pricePad),
        q: fmt(t.amount, s.amountDecimals, s.amountPad),
        f: t.id,
        l: t.id,
        T: t.ts,
        m: !t.buy,
        M: true,
      }));
    };
    routes[`${prefix}/depth`] = (q, now) => {
      const m = market(k, q['symbol']);
      const limit = num(q, 'limit') ?? 100;
      if (![5, 10, 20, 50, 100, 500, 1000, 5000].includes(limit))
        throw new ApiError(
          400,
          -1100,
          `Illegal characters found in parameter 'limit'; legal range is '5, 10, 20, 50, 100, 500, 1000, 5000'.`,
        );
      return {
        lastUpdateId: Math.floor(now / 100),
        ...(k === 'spot' ? {} : { E: now, T: now }),
        ...book(m.base, now, limit, s),
      };
    };
    routes[`${prefix}/ticker/24hr`] = (q, now) => {
      if (q['symbol']) return ticker(market(k, q['symbol']), now, s);
      const ids = q['symbols'] ? (JSON.parse(q['symbols']) as string[]) : undefined;
      return (ids ? ids.map((id) => market(k, id)) : markets.filter((m) => inKind(m, k))).map((m) =>
        ticker(m, now, s),
      );
    };
    if (k !== 'spot') {
      routes[`${prefix}/premiumIndex`] = (q, now) => {
        const one = (m: Market) => ({
          symbol: m.id,
          pair: m.id.replace(/_PERP$/, ''),
          markPrice: fmt(priceAt(m.base, now), 8, 8),
          indexPrice: fmt(priceAt(m.base, now - 500), 8, 8),
          estimatedSettlePrice: fmt(priceAt(m.base, now), 8, 8),
          lastFundingRate: fmt(0.0001 * (1 + noise(Math.floor(now / 28_800_000))), 8, 8),
          interestRate: '0.00010000',
          nextFundingTime: nextFunding(now),
          time: now,
        });
        return q['symbol'] ? one(market(k, q['symbol'])) : markets.filter((m) => inKind(m, k)).map(one);
      };
    }
  }
  return routes;
}

/** Binance spot (/api/v3), USD-M (/fapi/v1) and COIN-M (/dapi/v1) futures. */
export const binance: Venue = {
  routes,
  errorBody: (code, message) =>
    JSON.stringify({ code: typeof code === 'number' ? code : -1000, msg: message }),
  codes: { notFound: -1, tooMany: -1003, failure: -1000 },
};
