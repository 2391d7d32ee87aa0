// The bulk writers against PostgreSQL: the direct COPY path, the upsert path, duplicates inside one batch, and candles
// written into their time partitions (within one month or across two, and a partition dropped since made again), and
// candles read in slices while written: a fresh range, an overlap met mid-COPY, a key written around transform, a bad
// record in the last slice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TABLES, inTransaction, upsertRows } from '../../../shared/db/writers.ts';
import { ensurePartitions } from '../../../shared/db/partitions.ts';
import { rebuildCoverage } from '../../../shared/db/coverage.ts';
import type { OhlcvRecord, TradeRecord } from '../../../shared/events/schemas.ts';
import { batchBody } from '../../../shared/lake/objects.ts';
import { log, setLogSink } from '../../../shared/log.ts';
import { loadBody } from '../../../shared/transform/load.ts';
import { seriesEvents } from '../../support/batches.ts';
import { startDatabase, type TestDatabase } from '../../support/postgres.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await startDatabase();
});
afterAll(() => db?.close());

const ctx = (sourceKey: string) => ({
  exchange: 'binance',
  symbol: 'BTC/USDT',
  timeframe: null,
  extractedAt: new Date(0).toISOString(),
  sourceKey,
});
const trade = (id: string, price = '1.10'): TradeRecord => ({
  id,
  ts: 1_700_000_000_000,
  side: 'buy',
  price,
  amount: '2',
  cost: null,
  takerOrMaker: null,
});
const read = async () =>
  (await db.pool.query(`SELECT trade_id, price::text, source_key FROM trades ORDER BY trade_id`)).rows;

describe('upsertRows', () => {
  it('inserts new rows, keeps the first source for equal facts, and survives duplicates inside one batch', async () => {
    expect(
      await inTransaction(db.pool, (c) =>
        upsertRows(c, TABLES.trades, [trade('1'), trade('2')], ctx('b.json')),
      ),
    ).toBe(2);
    // Overlapping object: existing key 2 sends the batch through the upsert path; a lexicographically smaller key wins.
    await inTransaction(db.pool, (c) =>
      upsertRows(c, TABLES.trades, [trade('2'), trade('3')], ctx('a.json')),
    );
    // The same id twice in one batch.
    await inTransaction(db.pool, (c) =>
      upsertRows(c, TABLES.trades, [trade('4'), trade('4')], ctx('c.json')),
    );
    expect(await read()).toEqual([
      { trade_id: '1', price: '1.10', source_key: 'b.json' },
      { trade_id: '2', price: '1.10', source_key: 'a.json' },
      { trade_id: '3', price: '1.10', source_key: 'a.json' },
      { trade_id: '4', price: '1.10', source_key: 'c.json' },
    ]);
  });

  it('writes a table twice in one transaction without mixing the batches', async () => {
    await inTransaction(db.pool, async (c) => {
      await upsertRows(c, TABLES.trades, [trade('5')], ctx('d.json'));
      await upsertRows(c, TABLES.trades, [trade('5'), trade('6')], ctx('e.json'));
    });
    expect((await read()).filter((r) => ['5', '6'].includes(r.trade_id))).toEqual([
      { trade_id: '5', price: '1.10', source_key: 'd.json' },
      { trade_id: '6', price: '1.10', source_key: 'e.json' },
    ]);
  });

  it('a failure rolls back everything of the transaction', async () => {
    const before = await read();
    await expect(
      inTransaction(db.pool, async (c) => {
        await upsertRows(c, TABLES.trades, [trade('7')], ctx('f.json'));
        await c.query('SELECT 1/0');
      }),
    ).rejects.toThrow(/division by zero/);
    expect(await read()).toEqual(before);
  });
});

describe('candles and their time partitions', () => {
  const MIN = 60_000;
  const candles = (from: number, n: number): OhlcvRecord[] =>
    Array.from({ length: n }, (_, i) => ({
      ts: from + i * MIN,
      open: '1.5',
      high: '2',
      low: '1',
      close: '1.75',
      volume: '3',
      closed: true,
    }));
  const load = async (key: string, records: OhlcvRecord[]) => {
    const [event] = seriesEvents(
      {
        exchange: 'binance',
        dataset: 'ohlcv',
        symbol: 'ETH/USDT',
        timeframe: '1m',
        extractedAt: Date.UTC(2024, 5, 1),
      },
      records,
      1024 * 1024,
    );
    return loadBody({ pool: db.pool, log }, 'bucket', key, `etag-${key}`, batchBody(event!));
  };
  const byPartition = async () =>
    (
      await db.pool.query<{ part: string; n: number }>(
        `SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM ohlcv WHERE symbol = 'ETH/USDT'
          GROUP BY 1 ORDER BY 1`,
      )
    ).rows;

  it('land in the partition of their month, within one month or across two', async () => {
    expect(await load('jan.json', candles(Date.UTC(2024, 0, 10), 100))).toMatchObject({
      status: 'loaded',
      rows: 100,
    });
    // 30 minutes of January and 30 of February: the rows are routed to both.
    expect(await load('jan-feb.json', candles(Date.UTC(2024, 1, 1) - 30 * MIN, 60))).toMatchObject({
      status: 'loaded',
      rows: 60,
    });
    expect(await byPartition()).toEqual([
      { part: 'ohlcv_202401', n: 130 },
      { part: 'ohlcv_202402', n: 30 },
    ]);
  });

  it('a partition this process had seen and another dropped since is made again and the object loads', async () => {
    await ensurePartitions(db.pool, 'ohlcv', [Date.UTC(2024, 2, 5)]);
    await db.pool.query('DROP TABLE ohlcv_202403');
    expect(await load('mar.json', candles(Date.UTC(2024, 2, 5), 10))).toMatchObject({
      status: 'loaded',
      rows: 10,
    });
    expect((await byPartition()).find((p) => p.part === 'ohlcv_202403')).toEqual({
      part: 'ohlcv_202403',
      n: 10,
    });
  });
});

describe('candles read in slices while written (openCandleObject, writeCandleSlices)', () => {
  const MIN = 60_000;
  const T = Date.UTC(2024, 6, 1);
  const candles = (from: number, n: number, open = '1.5'): OhlcvRecord[] =>
    Array.from({ length: n }, (_, i) => ({
      ts: from + i * MIN,
      open,
      high: '2',
      low: '1',
      close: '1.75',
      volume: '3',
      closed: true,
    }));
  const bodyOf = (records: OhlcvRecord[]) => {
    const [event] = seriesEvents(
      { exchange: 'binance', dataset: 'ohlcv', symbol: 'SOL/USDT', timeframe: '1m', extractedAt: T },
      records,
      16 * 1024 * 1024,
    );
    return batchBody(event!);
  };
  /** loadBody of `body` at `key`, and how transform read it (its log line). */
  const load = async (key: string, body: Buffer) => {
    const lines: string[] = [];
    const previous = setLogSink((line) => lines.push(line));
    try {
      const result = await loadBody({ pool: db.pool, log }, 'bucket', key, `etag-${key}`, body);
      const loaded = lines.map((l) => JSON.parse(l) as { message?: string; read?: string });
      return { result, read: loaded.find((l) => l.message === 'object loaded')?.read };
    } finally {
      setLogSink(previous);
    }
  };
  const rows = async () =>
    (
      await db.pool.query<{ ms: string; open: string; source_key: string }>(
        `SELECT (extract(epoch FROM open_time) * 1000)::bigint::text AS ms, open::text, source_key
           FROM ohlcv WHERE symbol = 'SOL/USDT' ORDER BY open_time`,
      )
    ).rows;
  /** The coverage of SOL/USDT as kept, and as a recount from the rows gives it. */
  const coverageAndRecount = async () => {
    const q = `SELECT bucket, encode(closed_bits, 'hex') AS closed, encode(open_bits, 'hex') AS open
                 FROM ohlcv_coverage WHERE symbol = 'SOL/USDT' ORDER BY bucket`;
    const kept = (await db.pool.query(q)).rows;
    await inTransaction(db.pool, (c) => rebuildCoverage(c));
    return { kept, recount: (await db.pool.query(q)).rows };
  };

  it('a fresh range goes in slices; an overlap met in a later slice, mid-COPY, is written whole and nothing twice', async () => {
    expect(await load('b-first.json', bodyOf(candles(T, 1_500)))).toMatchObject({
      result: { status: 'loaded', rows: 1_500 },
      read: 'slices',
    });
    // 1,200 new candles, then 300 of the first object's: the first slices are COPied before the overlap shows.
    expect(await load('a-overlap.json', bodyOf(candles(T - 1_200 * MIN, 1_500, '1.6')))).toMatchObject({
      result: { status: 'loaded' },
      read: 'whole',
    });
    const all = await rows();
    expect(all).toHaveLength(2_700);
    // Closed candles met twice keep the lexicographically first source (a-overlap.json), the same in any order.
    expect(all.filter((r) => r.source_key === 'a-overlap.json')).toHaveLength(1_500);
    const { kept, recount } = await coverageAndRecount();
    expect(kept).toEqual(recount);
  });

  it('a key written around transform (no coverage) stops the COPY; the object is written whole', async () => {
    const from = T + 10_000 * MIN;
    await db.pool.query(
      `INSERT INTO ohlcv (exchange, symbol, timeframe, open_time, open, high, low, close, volume, closed, extracted_at, source_key)
       VALUES ('binance', 'SOL/USDT', '1m', $1, 9, 9, 9, 9, 9, true, $1, 'z-by-hand')`,
      [new Date(from + 1_000 * MIN)],
    );
    expect(await load('c-around.json', bodyOf(candles(from, 1_500)))).toMatchObject({
      result: { status: 'loaded' },
      read: 'whole',
    });
    const written = (await rows()).filter((r) => Number(r.ms) >= from);
    expect(written).toHaveLength(1_500);
    expect(written.filter((r) => r.source_key === 'c-around.json')).toHaveLength(1_500);
  });

  it('a bad record in the last slice: rejected, and nothing of the object written', async () => {
    const from = T + 20_000 * MIN;
    const records = candles(from, 1_500);
    const body = Buffer.from(
      bodyOf(records)
        .toString()
        .replace(`"open":"1.5","ts":${records[1_490]!.ts}`, `"open":"1.5x","ts":${records[1_490]!.ts}`),
    );
    expect((await load('d-bad.json', body)).result).toMatchObject({
      status: 'rejected',
      reason: 'invalid_batch',
    });
    expect((await rows()).filter((r) => Number(r.ms) >= from)).toEqual([]);
    const { kept, recount } = await coverageAndRecount();
    expect(kept).toEqual(recount);
  });
});
