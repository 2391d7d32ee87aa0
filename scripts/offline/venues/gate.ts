// Gate's public v4 REST API (spot and USDT/BTC-settled perpetual futures) for the offline exchange.
import {
  ApiError,
  book,
  candle,
  candleTimes,
  fmt,
  fundingRate,
  nextFunding,
  noise,
  num,
  priceAt,
  tfMs,
  trades,
  type Market,
  type Query,
  type Route,
  type Style,
  type Trade,
  type Venue,
} from '../core.ts';

/** Candles per call at most: spot, futures. */
export const GATE_SPOT_POINTS = 1000;
export const GATE_FUTURES_POINTS = 2000;
/** Spot candles older than this many intervals are refused. */
export const GATE_SPOT_POINTS_AGO = 10_000;
const INTERVALS = ['10s', '1m', '5m', '15m', '30m', '1h', '2h', '4h', '8h', '1d', '7d', '30d'];
const SETTLES = ['usdt', 'btc'];
const MARGIN_KEYS = [
  'id',
  'base',
  'quote',
  'leverage',
  'min_base_amount',
  'min_quote_amount',
  'max_quote_amount',
  'status',
];

const invalid = (message: string) => new ApiError(400, 'INVALID_PARAM_VALUE', message);
const bad = (k: string) => invalid(`invalid argument: ${k}`);

function routes(markets: Market[]): Record<string, Route> {
  const spotStyle = (m: Market): Style => ({
    priceDecimals: Number(m.info?.['precision'] ?? 1),
    pricePad: 0,
    amountDecimals: Number(m.info?.['amount_precision'] ?? 5),
    amountPad: Number(m.info?.['amount_precision'] ?? 5),
  });
  const fut: Style = { priceDecimals: 1, pricePad: 0, amountDecimals: 8, amountPad: 0 };
  const spots = markets.filter((m) => m.type === 'spot');
  const swaps = (settle: string) =>
    markets.filter((m) => m.type === 'swap' && (m.settle ?? '').toLowerCase() === settle);
  const pair = (q: Query) => {
    const m = spots.find((x) => x.id === q['currency_pair']);
    if (!m)
      throw new ApiError(400, 'INVALID_CURRENCY_PAIR', `Invalid currency pair ${q['currency_pair'] ?? ''}`);
    return m;
  };
  const contract = (settle: string, id: string | undefined) => {
    const m = swaps(settle).find((x) => x.id === id);
    if (!m) throw new ApiError(400, 'CONTRACT_NOT_FOUND', 'Contract not found');
    return m;
  };
  /** Contracts of a trade amount in base currency (inverse contracts are 1 USD each). */
  const contracts = (m: Market, amount: number, price: number) => {
    const mult = Number(m.info?.['quanto_multiplier'] ?? 0);
    return Math.max(1, Math.round(m.inverse || mult === 0 ? amount * price : amount / mult));
  };
  const interval = (q: Query) => {
    const i = q['interval'] ?? '30m';
    if (!INTERVALS.includes(i)) throw invalid(`invalid interval ${i}`);
    return tfMs(i);
  };
  /** Candle open times for a candlesticks request, with Gate's rules on limit, from and to. */
  const window = (q: Query, ms: number, now: number, max: number, spot: boolean) => {
    const limit = num(q, 'limit', bad);
    const from = num(q, 'from', bad);
    const to = num(q, 'to', bad);
    if (limit !== undefined && (from !== undefined || to !== undefined))
      throw invalid('limit is conflicted with from and to');
    const end = (to ?? now / 1000) * 1000;
    if (from === undefined) {
      const n = limit ?? 100;
      if (n > max) throw invalid(`limit too large, max ${max}`);
      const last = Math.floor(Math.min(end, now) / ms) * ms;
      return candleTimes(ms, last - (n - 1) * ms, end, now);
    }
    if (spot && from * 1000 < now - GATE_SPOT_POINTS_AGO * ms)
      throw invalid(`Candlestick too long ago. Maximum ${GATE_SPOT_POINTS_AGO} points ago are allowed`);
    if ((end - from * 1000) / ms + 1 > max) throw invalid(`Too many points requested, max ${max}`);
    return candleTimes(ms, from * 1000, end, now);
  };
  /** Gate answers trades newest first: the newest `limit` up to `to`, from `from` on when given. */
  const recent = (m: Market, q: Query, now: number): Trade[] => {
    const limit = Math.min(num(q, 'limit', bad) ?? 100, 1000);
    const from = num(q, 'from', bad);
    const to = num(q, 'to', bad);
    const upTo = to === undefined ? now : to * 1000 + 999;
    return trades(m.base, from === undefined ? undefined : from * 1000, upTo, now, limit, true).reverse();
  };
  const contractInfo = (m: Market, now: number) => ({
    ...m.info,
    funding_rate: fundingRate(now, 6),
    funding_rate_indicative: fundingRate(now + 8 * 3_600_000, 6),
    funding_next_apply: nextFunding(now) / 1000,
    mark_price: fmt(priceAt(m.base, now), 2, 0),
    index_price: fmt(priceAt(m.base, now - 500), 2, 0),
    last_price: fmt(priceAt(m.base, now - 1000), 1, 0),
  });
  const r: Record<string, Route> = {
    '/api/v4/spot/time': (_q, now) => ({ server_time: now }),
    '/api/v4/spot/currency_pairs': () =>
      spots.map((m) =>
        Object.fromEntries(Object.entries(m.info ?? {}).filter(([k]) => !['leverage', 'status'].includes(k))),
      ),
    '/api/v4/margin/currency_pairs': () =>
      spots.map((m) => Object.fromEntries(MARGIN_KEYS.map((k) => [k, m.info?.[k]]))),
    // [t (s), quote volume, close, high, low, open, base volume, window closed]
    '/api/v4/spot/candlesticks': (q, now) => {
      const m = pair(q);
      const ms = interval(q);
      const s = spotStyle(m);
      return window(q, ms, now, GATE_SPOT_POINTS, true).map((t) => {
        const c = candle(m.base, t, ms, now, { ...s, amountDecimals: 8, amountPad: 8 });
        return [String(t / 1000), c.q, c.c, c.h, c.l, c.o, c.v, String(c.confirmed)];
      });
    },
    // ccxt 4.5.84 sends no `from` for spot: without it these are the newest trades (up to `to`).
    '/api/v4/spot/trades': (q, now) => {
      const m = pair(q);
      const s = spotStyle(m);
      return recent(m, q, now).map((t) => ({
        id: String(t.id + 7_000_000_000),
        create_time: String(Math.floor(t.ts / 1000)),
        create_time_ms: `${t.ts}.${String(t.nanos).padStart(6, '0')}`,
        currency_pair: m.id,
        side: t.buy ? 'buy' : 'sell',
        amount: fmt(t.amount, s.amountDecimals, s.amountPad),
        price: fmt(t.price, s.priceDecimals, s.pricePad),
        sequence_id: String(t.id + 29_000_000),
      }));
    },
    '/api/v4/spot/tickers': (q, now) =>
      (q['currency_pair'] ? [pair(q)] : spots).map((m) => {
        const s = spotStyle(m);
        const c = candle(m.base, now - 86_400_000, 86_400_000, now, s);
        const change = ((Number(c.c) - Number(c.o)) / Number(c.o)) * 100;
        return {
          currency_pair: m.id,
          last: c.c,
          lowest_ask: fmt(Number(c.c) + 0.1, s.priceDecimals, 0),
          lowest_size: '0.12340',
          highest_bid: c.c,
          highest_size: '0.50000',
          change_percentage: fmt(change, 2, 0),
          base_volume: c.v,
          quote_volume: c.q,
          high_24h: c.h,
          low_24h: c.l,
        };
      }),
    '/api/v4/spot/order_book': (q, now) => {
      const m = pair(q);
      const b = book(m.base, now, Math.min(num(q, 'limit', bad) ?? 10, 1000), spotStyle(m));
      return { id: Math.floor(now / 10), current: now, update: now - 3, asks: b.asks, bids: b.bids };
    },
  };
  for (const settle of SETTLES) {
    const base = `/api/v4/futures/${settle}`;
    r[`${base}/contracts`] = (_q, now) => swaps(settle).map((m) => contractInfo(m, now));
    for (const m of swaps(settle)) r[`${base}/contracts/${m.id}`] = (_q, now) => contractInfo(m, now);
    // {t (s), v (contracts), c, h, l, o, sum (quote)}; mark_ and index_ prefixed contracts have no volume.
    r[`${base}/candlesticks`] = (q, now) => {
      const [, kind, id] = /^(mark_|index_)?(.*)$/.exec(q['contract'] ?? '') ?? [];
      const m = contract(settle, id);
      const ms = interval(q);
      return window(q, ms, now, GATE_FUTURES_POINTS, false).map((t) => {
        const c = candle(m.base, t, ms, now, fut);
        const o = { t: t / 1000, c: c.c, h: c.h, l: c.l, o: c.o };
        return kind ? o : { ...o, v: contracts(m, Number(c.v), Number(c.c)), sum: c.q };
      });
    };
    r[`${base}/trades`] = (q, now) => {
      const m = contract(settle, q['contract']);
      return recent(m, q, now).map((t) => ({
        id: t.id + 400_000_000,
        create_time: Number((t.ts / 1000).toFixed(3)),
        create_time_ms: Number((t.ts / 1000).toFixed(3)),
        contract: m.id,
        size: (t.buy ? 1 : -1) * contracts(m, t.amount, t.price),
        price: fmt(t.price, 1, 0),
        is_internal: false,
      }));
    };
    r[`${base}/tickers`] = (q, now) =>
      (q['contract'] ? [contract(settle, q['contract'])] : swaps(settle)).map((m) => {
        const c = candle(m.base, now - 86_400_000, 86_400_000, now, fut);
        const info = contractInfo(m, now);
        return {
          contract: m.id,
          last: c.c,
          change_percentage: fmt(((Number(c.c) - Number(c.o)) / Number(c.o)) * 100, 2, 0),
          total_size: String(contracts(m, 3000 + noise(now) * 10, Number(c.c))),
          low_24h: c.l,
          high_24h: c.h,
          volume_24h: String(contracts(m, Number(c.v), Number(c.c))),
          volume_24h_base: fmt(Number(c.v), 4, 0),
          volume_24h_quote: fmt(Number(c.q), 0, 0),
          volume_24h_settle: fmt(Number(m.inverse ? c.v : c.q), 4, 0),
          mark_price: info.mark_price,
          funding_rate: info.funding_rate,
          funding_rate_indicative: info.funding_rate_indicative,
          index_price: info.index_price,
          highest_bid: fmt(Number(c.c) - 0.1, 1, 0),
          highest_size: '1200',
          lowest_ask: c.c,
          lowest_size: '800',
        };
      });
    r[`${base}/order_book`] = (q, now) => {
      const m = contract(settle, q['contract']);
      const b = book(m.base, now, Math.min(num(q, 'limit', bad) ?? 10, 300), fut);
      const level = (l: string[]) => ({ p: l[0], s: contracts(m, Number(l[1]), Number(l[0])) });
      return {
        id: Math.floor(now / 10),
        current: Number((now / 1000).toFixed(3)),
        update: Number(((now - 3) / 1000).toFixed(3)),
        asks: b.asks.map(level),
        bids: b.bids.map(level),
      };
    };
  }
  return r;
}

/** Gate: spot and perpetual futures settled in USDT or BTC (delivery futures and options were not recorded). */
export const gate: Venue = {
  routes,
  errorBody: (code, message) => JSON.stringify({ label: String(code), message }),
  codes: { notFound: 'NOT_FOUND', tooMany: 'TOO_MANY_REQUESTS', failure: 'SERVER_ERROR' },
  notFoundMessage: 'Not Found',
};
