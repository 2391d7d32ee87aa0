// Bitget's public v2 REST API (spot and mix USDT-M/coin-M perpetuals) for the offline exchange.
import {
  ApiError,
  DAY,
  HOUR,
  MIN,
  book,
  candle,
  candleTimes,
  fmt,
  fundingRate,
  nextFunding,
  num,
  priceAt,
  trades,
  type Market,
  type Query,
  type Route,
  type Style,
  type Venue,
} from '../core.ts';

/** Candles per call at most: recent endpoint, history endpoint. */
export const BITGET_CANDLES_MAX = 1000;
export const BITGET_HISTORY_CANDLES_MAX = 200;
/** Public trade history reaches back this far. */
export const BITGET_TRADES_KEPT_MS = 90 * DAY;

const SPOT_GRANULARITY: Record<string, number> = {
  '1min': MIN,
  '3min': 3 * MIN,
  '5min': 5 * MIN,
  '15min': 15 * MIN,
  '30min': 30 * MIN,
  '1h': HOUR,
  '4h': 4 * HOUR,
  '6h': 6 * HOUR,
  '12h': 12 * HOUR,
  '1day': DAY,
  '3day': 3 * DAY,
  '1week': 7 * DAY,
  '1M': 30 * DAY,
  '6Hutc': 6 * HOUR,
  '12Hutc': 12 * HOUR,
  '1Dutc': DAY,
  '3Dutc': 3 * DAY,
  '1Wutc': 7 * DAY,
  '1Mutc': 30 * DAY,
};
const MIX_GRANULARITY: Record<string, number> = {
  '1m': MIN,
  '3m': 3 * MIN,
  '5m': 5 * MIN,
  '15m': 15 * MIN,
  '30m': 30 * MIN,
  '1H': HOUR,
  '2H': 2 * HOUR,
  '4H': 4 * HOUR,
  '6H': 6 * HOUR,
  '12H': 12 * HOUR,
  '1D': DAY,
  '3D': 3 * DAY,
  '1W': 7 * DAY,
  '1M': 30 * DAY,
  '6Hutc': 6 * HOUR,
  '12Hutc': 12 * HOUR,
  '1Dutc': DAY,
  '3Dutc': 3 * DAY,
  '1Wutc': 7 * DAY,
  '1Mutc': 30 * DAY,
};
const MERGE_DEPTH_LIMITS = ['1', '5', '15', '50', 'max'];

/** How far back the recent-candles endpoint reaches for an interval (older candles need history-candles). */
export function bitgetRecentSpan(ms: number): number {
  return Math.max(30, (ms / HOUR) * 60) * DAY;
}

const invalid = (message = 'Parameter verification failed') => new ApiError(400, '400172', message);
const bad = (k: string) => invalid(`Parameter ${k} error`);

function routes(markets: Market[]): Record<string, Route> {
  const spotStyle = (m: Market): Style => ({
    priceDecimals: Number(m.info?.['pricePrecision'] ?? 2),
    pricePad: 0,
    amountDecimals: Number(m.info?.['quantityPrecision'] ?? 6),
    amountPad: Number(m.info?.['quantityPrecision'] ?? 6),
  });
  const mixStyle = (m: Market): Style => ({
    priceDecimals: Number(m.info?.['pricePlace'] ?? 1),
    pricePad: 0,
    amountDecimals: Number(m.info?.['volumePlace'] ?? 4),
    amountPad: 0,
  });
  const productType = (m: Market) =>
    m.inverse ? 'COIN-FUTURES' : m.quote === 'USDC' ? 'USDC-FUTURES' : 'USDT-FUTURES';
  const spots = markets.filter((m) => m.type === 'spot');
  const mixes = (q: Query) => markets.filter((m) => m.type === 'swap' && productType(m) === q['productType']);
  const spot = (q: Query) => {
    const m = spots.find((x) => x.id === q['symbol']);
    if (!m) throw new ApiError(400, '40034', 'Parameter does not exist');
    return m;
  };
  const mix = (q: Query) => {
    if (!q['productType']) throw invalid('Parameter productType cannot be empty');
    const m = mixes(q).find((x) => x.id === q['symbol']);
    if (!m) throw new ApiError(400, '40034', 'Parameter does not exist');
    return m;
  };
  const ok = (data: unknown, now: number) => ({ code: '00000', msg: 'success', requestTime: now, data });

  /**
   * Candles as Bitget serves them: the newest `limit` of [startTime, endTime), oldest first. The recent endpoint reaches back
   * only `bitgetRecentSpan`; the history endpoint needs `endTime`, answers at most 200 and (spot) ignores startTime.
   */
  const candles =
    (kind: 'spot' | 'mix', history: boolean): Route =>
    (q, now) => {
      const m = kind === 'spot' ? spot(q) : mix(q);
      const ms = (kind === 'spot' ? SPOT_GRANULARITY : MIX_GRANULARITY)[q['granularity'] ?? ''];
      if (ms === undefined) throw invalid('Parameter granularity error');
      const max = history ? BITGET_HISTORY_CANDLES_MAX : BITGET_CANDLES_MAX;
      const limit = num(q, 'limit', bad) ?? 100;
      if (limit > max) throw invalid(`Parameter limit error, max ${max}`);
      const endTime = num(q, 'endTime', bad);
      if (history && endTime === undefined) throw invalid('Parameter endTime cannot be empty');
      let start = kind === 'spot' && history ? 0 : (num(q, 'startTime', bad) ?? 0);
      if (kind === 'mix' && history && endTime !== undefined && endTime - start > 90 * DAY)
        throw invalid('The time range between startTime and endTime cannot exceed 90 days');
      if (!history) start = Math.max(start, now - bitgetRecentSpan(ms));
      const s = kind === 'spot' ? spotStyle(m) : mixStyle(m);
      // endTime is exclusive ("the chart data before this time stamp").
      const times = candleTimes(ms, start, (endTime ?? now + 1) - 1, now).slice(-limit);
      const price = q['kLineType'] === 'mark' || q['kLineType'] === 'index';
      return ok(
        times.map((t) => {
          const c = candle(m.base, t, ms, now, s);
          const row = [String(t), c.o, c.h, c.l, c.c, price ? '0' : c.v, price ? '0' : c.q];
          return kind === 'spot' ? [...row, c.q] : row;
        }),
        now,
      );
    };
  /** Trades newest first: the newest `limit` of [startTime, endTime]; nothing older than 90 days. */
  const fills =
    (kind: 'spot' | 'mix', history: boolean): Route =>
    (q, now) => {
      const m = kind === 'spot' ? spot(q) : mix(q);
      const max = history ? 1000 : 100;
      const limit = Math.min(num(q, 'limit', bad) ?? (history ? 500 : 100), max);
      const startTime = history ? num(q, 'startTime', bad) : undefined;
      const endTime = history ? num(q, 'endTime', bad) : undefined;
      if (startTime !== undefined && endTime !== undefined && endTime - startTime > 7 * DAY)
        throw invalid('The time range between startTime and endTime cannot exceed 7 days');
      const from = Math.max(startTime ?? 0, now - BITGET_TRADES_KEPT_MS);
      const s = kind === 'spot' ? spotStyle(m) : mixStyle(m);
      const list = trades(m.base, from, endTime ?? now, now, limit, true).reverse();
      return ok(
        list.map((t) => ({
          symbol: m.id,
          tradeId: String(1_151_762_928_000_000_000n + BigInt(t.id)),
          side: t.buy ? 'Buy' : 'Sell',
          price: fmt(t.price, s.priceDecimals, s.pricePad),
          size: fmt(t.amount, s.amountDecimals, s.amountPad),
          ts: String(t.ts),
        })),
        now,
      );
    };
  const ticker = (m: Market, now: number) => {
    const s = m.type === 'spot' ? spotStyle(m) : mixStyle(m);
    const c = candle(m.base, now - 86_400_000, 86_400_000, now, s);
    const utc = candle(m.base, Math.floor(now / DAY) * DAY, DAY, now, s);
    const tick = 10 ** -s.priceDecimals;
    const common = {
      symbol: m.id,
      lastPr: c.c,
      askPr: fmt(Number(c.c) + tick, s.priceDecimals, 0),
      bidPr: c.c,
      bidSz: '0.057344',
      askSz: '0.002773',
      high24h: c.h,
      low24h: c.l,
      ts: String(now),
      change24h: fmt((Number(c.c) - Number(c.o)) / Number(c.o), 4, 0),
      baseVolume: c.v,
      quoteVolume: c.q,
      usdtVolume: c.q,
      openUtc: utc.o,
      changeUtc24h: fmt((Number(c.c) - Number(utc.o)) / Number(utc.o), 5, 0),
    };
    if (m.type === 'spot') return { open: c.o, ...common };
    return {
      ...common,
      indexPrice: fmt(priceAt(m.base, now - 500), 6, 0),
      fundingRate: fundingRate(now, 6),
      holdingAmount: '7482.9441',
      deliveryStartTime: null,
      deliveryTime: null,
      deliveryStatus: '',
      open24h: c.o,
      markPrice: fmt(priceAt(m.base, now), s.priceDecimals, 0),
    };
  };
  const fund = (m: Market, now: number) => ({
    symbol: m.id,
    fundingRate: fundingRate(now, 6),
    fundingRateInterval: '8',
    nextUpdate: String(nextFunding(now)),
    minFundingRate: '-0.003',
    maxFundingRate: '0.003',
  });
  return {
    '/api/v2/public/time': (_q, now) => ok({ serverTime: String(now) }, now),
    '/api/v2/spot/public/symbols': (q, now) =>
      ok(
        (q['symbol'] ? [spot(q)] : spots).map((m) => m.info),
        now,
      ),
    '/api/v2/margin/currencies': (_q, now) =>
      ok(
        spots.map((m) => ({
          symbol: m.id,
          baseCoin: m.base,
          quoteCoin: m.quote,
          maxCrossedLeverage: '5',
          maxIsolatedLeverage: '10',
          isBorrowable: true,
          isCrossBorrowable: true,
          isIsolatedBaseBorrowable: true,
          isIsolatedQuoteBorrowable: true,
          status: '1',
        })),
        now,
      ),
    '/api/v2/mix/market/contracts': (q, now) => {
      if (!q['productType']) throw invalid('Parameter productType cannot be empty');
      return ok(
        mixes(q).map((m) => m.info),
        now,
      );
    },
    '/api/v2/spot/market/candles': candles('spot', false),
    '/api/v2/spot/market/history-candles': candles('spot', true),
    '/api/v2/mix/market/candles': candles('mix', false),
    '/api/v2/mix/market/history-candles': candles('mix', true),
    '/api/v2/mix/market/history-mark-candles': (q, now) =>
      candles('mix', true)({ ...q, kLineType: 'mark' }, now),
    '/api/v2/mix/market/history-index-candles': (q, now) =>
      candles('mix', true)({ ...q, kLineType: 'index' }, now),
    '/api/v2/spot/market/fills-history': fills('spot', true),
    '/api/v2/spot/market/fills': fills('spot', false),
    '/api/v2/mix/market/fills-history': fills('mix', true),
    '/api/v2/mix/market/fills': fills('mix', false),
    '/api/v2/spot/market/tickers': (q, now) =>
      ok(
        (q['symbol'] ? [spot(q)] : spots).map((m) => ticker(m, now)),
        now,
      ),
    '/api/v2/mix/market/ticker': (q, now) => ok([ticker(mix(q), now)], now),
    '/api/v2/mix/market/tickers': (q, now) => {
      if (!q['productType']) throw invalid('Parameter productType cannot be empty');
      return ok(
        mixes(q).map((m) => ticker(m, now)),
        now,
      );
    },
    '/api/v2/spot/market/orderbook': (q, now) => {
      const m = spot(q);
      const b = book(m.base, now, Math.min(num(q, 'limit', bad) ?? 150, 150), {
        ...spotStyle(m),
        amountDecimals: 4,
        amountPad: 4,
      });
      return ok({ asks: b.asks, bids: b.bids, ts: String(now) }, now);
    },
    '/api/v2/mix/market/merge-depth': (q, now) => {
      const m = mix(q);
      const limit = q['limit'] ?? '100';
      if (limit !== '100' && !MERGE_DEPTH_LIMITS.includes(limit))
        throw invalid('Parameter limit error: 1, 5, 15, 50 or max');
      const depth = limit === 'max' ? 150 : Number(limit);
      const b = book(m.base, now, depth, mixStyle(m));
      return ok(
        {
          asks: b.asks,
          bids: b.bids,
          ts: String(now),
          scale: '0.1',
          precision: 'scale0',
          isMaxPrecision: 'NO',
        },
        now,
      );
    },
    '/api/v2/mix/market/current-fund-rate': (q, now) =>
      ok(
        (q['symbol'] ? [mix(q)] : mixes(q)).map((m) => fund(m, now)),
        now,
      ),
    '/api/v2/mix/market/funding-time': (q, now) => {
      const m = mix(q);
      return ok([{ symbol: m.id, nextFundingTime: String(nextFunding(now)), ratePeriod: '8' }], now);
    },
  };
}

/** Bitget: spot and mix (USDT-M linear, coin-M inverse) perpetuals. */
export const bitget: Venue = {
  routes,
  errorBody: (code, message, now) =>
    JSON.stringify({ code: String(code), msg: message, requestTime: now, data: null }),
  codes: { notFound: '40404', tooMany: '429', failure: '40725' },
  notFoundMessage: 'Request URL NOT FOUND',
};
