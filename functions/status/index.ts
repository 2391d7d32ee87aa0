// Entry of the status function: settings, a small read-only PostgreSQL pool, the S3 client, the handler.
import { loadStatusConfig, loadTelemetryConfig } from '../../shared/config.ts';
import { registerFunction } from '../../shared/http/server.ts';
import { startTelemetry } from '../../shared/telemetry/index.ts';
import { createPool } from '../../shared/db/pool.ts';
import { s3Client } from '../../shared/lake/s3.ts';
import { log, registerSecret, setLogLevel } from '../../shared/log.ts';
import { createStatusHandler } from './handler.ts';

const cfg = loadStatusConfig(process.env);
setLogLevel(cfg.logLevel);
startTelemetry(loadTelemetryConfig(process.env, 'status'));
registerSecret(cfg.s3.secretAccessKey);
registerSecret(cfg.db.password);
if (cfg.db.connectionString) registerSecret(new URL(cfg.db.connectionString).password || undefined);

// Every session only reads, and no query runs longer than STATUS_QUERY_TIMEOUT_MS: session settings through libpq's
// PGOPTIONS, which pg reads for every connection it opens.
process.env['PGOPTIONS'] = [
  process.env['PGOPTIONS'],
  '-c default_transaction_read_only=on',
  `-c statement_timeout=${Math.floor(cfg.queryTimeoutMs)}`,
]
  .filter(Boolean)
  .join(' ');
const pool = createPool(cfg.db, cfg.dbPoolMax);

log.info('status page configured', {
  component: 'status',
  bucket: cfg.s3.bucket,
  database: cfg.db.connectionString ? 'DATABASE_URL' : `${cfg.db.user}@${cfg.db.host}/${cfg.db.database}`,
});
registerFunction('status', createStatusHandler(cfg, { pool, s3: s3Client(cfg.s3) }), {
  maxBodyBytes: cfg.maxBodyBytes,
});
