// Candles COPied in the binary format are stored exactly as PostgreSQL reads their text: value, scale and time.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binaryCandles } from '../../../shared/db/copy-binary.ts';
import { inTransaction, preparePartitions, writeBatch } from '../../../shared/db/writers.ts';
import type { ExtractBatch, OhlcvRecord } from '../../../shared/events/schemas.ts';
import { startDatabase, type TestDatabase } from '../../support/postgres.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await startDatabase();
});
afterAll(() => db?.close());

const T0 = Date.UTC(2025, 2, 1);
let series = 0;

/** Writes `values` as the decimals of fresh candles (one new series) and reads them back next to numeric_in's text. */
async function roundTrip(values: string[], binary = true): Promise<void> {
  const symbol = `BIN${++series}/USDT`;
  const records: OhlcvRecord[] = values.map((v, i) => ({
    ts: T0 + i * 60_000,
    open: v,
    high: v,
    low: v,
    close: v,
    volume: i % 3 === 0 ? null : v,
    closed: i % 2 === 0,
  }));
  const batch = {
    schemaVersion: 1,
    exchange: 'binance',
    dataset: 'ohlcv',
    symbol,
    timeframe: '1m',
    requestId: 'r',
    extractedAt: T0 + 1234,
    window: null,
    batchId: 'b',
    chunk: { index: 0, count: 1 },
    records,
  } as ExtractBatch;
  const key = `exchange=binance/k-${series}.json`;
  // The fresh range takes the binary format here, unless a value is left to the text format.
  expect(
    binaryCandles(records, {
      exchange: 'binance',
      symbol,
      timeframe: '1m',
      extractedAt: new Date(T0 + 1234).toISOString(),
      sourceKey: key,
    }),
  ).toEqual(binary ? expect.any(Buffer) : undefined);
  await preparePartitions(db.pool, batch);
  expect(await inTransaction(db.pool, (c) => writeBatch(c, batch, key))).toBe(values.length);
  const { rows } = await db.pool.query<{
    open: string;
    high: string;
    low: string;
    close: string;
    volume: string | null;
    expected: string;
    ms: string;
    closed: boolean;
    extracted: string;
    source_key: string;
  }>(
    `SELECT o.open::text, o.high::text, o.low::text, o.close::text, o.volume::text, v.x::numeric::text AS expected,
            (extract(epoch FROM o.open_time) * 1000)::text AS ms, o.closed,
            (extract(epoch FROM o.extracted_at) * 1000)::text AS extracted, o.source_key
       FROM ohlcv o JOIN unnest($2::text[]) WITH ORDINALITY AS v (x, i)
         ON o.open_time = to_timestamp(0) + ((i - 1) * 60000 + $3::bigint) * interval '1 millisecond'
      WHERE o.exchange = 'binance' AND o.symbol = $1 ORDER BY o.open_time`,
    [symbol, values, T0],
  );
  expect(rows).toHaveLength(values.length);
  rows.forEach((r, i) => {
    expect([r.open, r.high, r.low, r.close], values[i]).toEqual([
      r.expected,
      r.expected,
      r.expected,
      r.expected,
    ]);
    expect(r.volume).toBe(i % 3 === 0 ? null : r.expected);
    expect(Number(r.ms)).toBe(T0 + i * 60_000);
    expect(r.closed).toBe(i % 2 === 0);
    expect(Number(r.extracted)).toBe(T0 + 1234);
    expect(r.source_key).toBe(key);
  });
}

describe('binary COPY of candles', () => {
  it('stores every form of decimal text as numeric_in reads it', async () => {
    await roundTrip([
      '0',
      '-0',
      '-0.000',
      '0.00020',
      '00042.5000',
      '.5',
      '5.',
      '-.5',
      '1e-7',
      '1.5E+3',
      '-2.50e-2',
      '123456789.123456789',
      '0.000000000000000001',
      '99999999999999999999.9999',
      '1e10',
      '10000',
      '1.0001',
      '9999.9999',
      '-43000.12000000',
      '1.23e0',
      '5e-0',
      '0.1e1',
      '12345678901234567890e-25',
      '0.00001000',
      '100000000',
      '7e+12',
    ]);
  });

  it('a value the binary format leaves out, after pieces were sent, sends the batch as text', async () => {
    const values = Array.from({ length: 700 }, (_, i) => `${i}.${i % 7}`);
    values[650] = '1e950';
    values[651] = '-12345678901234567890.5e-800';
    await roundTrip(values, false);
  });

  it('stores random decimals as numeric_in reads them', async () => {
    const decimal = fc
      .tuple(
        fc.boolean(),
        fc.stringMatching(/^[0-9]{0,14}$/),
        fc.option(fc.stringMatching(/^[0-9]{0,14}$/)),
        fc.option(fc.integer({ min: -40, max: 40 })),
      )
      .filter(([, int, frac]) => int.length + (frac ?? '').length > 0)
      .map(
        ([neg, int, frac, exp]) =>
          `${neg ? '-' : ''}${int}${frac === null ? '' : `.${frac}`}${exp === null ? '' : `e${exp}`}`,
      );
    for (const values of fc.sample(fc.array(decimal, { minLength: 50, maxLength: 50 }), 8)) {
      await roundTrip(values);
    }
  });
});
