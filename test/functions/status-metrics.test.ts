// The status function's /metrics: Prometheus text format with what the seeded database and raw bucket hold.
import { PutObjectCommand } from '@aws-sdk/client-s3';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStatusHandler } from '../../functions/status/handler.ts';
import { loadStatusConfig } from '../../shared/config.ts';
import { createPool } from '../../shared/db/pool.ts';
import { functionServer, registerFunction } from '../../shared/http/server.ts';
import { batchKey } from '../../shared/lake/objects.ts';
import { startDatabase, type TestDatabase } from '../support/postgres.ts';
import { s3Env } from '../support/pipeline.ts';
import { parseExposition, pick } from '../support/prometheus.ts';
import { startS3, type TestS3 } from '../support/s3.ts';
import { HOSTILE, NOW, seedDatabase, seedDeadLetters } from '../shared/status.seed.ts';

let db: TestDatabase;
let s3: TestS3;
let n = 0;

beforeAll(async () => {
  [db, s3] = await Promise.all([startDatabase(), startS3()]);
  await seedDatabase(db.pool, { hostile: true });
  await seedDeadLetters(s3.client, s3.settings.bucket);
});
afterAll(async () => {
  await db?.close();
  await s3?.close();
});

function server(now: () => number, env: Record<string, string> = {}) {
  const name = `status-metrics-test-${++n}`;
  const cfg = loadStatusConfig({
    DATABASE_URL: db.url,
    ...s3Env(s3.settings),
    ...env,
  });
  registerFunction(name, createStatusHandler(cfg, { pool: db.pool, s3: s3.client, now }), {
    maxBodyBytes: cfg.maxBodyBytes,
  });
  return functionServer(name);
}

async function scrape(now: () => number, env: Record<string, string> = {}) {
  const res = await request(server(now, env)).get('/metrics').expect(200);
  expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(res.text);
}

const series = (exchange: string, dataset: string, symbol: string, timeframe = '') => ({
  exchange,
  dataset,
  symbol,
  timeframe,
});
const value = (
  samples: ReturnType<typeof parseExposition>['samples'],
  name: string,
  m: Record<string, string>,
) => {
  const found = pick(samples, name, m);
  expect(found, `${name} ${JSON.stringify(m)}`).toHaveLength(1);
  return found[0]?.value;
};

describe('GET /metrics', () => {
  it('gives freshness, gaps, rows, rejected objects and dead letters as the seeded data says', async () => {
    const { samples, types, helps } = await scrape(() => NOW);
    for (const name of new Set(samples.map((s) => s.name))) {
      expect(types.get(name), name).toMatch(/^(gauge|counter)$/);
      expect(helps.get(name), name).toBeTruthy();
    }
    const btc = series('binance', 'ohlcv', 'BTC/USDT', '1m');
    const eth = series('okx', 'ohlcv', 'ETH/USDT', '1m');
    // Newest final candle of binance BTC/USDT is 00:11 (00:12 still open): it ended 150 s before 00:14:30.
    expect(value(samples, 'cryptopipe_series_freshness_seconds', btc)).toBe(150);
    expect(value(samples, 'cryptopipe_series_freshness_seconds', eth)).toBe(510);
    expect(value(samples, 'cryptopipe_series_expected_interval_seconds', btc)).toBe(60);
    expect(value(samples, 'cryptopipe_series_gaps', btc)).toBe(1);
    expect(value(samples, 'cryptopipe_series_missing_candles', btc)).toBe(3);
    expect(value(samples, 'cryptopipe_series_gaps', eth)).toBe(0);
    expect(value(samples, 'cryptopipe_series_rows', btc)).toBe(10);
    expect(value(samples, 'cryptopipe_series_rows', eth)).toBe(6);
    expect(value(samples, 'cryptopipe_series_last_record_timestamp_seconds', btc)).toBe(
      Date.UTC(2026, 10, 24, 0, 11) / 1000,
    );
    expect(value(samples, 'cryptopipe_series_rows', series('binance', 'tickers', 'BTC/USDT'))).toBe(2);
    expect(
      value(samples, 'cryptopipe_series_freshness_seconds', series('binance', 'funding', 'BTC/USDT:USDT')),
    ).toBe(20 * 3600);
    // Trades come on demand only: no expected interval, so no staleness alert can be computed for them.
    expect(
      pick(samples, 'cryptopipe_series_expected_interval_seconds', series('binance', 'trades', 'BTC/USDT')),
    ).toEqual([]);
    // Gaps only for OHLCV series.
    expect(pick(samples, 'cryptopipe_series_gaps', { dataset: 'tickers' })).toEqual([]);
    // A hostile symbol from the database is an escaped label value and reads back as itself.
    expect(value(samples, 'cryptopipe_series_rows', series('binance', 'ohlcv', HOSTILE, '1m'))).toBe(2);
    expect(
      value(samples, 'cryptopipe_rejected_objects_total', { exchange: 'binance', dataset: 'ohlcv' }),
    ).toBe(1);
    expect(value(samples, 'cryptopipe_rejected_objects_total', { exchange: 'okx', dataset: 'tickers' })).toBe(
      1,
    );
    expect(value(samples, 'cryptopipe_dead_letters', { type: 'cryptopipe.extract.batch' })).toBe(2);
    expect(value(samples, 'cryptopipe_dead_letters', { type: 'unknown' })).toBe(1);
    for (const part of ['catalogue', 'lake', 'rejected', 'deadLetters'])
      expect(value(samples, 'cryptopipe_metrics_part_up', { part })).toBe(1);
    expect(value(samples, 'cryptopipe_metrics_series_dropped', {})).toBe(0);
    // Nothing in the lake for 2026-11-24: every stream of the window is empty.
    expect(
      value(samples, 'cryptopipe_lake_window_objects', {
        exchange: 'binance',
        dataset: 'ohlcv',
        state: 'waiting',
      }),
    ).toBe(0);
    expect(
      value(samples, 'cryptopipe_oldest_unprocessed_object_age_seconds', {
        exchange: 'binance',
        dataset: 'ohlcv',
      }),
    ).toBe(0);
  });

  it('tells loaded, rejected and waiting raw objects of the window apart, and ages the oldest waiting one', async () => {
    const real = Date.now();
    const put = async (minutesAgo: number) => {
      const ts = real - minutesAgo * 60_000;
      const key = batchKey({ id: `m-${minutesAgo}`, source: '/test' }, {
        exchange: 'binance',
        dataset: 'ohlcv',
        symbol: 'BTC/USDT',
        timeframe: '1m',
        records: [{ ts }],
        window: null,
        extractedAt: ts,
      } as never);
      await s3.client.send(new PutObjectCommand({ Bucket: s3.settings.bucket, Key: key, Body: '{}' }));
      return key;
    };
    const loaded = await put(10);
    const rejected = await put(5);
    await put(2); // waiting: neither in the ledger nor rejected
    await put(180); // before the window: not listed at all
    await db.pool.query(
      `INSERT INTO ingestion_ledger (bucket, object_key, etag, status, exchange, dataset, event_id, rows, row_counts, findings)
       VALUES ($1, $2, 'e', 'loaded', 'binance', 'ohlcv', 'm-10', 7, '{}', 0)`,
      [s3.settings.bucket, loaded],
    );
    await db.pool.query(
      `INSERT INTO rejected_objects (bucket, object_key, etag, reason) VALUES ($1, $2, 'e', 'invalid_batch')`,
      [s3.settings.bucket, rejected],
    );
    // The clock of the scrape is two minutes after the objects were written.
    const { samples } = await scrape(() => Date.now() + 120_000);
    const stream = { exchange: 'binance', dataset: 'ohlcv' };
    expect(value(samples, 'cryptopipe_lake_window_objects', { ...stream, state: 'loaded' })).toBe(1);
    expect(value(samples, 'cryptopipe_lake_window_objects', { ...stream, state: 'rejected' })).toBe(1);
    expect(value(samples, 'cryptopipe_lake_window_objects', { ...stream, state: 'waiting' })).toBe(1);
    expect(value(samples, 'cryptopipe_lake_window_rows_loaded', stream)).toBe(7);
    const age = value(samples, 'cryptopipe_oldest_unprocessed_object_age_seconds', stream) as number;
    expect(age).toBeGreaterThanOrEqual(115);
    expect(age).toBeLessThan(180);
    expect(
      value(samples, 'cryptopipe_lake_window_objects', {
        exchange: 'okx',
        dataset: 'ohlcv',
        state: 'waiting',
      }),
    ).toBe(0);
    expect(value(samples, 'cryptopipe_rejected_objects_total', stream)).toBe(2);
  });

  it('keeps cardinality bounded: series beyond METRICS_MAX_SERIES are left out and counted', async () => {
    const all = await scrape(() => NOW);
    const total = new Set(pick(all.samples, 'cryptopipe_series_rows').map((s) => JSON.stringify(s.labels)))
      .size;
    expect(total).toBeGreaterThan(3);
    const { samples } = await scrape(() => NOW, { METRICS_MAX_SERIES: '3' });
    expect(pick(samples, 'cryptopipe_series_rows')).toHaveLength(3);
    expect(value(samples, 'cryptopipe_metrics_series_dropped', {})).toBe(total - 3);
  });

  it('answers 503 naming the database when PostgreSQL cannot be reached', async () => {
    const gone = createPool({
      connectionString: 'postgres://u:p@127.0.0.1:1/none',
      host: '',
      port: 1,
      user: 'u',
      password: 'p',
      database: 'none',
    });
    const name = `status-metrics-test-${++n}`;
    const cfg = loadStatusConfig({
      DATABASE_URL: 'postgres://u:p@127.0.0.1:1/none',
      S3_ENDPOINT: s3.settings.endpoint,
      RAW_BUCKET: s3.settings.bucket,
    });
    registerFunction(name, createStatusHandler(cfg, { pool: gone, s3: s3.client }), {
      maxBodyBytes: cfg.maxBodyBytes,
    });
    const res = await request(functionServer(name)).get('/metrics');
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('database_unavailable');
    await gone.end();
  });
});
