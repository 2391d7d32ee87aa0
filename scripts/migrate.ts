// `npm run migrate`: applies the SQL migrations to the database named by DATABASE_URL or POSTGRESQL_*.
import { loadCommonConfig } from '../shared/config.ts';
import { migrate } from '../shared/db/migrate.ts';
import { createPool } from '../shared/db/pool.ts';
import { startOrExit } from '../shared/errors.ts';

await startOrExit(async () => {
  const cfg = loadCommonConfig(process.env);
  const pool = createPool(cfg.db, 1);
  try {
    const applied = await migrate(pool);
    console.log(applied.length > 0 ? `applied migrations ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await pool.end();
  }
});
