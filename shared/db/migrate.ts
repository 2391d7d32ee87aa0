// Versioned SQL migrations (shared/db/migrations/NNN_name.sql) applied in order, each in its own transaction.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Pool, PoolClient } from 'pg';
import { rebuildCoverage } from './coverage.ts';

/** One migration file. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The folder of the .sql files: beside this module in the sources, copied beside the bundle by the build. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

/** Reads NNN_name.sql files in version order. */
export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({
      version: Number(f.slice(0, 3)),
      name: f.slice(4, -4),
      sql: readFileSync(`${dir}/${f}`, 'utf8'),
    }));
}

/** Steps that follow a migration in its transaction, where SQL alone is not the right tool. */
const AFTER: Record<number, (c: PoolClient) => Promise<unknown>> = {
  // 005 creates the coverage tables: fill them from the rows already loaded.
  5: rebuildCoverage,
};

/**
 * Applies the migrations not yet applied, under an advisory lock so that concurrent starts do not race.
 * Returns the versions it applied.
 */
export async function migrate(pool: Pool, migrations = readMigrations()): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(7243190001)');
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set(
      (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await AFTER[m.version]?.(client);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
          m.version,
          m.name,
        ]);
        await client.query('COMMIT');
        applied.push(m.version);
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.version}_${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock(7243190001)').catch(() => undefined);
    client.release();
  }
}
