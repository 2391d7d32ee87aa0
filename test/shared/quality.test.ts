// Tests of the exact decimal comparison and the data-quality checks.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareDecimal, compareDecimalBytes, checkBatch } from '../../shared/transform/quality.ts';
import type { ExtractBatch } from '../../shared/events/schemas.ts';

describe('compareDecimal', () => {
  const cases: Array<[string, string, number]> = [
    ['1', '2', -1],
    ['2.50', '2.5', 0],
    ['-1', '1', -1],
    ['-2', '-1', -1],
    ['0.000', '-0', 0],
    ['43519.34000000', '43519.34', 0],
    // Equal as doubles, different as decimals.
    ['0.10000000000000000001', '0.1', 1],
    ['12345678901234567890.1', '12345678901234567890.2', -1],
    ['1e-8', '0.00000001', 0],
    ['100', '99.999999999999999999999', 1],
  ];
  it.each(cases)('%s vs %s -> %d', (a, b, want) => {
    expect(compareDecimal(a, b)).toBe(want);
    expect(compareDecimal(b, a)).toBe(-want || 0);
  });
});

describe('compareDecimalBytes', () => {
  const bytes = (a: string, b: string) => {
    const buf = Buffer.from(`${a}|${b}`, 'latin1');
    return compareDecimalBytes(buf, 0, a.length, a.length + 1, buf.length);
  };
  it('compares as compareDecimal does, on the cases above without an exponent and on any pair', () => {
    for (const [a, b] of [
      ['2.50', '2.5'],
      ['0.000', '-0'],
      ['0.10000000000000000001', '0.1'],
      ['100', '99.999999999999999999999'],
      ['1', '1.0001'],
      ['-0.5', '-0.25'],
      ['007.1', '7.10'],
      ['-0', '0.0001'],
    ] as const) {
      expect(bytes(a, b)).toBe(compareDecimal(a, b) || 0);
      expect(bytes(b, a)).toBe(compareDecimal(b, a) || 0);
    }
    const decimal = fc.oneof(
      fc.stringMatching(/^-?\d{1,25}(\.\d{0,25})?$/),
      fc.stringMatching(/^-?0{0,3}[0-2]{1,3}(\.[0-2]{0,4}0{0,3})?$/),
    );
    fc.assert(
      fc.property(decimal, decimal, (a, b) => {
        expect(bytes(a, b)).toBe(compareDecimal(a, b) || 0);
      }),
      { numRuns: 3_000 },
    );
  });
});

describe('checkBatch', () => {
  const base = {
    schemaVersion: 1 as const,
    exchange: 'binance',
    symbol: 'BTC/USDT',
    timeframe: '1m',
    requestId: 'r',
    extractedAt: 1_000_000,
    window: null,
    batchId: 'b',
    chunk: { index: 0, count: 1 },
  };
  it('finds OHLC invariant breaks, negative volume and future candles; passes good rows', () => {
    const batch = {
      ...base,
      dataset: 'ohlcv',
      records: [
        { ts: 0, open: '10', high: '12', low: '9', close: '11', volume: '1', closed: true },
        { ts: 60_000, open: '10', high: '9.5', low: '9', close: '11', volume: '1', closed: true },
        { ts: 120_000, open: '10', high: '12', low: '9', close: '11', volume: '-0.1', closed: true },
        { ts: 2_000_000, open: '10', high: '12', low: '9', close: '11', volume: '0', closed: false },
      ],
    } as ExtractBatch;
    expect(checkBatch(batch, 'k').map((f) => [f.check, f.ts])).toEqual([
      ['ohlc_invariant', 60_000],
      ['negative_volume', 120_000],
      ['future_timestamp', 2_000_000],
    ]);
  });
  it('finds a crossed order book and non-positive trades', () => {
    const book = {
      ...base,
      dataset: 'orderbook',
      timeframe: null,
      records: [
        { ts: 5, exchangeTs: null, nonce: null, side: 'bid', level: 0, price: '101', amount: '1' },
        { ts: 5, exchangeTs: null, nonce: null, side: 'ask', level: 0, price: '100', amount: '1' },
      ],
    } as ExtractBatch;
    expect(checkBatch(book, 'k').map((f) => f.check)).toEqual(['crossed_book']);
    const trades = {
      ...base,
      dataset: 'trades',
      timeframe: null,
      records: [{ id: '1', ts: 5, side: null, price: '0', amount: '-1', cost: null, takerOrMaker: null }],
    } as ExtractBatch;
    expect(checkBatch(trades, 'k').map((f) => f.check)).toEqual([
      'non_positive_price',
      'non_positive_amount',
    ]);
  });
});
