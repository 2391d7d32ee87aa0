// Shared parts of the offline exchanges: markets from the fixtures, deterministic prices, candles, trades, books.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A ccxt unified market from the recorded fixtures; `info` is the exchange's own instrument object. */
export interface Market {
  symbol: string;
  id: string;
  type: string;
  linear?: boolean | null;
  inverse?: boolean | null;
  base: string;
  quote: string;
  settle?: string | null;
  contractSize?: number | null;
  info: Record<string, unknown> | null;
}

/** Thrown by a route: answered with the exchange's own error format and this HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | number,
    message: string,
  ) {
    super(message);
  }
}

/** A route's answer sent as is (for JSON a plain serialisation cannot write, e.g. integers above 2^53). */
export class RawJson {
  constructor(readonly text: string) {}
}

export type Query = Record<string, string>;
export type Route = (q: Query, now: number) => unknown;

/** One exchange's wire format: its routes and its error bodies. */
export interface Venue {
  routes(markets: Market[]): Record<string, Route>;
  /** The exchange's error body for a business code and message. */
  errorBody(code: string | number, message: string, now: number): string;
  /** Business codes for: an unknown route (sent with HTTP 404), rate limits (429/418), any other failure. */
  codes: { notFound: string | number; tooMany: string | number; failure: string | number };
  /** What the exchange says for a path it does not have (default: names the path). */
  notFoundMessage?: string;
}

export const LISTED_AT = Date.UTC(2020, 0, 1);
export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;
export const TRADE_EVERY_MS = 2_000;

/** Milliseconds of a ccxt timeframe such as `1m`, `4h`, `1M`. */
export function tfMs(
  tf: string,
  invalid: () => Error = () => new ApiError(400, -1120, `Invalid interval ${tf}`),
) {
  const m = /^(\d+)([smhdwM])$/.exec(tf);
  if (!m) throw invalid();
  const unit = { s: 1000, m: MIN, h: HOUR, d: DAY, w: 7 * DAY, M: 30 * DAY }[m[2] as 's'];
  return Number(m[1]) * unit;
}

/** A deterministic pseudo-random number in [0, 1) from an integer. */
export function noise(n: number): number {
  let x = Math.imul((n ^ 0x9e3779b9) >>> 0, 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return ((x ^ (x >>> 16)) >>> 0) / 2 ** 32;
}

export function basePrice(base: string): number {
  return { BTC: 43_000, ETH: 2_300, LTC: 70, SOL: 95 }[base] ?? 10;
}

/** The price of `base` at time `t` (ms): a slow wave plus per-second noise. */
export function priceAt(base: string, t: number): number {
  const p = basePrice(base);
  return p * (1 + 0.03 * Math.sin(t / 7_200_000) + 0.002 * (noise(Math.floor(t / 1000)) - 0.5));
}

/** How an exchange writes decimals: rounded to `*Decimals`, padded with zeros to at least `*Pad` places. */
export interface Style {
  priceDecimals: number;
  pricePad: number;
  amountDecimals: number;
  amountPad: number;
}

export function fmt(v: number, decimals: number, pad: number): string {
  return (Math.round(v * 10 ** decimals) / 10 ** decimals).toFixed(Math.max(decimals, pad));
}

export interface Candle {
  open: number;
  o: string;
  h: string;
  l: string;
  c: string;
  /** Base volume. */
  v: string;
  /** Quote volume. */
  q: string;
  closeTime: number;
  confirmed: boolean;
}

/** The candle of `base` opening at `open`, `ms` long, as it stands at `now` (partial while open). */
export function candle(base: string, open: number, ms: number, now: number, s: Style): Candle {
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

/**
 * Open times of candles in [from, to] (inclusive), aligned to the interval, not after now, not before listing. Weeks
 * open on Mondays as the exchanges' do (the epoch was a Thursday); a month is 30 days here (offline only).
 */
export function candleTimes(ms: number, from: number, to: number, now: number): number[] {
  const out: number[] = [];
  const offset = ms % (7 * DAY) === 0 ? 4 * DAY : 0;
  const align = (t: number) => Math.ceil((t - offset) / ms) * ms + offset;
  const start = Math.max(align(from), align(LISTED_AT));
  for (let t = start; t <= to && t <= now; t += ms) out.push(t);
  return out;
}

export interface Trade {
  id: number;
  ts: number;
  /** Nanoseconds within the millisecond, for exchanges that send nanosecond times. */
  nanos: number;
  price: number;
  amount: number;
  buy: boolean;
}

export function tradeAt(base: string, k: number): Trade {
  const ts = k * TRADE_EVERY_MS + Math.floor(noise(k) * 1500);
  return {
    id: k - Math.floor(LISTED_AT / TRADE_EVERY_MS) + 1,
    ts,
    nanos: Math.floor(noise(k + 5) * 1e6),
    price: priceAt(base, ts),
    amount: 0.001 + noise(k + 7) * 0.5,
    buy: noise(k + 9) > 0.5,
  };
}

/** Trades with time in [from, to], oldest first, at most `limit`: the oldest ones, or with `newest` the newest. */
export function trades(
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
      if (t.ts <= Math.min(to, now) && (from === undefined || t.ts >= from)) out.push(t);
      if (from !== undefined && k * TRADE_EVERY_MS < from) break;
    }
    return out.reverse();
  }
  const first = Math.max(Math.floor((from ?? 0) / TRADE_EVERY_MS), Math.floor(LISTED_AT / TRADE_EVERY_MS));
  for (let k = first; k <= last && out.length < limit; k++) {
    const t = tradeAt(base, k);
    if (t.ts >= (from ?? 0) && t.ts <= Math.min(to, now)) out.push(t);
  }
  return out;
}

/** An order book of `depth` levels a side around the price at `now`; levels are [price, amount] text. */
export function book(base: string, now: number, depth: number, s: Style) {
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

/** The next 8-hourly funding time after `now`. */
export function nextFunding(now: number): number {
  return Math.ceil((now + 1) / (8 * HOUR)) * 8 * HOUR;
}

/** A funding rate that changes every funding period, as decimal text. */
export function fundingRate(now: number, decimals = 8): string {
  return fmt(0.0001 * (1 + noise(Math.floor(now / (8 * HOUR)))), decimals, 0);
}

/** A number query parameter; `bad` makes the exchange's error for a malformed one. */
export function num(q: Query, k: string, bad?: (k: string) => Error): number | undefined {
  const v = q[k];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n))
    throw bad ? bad(k) : new ApiError(400, -1100, `Illegal characters found in parameter '${k}'`);
  return n;
}

/** The recorded markets of `exchange` that have the exchange's instrument object (options left out). */
export function loadMarkets(exchange: string): Market[] {
  const file = join(import.meta.dirname, '../../test/fixtures/ccxt-static', `${exchange}.json`);
  const fixture = JSON.parse(readFileSync(file, 'utf8')) as { markets: Record<string, Market> };
  return Object.values(fixture.markets).filter((m) => m.info !== null && m.type !== 'option');
}
