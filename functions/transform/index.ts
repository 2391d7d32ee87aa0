// Entry of the transform function: settings, PostgreSQL pool (migrations on start when asked), S3 client, handler;
// with --retention (the retention CronJob) it applies the retention settings once and exits instead.
import { loadTransformConfig, loadTelemetryConfig } from '../../shared/config.ts';
import { registerFunction } from '../../shared/http/server.ts';
import { startTelemetry } from '../../shared/telemetry/index.ts';
import { migrate } from '../../shared/db/migrate.ts';
import { createPool } from '../../shared/db/pool.ts';
import { s3Client } from '../../shared/lake/s3.ts';
import { log, registerSecret, setLogLevel } from '../../shared/log.ts';
import { applyRetention } from '../../shared/ops/retention.ts';
import { createTransformHandler } from './handler.ts';

const cfg = loadTransformConfig(process.env);
setLogLevel(cfg.logLevel);
startTelemetry(loadTelemetryConfig(process.env, 'transform'));
registerSecret(cfg.s3.secretAccessKey);
registerSecret(cfg.db.password);
registerSecret(cfg.authToken);
if (cfg.db.connectionString) registerSecret(new URL(cfg.db.connectionString).password || undefined);

const pool = createPool(cfg.db, cfg.dbPoolMax);
if (cfg.migrateOnStart) {
  const applied = await migrate(pool);
  log.info('migrations applied on start', { component: 'transform', applied });
}

if (process.argv.includes('--retention')) {
  // A failed run exits non-zero (the CronJob shows it failed) with one structured line, and the next run retries.
  try {
    for (const o of await applyRetention(pool, cfg.retention))
      log.info('retention applied', {
        component: 'transform',
        dataset: o.dataset,
        cutoff: new Date(o.cutoff).toISOString(),
        dropped: o.partitions.map((p) => p.name),
        rows: o.partitions.reduce((n, p) => n + p.rows, 0),
      });
  } catch (err) {
    log.error('retention failed', err, { component: 'transform' });
    process.exitCode = 1;
  } finally {
    await pool.end();
  }
} else {
  registerFunction('transform', createTransformHandler(cfg, { pool, s3: s3Client(cfg.s3) }), {
    maxBodyBytes: cfg.maxBodyBytes,
  });
}
