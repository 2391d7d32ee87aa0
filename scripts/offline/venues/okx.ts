// OKX's public v5 REST API (spot, swap, futures) for the offline exchange.
import {
  ApiError,
  book,
  candle,
  candleTimes,
  fmt,
  nextFunding,
  noise,
  num,
  tfMs,
  trades,
  type Market,
  type Route,
  type Style,
  type Venue,
} from '../core.ts';

const BARS: Record<string, string> = {
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
};

function routes(markets: Market[]): Record<string, Route> {
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
      const tf = BARS[q['bar'] ?? '1m'];
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

/** OKX v5: SPOT, SWAP and FUTURES instruments. */
export const okx: Venue = {
  routes,
  errorBody: (code, message) => JSON.stringify({ code: String(code), msg: message, data: [] }),
  codes: { notFound: '50000', tooMany: '50011', failure: '50001' },
};
