// What is loaded, what is missing, what failed: the queries behind `npm run report` (and later the status page).
import type { Pool } from 'pg';

/** One OHLCV series and its state. */
export interface SeriesReport {
  exchange: string;
  symbol: string;
  timeframe: string;
  first: string;
  last: string;
  lastClosed: string | null;
  candles: number;
  gaps: number;
  missingCandles: number;
  /** Seconds since the newest closed candle ended. */
  lagSeconds: number | null;
  findings: number;
}

/** One gap of an OHLCV series: [start, end) and how many candles are missing. */
export interface GapReport {
  exchange: string;
  symbol: string;
  timeframe: string;
  start: string;
  end: string;
  missingCandles: number;
}

/** Everything `report` shows. */
export interface Report {
  generatedAt: string;
  series: SeriesReport[];
  gaps: GapReport[];
  findings: Array<{ exchange: string; dataset: string; check: string; count: number; latest: string }>;
  rejected: Array<{ key: string; reason: string; at: string }>;
  deadLetters: Array<{ key: string }>;
}

const iso = (v: unknown) =>
  v instanceof Date ? v.toISOString() : v === null || v === undefined ? null : String(v);

/** Per series: first and last candle, count, gaps, freshness (against `now`), findings. */
export async function seriesReport(
  pool: Pool,
  now: Date,
  filter: { exchange?: string } = {},
): Promise<SeriesReport[]> {
  const { rows } = await pool.query(
    `SELECT o.exchange, o.symbol, o.timeframe, min(o.open_time) AS first, max(o.open_time) AS last,
            max(o.open_time) FILTER (WHERE o.closed) AS last_closed, count(*)::int AS candles,
            coalesce(g.gaps, 0)::int AS gaps, coalesce(g.missing, 0)::int AS missing,
            extract(epoch FROM $1::timestamptz - (max(o.open_time) FILTER (WHERE o.closed) + timeframe_interval(o.timeframe)))::int AS lag,
            coalesce(f.n, 0)::int AS findings
       FROM ohlcv o
       LEFT JOIN (SELECT exchange, symbol, timeframe, count(*) AS gaps, sum(missing_candles) AS missing FROM ohlcv_gaps GROUP BY 1, 2, 3) g
              USING (exchange, symbol, timeframe)
       LEFT JOIN (SELECT exchange, symbol, series AS timeframe, count(*) AS n FROM dq_findings WHERE dataset = 'ohlcv' GROUP BY 1, 2, 3) f
              USING (exchange, symbol, timeframe)
      WHERE $2::text IS NULL OR o.exchange = $2
      GROUP BY o.exchange, o.symbol, o.timeframe, g.gaps, g.missing, f.n
      ORDER BY o.exchange, o.symbol, o.timeframe`,
    [now, filter.exchange ?? null],
  );
  return rows.map((r) => ({
    exchange: r.exchange,
    symbol: r.symbol,
    timeframe: r.timeframe,
    first: iso(r.first) as string,
    last: iso(r.last) as string,
    lastClosed: iso(r.last_closed),
    candles: r.candles,
    gaps: r.gaps,
    missingCandles: r.missing,
    lagSeconds: r.lag,
    findings: r.findings,
  }));
}

/** Every gap, oldest first. */
export async function gapsReport(pool: Pool, filter: { exchange?: string } = {}): Promise<GapReport[]> {
  const { rows } = await pool.query(
    `SELECT exchange, symbol, timeframe, gap_start, gap_end, missing_candles::int AS missing FROM ohlcv_gaps
      WHERE $1::text IS NULL OR exchange = $1 ORDER BY exchange, symbol, timeframe, gap_start`,
    [filter.exchange ?? null],
  );
  return rows.map((r) => ({
    exchange: r.exchange,
    symbol: r.symbol,
    timeframe: r.timeframe,
    start: iso(r.gap_start) as string,
    end: iso(r.gap_end) as string,
    missingCandles: r.missing,
  }));
}

/** Data-quality findings by exchange, dataset and check; rejected objects, newest first. */
export async function failuresReport(pool: Pool): Promise<Pick<Report, 'findings' | 'rejected'>> {
  const findings = await pool.query(
    `SELECT exchange, dataset, check_name, count(*)::int AS n, max(ts) AS latest FROM dq_findings GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
  );
  const rejected = await pool.query(
    `SELECT object_key, reason, rejected_at FROM rejected_objects ORDER BY rejected_at DESC LIMIT 100`,
  );
  return {
    findings: findings.rows.map((r) => ({
      exchange: r.exchange,
      dataset: r.dataset,
      check: r.check_name,
      count: r.n,
      latest: iso(r.latest) as string,
    })),
    rejected: rejected.rows.map((r) => ({
      key: r.object_key,
      reason: r.reason,
      at: iso(r.rejected_at) as string,
    })),
  };
}

/** The whole report: series, gaps, findings, rejected objects, and the dead letters waiting in the raw bucket. */
export async function buildReport(
  pool: Pool,
  deadLetters: () => Promise<string[]>,
  now: Date,
  filter: { exchange?: string } = {},
): Promise<Report> {
  const [series, gaps, failures, dead] = await Promise.all([
    seriesReport(pool, now, filter),
    gapsReport(pool, filter),
    failuresReport(pool),
    deadLetters(),
  ]);
  return {
    generatedAt: now.toISOString(),
    series,
    gaps,
    ...failures,
    deadLetters: dead.map((key) => ({ key })),
  };
}

/** The report as terminal tables. */
export function formatReport(r: Report): string {
  const table = (head: string[], rows: Array<Array<string | number | null>>) => {
    const cells = [head, ...rows.map((row) => row.map((c) => (c === null ? '-' : String(c))))];
    const widths = head.map((_, i) => Math.max(...cells.map((row) => (row[i] as string).length)));
    return cells
      .map((row) =>
        row
          .map((c, i) => (c as string).padEnd(widths[i] as number))
          .join('  ')
          .trimEnd(),
      )
      .join('\n');
  };
  const out = [
    `report at ${r.generatedAt}`,
    '',
    'OHLCV series',
    table(
      ['exchange', 'symbol', 'tf', 'first', 'last closed', 'candles', 'gaps', 'missing', 'lag s', 'findings'],
      r.series.map((s) => [
        s.exchange,
        s.symbol,
        s.timeframe,
        s.first.slice(0, 16),
        s.lastClosed?.slice(0, 16) ?? null,
        s.candles,
        s.gaps,
        s.missingCandles,
        s.lagSeconds,
        s.findings,
      ]),
    ),
  ];
  if (r.gaps.length > 0)
    out.push(
      '',
      'gaps',
      table(
        ['exchange', 'symbol', 'tf', 'from', 'to', 'missing'],
        r.gaps.map((g) => [
          g.exchange,
          g.symbol,
          g.timeframe,
          g.start.slice(0, 16),
          g.end.slice(0, 16),
          g.missingCandles,
        ]),
      ),
    );
  if (r.findings.length > 0)
    out.push(
      '',
      'data-quality findings',
      table(
        ['exchange', 'dataset', 'check', 'count', 'latest'],
        r.findings.map((f) => [f.exchange, f.dataset, f.check, f.count, f.latest.slice(0, 16)]),
      ),
    );
  out.push(
    '',
    `rejected objects: ${r.rejected.length}`,
    ...r.rejected.slice(0, 20).map((x) => `  ${x.key}: ${x.reason}`),
  );
  out.push(
    '',
    `dead letters: ${r.deadLetters.length}`,
    ...r.deadLetters.slice(0, 20).map((x) => `  ${x.key}`),
  );
  return out.join('\n');
}
