// Retention: whole partitions older than a dataset's setting are dropped with their coverage, nothing younger and no
// other dataset is touched, a dry run changes nothing, and transform still loads an old object afterwards (reprocess).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTransformConfig } from '../../../shared/config.ts';
import { ConfigError } from '../../../shared/errors.ts';
import { rebuildCoverage } from '../../../shared/db/coverage.ts';
import { ensurePartitions, listPartitions } from '../../../shared/db/partitions.ts';
import { inTransaction, preparePartitions, writeBatch } from '../../../shared/db/writers.ts';
import { buildBatchEvents } from '../../../shared/events/batches.ts';
import type { ExtractBatch, RecordOf } from '../../../shared/events/schemas.ts';
import { batchBody, batchKey, putIfChanged } from '../../../shared/lake/objects.ts';
import { log } from '../../../shared/log.ts';
import { applyRetention, describeRetention } from '../../../shared/ops/retention.ts';
import { loadObject } from '../../../shared/transform/load.ts';
import { startDatabase, type TestDatabase } from '../../support/postgres.ts';
import { startS3, type TestS3 } from '../../support/s3.ts';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 15, 12);
let db: TestDatabase;
let s3: TestS3;

const header = (dataset: ExtractBatch['dataset'], symbol: string | null) => ({
  schemaVersion: 1 as const,
  exchange: 'binance',
  symbol,
  timeframe: null,
  requestId: 'r',
  extractedAt: NOW,
  window: null,
  batchId: 'b',
  chunk: { index: 0, count: 1 },
  dataset,
});
const trades = (days: number[]): ExtractBatch =>
  ({
    ...header('trades', 'BTC/USDT'),
    records: days.flatMap((d) =>
      [0, 1, 2].map((k) => ({
        id: `${d}-${k}`,
        ts: NOW - d * DAY + k * 1000,
        side: 'buy',
        price: '1',
        amount: '1',
        cost: null,
        takerOrMaker: null,
      })),
    ),
  }) as ExtractBatch;
const books = (days: number[]): ExtractBatch =>
  ({
    ...header('orderbook', 'BTC/USDT'),
    records: days.flatMap((d) =>
      (['bid', 'ask'] as const).map((side) => ({
        ts: NOW - d * DAY,
        exchangeTs: null,
        nonce: null,
        side,
        level: 0,
        price: '1',
        amount: '1',
      })),
    ),
  }) as ExtractBatch;
const fundings = (days: number[]): ExtractBatch =>
  ({
    ...header('funding', null),
    records: days.map((d) => ({
      symbol: 'BTC/USDT:USDT',
      ts: NOW - d * DAY,
      exchangeTs: null,
      fundingRate: '0.0001',
      fundingTs: null,
      nextFundingTs: null,
      markPrice: null,
      indexPrice: null,
      interval: '8h',
    })),
  }) as ExtractBatch;

async function write(batch: ExtractBatch, key: string): Promise<void> {
  await preparePartitions(db.pool, batch);
  await inTransaction(db.pool, (c) => writeBatch(c, batch, key));
}

const count = async (table: string) =>
  Number((await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
const coverage = async () =>
  (await db.pool.query('SELECT * FROM series_coverage ORDER BY exchange, dataset, symbol, day')).rows;

beforeAll(async () => {
  [db, s3] = await Promise.all([startDatabase(), startS3()]);
  const days = Array.from({ length: 12 }, (_, i) => i); // today and the eleven days before
  await write(trades(days), 'trades.json');
  await write(books(days), 'books.json');
  await write(fundings([0, 40, 80]), 'funding.json');
}, 60_000);
afterAll(async () => {
  await s3?.close();
  await db?.close();
});

describe('retention', () => {
  it('is off unless set, takes whole days, and a bad setting names its variable', () => {
    expect(loadTransformConfig({}).retention).toEqual({});
    expect(loadTransformConfig({ RETENTION_ORDERBOOK: '3d', RETENTION_TRADES: '5d' }).retention).toEqual({
      orderbook: 3 * DAY,
      trades: 5 * DAY,
    });
    expect(() => loadTransformConfig({ RETENTION_TICKERS: '12h' })).toThrow(ConfigError);
    expect(() => loadTransformConfig({ RETENTION_TICKERS: '12h' })).toThrow(
      /RETENTION_TICKERS: .*whole number of days/,
    );
    expect(() => loadTransformConfig({ RETENTION_FUNDING: 'forever' })).toThrow(/RETENTION_FUNDING/);
  });

  it('a dry run lists what would go and changes nothing', async () => {
    const before = {
      trades: await count('trades'),
      books: await count('orderbook_levels'),
      cov: await coverage(),
    };
    const out = await applyRetention(db.pool, { orderbook: 3 * DAY }, { now: NOW, dryRun: true });
    expect(out[0]!.partitions.map((p) => p.name)).toEqual(
      ['20260604', '20260605', '20260606', '20260607', '20260608', '20260609', '20260610', '20260611'].map(
        (d) => `orderbook_levels_${d}`,
      ),
    );
    expect(describeRetention(out, { orderbook: 3 * DAY }, true)[0]).toBe(
      'orderbook: would drop 8 partition(s) of orderbook_levels, 2026-06-04 to 2026-06-11, 16 rows (RETENTION_ORDERBOOK=3d, before 2026-06-12)',
    );
    expect({
      trades: await count('trades'),
      books: await count('orderbook_levels'),
      cov: await coverage(),
    }).toEqual(before);
  });

  it('drops whole partitions older than the setting with their coverage, and nothing else', async () => {
    const fundingBefore = await count('funding_rates');
    const out = await applyRetention(db.pool, { orderbook: 3 * DAY, trades: 5 * DAY }, { now: NOW });
    expect(out.map((o) => [o.dataset, o.partitions.length])).toEqual([
      ['trades', 6], // 2026-06-04 .. 2026-06-09 end before 2026-06-10 12:00
      ['orderbook', 8],
    ]);
    // What is left starts at the first partition that still holds a row younger than the setting.
    const oldest = async (table: string) =>
      (await db.pool.query<{ t: Date }>(`SELECT min(ts) AS t FROM ${table}`)).rows[0]!.t.toISOString();
    expect(await oldest('orderbook_levels')).toBe('2026-06-12T12:00:00.000Z');
    expect(await oldest('trades')).toBe('2026-06-10T12:00:00.000Z');
    expect(await count('orderbook_levels')).toBe(4 * 2);
    expect(await count('trades')).toBe(6 * 3);
    expect(await count('funding_rates')).toBe(fundingBefore);
    expect((await listPartitions(db.pool, 'orderbook_levels')).map((p) => p.name)).not.toContain(
      'orderbook_levels_20260611',
    );
    // The coverage left is exactly what a recount of the rows left gives.
    const kept = await coverage();
    expect(kept.some((r) => r.dataset === 'orderbook' && r.day < '2026-06-12')).toBe(false);
    await inTransaction(db.pool, (c) => rebuildCoverage(c));
    expect(await coverage()).toEqual(kept);
    // Once more: nothing left to drop.
    const again = await applyRetention(db.pool, { orderbook: 3 * DAY, trades: 5 * DAY }, { now: NOW });
    expect(again.flatMap((o) => o.partitions)).toEqual([]);
  });

  it('transform still loads an object from a day retention dropped (reprocess from the raw lake)', async () => {
    // This process believes the day's partition exists (another process dropped it since): the write meets no
    // partition, learns the partitions again and writes once more.
    await ensurePartitions(db.pool, 'orderbook_levels', [NOW - 10 * DAY]);
    await db.pool.query('DROP TABLE orderbook_levels_20260605');
    const records = (books([10]).records as RecordOf['orderbook'][]).map((r) => ({ ...r }));
    const [event] = buildBatchEvents(
      {
        exchange: 'binance',
        dataset: 'orderbook',
        symbol: 'BTC/USDT',
        timeframe: null,
        window: null,
        requestId: 'r',
        extractedAt: NOW,
      },
      records,
      1024 * 1024,
    );
    const key = batchKey(event!, event!.data!);
    await putIfChanged(s3.client, s3.settings.bucket, key, batchBody(event!), {});
    const r = await loadObject(
      { pool: db.pool, s3: s3.client, maxObjectBytes: 1024 * 1024, log },
      s3.settings.bucket,
      key,
    );
    expect(r).toEqual(expect.objectContaining({ status: 'loaded', rows: 2 }));
    expect((await listPartitions(db.pool, 'orderbook_levels')).map((p) => p.name)).toContain(
      'orderbook_levels_20260605',
    );
    expect(await count('orderbook_levels')).toBe(4 * 2 + 2);
  });
});
