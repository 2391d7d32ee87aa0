// Kraken's public spot REST API (/0/public) for the offline exchange: OHLC keeps only the newest 720 candles.
import {
  ApiError,
  MIN,
  book,
  candle,
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

/** Kraken keeps this many candles per pair and interval; older ones are gone from the public API. */
export const KRAKEN_OHLC_KEPT = 720;
/** At most this many trades per Trades call. */
export const KRAKEN_TRADES_MAX = 1000;
const INTERVALS = [1, 5, 15, 30, 60, 240, 1440, 10080, 21600];

const invalid = () => new ApiError(200, 'EGeneral', 'Invalid arguments');

function routes(markets: Market[]): Record<string, Route> {
  const style = (m: Market, pad: number): Style => {
    const decimals = Number(m.info?.['pair_decimals'] ?? 1);
    return { priceDecimals: decimals, pricePad: pad, amountDecimals: 8, amountPad: 8 };
  };
  const market = (q: Query) => {
    const pair = q['pair'];
    const m = markets.find((x) => x.id === pair || x.info?.['altname'] === pair);
    if (!m) throw new ApiError(200, 'EQuery', 'Unknown asset pair');
    return m;
  };
  const ok = (result: unknown) => ({ error: [], result });
  const ticker = (m: Market, now: number) => {
    const s = style(m, 5);
    const c = candle(m.base, now - 86_400_000, 86_400_000, now, s);
    const today = candle(m.base, Math.floor(now / 86_400_000) * 86_400_000, 86_400_000, now, s);
    const tick = 10 ** -s.priceDecimals;
    return {
      a: [c.c, '1', '1.000'],
      b: [fmt(Number(c.c) - tick, s.priceDecimals, 5), '2', '2.000'],
      c: [c.c, '0.00160710'],
      v: [today.v, c.v],
      p: [today.o, fmt((Number(c.o) + Number(c.c)) / 2, 5, 5)],
      t: [Math.round(Number(today.v) * 40), Math.round(Number(c.v) * 40)],
      l: [today.l, c.l],
      h: [today.h, c.h],
      o: c.o,
    };
  };
  return {
    '/0/public/Time': (_q, now) =>
      ok({ unixtime: Math.floor(now / 1000), rfc1123: new Date(now).toUTCString() }),
    '/0/public/SystemStatus': (_q, now) =>
      ok({ status: 'online', timestamp: new Date(now).toISOString().replace(/\.\d+Z$/, 'Z') }),
    '/0/public/AssetPairs': (q) => {
      const list = q['pair'] ? q['pair'].split(',').map((pair) => market({ pair })) : markets;
      return ok(Object.fromEntries(list.map((m) => [m.id, m.info])));
    },
    '/0/public/Ticker': (q, now) => {
      const list = q['pair'] ? q['pair'].split(',').map((pair) => market({ pair })) : markets;
      return ok(Object.fromEntries(list.map((m) => [m.id, ticker(m, now)])));
    },
    // Only the newest 720 candles exist, whatever `since` asks; the newest (still forming) one is always sent.
    '/0/public/OHLC': (q, now) => {
      const m = market(q);
      const interval = num(q, 'interval', invalid) ?? 1;
      if (!INTERVALS.includes(interval)) throw invalid();
      const ms = interval * MIN;
      const since = num(q, 'since', invalid);
      const current = Math.floor(now / ms) * ms;
      const kept = Array.from(
        { length: KRAKEN_OHLC_KEPT },
        (_, i) => current - (KRAKEN_OHLC_KEPT - 1 - i) * ms,
      );
      const rows = kept.filter((t, i) => i === kept.length - 1 || since === undefined || t / 1000 > since);
      const s = style(m, 1);
      return ok({
        [m.id]: rows.map((t) => {
          const c = candle(m.base, t, ms, now, s);
          const vwap = fmt((Number(c.o) + Number(c.h) + Number(c.l) + Number(c.c)) / 4, s.priceDecimals, 1);
          return [t / 1000, c.o, c.h, c.l, c.c, vwap, c.v, 1 + Math.floor(noise(t / 1000) * 400)];
        }),
        last: (current - ms) / 1000,
      });
    },
    // Up to 1000 trades from `since` (nanoseconds, or seconds), oldest first; without it the newest 1000.
    // `last` is the cursor (nanoseconds) for the next call.
    '/0/public/Trades': (q, now) => {
      const m = market(q);
      const count = Math.min(num(q, 'count', invalid) ?? KRAKEN_TRADES_MAX, KRAKEN_TRADES_MAX);
      const since = q['since'];
      const ns = (t: { ts: number; nanos: number }) => BigInt(t.ts) * 1_000_000n + BigInt(t.nanos);
      let list;
      if (since === undefined || since === '') {
        list = trades(m.base, undefined, now, now, count, true);
      } else {
        if (!/^\d+(\.\d+)?$/.test(since)) throw invalid();
        const nanos = since.length >= 16 && !since.includes('.');
        const fromMs = nanos ? Number(BigInt(since) / 1_000_000n) : Number(since) * 1000;
        list = trades(m.base, Math.floor(fromMs), now, now, count + 1, false);
        if (nanos) list = list.filter((t) => ns(t) > BigInt(since));
        list = list.slice(0, count);
      }
      const s = style(m, 5);
      const lastTrade = list[list.length - 1];
      return ok({
        [m.id]: list.map((t) => [
          fmt(t.price, s.priceDecimals, 5),
          fmt(t.amount, 8, 8),
          Number(((t.ts * 1e6 + t.nanos) / 1e9).toFixed(7)),
          t.buy ? 'b' : 's',
          noise(t.id) > 0.3 ? 'm' : 'l',
          '',
          t.id,
        ]),
        last: lastTrade ? String(ns(lastTrade)) : (since ?? String(BigInt(now) * 1_000_000n)),
      });
    },
    '/0/public/Depth': (q, now) => {
      const m = market(q);
      const count = Math.min(num(q, 'count', invalid) ?? 100, 500);
      const b = book(m.base, now, count, style(m, 5));
      const at = Math.floor(now / 1000);
      const three = (l: string[], i: number) => [l[0], l[1], at - (i % 7)];
      return ok({ [m.id]: { asks: b.asks.map(three), bids: b.bids.map(three) } });
    },
  };
}

/** Kraken: spot only (its futures are the separate ccxt class krakenfutures on another API). */
export const kraken: Venue = {
  routes,
  // Kraken reports errors as "<category>:<message>" strings in `error`.
  errorBody: (code, message) => JSON.stringify({ error: [`${code}:${message}`] }),
  codes: { notFound: 'EGeneral', tooMany: 'EAPI', failure: 'EService' },
  notFoundMessage: 'Unknown method',
};
