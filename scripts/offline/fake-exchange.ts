// An offline exchange for binance, bybit and okx: their public REST API in native formats, deterministic data,
// the instruments of the recorded fixtures, and injectable faults. ccxt's real code talks to it.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** Exchanges the fake speaks. */
export type FakeExchangeId = 'binance' | 'bybit' | 'okx';

/** One answered request, with the body sent. */
export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  at: number;
  status: number;
  body: string;
}

/** A fault: matching requests get this answer instead of the real one. */
export interface FaultRule {
  pathPrefix?: string;
  match?: (req: { path: string; query: Record<string, string> }) => boolean;
  status?: number;
  body?: string;
  headers?: Record<string, string>;
  /** How many matching requests it affects (default: all). */
  times?: number;
  delayMs?: number;
  /** Send a cut-off JSON body with status 200. */
  truncate?: boolean;
}

/** A running fake exchange. */
export interface FakeExchange {
  url: string;
  exchange: FakeExchangeId;
  requests: FakeRequest[];
  addFault(rule: FaultRule): void;
  clearFaults(): void;
  setNow(ms: number): void;
  /** Binance only, with `weightLimits`: request weight per calendar minute, and the 429/418 answers given. */
  readonly limits: { usedByMinute: Map<string, number>; tooMany: number; banned: number };
  close(): Promise<void>;
}

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

/** `n` extra spot markets SYN1/USDT ... made from BTC/USDT (for benchmarks with many symbols). */
function syntheticSpot(markets: Market[], n: number): Market[] {
  const model = markets.find((m) => m.type === 'spot' && m.symbol === 'BTC/USDT');
  if (!model || n <= 0) return markets;
  const extra = Array.from({ length: n }, (_, i) => {
    const base = `SYN${i + 1}`;
    return {
      ...model,
      id: `${base}USDT`,
      symbol: `${base}/USDT`,
      base,
      info: { ...model.info, symbol: `${base}USDT`, baseAsset: base },
    };
  });
  return [...markets, ...extra];
}

interface Market {
  symbol: string;
  id: string;
  type: string;
  linear?: boolean | null;
  inverse?: boolean | null;
  base: string;
  info: Record<string, unknown> | null;
}

/** Thrown by a route: answered with the exchange's own error format. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | number,
    message: string,
  ) {
    super(message);
  }
}

const LISTED_AT = Date.UTC(2020, 0, 1);
const MIN = 60_000;
const TRADE_EVERY_MS = 2_000;

const TIMEFRAMES: Record<FakeExchangeId, Record<string, string>> = {
  binance: Object.fromEntries(
    ['1s', '1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M'].map(
      (t) => [t, t],
    ),
  ),
  bybit: {
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
  },
  okx: {
    '1m': '1m',
    '3m': '3m',
    '5m': '5m',
    '15m': '15m',
    '30m': '30m',
    '1H': '1h',
    '2H': '2h',
    '4H': '4h',
    '6Hutc': '6h',
    '12Hutc': '12h',
    '1Dutc': '1d',
    '1Wutc': '1w',
    '1Mutc': '1M',
    '6H': '6h',
    '12H': '12h',
    '1D': '1d',
    '1W': '1w',
    '1M': '1M',
  },
};

function tfMs(tf: string): number {
  const m = /^(\d+)([smhdwM])$/.exec(tf);
  if (!m) throw new ApiError(400, -1120, `Invalid interval ${tf}`);
  const unit = { s: 1000, m: MIN, h: 60 * MIN, d: 1440 * MIN, w: 7 * 1440 * MIN, M: 30 * 1440 * MIN }[
    m[2] as 's'
  ];
  return Number(m[1]) * unit;
}

/** A deterministic pseudo-random number in [0, 1) from an integer. */
function noise(n: number): number {
  let x = Math.imul((n ^ 0x9e3779b9) >>> 0, 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return ((x ^ (x >>> 16)) >>> 0) / 2 ** 32;
}

function basePrice(base: string): number {
  return { BTC: 43_000, ETH: 2_300, LTC: 70, SOL: 95 }[base] ?? 10;
}

/** The price of `base` at time `t` (ms): a slow wave plus per-second noise. */
function priceAt(base: string, t: number): number {
  const p = basePrice(base);
  return p * (1 + 0.03 * Math.sin(t / 7_200_000) + 0.002 * (noise(Math.floor(t / 1000)) - 0.5));
}

interface Style {
  priceDecimals: number;
  pricePad: number;
  amountDecimals: number;
  amountPad: number;
}

function fmt(v: number, decimals: number, pad: number): string {
  return (Math.round(v * 10 ** decimals) / 10 ** decimals).toFixed(Math.max(decimals, pad));
}

function candle(base: string, open: number, ms: number, now: number, s: Style) {
  const end = Math.min(open + ms, now);
  const o = priceAt(base, open);
  const c = priceAt(base, end);
  const h = Math.max(o, c) * (1 + 0.001 * noise(open / 1000 + 1));
  const l = Math.min(o, c) * (1 - 0.001 * noise(open / 1000 + 2));
  const v = (1 + 100 * noise(open / 1000 + 3)) * (ms / MIN) ** 0.5 * ((end - open) / ms);
  return {
    open,
    o: fmt(o, s.priceDecimals, s.pricePad),
    h: fmt(h, s.priceDecimals, s.pricePad),
    l: fmt(l, s.priceDecimals, s.pricePad),
    c: fmt(c, s.priceDecimals, s.pricePad),
    v: fmt(v, s.amountDecimals, s.amountPad),
    q: fmt((v * (o + c)) / 2, 4, 4),
    closeTime: open + ms - 1,
    confirmed: open + ms <= now,
  };
}

/** Open times of candles in [from, to] (inclusive), aligned to the interval, not after now, not before listing. */
function candleTimes(ms: number, from: number, to: number, now: number): number[] {
  const out: number[] = [];
  const start = Math.max(Math.ceil(from / ms) * ms, Math.ceil(LISTED_AT / ms) * ms);
  for (let t = start; t <= to && t <= now; t += ms) out.push(t);
  return out;
}

interface Trade {
  id: number;
  ts: number;
  price: number;
  amount: number;
  buy: boolean;
}

function tradeAt(base: string, k: number): Trade {
  const ts = k * TRADE_EVERY_MS + Math.floor(noise(k) * 1500);
  return {
    id: k - Math.floor(LISTED_AT / TRADE_EVERY_MS) + 1,
    ts,
    price: priceAt(base, ts),
    amount: 0.001 + noise(k + 7) * 0.5,
    buy: noise(k + 9) > 0.5,
  };
}

/** Trades with time in [from, to], oldest first, at most `limit`; or the newest `limit` up to now. */
function trades(
  base: string,
  from: number | undefined,
  to: number,
  now: number,
  limit: number,
  newest: boolean,
): Trade[] {
  const last = Math.floor(Math.min(to, now) / TRADE_EVERY_MS);
  const out: Trade[] = [];
  if (newest) {
    for (let k = last; out.length < limit && k * TRADE_EVERY_MS >= LISTED_AT; k--) {
      const t = tradeAt(base, k);
      if (t.ts <= now && (from === undefined || t.ts >= from)) out.push(t);
    }
    return out.reverse();
  }
  for (let k = Math.floor((from ?? 0) / TRADE_EVERY_MS); k <= last && out.length < limit; k++) {
    const t = tradeAt(base, k);
    if (t.ts >= (from ?? 0) && t.ts <= Math.min(to, now)) out.push(t);
  }
  return out;
}

function book(base: string, now: number, depth: number, s: Style) {
  const mid = priceAt(base, now);
  const tick = basePrice(base) / 100_000;
  const level = (i: number, side: number) => [
    fmt(mid + side * tick * (i + 1), s.priceDecimals, s.pricePad),
    fmt(0.01 + noise(i * 31 + side) * 3, s.amountDecimals, s.amountPad),
  ];
  return {
    bids: Array.from({ length: depth }, (_, i) => level(i, -1)),
    asks: Array.from({ length: depth }, (_, i) => level(i, 1)),
  };
}

function nextFunding(now: number): number {
  return Math.ceil((now + 1) / (8 * 3_600_000)) * 8 * 3_600_000;
}

function num(q: Record<string, string>, k: string): number | undefined {
  const v = q[k];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new ApiError(400, -1100, `Illegal characters found in parameter '${k}'`);
  return n;
}

function loadMarkets(exchange: FakeExchangeId): Market[] {
  const file = join(import.meta.dirname, '../../test/fixtures/ccxt-static', `${exchange}.json`);
  const fixture = JSON.parse(readFileSync(file, 'utf8')) as { markets: Record<string, Market> };
  return Object.values(fixture.markets).filter((m) => m.info !== null && m.type !== 'option');
}

type Route = (q: Record<string, string>, now: number) => unknown;

function binanceRoutes(markets: Market[]): Record<string, Route> {
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

function bybitRoutes(markets: Market[]): Record<string, Route> {
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
      const tf = TIMEFRAMES.bybit[q['interval'] ?? ''];
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

function okxRoutes(markets: Market[]): Record<string, Route> {
  const s: Style = { priceDecimals: 1, pricePad: 1, amountDecimals: 8, amountPad: 0 };
  const instType = (m: Market) => (m.type === 'spot' ? 'SPOT' : m.type === 'swap' ? 'SWAP' : 'FUTURES');
  const market = (id: string | undefined) => {
    const m = markets.find((x) => x.id === id);
    if (!m) throw new ApiError(200, '51001', "Instrument ID doesn't exist.");
    return m;
  };
  const wrap = (data: unknown[]) => ({ code: '0', msg: '', data });
  const candles =
    (max: number): Route =>
    (q, now) => {
      const m = market(q['instId']);
      const tf = TIMEFRAMES.okx[q['bar'] ?? '1m'];
      if (!tf) throw new ApiError(200, '51000', 'Parameter bar error');
      const ms = tfMs(tf);
      const limit = Math.min(num(q, 'limit') ?? 100, max);
      const after = num(q, 'after') ?? now + 1; // older than
      const before = num(q, 'before') ?? -1; // newer than
      const times = candleTimes(ms, before + 1, after - 1, now)
        .slice(-limit)
        .reverse();
      return wrap(
        times.map((t) => {
          const c = candle(m.base, t, ms, now, s);
          return [String(t), c.o, c.h, c.l, c.c, c.v, c.q, c.q, c.confirmed ? '1' : '0'];
        }),
      );
    };
  const ticker = (m: Market, now: number) => {
    const c = candle(m.base, now - 86_400_000, 86_400_000, now, s);
    return {
      instType: instType(m),
      instId: m.id,
      last: c.c,
      lastSz: '0.01',
      askPx: c.c,
      askSz: '0.5',
      bidPx: fmt(Number(c.c) - 0.1, 1, 1),
      bidSz: '1.2',
      open24h: c.o,
      high24h: c.h,
      low24h: c.l,
      volCcy24h: c.q,
      vol24h: c.v,
      ts: String(now),
      sodUtc0: c.o,
      sodUtc8: c.o,
    };
  };
  return {
    '/api/v5/public/time': (_q, now) => wrap([{ ts: String(now) }]),
    '/api/v5/public/instruments': (q) =>
      wrap(markets.filter((m) => instType(m) === q['instType']).map((m) => m.info)),
    '/api/v5/market/candles': candles(300),
    '/api/v5/market/history-candles': candles(100),
    '/api/v5/market/trades': (q, now) => {
      const m = market(q['instId']);
      const list = trades(m.base, undefined, now, now, Math.min(num(q, 'limit') ?? 100, 500), true).reverse();
      return wrap(
        list.map((t) => ({
          instId: m.id,
          side: t.buy ? 'buy' : 'sell',
          sz: fmt(t.amount, 8, 0),
          px: fmt(t.price, 1, 1),
          tradeId: String(t.id),
          ts: String(t.ts),
        })),
      );
    },
    '/api/v5/market/books': (q, now) => {
      const m = market(q['instId']);
      const b = book(m.base, now, Math.min(num(q, 'sz') ?? 1, 400), s);
      const four = (l: string[]) => [l[0], l[1], '0', '1'];
      return wrap([{ asks: b.asks.map(four), bids: b.bids.map(four), ts: String(now) }]);
    },
    '/api/v5/market/ticker': (q, now) => wrap([ticker(market(q['instId']), now)]),
    '/api/v5/market/tickers': (q, now) =>
      wrap(markets.filter((m) => instType(m) === q['instType']).map((m) => ticker(m, now))),
    '/api/v5/public/funding-rate': (q, now) => {
      const list =
        q['instId'] === 'ANY' || !q['instId']
          ? markets.filter((m) => m.type === 'swap')
          : [market(q['instId'])];
      return wrap(
        list.map((m) => ({
          instType: 'SWAP',
          instId: m.id,
          fundingRate: fmt(0.0001 * (1 + noise(Math.floor(now / 28_800_000))), 16, 0),
          nextFundingRate: '',
          fundingTime: String(nextFunding(now)),
          nextFundingTime: String(nextFunding(now) + 28_800_000),
          method: 'current_period',
          ts: String(now),
        })),
      );
    },
  };
}

function errorBody(exchange: FakeExchangeId, code: string | number, message: string): string {
  if (exchange === 'binance')
    return JSON.stringify({ code: typeof code === 'number' ? code : -1000, msg: message });
  if (exchange === 'bybit')
    return JSON.stringify({
      retCode: typeof code === 'number' ? code : 10016,
      retMsg: message,
      result: {},
      retExtInfo: {},
      time: Date.now(),
    });
  return JSON.stringify({ code: String(code), msg: message, data: [] });
}

function faultBody(exchange: FakeExchangeId, status: number): string {
  const byStatus: Record<number, [number | string, string]> = {
    418: [
      exchange === 'binance' ? -1003 : exchange === 'bybit' ? 10006 : '50011',
      'Way too many requests; IP banned',
    ],
    429: [exchange === 'binance' ? -1003 : exchange === 'bybit' ? 10006 : '50011', 'Too many requests'],
    451: [0, 'Service unavailable from a restricted location according to b. Eligibility in Terms.'],
  };
  const [code, msg] = byStatus[status] ?? [
    exchange === 'binance' ? -1000 : exchange === 'bybit' ? 10016 : '50001',
    'Service temporarily unavailable',
  ];
  return errorBody(exchange, code, msg);
}

/** Starts a fake exchange on loopback (port 0 = any free port). */
export async function startFakeExchange(opts: {
  exchange: FakeExchangeId;
  now?: number;
  port?: number;
  host?: string;
  /** Binance only: extra spot markets SYN1/USDT, SYN2/USDT, ... */
  syntheticSymbols?: number;
  /**
   * Binance only: enforce IP weight limits per calendar minute as Binance does: over the limit a 429 with
   * Retry-After; a request before that Retry-After has passed gets a 418 (banned for 2 minutes).
   */
  weightLimits?: { spot: number; futures: number };
}): Promise<FakeExchange> {
  const { exchange } = opts;
  const markets = syntheticSpot(
    loadMarkets(exchange),
    exchange === 'binance' ? (opts.syntheticSymbols ?? 0) : 0,
  );
  const routes =
    exchange === 'binance'
      ? binanceRoutes(markets)
      : exchange === 'bybit'
        ? bybitRoutes(markets)
        : okxRoutes(markets);
  let fixedNow = opts.now;
  let faults: Array<FaultRule & { left: number }> = [];
  const requests: FakeRequest[] = [];
  const weights: number[] = [];
  const limits = { usedByMinute: new Map<string, number>(), tooMany: 0, banned: 0 };
  let retryAfterUntil = 0;
  let bannedUntil = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams.entries());
    const path = url.pathname;
    const now = fixedNow ?? Date.now();
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      requests.push({ method: req.method ?? 'GET', path, query, at: Date.now(), status, body });
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body);
    };
    const fault = faults.find(
      (f) =>
        f.left > 0 &&
        (f.pathPrefix === undefined || path.startsWith(f.pathPrefix)) &&
        (f.match === undefined || f.match({ path, query })),
    );
    if (fault) {
      fault.left -= 1;
      if (fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault.truncate) return send(200, '{"code":0,"data":[["17', fault.headers);
      if (fault.status !== undefined)
        return send(fault.status, fault.body ?? faultBody(exchange, fault.status), fault.headers);
    }
    if (exchange === 'binance' && opts.weightLimits && path !== '/api/v3/time' && path !== '/api/v3/ping') {
      const at = Date.now();
      if (at < bannedUntil || at < retryAfterUntil) {
        bannedUntil = Math.max(bannedUntil, at + 120_000);
        limits.banned += 1;
        return send(
          418,
          errorBody(exchange, -1003, `Way too many requests; IP banned until ${bannedUntil}.`),
          { 'retry-after': String(Math.ceil((bannedUntil - at) / 1000)) },
        );
      }
      const { pool, weight } = binanceWeight(path, query);
      const key = `${pool} ${new Date(Math.floor(at / MIN) * MIN).toISOString()}`;
      const used = (limits.usedByMinute.get(key) ?? 0) + weight;
      const limit = pool === 'spot' ? opts.weightLimits.spot : opts.weightLimits.futures;
      if (used > limit) {
        retryAfterUntil = (Math.floor(at / MIN) + 1) * MIN;
        limits.tooMany += 1;
        return send(
          429,
          errorBody(
            exchange,
            -1003,
            `Too many requests; current limit of IP is ${limit} requests per minute.`,
          ),
          { 'retry-after': String(Math.ceil((retryAfterUntil - at) / 1000)) },
        );
      }
      limits.usedByMinute.set(key, used);
    }
    const route = routes[path];
    if (!route) {
      process.stderr.write(`fake ${exchange}: no route for ${req.method} ${path}\n`);
      return send(404, errorBody(exchange, exchange === 'okx' ? '50000' : -1, `no such endpoint ${path}`));
    }
    try {
      const body = JSON.stringify(route(query, now));
      const minute = Math.floor(Date.now() / MIN);
      weights[minute] = (weights[minute] ?? 0) + 1;
      send(200, body, exchange === 'binance' ? { 'x-mbx-used-weight-1m': String(weights[minute]) } : {});
    } catch (err) {
      if (err instanceof ApiError) return send(err.status, errorBody(exchange, err.code, err.message));
      send(500, errorBody(exchange, -1000, String(err)));
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    exchange,
    requests,
    addFault(rule) {
      faults.push({ ...rule, left: rule.times ?? Infinity });
    },
    clearFaults() {
      faults = [];
    },
    setNow(ms) {
      fixedNow = ms;
    },
    limits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
