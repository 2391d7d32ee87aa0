// parseExtractBatch (hand-checked OHLCV records) gives zod's verdict, data and messages on every input.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractBatchSchema, parseExtractBatch } from '../../../shared/events/schemas.ts';

const envelope = {
  schemaVersion: 1,
  exchange: 'binance',
  dataset: 'ohlcv',
  symbol: 'BTC/USDT',
  timeframe: '1m',
  requestId: 'r1',
  extractedAt: 1_700_000_000_000,
  window: null,
  batchId: 'b1',
  chunk: { index: 0, count: 1 },
};

const candle = {
  ts: 1_700_000_000_000,
  open: '43000.12',
  high: '43010',
  low: '.5',
  close: '-1.5e-3',
  volume: null,
  closed: true,
};

/** Decimal-looking text and near misses: what the hand check and zod's regex must judge alike. */
const decimalish = fc.oneof(
  fc.stringMatching(/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/),
  fc.string({ unit: fc.constantFrom('0', '1', '9', '.', '-', '+', 'e', 'E', ' ', 'x', '\t'), maxLength: 8 }),
);
const anyValue = fc.oneof(
  decimalish,
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constant(Number.MAX_SAFE_INTEGER + 2),
  fc.constant(-1),
  fc.constant([]),
  fc.constant({}),
);
const field = fc.constantFrom('ts', 'open', 'high', 'low', 'close', 'volume', 'closed', 'extra', '__proto__');

/** A candle with some fields replaced, removed or added. */
const mutated = fc
  .array(fc.tuple(fc.constantFrom('set', 'delete'), field, anyValue), { maxLength: 3 })
  .map((edits) => {
    const r: Record<string, unknown> = { ...candle };
    for (const [op, k, v] of edits) {
      if (op === 'delete') delete r[k];
      else Object.defineProperty(r, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
    return r;
  });

const same = (data: unknown) => {
  const fast = parseExtractBatch(data);
  const zod = extractBatchSchema.safeParse(data);
  expect(fast.success).toBe(zod.success);
  if (fast.success && zod.success) expect(fast.data).toEqual(zod.data);
  else expect(fast.error?.issues).toEqual(zod.error?.issues);
};

describe('parseExtractBatch', () => {
  it('agrees with extractBatchSchema on valid and broken candles', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(mutated, fc.constant(candle)), { maxLength: 6 }), (records) => {
        same({ ...envelope, records });
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees on broken envelopes, other datasets and things that are not batches', () => {
    same({ ...envelope, records: [candle], evil: true });
    same({ ...envelope, records: [candle], chunk: { index: 2, count: 1 } });
    same({ ...envelope, records: [candle], symbol: '../etc' });
    same({ ...envelope, records: 'no' });
    const holed: unknown[] = new Array(3);
    holed[0] = candle;
    holed[2] = candle;
    same({ ...envelope, records: holed });
    same({ ...envelope, dataset: 'trades', records: [candle] });
    same({ ...envelope, dataset: 'markets', records: [] });
    same([candle]);
    same(null);
    same('ohlcv');
  });

  it('keeps the records it was given on the fast path', () => {
    const records = [candle, { ...candle, ts: candle.ts + 60_000, closed: false }];
    const parsed = parseExtractBatch({ ...envelope, records });
    expect(parsed.success && parsed.data.records).toEqual(records);
  });
});
