// Real recorded exchange replies (ccxt's static tests) through ccxt's parsers and our normalisation: every value
// stays the exchange's exact decimal text and equals what ccxt parsed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FundingRate, OHLCV, OrderBook, Ticker, Trade } from '../../../shared/exchange/ccxt.ts';
import {
  RawDecimals,
  dec,
  toFunding,
  toOhlcv,
  toOrderBookLevels,
  toTicker,
  toTrade,
} from '../../../shared/exchange/normalize.ts';
import { parseTimeframe } from '../../../shared/time.ts';
import { recordedCases, replay, startReplayServer } from '../../support/recorded.ts';

let server: Awaited<ReturnType<typeof startReplayServer>>;
beforeAll(async () => {
  server = await startReplayServer();
});
afterAll(() => server.close());

/** The value appears in the raw reply exactly as text, and equals ccxt's parsed number. */
function expectExact(value: string | null, raw: string, parsed: unknown): void {
  if (value === null) return;
  expect(raw).toContain(`"${value}"`);
  if (typeof parsed === 'number' || typeof parsed === 'string') expect(Number(value)).toBe(Number(parsed));
}

describe('recorded exchange responses', () => {
  it('cover every dataset on the three exchanges', () => {
    const covered = new Set(recordedCases.map((c) => `${c.exchange} ${c.entry.method}`));
    for (const want of [
      'binance fetchOHLCV',
      'bybit fetchOHLCV',
      'okx fetchOHLCV',
      'binance fetchTrades',
      'okx fetchOrderBook',
      'bybit fetchFundingRate',
    ]) {
      expect(covered).toContain(want);
    }
  });

  it.each(recordedCases)('$name', async ({ exchange, entry }) => {
    const { value: result, raw: bodies } = await replay(exchange, entry, server);
    const raw = JSON.stringify(entry.httpResponse);
    expect(bodies).toEqual([raw]);
    const parsed = entry.parsedResponse;
    const now = Date.UTC(2030, 0, 1);
    switch (entry.method) {
      case 'fetchOHLCV': {
        const tf = parseTimeframe(String(entry.input[1] ?? '1m'))!;
        const rows = result as OHLCV[];
        expect(rows.length).toBe((parsed as unknown[]).length);
        rows.forEach((row, i) => {
          const r = toOhlcv(row, tf, now);
          const p = (parsed as unknown[][])[i] as unknown[];
          expect(r.ts).toBe(p[0]);
          [r.open, r.high, r.low, r.close, r.volume].forEach((v, k) => expectExact(v, raw, p[k + 1]));
          expect(r.closed).toBe(true);
        });
        break;
      }
      case 'fetchTrades': {
        const trades = result as Trade[];
        expect(trades.length).toBe((parsed as unknown[]).length);
        trades.forEach((t, i) => {
          const r = toTrade(t);
          const p = (parsed as Array<Record<string, unknown>>)[i]!;
          expect(r.id).toBe(String(p['id']));
          expect(r.ts).toBe(p['timestamp']);
          expectExact(r.price, raw, p['price']);
          expectExact(r.amount, raw, p['amount']);
        });
        break;
      }
      case 'fetchOrderBook': {
        const levels = toOrderBookLevels(result as OrderBook, 1000, now, new RawDecimals(bodies));
        const p = parsed as { bids: unknown[][]; asks: unknown[][] };
        expect(levels.length).toBe(p.bids.length + p.asks.length);
        for (const l of levels) {
          const level = (l.side === 'bid' ? p.bids : p.asks)[l.level]!;
          expectExact(l.price, raw, level[0]);
          expectExact(l.amount, raw, level[1]);
        }
        break;
      }
      case 'fetchTicker': {
        const r = toTicker(result as Ticker, now, String(entry.input[0]));
        const p = parsed as Record<string, unknown>;
        expect(r.symbol).toBe(p['symbol']);
        for (const k of ['bid', 'ask', 'last', 'high', 'low', 'baseVolume'] as const)
          expectExact(r[k], raw, p[k]);
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
          const r = toFunding(f, now, String(f.symbol));
          const p = plist[i] as Record<string, unknown>;
          expectExact(r.fundingRate, raw, p['fundingRate']);
          expectExact(r.markPrice, raw, p['markPrice']);
          expect(r.nextFundingTs).toBe(p['nextFundingTimestamp'] ?? null);
        });
        break;
      }
    }
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
