// Shared by the reliability suites: seeds (RELIABILITY_SEED), a deterministic PRNG, and digests of every table.
import type { Pool } from 'pg';

/** Every table transform writes, with the columns that legitimately differ between two deliveries of one lake. */
export const PIPELINE_TABLES: ReadonlyArray<{ table: string; exclude: readonly string[] }> = [
  { table: 'instruments', exclude: [] },
  { table: 'ohlcv', exclude: [] },
  { table: 'trades', exclude: [] },
  { table: 'ticker_snapshots', exclude: [] },
  { table: 'orderbook_levels', exclude: [] },
  { table: 'funding_rates', exclude: [] },
  { table: 'dq_findings', exclude: [] },
  // loaded_at is the load time; row_counts.written counts rows this delivery inserted or replaced, which depends on
  // what an earlier (or concurrent) delivery already wrote.
  { table: 'ingestion_ledger', exclude: ['loaded_at', 'row_counts'] },
  { table: 'rejected_objects', exclude: ['rejected_at'] },
];

/** The data tables (rows that come from raw objects). */
export const DATA_TABLES = [
  'instruments',
  'ohlcv',
  'trades',
  'ticker_snapshots',
  'orderbook_levels',
  'funding_rates',
  'dq_findings',
] as const;

/**
 * A digest per table: md5 of every row as jsonb text (minus the excluded columns), in a total order, plus the row
 * count. Equal digests mean equal tables, value for value.
 */
export async function tableDigests(
  pool: Pool,
  opts: { excludeAlso?: Record<string, string[]> } = {},
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const { table, exclude } of PIPELINE_TABLES) {
    const drop = [...exclude, ...(opts.excludeAlso?.[table] ?? [])].map((c) => ` - '${c}'`).join('');
    const { rows } = await pool.query<{ n: number; h: string }>(
      `SELECT count(*)::int AS n, coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '') AS h
         FROM (SELECT (to_jsonb(x)${drop})::text AS r FROM ${table} x) s`,
    );
    out[table] = `${rows[0]?.n ?? 0}:${rows[0]?.h ?? ''}`;
  }
  return out;
}

/** Row counts of every pipeline table. */
export async function rowCounts(pool: Pool): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const { table } of PIPELINE_TABLES)
    out[table] = (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n ?? 0;
  return out;
}

/** Empties every pipeline table. */
export async function truncateAll(pool: Pool): Promise<void> {
  await pool.query(`TRUNCATE ${PIPELINE_TABLES.map((t) => t.table).join(', ')}`);
}

/** mulberry32: a small, fast, deterministic PRNG in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [min, max]. */
export function randInt(rand: () => number, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}

/** Fisher-Yates, in place, with `rand`. */
export function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/**
 * The seeds of a run: `RELIABILITY_SEED` alone when set (to re-run one failure), else `count` seeds
 * (`RELIABILITY_SEEDS` overrides the count) starting at `first`.
 */
export function reliabilitySeeds(count: number, first = 1): number[] {
  const one = process.env['RELIABILITY_SEED'];
  if (one !== undefined && one !== '') {
    const seed = Number(one);
    if (!Number.isInteger(seed))
      throw new Error(`RELIABILITY_SEED must be an integer, got ${JSON.stringify(one)}`);
    return [seed];
  }
  const n = Number(process.env['RELIABILITY_SEEDS'] ?? count);
  return Array.from({ length: Number.isInteger(n) && n > 0 ? n : count }, (_, i) => first + i);
}

/** Waits until `check` is true, polling; throws with `what` after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
