// Counting queries the operator commands and the local run wait on: candles of a window, rows per table.
import type { Pool } from 'pg';

/** A series and a window [since, until) in epoch milliseconds. */
export interface SeriesWindow {
  exchange: string;
  symbol: string;
  timeframe: string;
  since: number;
  until: number;
}

/** Closed candles of the series in PostgreSQL whose open time is inside the window. */
export async function countClosedCandles(pool: Pool, w: SeriesWindow): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ohlcv WHERE exchange = $1 AND symbol = $2 AND timeframe = $3
        AND closed AND open_time >= $4 AND open_time < $5`,
    [w.exchange, w.symbol, w.timeframe, new Date(w.since), new Date(w.until)],
  );
  return rows[0]!.n;
}

/** The tables a local run summarises at its end. */
const SUMMARY_TABLES = ['ohlcv', 'ticker_snapshots', 'ingestion_ledger', 'rejected_objects'] as const;

/** Rows per table of the local run's summary, in a fixed order. */
export async function tableRowCounts(pool: Pool): Promise<Array<{ table: string; rows: number }>> {
  const { rows } = await pool.query<{ t: string; n: number }>(
    SUMMARY_TABLES.map((t) => `SELECT '${t}' AS t, count(*)::int AS n FROM ${t}`).join(' UNION ALL '),
  );
  const counted = new Map(rows.map((r) => [r.t, r.n]));
  return SUMMARY_TABLES.map((table) => ({ table, rows: counted.get(table) ?? 0 }));
}
