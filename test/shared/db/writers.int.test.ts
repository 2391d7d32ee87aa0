// The bulk writers against PostgreSQL: the direct COPY path, the upsert path, and duplicates inside one batch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TABLES, inTransaction, upsertRows } from '../../../shared/db/writers.ts';
import type { TradeRecord } from '../../../shared/events/schemas.ts';
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
