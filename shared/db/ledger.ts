// The ingestion ledger and the rejected objects: which raw object was loaded with which ETag, and which never can be.
import type { Pool, PoolClient } from 'pg';

/** An object loaded into the tables, as the ledger records it. */
export interface LoadedObject {
  bucket: string;
  key: string;
  etag: string;
  exchange: string;
  dataset: string;
  eventId: string;
  /** Records in the batch. */
  records: number;
  /** Rows written or replaced. */
  written: number;
  findings: number;
}

/** An object that can never load, with the reason and what helps to see why. */
export interface RejectedObject {
  bucket: string;
  key: string;
  etag: string;
  reason: string;
  details: Record<string, unknown>;
}

/** The ETag the ledger holds for s3://bucket/key, or undefined when the object was never loaded. */
export async function loadedEtag(pool: Pool, bucket: string, key: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ etag: string }>(
    'SELECT etag FROM ingestion_ledger WHERE bucket = $1 AND object_key = $2',
    [bucket, key],
  );
  return rows[0]?.etag;
}

/**
 * The statement that records a loaded object (replacing an earlier load of the same key), with its values written out
 * as literals: it goes into one simple query with the COMMIT of the transaction of the rows (inTransaction's
 * commitWith).
 */
export function loadedStatement(client: PoolClient, o: LoadedObject): string {
  const lit = (v: string) => client.escapeLiteral(v);
  const int = (n: number) => {
    if (!Number.isSafeInteger(n)) throw new Error(`${n} is not an integer`);
    return String(n);
  };
  return `INSERT INTO ingestion_ledger (bucket, object_key, etag, status, exchange, dataset, event_id, rows, row_counts, findings, loaded_at)
     VALUES (${lit(o.bucket)}, ${lit(o.key)}, ${lit(o.etag)}, 'loaded', ${lit(o.exchange)}, ${lit(o.dataset)}, ${lit(o.eventId)},
       ${int(o.records)}, ${lit(JSON.stringify({ records: o.records, written: o.written }))}::jsonb, ${int(o.findings)}, now())
     ON CONFLICT (bucket, object_key) DO UPDATE SET etag = EXCLUDED.etag, status = EXCLUDED.status, event_id = EXCLUDED.event_id,
       rows = EXCLUDED.rows, row_counts = EXCLUDED.row_counts, findings = EXCLUDED.findings, loaded_at = EXCLUDED.loaded_at`;
}

/** Records (or updates the reason of) an object that can never load. */
export async function recordRejected(pool: Pool, o: RejectedObject): Promise<void> {
  await pool.query(
    `INSERT INTO rejected_objects (bucket, object_key, etag, reason, details) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (bucket, object_key, etag) DO UPDATE SET reason = EXCLUDED.reason, details = EXCLUDED.details`,
    [o.bucket, o.key, o.etag, o.reason, JSON.stringify(o.details)],
  );
}
