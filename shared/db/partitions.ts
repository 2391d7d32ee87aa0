// The time partitions of the fact tables: created before rows need them, listed, and dropped by retention.
import type { Pool } from 'pg';
import type { CountedDataset } from './coverage.ts';

/** How one fact table is cut (the fact_partitioning table of migration 005). */
export interface Partitioning {
  table: string;
  timeColumn: string;
  span: 'day' | 'month';
}

const DAY_MS = 86_400_000;

/** Start of the UTC day or month that holds `t`. */
export function periodStart(span: Partitioning['span'], t: number): number {
  if (span === 'day') return Math.floor(t / DAY_MS) * DAY_MS;
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** Start of the period after the one starting at `start`. */
export function periodEnd(span: Partitioning['span'], start: number): number {
  if (span === 'day') return start + DAY_MS;
  const d = new Date(start);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** Something that runs queries: a pool, or a client inside a transaction. */
type Queryable = Pick<Pool, 'query'>;

/** Per database (`name@server:port`): the partitioning of each table and the partitions known to exist. */
const databases = new Map<string, { spans: Map<string, Partitioning>; exist: Set<string> }>();
/** The database of each pool or connection, asked once. */
const identity = new WeakMap<object, string>();

async function state(db: Queryable) {
  let id = identity.get(db);
  if (id === undefined) {
    const { rows } = await db.query<{ id: string }>(
      `SELECT current_database() || '@' || coalesce(host(inet_server_addr()), 'socket') || ':' ||
              coalesce(inet_server_port(), 0) AS id`,
    );
    id = rows[0]?.id ?? '';
    identity.set(db, id);
  }
  let s = databases.get(id);
  if (!s) {
    const { rows } = await db.query<{ table_name: string; time_column: string; span: 'day' | 'month' }>(
      'SELECT table_name, time_column, span FROM fact_partitioning',
    );
    s = {
      spans: new Map(
        rows.map((r) => [r.table_name, { table: r.table_name, timeColumn: r.time_column, span: r.span }]),
      ),
      exist: new Set(),
    };
    databases.set(id, s);
  }
  return s;
}

/**
 * Makes sure the partitions of `table` that hold `times` exist, asking PostgreSQL only for periods this process has
 * not seen yet. Transform calls it before the rows' transaction (creating a partition locks its parent until the end
 * of the transaction); the writers call it again inside theirs, where it costs nothing unless a caller skipped the
 * first call. Returns how many partitions it created; a table that is not partitioned needs none.
 */
export async function ensurePartitions(
  db: Queryable,
  table: string,
  times: Iterable<number>,
): Promise<number> {
  const s = await state(db);
  const p = s.spans.get(table);
  if (!p) return 0;
  const starts = new Set<number>();
  for (const t of times) starts.add(periodStart(p.span, t));
  const missing = new Map<string, number>();
  for (const start of starts) {
    const k = `${table}@${start}`;
    if (!s.exist.has(k)) missing.set(k, start);
  }
  if (missing.size === 0) return 0;
  const { rows } = await db.query<{ n: number }>('SELECT ensure_partitions($1, $2::timestamptz[]) AS n', [
    table,
    [...missing.values()].map((t) => new Date(t)),
  ]);
  for (const k of missing.keys()) s.exist.add(k);
  return rows[0]?.n ?? 0;
}

/** Forgets which partitions exist (after retention dropped some, or a write found one missing). */
export function forgetPartitions(): void {
  databases.clear();
}

/** One partition of a fact table with its period [from, to). */
export interface PartitionInfo {
  name: string;
  table: string;
  from: number;
  to: number;
}

/** The partitions of `table`, oldest first, read from their names (`<table>_YYYYMMDD` or `<table>_YYYYMM`). */
export async function listPartitions(pool: Pool, table: string): Promise<PartitionInfo[]> {
  const s = await state(pool);
  const p = s.spans.get(table);
  if (!p) return [];
  const { rows } = await pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = to_regclass($1) ORDER BY c.relname`,
    [table],
  );
  const out: PartitionInfo[] = [];
  for (const r of rows) {
    const m = /_(\d{4})(\d{2})(\d{2})?$/.exec(r.name);
    if (!m) continue;
    const from = Date.UTC(Number(m[1]), Number(m[2]) - 1, m[3] === undefined ? 1 : Number(m[3]));
    out.push({ name: r.name, table, from, to: periodEnd(p.span, from) });
  }
  return out;
}

/**
 * The fact table of each dataset retention may cut. OHLCV is the history the pipeline exists for and is not among
 * them (its yearly coverage buckets of daily candles would straddle the partitions).
 */
export const RETAINABLE: Record<CountedDataset, string> = {
  trades: 'trades',
  tickers: 'ticker_snapshots',
  orderbook: 'orderbook_levels',
  funding: 'funding_rates',
};

/**
 * Drops the whole partitions of a dataset's table that end at or before `cutoff`, and their coverage, in one
 * transaction per partition. `dryRun` only lists them. Returns the partitions (dropped or to drop) with their rows.
 */
export async function dropPartitionsBefore(
  pool: Pool,
  dataset: keyof typeof RETAINABLE,
  cutoff: number,
  dryRun = false,
): Promise<Array<PartitionInfo & { rows: number }>> {
  const table = RETAINABLE[dataset];
  const old = (await listPartitions(pool, table)).filter((p) => p.to <= cutoff);
  const out: Array<PartitionInfo & { rows: number }> = [];
  for (const p of old) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      // The lock ensure_partitions takes: no partition of this table is made while one is dropped.
      if (!dryRun)
        await client.query("SELECT pg_advisory_xact_lock(hashtextextended('partitions:' || $1, 0))", [table]);
      const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${p.name}`);
      if (!dryRun) {
        await client.query(`ALTER TABLE ${table} DETACH PARTITION ${p.name}`);
        await client.query(`DROP TABLE ${p.name}`);
        await client.query(
          'DELETE FROM series_coverage WHERE dataset = $1 AND day >= $2::date AND day < $3::date',
          [dataset, new Date(p.from).toISOString().slice(0, 10), new Date(p.to).toISOString().slice(0, 10)],
        );
      }
      await client.query('COMMIT');
      out.push({ ...p, rows: Number(rows[0]?.n ?? 0) });
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
  if (!dryRun && old.length > 0) forgetPartitions();
  return out;
}
