// `npm run reprocess -- [--prefix=exchange=binance/dataset=ohlcv/] [--date=2026-11-24]`: runs transform's loading
// over raw objects again, from the raw lake only (no exchange is called). Idempotent: loading twice changes nothing.
import type { S3Client } from '@aws-sdk/client-s3';
import type { Pool } from '../shared/db/pool.ts';
import { loadTransformConfig } from '../shared/config.ts';
import { createPool } from '../shared/db/pool.ts';
import { BATCH_PREFIX, listKeys } from '../shared/lake/list.ts';
import { s3Client } from '../shared/lake/s3.ts';
import { log } from '../shared/log.ts';
import { loadObject, type LoadResult } from '../shared/transform/load.ts';
import { UsageError, operatorEnv, runOperator } from './lib/ops.ts';

/** Loads every batch object under `prefix` (whose key holds `date=<date>` when given), in key order. */
export async function reprocess(
  deps: { pool: Pool; s3: S3Client; bucket: string; maxObjectBytes: number },
  opts: { prefix?: string; date?: string; onResult?: (r: LoadResult) => void } = {},
): Promise<{ loaded: number; rejected: number; rows: number }> {
  const prefix = opts.prefix ?? BATCH_PREFIX;
  if (!prefix.startsWith(BATCH_PREFIX))
    throw new UsageError(
      `--prefix: reprocess reads batch objects only: the prefix must start with ${BATCH_PREFIX}`,
    );
  const keys = (await listKeys(deps.s3, deps.bucket, prefix, Infinity)).filter(
    (k) => k.endsWith('.json') && (!opts.date || k.includes(`/date=${opts.date}/`)),
  );
  const totals = { loaded: 0, rejected: 0, rows: 0 };
  for (const key of keys) {
    const r = await loadObject(
      { pool: deps.pool, s3: deps.s3, maxObjectBytes: deps.maxObjectBytes, log },
      deps.bucket,
      key,
      { force: true },
    );
    if (r.status === 'loaded') {
      totals.loaded += 1;
      totals.rows += r.rows;
    } else if (r.status === 'rejected') totals.rejected += 1;
    opts.onResult?.(r);
  }
  return totals;
}

const USAGE = `npm run reprocess -- [--prefix=exchange=binance/dataset=ohlcv/] [--date=2026-11-24]
Database: DATABASE_URL or POSTGRESQL_*; raw bucket: S3_ENDPOINT or MINIO_*. With none of them set: the local run of npm start.`;

if (import.meta.url === `file://${process.argv[1]}`) {
  const command = { name: 'reprocess', usage: USAGE, values: ['prefix', 'date'], switches: [] };
  await runOperator(command, async (f) => {
    const cfg = loadTransformConfig(operatorEnv().env);
    const pool = createPool(cfg.db, 2);
    try {
      let n = 0;
      const totals = await reprocess(
        { pool, s3: s3Client(cfg.s3), bucket: cfg.s3.bucket, maxObjectBytes: cfg.maxObjectBytes },
        {
          prefix: f.get('prefix'),
          date: f.get('date'),
          onResult: () => void (++n % 50 === 0 && console.error(`${n} objects...`)),
        },
      );
      console.log(
        `reprocessed: ${totals.loaded} objects loaded (${totals.rows} rows written or replaced), ${totals.rejected} rejected`,
      );
    } finally {
      await pool.end();
    }
  });
}
