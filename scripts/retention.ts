// `npm run retention -- [--dry-run]`: drops the time partitions of trades, tickers, order books and funding rates
// older than RETENTION_TRADES / _TICKERS / _ORDERBOOK / _FUNDING (off unless set); the raw lake keeps everything.
import { loadTransformConfig } from '../shared/config.ts';
import { createPool } from '../shared/db/pool.ts';
import { applyRetention, describeRetention } from '../shared/ops/retention.ts';
import { operatorEnv, runOperator } from './lib/ops.ts';

const USAGE = `npm run retention -- [--dry-run]
Drops whole partitions older than each dataset's retention: RETENTION_TRADES, RETENTION_TICKERS, RETENTION_ORDERBOOK,
RETENTION_FUNDING (whole days such as 30d; unset keeps the dataset whole). OHLCV is never cut. --dry-run lists them.
Database: DATABASE_URL or POSTGRESQL_* (the tables' owner); with none set, the local run of npm start.`;

if (import.meta.url === `file://${process.argv[1]}`) {
  const command = { name: 'retention', usage: USAGE, values: [], switches: ['dry-run'] };
  await runOperator(command, async (f) => {
    const cfg = loadTransformConfig(operatorEnv().env);
    const dryRun = f.has('dry-run');
    const pool = createPool(cfg.db, 1);
    try {
      const outcomes = await applyRetention(pool, cfg.retention, { dryRun });
      for (const line of describeRetention(outcomes, cfg.retention, dryRun)) console.log(line);
    } finally {
      await pool.end();
    }
  });
}
