// Retention: drops the whole time partitions of the fast-growing datasets once they are older than the configured
// age; the raw lake keeps every object, so `npm run reprocess` can bring any of it back.
import type { Pool } from '../db/pool.ts';
import { dropPartitionsBefore, RETAINABLE } from '../db/partitions.ts';
import type { TransformConfig } from '../config.ts';

/** The datasets retention may cut, in the order it cuts them. */
export const RETENTION_DATASETS = Object.keys(RETAINABLE) as Array<keyof typeof RETAINABLE>;

/** The setting that holds each dataset's retention. */
export const RETENTION_VARIABLE: Record<keyof typeof RETAINABLE, string> = {
  trades: 'RETENTION_TRADES',
  tickers: 'RETENTION_TICKERS',
  orderbook: 'RETENTION_ORDERBOOK',
  funding: 'RETENTION_FUNDING',
};

/** What retention did (or, in a dry run, would do) to one dataset. */
export interface RetentionOutcome {
  dataset: keyof typeof RETAINABLE;
  table: string;
  keepMs: number;
  /** Partitions ending at or before this instant are dropped. */
  cutoff: number;
  partitions: Array<{ name: string; from: number; to: number; rows: number }>;
}

/**
 * Applies the retention of every dataset that has one: drops the partitions whose whole period is older than
 * `now - keep`, with their coverage. A partition still holding a younger row is kept whole.
 */
export async function applyRetention(
  pool: Pool,
  retention: TransformConfig['retention'],
  opts: { now?: number; dryRun?: boolean } = {},
): Promise<RetentionOutcome[]> {
  const now = opts.now ?? Date.now();
  const out: RetentionOutcome[] = [];
  for (const dataset of RETENTION_DATASETS) {
    const keepMs = retention[dataset];
    if (keepMs === undefined) continue;
    const cutoff = now - keepMs;
    const dropped = await dropPartitionsBefore(pool, dataset, cutoff, opts.dryRun ?? false);
    out.push({
      dataset,
      table: RETAINABLE[dataset],
      keepMs,
      cutoff,
      partitions: dropped.map((p) => ({ name: p.name, from: p.from, to: p.to, rows: p.rows })),
    });
  }
  return out;
}

const day = (t: number) => new Date(t).toISOString().slice(0, 10);

/** One line per dataset: what was (or would be) dropped, and what the setting keeps. */
export function describeRetention(
  outcomes: readonly RetentionOutcome[],
  retention: TransformConfig['retention'],
  dryRun: boolean,
): string[] {
  const lines = outcomes.map((o) => {
    const rows = o.partitions.reduce((n, p) => n + p.rows, 0);
    const keep = `${RETENTION_VARIABLE[o.dataset]}=${o.keepMs / 86_400_000}d, before ${day(o.cutoff)}`;
    if (o.partitions.length === 0) return `${o.dataset}: nothing older than its retention (${keep})`;
    const first = o.partitions[0]!;
    const last = o.partitions[o.partitions.length - 1]!;
    return `${o.dataset}: ${dryRun ? 'would drop' : 'dropped'} ${o.partitions.length} partition(s) of ${o.table}, ${day(first.from)} to ${day(last.to - 1)}, ${rows} rows (${keep})`;
  });
  const off = RETENTION_DATASETS.filter((d) => retention[d] === undefined);
  if (off.length > 0)
    lines.push(
      `kept whole (no retention set): ${off.map((d) => `${d} (${RETENTION_VARIABLE[d]})`).join(', ')}`,
    );
  return lines;
}
