// Real recorded exchange replies (ccxt's static tests) through ccxt's parsers and our normalisation: every value
// stays the exchange's exact decimal text and equals what ccxt parsed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FundingRate, OHLCV, OrderBook, Ticker, Trade } from '../../../shared/exchange/ccxt.ts';
import {
  RawDecimals,
  dec,
  sent,
  toFunding,
  toOhlcv,
  toOrderBookLevels,
  toTicker,
  toTrades,
} from '../../../shared/exchange/normalize.ts';
import { parseTimeframe } from '../../../shared/time.ts';
import {
  EXCHANGES,
  EXCLUSIONS,
  METHODS,
  inReply,
  recordedCases,
  recordedEntries,
  replay,
  startReplayServer,
} from '../../support/recorded.ts';

let server: Awaited<ReturnType<typeof startReplayServer>>;
beforeAll(async () => {
  server = await startReplayServer();
});
afterAll(() => server.close());

/** The value appears in the raw reply exactly as text, and equals ccxt's parsed number. */
function expectExact(value: string | null, raw: string, parsed: unknown): void {
  if (value === null) return;
  expect(inReply(value, raw), `${value} in the reply`).toBe(true);
  if (typeof parsed === 'number' || typeof parsed === 'string') expect(Number(value)).toBe(Number(parsed));
}

const caseOf = (exchange: string, method: string, input: unknown[]) => {
  const c = recordedCases.find(
    (k) =>
      k.exchange === exchange &&
      k.entry.method === method &&
      JSON.stringify(k.entry.input) === JSON.stringify(input),
  );
  if (!c) throw new Error(`no recorded case ${exchange} ${method} ${JSON.stringify(input)}`);
  return c;
};
async function run(exchange: string, method: string, input: unknown[]) {
  const { entry } = caseOf(exchange, method, input);
  const { value, raw } = await replay(exchange, entry, server);
  return { value, raw: new RawDecimals(raw), body: raw.join('\n'), entry };
}
const NOW = Date.UTC(2030, 0, 1);

describe('recorded exchange responses', () => {
  it('every recorded reply of the eight exchanges is a case or an exclusion with its reason', () => {
    expect([...new Set(recordedEntries.map((e) => e.exchange))].sort()).toEqual([...EXCHANGES].sort());
    for (const e of recordedEntries) {
      const isCase = recordedCases.some((c) => c.entry === e.entry);
      expect(
        isCase !== (e.excluded !== undefined),
        `${e.exchange} ${e.method} ${JSON.stringify(e.entry.input)}`,
      ).toBe(true);
      // A method outside the datasets extract serves is never dropped silently: it has an exclusion.
      if (!METHODS.includes(e.method)) expect(e.excluded, `${e.exchange} ${e.method}`).toBeDefined();
    }
    for (const x of EXCLUSIONS)
      expect(
        recordedEntries.some((e) => e.excluded === x),
        x.reason,
      ).toBe(true);
    expect(
      recordedEntries
        .filter((e) => e.excluded)
        .map((e) => `${e.exchange} ${e.method} ${JSON.stringify(e.entry.input)}: ${e.excluded!.reason}`),
    ).toEqual([
      'binance fetchTicker ["AAPL/USDC"]: symbol not in the fixture\'s markets (a tokenized stock quoted by /sapi/v1/equity; ccxt answers BadSymbol before any request)',
      'bybit fetchOpenInterest ["BTC/USDT:USDT",{"limit":1}]: open interest is not a dataset extract serves',
      'bybit fetchOpenInterest ["BTC/USD:BTC",{"limit":1}]: open interest is not a dataset extract serves',
      'okx fetchOpenInterest ["BTC/USDT:USDT"]: open interest is not a dataset extract serves',
      'bitget fetchOpenInterest ["BTC/USDT:USDT",{"uta":true}]: open interest is not a dataset extract serves',
    ]);
  });

  it('datasets without any recorded reply, per exchange (nothing to replay there)', () => {
    const datasetOf: Record<string, string> = {
      fetchOHLCV: 'ohlcv',
      fetchTrades: 'trades',
      fetchOrderBook: 'orderbook',
      fetchTicker: 'tickers',
      fetchTickers: 'tickers',
      fetchFundingRate: 'funding',
      fetchFundingRates: 'funding',
    };
    const covered = new Set(recordedCases.map((c) => `${c.exchange} ${datasetOf[c.entry.method]}`));
    const gaps = EXCHANGES.flatMap((x) =>
      ['ohlcv', 'trades', 'orderbook', 'tickers', 'funding']
        .filter((d) => !covered.has(`${x} ${d}`))
        .map((d) => `${x} ${d}`),
    );
    // ccxt's static tests hold no such replies; coinbase's only public recorded reply is its ticker (the others
    // need authentication), and funding exists only for the derivatives venues recorded.
    expect(gaps).toEqual([
      'binance funding',
      'okx funding',
      'kraken orderbook',
      'kraken funding',
      'kucoin funding',
      'gate orderbook',
      'coinbase ohlcv',
      'coinbase trades',
      'coinbase orderbook',
      'coinbase funding',
    ]);
  });

  it.each(recordedCases)('$name', async ({ exchange, entry }) => {
    const { value: result, raw: bodies } = await replay(exchange, entry, server);
    const raw = JSON.stringify(entry.httpResponse);
    expect(bodies).toEqual([raw]);
    const texts = new RawDecimals(bodies);
    const parsed = entry.parsedResponse;
    const now = NOW;
    switch (entry.method) {
      case 'fetchOHLCV': {
        const tf = parseTimeframe(String(entry.input[1] ?? '1m'))!;
        const rows = result as OHLCV[];
        expect(rows.length).toBe((parsed as unknown[]).length);
        rows.forEach((row, i) => {
          const r = toOhlcv(row, tf, now, texts);
          const p = (parsed as unknown[][])[i] as unknown[];
          expect(r.ts).toBe(p[0]);
          [r.open, r.high, r.low, r.close, r.volume].forEach((v, k) => expectExact(v, raw, p[k + 1]));
          expect(r.closed).toBe(true);
        });
        break;
      }
      case 'fetchTrades': {
        const trades = toTrades(result as Trade[], texts);
        expect(trades.length).toBe((parsed as unknown[]).length);
        trades.forEach((r, i) => {
          const p = (parsed as Array<Record<string, unknown>>)[i]!;
          if (p['id'] !== undefined && p['id'] !== null) expect(r.id).toBe(String(p['id']));
          else expect(r.id).toMatch(/^(seq|h):/);
          expect(r.ts).toBe(p['timestamp']);
          expectExact(r.price, raw, p['price']);
          expectExact(r.amount, raw, p['amount']);
          expectExact(r.cost, raw, p['cost']);
        });
        break;
      }
      case 'fetchOrderBook': {
        const levels = toOrderBookLevels(result as OrderBook, 1000, now, texts);
        const p = parsed as { bids: unknown[][]; asks: unknown[][] };
        expect(levels.length).toBe(p.bids.length + p.asks.length);
        for (const l of levels) {
          const level = (l.side === 'bid' ? p.bids : p.asks)[l.level]!;
          expectExact(l.price, raw, level[0]);
          expectExact(l.amount, raw, level[1]);
        }
        break;
      }
      case 'fetchTicker':
      case 'fetchTickers': {
        const list =
          entry.method === 'fetchTicker'
            ? [result as Ticker]
            : Object.values(result as Record<string, Ticker>);
        const plist =
          entry.method === 'fetchTicker' ? [parsed] : Object.values(parsed as Record<string, unknown>);
        expect(list.length).toBe(plist.length);
        list.forEach((t, i) => {
          const r = toTicker(t, now, String(t.symbol), texts);
          const p = plist[i] as Record<string, unknown>;
          expect(r.symbol).toBe(p['symbol']);
          for (const k of [
            'bid',
            'bidVolume',
            'ask',
            'askVolume',
            'last',
            'open',
            'high',
            'low',
            'vwap',
            'baseVolume',
            'quoteVolume',
            'change',
            'percentage',
            'markPrice',
            'indexPrice',
          ] as const)
            expectExact(r[k], raw, p[k]);
        });
        break;
      }
      case 'fetchFundingRate':
      case 'fetchFundingRates': {
        const list =
          entry.method === 'fetchFundingRate'
            ? [result as FundingRate]
            : Object.values(result as Record<string, FundingRate>);
        const plist =
          entry.method === 'fetchFundingRate' ? [parsed] : Object.values(parsed as Record<string, unknown>);
        expect(list.length).toBe(plist.length);
        list.forEach((f, i) => {
          const r = toFunding(f, now, String(f.symbol), texts);
          const p = plist[i] as Record<string, unknown>;
          expectExact(r.fundingRate, raw, p['fundingRate']);
          expectExact(r.markPrice, raw, p['markPrice']);
          expectExact(r.indexPrice, raw, p['indexPrice']);
          expect(r.nextFundingTs).toBe(p['nextFundingTimestamp'] ?? null);
        });
        break;
      }
    }
  });
});

describe('exact text: what the exchange sent, never ccxt rewriting of it', () => {
  it("gate's trade amount keeps its trailing zero (ccxt's Precise makes 0.00020 into 0.0002)", async () => {
    const { value, raw } = await run('gate', 'fetchTrades', ['BTC/USDT', null, 1]);
    expect((value as Trade[])[0]!.amount).toBe('0.0002');
    const [t] = toTrades(value as Trade[], raw);
    expect(t).toMatchObject({ id: '7835390042', price: '73236.4', amount: '0.00020' });
  });

  it('order books, which ccxt parses to floats, get the exchange text back', async () => {
    const { value, raw } = await run('bitget', 'fetchOrderBook', ['BTC/USDT', 2]);
    expect((value as OrderBook).bids[0]![1]).toBe(0.616);
    expect(toOrderBookLevels(value as OrderBook, 2, NOW, raw)[0]).toMatchObject({
      price: '42604.36',
      amount: '0.6160',
    });
  });
});

describe('derived values are not stored as exchange data', () => {
  it("okx's ticker: ccxt's float-noise percentage, its change and vwap are null; what okx sent is kept", async () => {
    const { value, raw, body } = await run('okx', 'fetchTicker', ['BTC/USDT']);
    const t = value as Ticker;
    expect(String(t.percentage)).toMatch(/^1\.68775669698531\d+$/); // what ccxt computed, in floats
    const r = toTicker(t, NOW, 'BTC/USDT', raw);
    expect(r).toMatchObject({ change: null, percentage: null, vwap: null, open: '72166.8', last: '73384.8' });
    expect(r.quoteVolume).toBe('1519926359.597266598');
    for (const v of Object.values(r))
      if (typeof v === 'string' && v.includes('.')) expect(inReply(v, body)).toBe(true);
  });

  it("binance's ticker sends change, percentage and vwap: they are kept, as its text", async () => {
    const { value, raw } = await run('binance', 'fetchTicker', ['BTC/USDT']);
    expect(toTicker(value as Ticker, NOW, 'BTC/USDT', raw)).toMatchObject({
      change: '1188.75000000',
      percentage: '1.647',
      vwap: '71624.65401064',
      open: '72181.09000000',
    });
  });

  it("kraken's quote volume (base x vwap), gate's open, change and vwap, and every trade cost are derived", async () => {
    const kraken = await run('kraken', 'fetchTicker', ['BTC/USDT']);
    expect(toTicker(kraken.value as Ticker, NOW, 'BTC/USDT', kraken.raw)).toMatchObject({
      quoteVolume: null,
      vwap: '71501.57520',
      change: null,
      percentage: null,
    });
    const gate = await run('gate', 'fetchTicker', ['BTC/USDT']);
    expect((gate.value as Ticker).open).toBe('72140.300855373119653918');
    expect(toTicker(gate.value as Ticker, NOW, 'BTC/USDT', gate.raw)).toMatchObject({
      open: null,
      change: null,
      vwap: null,
      percentage: '1.71',
    });
    for (const c of recordedCases.filter((k) => k.entry.method === 'fetchTrades')) {
      const { value, raw } = await replay(c.exchange, c.entry, server);
      expect((value as Trade[])[0]!.cost).not.toBeNull();
      for (const t of toTrades(value as Trade[], new RawDecimals(raw))) expect(t.cost, c.name).toBeNull();
    }
  });

  it('a sent cost is kept (binance /api/v3/trades sends quoteQty)', () => {
    const info = { id: 1, price: '100.10', qty: '2.000', quoteQty: '200.20000', time: 1 };
    const trade = {
      id: '1',
      timestamp: 1,
      price: '100.1',
      amount: '2',
      cost: '200.2',
      info,
    } as unknown as Trade;
    const raw = new RawDecimals([JSON.stringify([info])]);
    expect(toTrades([trade], raw)[0]).toMatchObject({ price: '100.10', amount: '2.000', cost: '200.20000' });
  });

  it('coincidences: a short number elsewhere in the reply, or in the item, does not make a derived value sent', () => {
    // A flat day: ccxt computes change "0" (last - open); the item has an unrelated "0".
    const info = { last: '50000.5', open: '50000.5', count: '0', flag: 1 };
    const raw = new RawDecimals([JSON.stringify({ code: '1', data: info })]);
    const t = { symbol: 'X/Y', last: '50000.5', open: '50000.5', change: '0', percentage: '0', info };
    const r = toTicker(t as unknown as Ticker, NOW, 'X/Y', raw);
    expect(r).toMatchObject({ last: '50000.5', open: '50000.5', change: null, percentage: null });
    // "1" appears in the reply (outside the item) but the item does not hold it: not sent.
    expect(sent('1', { last: '50000.5' }, raw)).toBeNull();
    expect(sent('1', { last: '50000.5' }, new RawDecimals(['{"x":"1"}']))).toBeNull();
    // A long value found in the body outside the item is sent (coinbase's best bid sits beside the trade list).
    expect(sent('66367.58', {}, new RawDecimals(['{"best_bid":"66367.58"}']))).toBe('66367.58');
    // A short value the item holds and ccxt could not have computed is sent.
    expect(sent('0.5', { changeRate: '0.5' }, RawDecimals.none)).toBe('0.5');
    // Even the exchange's own flat-day "0.00000000" is ambiguous (it equals last - open and is short): taken as
    // derived, so change_derived gives it; the number is the same either way.
    const sentZero = { ...info, priceChange: '0.00000000' };
    expect(
      toTicker({ ...t, change: '0.00000000', info: sentZero } as unknown as Ticker, NOW, 'X/Y', raw).change,
    ).toBeNull();
  });
});

describe('trades without an id', () => {
  it("kucoin's trades (no id, only sequence) load with seq: keys instead of failing", async () => {
    const { value, raw } = await run('kucoin', 'fetchTrades', ['BTC/USDT', null, 1]);
    expect((value as Trade[])[0]!.id).toBeUndefined();
    expect(toTrades(value as Trade[], raw)).toEqual([
      {
        id: 'seq:7613805866401793',
        ts: 1709897616745,
        side: 'sell',
        price: '67347.4',
        amount: '0.00453030',
        cost: null,
        takerOrMaker: null,
      },
    ]);
  });

  it('without a sequence: a hash of time, price, amount and side, with an ordinal among identical trades', () => {
    const mk = (ts: number, price: string, amount: string, side: string) =>
      ({
        id: undefined,
        timestamp: ts,
        price,
        amount,
        side,
        info: { t: ts, p: price, q: amount },
      }) as unknown as Trade;
    const page = [
      mk(1, '10.0', '1', 'buy'),
      mk(1, '10.0', '1', 'buy'),
      mk(1, '10.0', '1', 'sell'),
      mk(2, '10.0', '1', 'buy'),
    ];
    const raw = new RawDecimals([JSON.stringify(page.map((t) => t.info))]);
    const ids = toTrades(page, raw).map((t) => t.id);
    expect(ids.every((id) => /^h:[0-9a-f]{16}:\d+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(4);
    expect(ids[0]!.replace(/:0$/, '')).toBe(ids[1]!.replace(/:1$/, ''));
    expect(ids[1]).toMatch(/:1$/);
    // Stable: the same page gives the same keys, whatever else happened before.
    expect(toTrades(page, raw).map((t) => t.id)).toEqual(ids);
    expect(
      toTrades(page, new RawDecimals([JSON.stringify(page.map((t) => t.info))])).map((t) => t.id),
    ).toEqual(ids);
    // A numeric sequence keeps its text.
    const seq = {
      id: null,
      timestamp: 5,
      price: '1',
      amount: '2',
      side: 'buy',
      info: { sequence: 12345678901 },
    };
    expect(toTrades([seq as unknown as Trade], new RawDecimals(['{"sequence":12345678901}']))[0]!.id).toBe(
      'seq:12345678901',
    );
  });

  it('a trade without a timestamp is still an error', () => {
    expect(() =>
      toTrades([{ id: '1', price: '1', amount: '1', info: {} } as unknown as Trade], RawDecimals.none),
    ).toThrow(/without a timestamp/);
  });
});

describe('RawDecimals', () => {
  it('gives back the exchange text of a float, quoted or bare', () => {
    const raw = new RawDecimals(['{"bids":[["42574.30000000","0.01070000"]],"x":12.50,"y":[1e-8]}']);
    expect(raw.text(42574.3)).toBe('42574.30000000');
    expect(raw.text(0.0107)).toBe('0.01070000');
    expect(raw.text(12.5)).toBe('12.50');
    expect(raw.text(1e-8)).toBe('1e-8');
    expect(raw.text(3.25)).toBe('3.25');
    expect(raw.find('42574.3')).toBe('42574.30000000');
    expect(raw.find('0.0107')).toBe('0.01070000');
    expect(raw.find('12.50')).toBe('12.50');
    expect(raw.find('0.00000001')).toBe('1e-8');
    expect(raw.find('3.25')).toBeUndefined();
  });
});

describe('dec', () => {
  it('keeps decimal text, turns numbers into their shortest text, drops non-numbers', () => {
    expect(dec('43519.34000000')).toBe('43519.34000000');
    expect(dec('1e-8')).toBe('1e-8');
    expect(dec(0.1)).toBe('0.1');
    expect(dec('')).toBeNull();
    expect(dec('NaN')).toBeNull();
    expect(dec(Infinity)).toBeNull();
    expect(dec(undefined)).toBeNull();
  });
});
