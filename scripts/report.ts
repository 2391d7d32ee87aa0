// `npm run report [-- --json] [--exchange=binance] [--from=<time>] [--to=<time>]`: per series first/last candle, gaps,
// freshness, data-quality findings, rejected objects and dead letters, from PostgreSQL (DATABASE_URL / POSTGRESQL_*)
// and the raw bucket (the local run's when the environment names no deployment).
import { loadCommonConfig } from '../shared/config.ts';
import { createPool } from '../shared/db/pool.ts';
import { DEAD_LETTER_PREFIX, listKeys } from '../shared/lake/list.ts';
import { s3Client } from '../shared/lake/s3.ts';
import { buildReport, formatReport } from '../shared/report/queries.ts';
import { UsageError, durationFlag, instantFlag, operatorEnv, runOperator } from './lib/ops.ts';

/** Days of gaps listed when --from is not given. */
const GAP_DAYS = 7;

const USAGE = `npm run report -- [--json] [--exchange=binance] [--from=<time>] [--to=<time>] [--timeout=10s]
The series table counts every gap; the gap list holds those overlapping --from..--to (ISO-8601 or epoch ms; by
default the last ${GAP_DAYS} days). Each part (series, gaps, failures, dead letters) answers within --timeout or is
shown as not given (exit 1).
Database: DATABASE_URL or POSTGRESQL_*; raw bucket: S3_ENDPOINT or MINIO_*. With none of them set: the local run of npm start.`;

const COMMAND = {
  name: 'report',
  usage: USAGE,
  values: ['exchange', 'timeout', 'from', 'to'],
  switches: ['json'],
};

// Not awaited at the top level: run.mjs runs this as a classic script (a failure still ends the process, unhandled).
void runOperator(COMMAND, async (f) => {
  const cfg = loadCommonConfig(operatorEnv().env);
  const exchange = f.get('exchange');
  const budgetMs = durationFlag(f.get('timeout'), 'timeout', 10_000);
  const now = new Date();
  const from = instantFlag(f.get('from'), 'from') ?? now.getTime() - GAP_DAYS * 86_400_000;
  const to = instantFlag(f.get('to'), 'to');
  if (to !== undefined && to <= from) throw new UsageError('--to must be later than --from');
  // The server cancels what outlives the budget (libpq's PGOPTIONS, read by pg for every connection); the report only
  // reads, and its parts share the pool's connections.
  process.env['PGOPTIONS'] = [
    process.env['PGOPTIONS'],
    '-c default_transaction_read_only=on',
    `-c statement_timeout=${Math.ceil(budgetMs)}`,
  ]
    .filter(Boolean)
    .join(' ');
  const pool = createPool(cfg.db, 4);
  try {
    const s3 = s3Client(cfg.s3);
    const report = await buildReport(
      pool,
      () =>
        listKeys(s3, cfg.s3.bucket, DEAD_LETTER_PREFIX).catch((err: unknown) => {
          console.error(
            `report: cannot list the dead letters in the raw bucket (${(err as Error).message}); shown as none`,
          );
          return [];
        }),
      now,
      exchange ? { exchange } : {},
      budgetMs,
      { from: new Date(from), ...(to !== undefined ? { to: new Date(to) } : {}) },
    );
    console.log(f.has('json') ? JSON.stringify(report, null, 2) : formatReport(report));
    if (report.unavailable.length > 0) {
      console.error(
        `report: incomplete (${report.unavailable.map((u) => u.part).join(', ')}); narrow it with --exchange or give it more --timeout`,
      );
      process.exitCode = 1;
    }
  } finally {
    await pool.end();
  }
});
