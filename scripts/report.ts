// `npm run report [-- --json] [--exchange=binance]`: per series first/last candle, gaps, freshness, data-quality
// findings, rejected objects and dead letters, from PostgreSQL (DATABASE_URL / POSTGRESQL_*) and the raw bucket.
import { loadCommonConfig } from '../shared/config.ts';
import { createPool } from '../shared/db/pool.ts';
import { startOrExit } from '../shared/http/serve.ts';
import { DEAD_LETTER_PREFIX, listKeys } from '../shared/lake/objects.ts';
import { s3Client } from '../shared/lake/s3.ts';
import { buildReport, formatReport } from '../shared/report/queries.ts';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

await startOrExit(async () => {
  const cfg = loadCommonConfig(process.env);
  const exchange = process.argv.find((a) => a.startsWith('--exchange='))?.slice('--exchange='.length);
  const pool = createPool(cfg.db, 2);
  try {
    const s3 = s3Client(cfg.s3);
    const report = await buildReport(
      pool,
      () => listKeys(s3, cfg.s3.bucket, DEAD_LETTER_PREFIX).catch(() => []),
      new Date(),
      exchange ? { exchange } : {},
    );
    console.log(process.argv.includes('--json') ? JSON.stringify(report, null, 2) : formatReport(report));
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (/^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|3D000|28P01|28000)$/.test(code)) {
      console.error(
        `report: cannot read PostgreSQL (${(err as Error).message}); set DATABASE_URL or POSTGRESQL_* (npm start uses postgres://postgres:postgres@127.0.0.1:54329/crypto)`,
      );
      process.exitCode = 2;
      return;
    }
    throw err;
  } finally {
    await pool.end();
  }
});
