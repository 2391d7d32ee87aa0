// The PostgreSQL pool and the local run's database creation: the only module that opens pg connections.
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

/**
 * Creates database `name` on the server of `adminUrl` (a connection to an existing database) unless it exists, and
 * returns the URL of `name` on that server.
 */
export async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`'${name}' is not a plain database name`);
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export type { Pool, PoolClient } from 'pg';
