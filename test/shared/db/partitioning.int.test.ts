// Migration 005 on a database holding data: every row of every fact table is kept, byte for byte, in partitioned
// tables; the coverage it builds gives the same gaps as the old view did, and writes go on afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, readMigrations } from '../../../shared/db/migrate.ts';
import { listPartitions } from '../../../shared/db/partitions.ts';
import { inTransaction, preparePartitions, writeBatch } from '../../../shared/db/writers.ts';
import type { ExtractBatch } from '../../../shared/events/schemas.ts';
import { startDatabase, type TestDatabase } from '../../support/postgres.ts';

const FACT_TABLES = ['ohlcv', 'trades', 'ticker_snapshots', 'orderbook_levels', 'funding_rates'];

let db: TestDatabase;
beforeAll(async () => {
  db = await startDatabase({ migrations: readMigrations().filter((m) => m.version < 5) });
});
afterAll(() => db?.close());

/** Row count and a digest of every row's text, per table. */
async function fingerprint(): Promise<Record<string, { rows: number; digest: string }>> {
  const out: Record<string, { rows: number; digest: string }> = {};
  for (const t of FACT_TABLES) {
    const { rows } = await db.pool.query<{ n: string; d: string }>(
      `SELECT count(*) AS n, md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) AS d FROM ${t} r`,
    );
    out[t] = { rows: Number(rows[0]!.n), digest: rows[0]!.d };
  }
  return out;
}

const gaps = async () =>
  (
    await db.pool.query(
      `SELECT exchange, symbol, timeframe, gap_start, gap_end, missing_candles::int AS missing
         FROM ohlcv_gaps ORDER BY 1, 2, 3, 4`,
    )
  ).rows;

describe('migration 005: time partitions and coverage', () => {
  it('keeps every row, builds the coverage from them, and the write path goes on', async () => {
    // History before the migration, across months and days, with gaps, open candles and NULLs, as 001-004 stored it.
    await db.pool.query(`
      INSERT INTO ohlcv
      SELECT 'binance', s.symbol, '1m', t, 1.5, 2, '0.00020', 1.75, CASE WHEN m % 5 = 0 THEN NULL ELSE m END,
             t < timestamptz '2026-03-02 12:00Z', timestamptz '2026-03-03Z', 'k/' || m
        FROM (VALUES ('BTC/USDT'), ('ETH/USDT')) s (symbol),
             generate_series(timestamptz '2026-01-31 20:00Z', timestamptz '2026-03-02 12:00Z', interval '1 minute')
               WITH ORDINALITY g (t, m)
       WHERE m % 997 NOT IN (1, 2, 3) AND NOT (s.symbol = 'ETH/USDT' AND t BETWEEN '2026-02-10' AND '2026-02-11');
      INSERT INTO ohlcv
      SELECT 'bybit', 'BTC/USDT', tf, t, 1, 1, 1, 1, 1, true, now(), 'k'
        FROM (VALUES ('1h', interval '1 hour'), ('1d', interval '1 day')) f (tf, step),
             generate_series(timestamptz '2025-12-01Z', timestamptz '2026-02-01Z', step) t
       WHERE extract(day FROM t) <> 15;
      INSERT INTO trades
      SELECT 'binance', 'BTC/USDT', 'id' || n, timestamptz '2026-02-27Z' + n * interval '7 minutes',
             CASE WHEN n % 3 = 0 THEN NULL ELSE 'buy' END, '0.10', 2, NULL, NULL, 'k'
        FROM generate_series(1, 3000) n;
      INSERT INTO ticker_snapshots (exchange, symbol, ts, last, source_key)
      SELECT 'okx', 'BTC/USDT', timestamptz '2026-02-28Z' + n * interval '1 hour', n, 'k'
        FROM generate_series(1, 100) n;
      INSERT INTO orderbook_levels
      SELECT 'binance', 'BTC/USDT', timestamptz '2026-02-28 23:00Z' + n * interval '10 minutes', side, lvl, 1, 1,
             NULL, NULL, 'k'
        FROM generate_series(1, 20) n, (VALUES ('bid'), ('ask')) s (side), generate_series(0, 4) lvl;
      INSERT INTO funding_rates (exchange, symbol, ts, funding_rate, source_key)
      SELECT 'bybit', 'BTC/USDT:USDT', timestamptz '2026-01-01Z' + n * interval '8 hours', '0.0001', 'k'
        FROM generate_series(1, 200) n;
    `);
    const before = await fingerprint();
    const gapsBefore = await gaps();
    expect(before['ohlcv']!.rows).toBeGreaterThan(80_000);
    expect(gapsBefore.length).toBeGreaterThan(50);

    expect(await migrate(db.pool)).toEqual([5]);

    expect(await fingerprint()).toEqual(before);
    // The gaps read from the coverage are those the window function over every row found.
    expect(await gaps()).toEqual(gapsBefore);
    for (const t of FACT_TABLES) {
      const { rows } = await db.pool.query<{ relkind: string }>(
        'SELECT relkind FROM pg_class WHERE relname = $1',
        [t],
      );
      expect(rows[0]?.relkind, t).toBe('p');
    }
    // Months of candles are month partitions, a day of trades is a day partition.
    const ohlcvParts = (await listPartitions(db.pool, 'ohlcv')).map((p) => p.name);
    expect(ohlcvParts).toEqual(expect.arrayContaining(['ohlcv_202512', 'ohlcv_202601', 'ohlcv_202602']));
    const tradeParts = (await listPartitions(db.pool, 'trades')).map((p) => p.name);
    expect(tradeParts).toEqual(expect.arrayContaining(['trades_20260227', 'trades_20260301']));
    const counted = await db.pool.query<{ dataset: string; records: string }>(
      'SELECT dataset, sum(records) AS records FROM series_coverage GROUP BY 1 ORDER BY 1',
    );
    expect(counted.rows.map((r) => [r.dataset, Number(r.records)])).toEqual([
      ['funding', 200],
      ['orderbook', 20],
      ['tickers', 100],
      ['trades', 3000],
    ]);

    // The write path goes on into a partition the migration did not make, and closes a gap of the old data.
    const batch = {
      schemaVersion: 1,
      exchange: 'binance',
      symbol: 'ETH/USDT',
      timeframe: '1m',
      requestId: 'r',
      extractedAt: Date.UTC(2026, 3, 1),
      window: null,
      batchId: 'b',
      chunk: { index: 0, count: 1 },
      dataset: 'ohlcv',
      records: [Date.UTC(2024, 0, 1), Date.parse('2026-02-10T12:00:00Z')].map((ts) => ({
        ts,
        open: '1',
        high: '1',
        low: '1',
        close: '1',
        volume: '1',
        closed: true,
      })),
    } as ExtractBatch;
    await preparePartitions(db.pool, batch);
    await inTransaction(db.pool, (c) => writeBatch(c, batch, 'after.json'));
    expect((await listPartitions(db.pool, 'ohlcv')).map((p) => p.name)).toContain('ohlcv_202401');
    const eth = (await gaps()).filter((g) => g.symbol === 'ETH/USDT' && g.missing > 100);
    expect(eth.map((g) => [g.gap_start.toISOString(), g.gap_end.toISOString()])).toEqual([
      ['2024-01-01T00:01:00.000Z', expect.any(String)],
      ['2026-02-10T00:00:00.000Z', '2026-02-10T12:00:00.000Z'],
      ['2026-02-10T12:01:00.000Z', '2026-02-11T00:01:00.000Z'],
    ]);
  });
});
