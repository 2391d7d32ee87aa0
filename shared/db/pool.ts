// The PostgreSQL pool: the only module that creates pg connections; settings from the validated config.
import pg from 'pg';
import type { DatabaseSettings } from '../config.ts';

/** A pg pool for these settings. NUMERIC stays text (exact); timestamptz comes back as Date. */
export function createPool(db: DatabaseSettings, max = 4): pg.Pool {
  const base = db.connectionString
    ? { connectionString: db.connectionString }
    : { host: db.host, port: db.port, user: db.user, password: db.password, database: db.database };
  const pool = new pg.Pool({
    ...base,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    application_name: 'crypto-pipeline',
  });
  // An idle client that loses its server must not crash the process; the next query reports the failure.
  pool.on('error', () => undefined);
  return pool;
}

export type { Pool, PoolClient } from 'pg';
