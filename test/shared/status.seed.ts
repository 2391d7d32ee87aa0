// A database and raw bucket with known state for the status tests: a gap, lags, findings, rejections, dead letters.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Pool } from 'pg';
import { byHand } from '../support/postgres.ts';

export const T0 = Date.UTC(2026, 10, 24, 0, 0);
export const MIN = 60_000;
/** The clock of the tests: 14.5 minutes after T0. */
export const NOW = T0 + 14 * MIN + 30_000;
export const at = (ms: number) => new Date(ms).toISOString();
export const HOSTILE = '<script>alert(1)</script>';

async function candles(
  pool: Pool,
  exchange: string,
  symbol: string,
  minutes: number[],
  open: number[] = [],
): Promise<void> {
  for (const m of minutes)
    await pool.query(`INSERT INTO ohlcv VALUES ($1, $2, '1m', $3, 1, 2, 0.5, 1.5, 10, $4, $5, $6)`, [
      exchange,
      symbol,
      new Date(T0 + m * MIN),
      !open.includes(m),
      new Date(NOW),
      `k-${exchange}-${m}`,
    ]);
}

/**
 * binance BTC/USDT 1m: minutes 0-3 and 7-12 (12 still open): one gap [00:04, 00:07), lag 150 s (fresh).
 * okx ETH/USDT 1m: minutes 0-5: no gap, lag 510 s (stale). binance tickers (fresh), funding 20 h old (late), trades
 * (on demand), markets (2 instruments, 1 h old). Findings, rejected objects, ledger rows; with `hostile`, a binance
 * series whose symbol is `<script>alert(1)</script>`.
 */
export async function seedDatabase(pool: Pool, opts: { hostile?: boolean } = {}): Promise<void> {
  await byHand(pool, [T0, NOW - 20 * 3600_000], () => seedRows(pool, opts));
}

async function seedRows(pool: Pool, opts: { hostile?: boolean }): Promise<void> {
  await candles(pool, 'binance', 'BTC/USDT', [0, 1, 2, 3, 7, 8, 9, 10, 11, 12], [12]);
  await candles(pool, 'okx', 'ETH/USDT', [0, 1, 2, 3, 4, 5]);
  if (opts.hostile) await candles(pool, 'binance', HOSTILE, [0, 2]);
  await pool.query(
    `INSERT INTO ticker_snapshots (exchange, symbol, ts, last, source_key) VALUES
       ('binance', 'BTC/USDT', $1, 43000, 'kt1'), ('binance', 'BTC/USDT', $2, 43001, 'kt2')`,
    [new Date(T0), new Date(T0 + 14 * MIN)],
  );
  await pool.query(
    `INSERT INTO funding_rates (exchange, symbol, ts, funding_rate, source_key) VALUES ('binance', 'BTC/USDT:USDT', $1, 0.0001, 'kf')`,
    [new Date(NOW - 20 * 3600_000)],
  );
  await pool.query(
    `INSERT INTO trades (exchange, symbol, trade_id, ts, price, amount, source_key) VALUES
       ('binance', 'BTC/USDT', '1', $1, 43000, 0.1, 'ktr'), ('binance', 'BTC/USDT', '2', $2, 0, 0.1, 'ktr')`,
    [new Date(T0 + MIN), new Date(T0 + 2 * MIN)],
  );
  for (const symbol of ['BTC/USDT', 'ETH/USDT'])
    await pool.query(
      `INSERT INTO instruments (exchange, symbol, market_id, type, base, quote, extracted_at, source_key)
       VALUES ('binance', $1, replace($1, '/', ''), 'spot', split_part($1, '/', 1), split_part($1, '/', 2), $2, 'km')`,
      [symbol, new Date(NOW - 3600_000)],
    );
  await pool.query(
    `INSERT INTO dq_findings VALUES
       ('binance', 'ohlcv', 'BTC/USDT', '1m', $1, 'ohlc_invariant', '{"broken":["low > high"]}', 'k1'),
       ('binance', 'trades', 'BTC/USDT', '', $2, 'non_positive_price', '{"id":"2","price":"0"}', 'ktr')`,
    [new Date(T0 + 2 * MIN), new Date(T0 + 2 * MIN)],
  );
  await pool.query(
    `INSERT INTO rejected_objects (bucket, object_key, etag, reason, rejected_at) VALUES
       ('crypto-raw', 'exchange=binance/dataset=ohlcv/bad.json', 'e1', 'invalid_json', $1),
       ('crypto-raw', 'exchange=okx/dataset=tickers/x.json', 'e2', 'invalid_batch', $2)`,
    [new Date(T0 + 10 * MIN), new Date(T0 + 20 * MIN)],
  );
  const ledger = [
    ['exchange=binance/dataset=ohlcv/k0.json', 'binance', 'ohlcv', 'b0.0', 4, 0, T0 + 5 * MIN],
    ['exchange=binance/dataset=ohlcv/k1.json', 'binance', 'ohlcv', 'b1.0', 10, 1, T0 + 13 * MIN],
    ['exchange=okx/dataset=ohlcv/k2.json', 'okx', 'ohlcv', 'o2.0', 6, 0, T0 + 6 * MIN],
    ['exchange=binance/dataset=tickers/k3.json', 'binance', 'tickers', 't3.0', 1, 0, T0 - 2 * 86_400_000],
  ] as const;
  for (const [key, exchange, dataset, eventId, rows, findings, loadedAt] of ledger)
    await pool.query(
      `INSERT INTO ingestion_ledger (bucket, object_key, etag, status, exchange, dataset, event_id, rows, row_counts, findings, loaded_at)
       VALUES ('crypto-raw', $1, 'e', 'loaded', $2, $3, $4, $5, '{}', $6, $7)`,
      [key, exchange, dataset, eventId, rows, findings, new Date(loadedAt)],
    );
}

/** A dead letter as the dead-letter receiver stores it: the whole CloudEvent with Knative's error attributes. */
export function deadLetterBody(opts: {
  id: string;
  exchange: string;
  dataset: string;
  code: number;
  answer: string;
}): string {
  return JSON.stringify({
    data: { exchange: opts.exchange, dataset: opts.dataset, records: [] },
    dataset: opts.dataset,
    exchange: opts.exchange,
    id: opts.id,
    knativeerrorcode: String(opts.code),
    knativeerrordata: Buffer.from(opts.answer).toString('base64'),
    knativeerrordest: 'http://load-raw.crypto-pipeline.svc.cluster.local',
    source: '/extract/binance',
    specversion: '1.0',
    type: 'cryptopipe.extract.batch',
  });
}

/** The dead-letter keys `seedDeadLetters` writes, newest first. */
export const DEAD_LETTER_KEYS = [
  '_dead-letters/date=2026-11-24/cryptopipe.extract.batch/bbbbbbbbbbbbbbbb.json',
  '_dead-letters/date=2026-11-23/cryptopipe.extract.batch/aaaaaaaaaaaaaaaa.json',
  '_dead-letters/date=2026-11-22/unknown/cccccccccccccccc.json',
];

/** Two dead letters (binance refused with a 400 and its message, okx with a 503 in plain text) and one unreadable. */
export async function seedDeadLetters(s3: S3Client, bucket: string): Promise<void> {
  const bodies = [
    deadLetterBody({
      id: 'bin-1',
      exchange: 'binance',
      dataset: 'ohlcv',
      code: 400,
      answer: JSON.stringify({ error: 'bad_request', message: `invalid batch: symbol ${HOSTILE}` }),
    }),
    deadLetterBody({
      id: 'okx-1',
      exchange: 'okx',
      dataset: 'tickers',
      code: 503,
      answer: 'upstream timeout',
    }),
    'not json at all',
  ];
  for (const [i, key] of DEAD_LETTER_KEYS.entries())
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: bodies[i], ContentType: 'application/json' }),
    );
}
