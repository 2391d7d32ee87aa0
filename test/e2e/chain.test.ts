// End to end, in one process: a PingSource tick through the local Broker (wired by knative/base) to extract,
// load-raw, the embedded S3's MinIO-style notification and transform, ending as exact rows in PostgreSQL.
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reprocess } from '../../scripts/reprocess.ts';
import { startChain, type Chain } from '../support/chain.ts';

const NOW = Date.UTC(2026, 10, 24, 12, 0, 30);

let chain: Chain;
let db: Chain['db'];
let broker: Chain['broker'];
let rawS3: Chain['s3'];
let reports: Chain['reports'];
let fake: Chain['fake'];
const settle = () => chain.settle();

beforeAll(async () => {
  chain = await startChain({ now: NOW });
  ({ db, broker, s3: rawS3, reports, fake } = chain);
}, 120_000);

afterAll(async () => {
  await chain?.close();
});

describe('the chain', () => {
  it('turns one firing of every binance schedule into exact rows, with lineage to existing raw objects and a full ledger', async () => {
    expect(broker.firePings(new Date(NOW), true)).toBeGreaterThanOrEqual(4);
    await settle();
    expect(
      reports.filter((r) => r.deadLettered).map((r) => `${r.subscriber} ${r.event.type} ${String(r.status)}`),
    ).toEqual([]);

    const rows = (
      await db.pool.query(
        `SELECT symbol, open::text, close::text, closed, source_key FROM ohlcv ORDER BY symbol, open_time`,
      )
    ).rows;
    const symbols = ['BTC/USDT', 'BTC/USDT:USDT', 'ETH/USDT', 'ETH/USDT:USDT'];
    expect([...new Set(rows.map((r) => r.symbol))].sort()).toEqual(symbols);
    // 30 minutes of INITIAL_LOOKBACK: 30 closed candles and the open one, per symbol.
    for (const s of symbols) expect(rows.filter((r) => r.symbol === s)).toHaveLength(31);
    // Values are the exchange's decimal text as served on the wire.
    const wire = fake.requests
      .filter((r) => r.path.endsWith('/klines'))
      .map((r) => r.body)
      .join('\n');
    for (const r of rows) expect(wire).toContain(`"${r.open}"`);

    // Lineage: every source_key is an object in the raw bucket; the ledger has every batch object loaded.
    const keys = new Set<string>(
      (
        await db.pool.query(
          `SELECT DISTINCT source_key FROM ohlcv UNION SELECT DISTINCT source_key FROM ticker_snapshots UNION SELECT DISTINCT source_key FROM instruments`,
        )
      ).rows.map((r) => r.source_key),
    );
    const ledger = (await db.pool.query(`SELECT object_key, status FROM ingestion_ledger`)).rows;
    const batchDeliveries = reports.filter((r) => r.subscriber === 'load-raw' && r.status === 204).length;
    expect(ledger).toHaveLength(batchDeliveries);
    expect(ledger.every((l) => l.status === 'loaded')).toBe(true);
    for (const k of keys) expect(ledger.map((l) => l.object_key)).toContain(k);
    expect(
      (await db.pool.query(`SELECT count(*)::int AS n FROM instruments WHERE exchange = 'binance'`)).rows[0]
        .n,
    ).toBeGreaterThan(0);
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM funding_rates`)).rows[0].n).toBe(2);
  });

  it('the next tick continues from the cursor: nothing refetched but the open candle', async () => {
    const before = (await db.pool.query(`SELECT count(*)::int AS n FROM ohlcv`)).rows[0].n;
    broker.firePings(new Date(NOW + 60_000));
    await settle();
    const after = (
      await db.pool.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE closed)::int AS c FROM ohlcv`)
    ).rows[0];
    expect(after.n).toBe(before);
    expect(after.c).toBe(30 * 4);
  });

  it('reprocess after truncating the tables rebuilds identical tables from the raw lake, and again changes nothing', async () => {
    const tables = [
      'ohlcv',
      'trades',
      'ticker_snapshots',
      'orderbook_levels',
      'funding_rates',
      'instruments',
      'dq_findings',
    ];
    const hash = async () => {
      const out: Record<string, string> = {};
      for (const t of tables)
        out[t] = (
          await db.pool.query(
            `SELECT coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') AS h FROM ${t} x`,
          )
        ).rows[0].h;
      return out;
    };
    const before = await hash();
    expect(before['ohlcv']).not.toBe('');
    await db.pool.query(`TRUNCATE ${tables.join(', ')}`);
    const deps = { pool: db.pool, s3: rawS3, bucket: 'crypto-raw', maxObjectBytes: 64 * 1024 * 1024 };
    const first = await reprocess(deps);
    expect(first.rejected).toBe(0);
    expect(first.loaded).toBeGreaterThan(0);
    expect(await hash()).toEqual(before);
    await reprocess(deps, { prefix: 'exchange=binance/dataset=ohlcv/', date: '2026-11-24' });
    expect(await hash()).toEqual(before);
  });

  it('lineage points at objects that exist in the raw bucket', async () => {
    const keys = (await db.pool.query(`SELECT DISTINCT source_key AS k FROM ohlcv`)).rows.map(
      (r) => r.k as string,
    );
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys)
      await expect(
        rawS3.send(new HeadObjectCommand({ Bucket: 'crypto-raw', Key: k })),
      ).resolves.toBeDefined();
  });
});
