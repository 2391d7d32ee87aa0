// What is loaded, what is missing, what failed: the queries behind `npm run report` and the status page.
import type { Pool } from '../db/pool.ts';
import { BucketGrid, bucketOf, slotState, type Series } from '../db/coverage.ts';
import type { Dataset } from '../events/schemas.ts';
import { candleOpen, nextOpen, parseTimeframe, type Timeframe } from '../time.ts';
import { unreachable } from '../unreachable.ts';
import { inParts, type PartFailure } from './parts.ts';

/** Narrows a report; every field is optional and exact (no patterns). */
export interface ReportFilter {
  exchange?: string;
  dataset?: Dataset;
  symbol?: string;
  /** OHLCV timeframe (`1m`); only OHLCV series have one. */
  timeframe?: string;
}

/** A time range [from, to). */
export interface TimeRange {
  from: Date;
  to: Date;
}

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

/** An event the Broker gave up on, as stored under `_dead-letters/`; the reason fields when it could be read. */
export interface DeadLetter {
  key: string;
  type?: string | null;
  id?: string | null;
  exchange?: string | null;
  dataset?: string | null;
  /** When the dead-letter receiver stored it (the `date=` of the key), or the event's time. */
  time?: string | null;
  /** Knative's `knativeerrorcode`: the HTTP status of the last refusal. */
  code?: string | null;
  /** Knative's `knativeerrordest`: who refused it. */
  destination?: string | null;
  /** The refusing answer's body (`knativeerrordata`, decoded), or why the object could not be read. */
  reason?: string | null;
}

/** Everything `report` shows. */
export interface Report {
  generatedAt: string;
  series: SeriesReport[];
  gaps: GapReport[];
  /** The range `gaps` lists (the gaps overlapping it), or null for every gap; `series` counts every gap. */
  gapRange: { from: string | null; to: string | null } | null;
  findings: Array<{ exchange: string; dataset: string; check: string; count: number; latest: string }>;
  rejected: Array<{ key: string; reason: string; at: string }>;
  deadLetters: DeadLetter[];
  /** The parts that could not be given within the time budget, or failed; they are shown empty. */
  unavailable: PartFailure[];
}

const iso = (v: unknown) =>
  v instanceof Date ? v.toISOString() : v === null || v === undefined ? null : String(v);

/** False when the filter names another dataset than OHLCV (so an OHLCV query can be skipped). */
const onlyOhlcv = (filter: ReportFilter) => filter.dataset === undefined || filter.dataset === 'ohlcv';

/** Per series: first and last candle, count, gaps, freshness (against `now`), findings. */
export async function seriesReport(
  pool: Pool,
  now: Date,
  filter: ReportFilter = {},
): Promise<SeriesReport[]> {
  if (!onlyOhlcv(filter)) return [];
  // From the coverage (ohlcv_coverage, kept by transform), never from the ohlcv rows: as fast at 20 million candles as
  // at a thousand.
  const { rows } = await pool.query(
    `SELECT c.exchange, c.symbol, c.timeframe, min(c.first_open) AS first, max(c.last_open) AS last,
            max(c.last_closed) AS last_closed, sum(c.closed + c.open)::int AS candles,
            coalesce(g.gaps, 0)::int AS gaps, coalesce(g.missing, 0)::int AS missing,
            extract(epoch FROM $1::timestamptz - next_open(c.timeframe, max(c.last_closed)))::int AS lag,
            coalesce(f.n, 0)::int AS findings
       FROM ohlcv_coverage c
       LEFT JOIN (SELECT exchange, symbol, timeframe, count(*) AS gaps, sum(missing_candles) AS missing FROM ohlcv_gaps
                   WHERE ($2::text IS NULL OR exchange = $2) AND ($3::text IS NULL OR symbol = $3)
                     AND ($4::text IS NULL OR timeframe = $4)
                   GROUP BY 1, 2, 3) g
              USING (exchange, symbol, timeframe)
       LEFT JOIN (SELECT exchange, symbol, series AS timeframe, count(*) AS n FROM dq_findings WHERE dataset = 'ohlcv' GROUP BY 1, 2, 3) f
              USING (exchange, symbol, timeframe)
      WHERE ($2::text IS NULL OR c.exchange = $2) AND ($3::text IS NULL OR c.symbol = $3)
        AND ($4::text IS NULL OR c.timeframe = $4)
      GROUP BY c.exchange, c.symbol, c.timeframe, g.gaps, g.missing, f.n
      ORDER BY c.exchange, c.symbol, c.timeframe`,
    [now, filter.exchange ?? null, filter.symbol ?? null, filter.timeframe ?? null],
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

/** Every gap, oldest first; with `range`, only the gaps that overlap it (whole, not clipped; either end may be open). */
export async function gapsReport(
  pool: Pool,
  filter: ReportFilter = {},
  range?: Partial<TimeRange>,
): Promise<GapReport[]> {
  if (!onlyOhlcv(filter)) return [];
  const { rows } = await pool.query(
    `SELECT exchange, symbol, timeframe, gap_start, gap_end, missing_candles::int AS missing FROM ohlcv_gaps
      WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR symbol = $2) AND ($3::text IS NULL OR timeframe = $3)
        AND ($4::timestamptz IS NULL OR gap_end > $4) AND ($5::timestamptz IS NULL OR gap_start < $5)
      ORDER BY exchange, symbol, timeframe, gap_start`,
    [
      filter.exchange ?? null,
      filter.symbol ?? null,
      filter.timeframe ?? null,
      range?.from ?? null,
      range?.to ?? null,
    ],
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

/** The `exchange=<x>/dataset=<d>/` prefix of raw keys a filter selects ('' for all). */
function keyPrefix(filter: ReportFilter): string | null {
  if (filter.exchange === undefined) return null;
  return `exchange=${filter.exchange}/` + (filter.dataset ? `dataset=${filter.dataset}/` : '');
}

/** Data-quality findings by exchange, dataset and check; rejected objects, newest first. */
export async function failuresReport(
  pool: Pool,
  filter: ReportFilter = {},
): Promise<Pick<Report, 'findings' | 'rejected'>> {
  const findings = await pool.query(
    `SELECT exchange, dataset, check_name, count(*)::int AS n, max(ts) AS latest FROM dq_findings
      WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR dataset = $2)
      GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    [filter.exchange ?? null, filter.dataset ?? null],
  );
  const rejected = await pool.query(
    `SELECT object_key, reason, rejected_at FROM rejected_objects
      WHERE ($1::text IS NULL OR left(object_key, length($1)) = $1)
        AND ($2::text IS NULL OR object_key LIKE '%/dataset=' || $2 || '/%')
      ORDER BY rejected_at DESC, object_key LIMIT 100`,
    [keyPrefix(filter), filter.exchange === undefined ? (filter.dataset ?? null) : null],
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

/**
 * The whole report: series, gaps (those overlapping `gapRange` when given: a long history has thousands), findings,
 * rejected objects, and the dead letters waiting in the raw bucket (keys, or dead letters already read with their
 * reasons).
 */
export async function buildReport(
  pool: Pool,
  deadLetters: () => Promise<Array<string | DeadLetter>>,
  now: Date,
  filter: ReportFilter = {},
  budgetMs = 10_000,
  gapRange?: Partial<TimeRange>,
): Promise<Report> {
  // A database that cannot be reached at all is one answer for the whole report (the command says so in one line).
  const { values, unavailable } = await inParts(
    {
      series: { run: () => seriesReport(pool, now, filter), fallback: [] as SeriesReport[] },
      gaps: { run: () => gapsReport(pool, filter, gapRange), fallback: [] as GapReport[] },
      failures: {
        run: () => failuresReport(pool, filter),
        fallback: { findings: [], rejected: [] } as Pick<Report, 'findings' | 'rejected'>,
      },
      deadLetters: { run: deadLetters, fallback: [] as Array<string | DeadLetter> },
    },
    budgetMs,
    (err) => unreachable(err) !== undefined,
  );
  return {
    generatedAt: now.toISOString(),
    series: values.series,
    gaps: values.gaps,
    gapRange: gapRange
      ? { from: gapRange.from?.toISOString() ?? null, to: gapRange.to?.toISOString() ?? null }
      : null,
    ...values.failures,
    deadLetters: values.deadLetters.map((d) => (typeof d === 'string' ? { key: d } : d)),
    unavailable,
  };
}

/** The OHLCV timeframes the PingSources of knative/base/extract bring, each as often as its own length. */
export const SCHEDULED_TIMEFRAMES: readonly string[] = ['1m'];

/**
 * How often the schedules in knative/base/extract (PingSources) bring each dataset, in seconds; null: on demand only.
 * OHLCV: see SCHEDULED_TIMEFRAMES (other timeframes come from backfills and repairs only).
 */
export const SCHEDULE_SECONDS: Record<Exclude<Dataset, 'ohlcv'>, number | null> = {
  tickers: 60,
  funding: 8 * 3600,
  markets: 24 * 3600,
  trades: null,
  orderbook: null,
};

/** Freshness against the schedule: ok (green), late (amber), stale (red), or unscheduled / not yet closed. */
export type Freshness = 'ok' | 'late' | 'stale' | 'unscheduled';

/**
 * Green while at most one schedule interval (plus slack for the run itself) was missed, amber up to four, red after.
 * Slack is the interval itself, at least 2 minutes.
 */
export function freshness(lagSeconds: number | null, everySeconds: number | null): Freshness {
  if (everySeconds === null) return 'unscheduled';
  if (lagSeconds === null) return 'late';
  const slack = Math.max(everySeconds, 120);
  if (lagSeconds <= everySeconds + slack) return 'ok';
  if (lagSeconds <= 4 * everySeconds + slack) return 'late';
  return 'stale';
}

/** Seconds of a timeframe (`1m` → 60, a month as 30 days); null when it is not one. */
export function timeframeSeconds(tf: string): number | null {
  const m = /^(\d+)([smhdwM])$/.exec(tf);
  if (!m) return null;
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, M: 2592000 }[m[2] as 's'];
  return Number(m[1]) * unit;
}

/** One entry of the catalogue: a series of any dataset (OHLCV per timeframe, markets per exchange). */
export interface CatalogueEntry {
  exchange: string;
  dataset: Dataset;
  /** '' for markets (all instruments of the exchange). */
  symbol: string;
  /** The OHLCV timeframe, else ''. */
  series: string;
  first: string;
  last: string;
  /** OHLCV: newest closed candle. */
  lastClosed: string | null;
  /** Rows (order books: snapshots; markets: instruments). */
  records: number;
  /** Seconds since the newest record (OHLCV: since the newest closed candle ended). */
  lagSeconds: number | null;
  /** Expected interval between records from the schedule; null when on demand. */
  everySeconds: number | null;
  freshness: Freshness;
  findings: number;
  /** OHLCV only (else 0). */
  gaps: number;
  missingCandles: number;
}

/** Per dataset other than OHLCV: first, last and records of each series, from the coverage (markets: instruments). */
const NON_OHLCV: Record<Exclude<Dataset, 'ohlcv'>, string> = {
  trades: 'trades',
  tickers: 'tickers',
  orderbook: 'orderbook',
  funding: 'funding',
  markets: `SELECT exchange, 'markets'::text, ''::text, min(extracted_at), max(extracted_at), count(*)::int
              FROM instruments WHERE ($2::text IS NULL OR exchange = $2) AND $3::text IS NULL GROUP BY exchange`,
};

/** The SELECT of the catalogue's non-OHLCV part for some datasets. */
function nonOhlcvQuery(datasets: Array<Exclude<Dataset, 'ohlcv'>>): string {
  const counted = datasets.filter((d) => d !== 'markets');
  const parts = counted.length
    ? [
        `SELECT exchange, dataset, symbol, min(first_ts), max(last_ts), sum(records)::int FROM series_coverage
          WHERE dataset IN (${counted.map((d) => `'${NON_OHLCV[d]}'`).join(', ')})
            AND ($2::text IS NULL OR exchange = $2) AND ($3::text IS NULL OR symbol = $3)
          GROUP BY exchange, dataset, symbol`,
      ]
    : [];
  if (datasets.includes('markets')) parts.push(NON_OHLCV.markets);
  return parts.join('\n UNION ALL ');
}

/**
 * The catalogue: every series of every dataset with first and latest record, lag and freshness against the
 * schedule, findings and (OHLCV) gaps. Ordered by exchange, dataset, symbol, series.
 */
export async function catalogueReport(
  pool: Pool,
  now: Date,
  filter: ReportFilter = {},
): Promise<CatalogueEntry[]> {
  const others = (Object.keys(NON_OHLCV) as Array<keyof typeof NON_OHLCV>).filter(
    (d) => filter.timeframe === undefined && (filter.dataset === undefined || filter.dataset === d),
  );
  const [ohlcv, rest] = await Promise.all([
    seriesReport(pool, now, filter),
    others.length === 0
      ? Promise.resolve({ rows: [] as Array<Record<string, unknown>> })
      : pool.query(
          `SELECT d.exchange, d.dataset, d.symbol, d.first, d.last, d.records,
                  extract(epoch FROM $1::timestamptz - d.last)::int AS lag, coalesce(f.n, 0)::int AS findings
             FROM (${nonOhlcvQuery(others)}) d (exchange, dataset, symbol, first, last, records)
             LEFT JOIN (SELECT exchange, dataset, symbol, count(*) AS n FROM dq_findings WHERE series = '' GROUP BY 1, 2, 3) f
                    USING (exchange, dataset, symbol)`,
          [now, filter.exchange ?? null, filter.symbol ?? null],
        ),
  ]);
  const entries: CatalogueEntry[] = [
    ...ohlcv.map((s): CatalogueEntry => {
      const every = SCHEDULED_TIMEFRAMES.includes(s.timeframe) ? timeframeSeconds(s.timeframe) : null;
      return {
        exchange: s.exchange,
        dataset: 'ohlcv',
        symbol: s.symbol,
        series: s.timeframe,
        first: s.first,
        last: s.last,
        lastClosed: s.lastClosed,
        records: s.candles,
        lagSeconds: s.lagSeconds,
        everySeconds: every,
        freshness: freshness(s.lagSeconds, every),
        findings: s.findings,
        gaps: s.gaps,
        missingCandles: s.missingCandles,
      };
    }),
    ...rest.rows.map((r): CatalogueEntry => {
      const dataset = r['dataset'] as keyof typeof SCHEDULE_SECONDS;
      const every = SCHEDULE_SECONDS[dataset];
      const lag = r['lag'] as number | null;
      return {
        exchange: r['exchange'] as string,
        dataset,
        symbol: r['symbol'] as string,
        series: '',
        first: iso(r['first']) as string,
        last: iso(r['last']) as string,
        lastClosed: null,
        records: r['records'] as number,
        lagSeconds: lag,
        everySeconds: every,
        freshness: freshness(lag, every),
        findings: r['findings'] as number,
        gaps: 0,
        missingCandles: 0,
      };
    }),
  ];
  const key = (e: CatalogueEntry) => [e.exchange, e.dataset, e.symbol, e.series];
  return entries.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < ka.length; i++) {
      const c = (ka[i] as string) < (kb[i] as string) ? -1 : (ka[i] as string) > (kb[i] as string) ? 1 : 0;
      if (c !== 0) return c;
    }
    return 0;
  });
}

/**
 * State of one candle slot: present (closed candle), open (a candle not closed yet, or a partial one left behind),
 * missing (no candle between two that exist: a gap), late (no candle after the newest one, though its interval is
 * over: the next run catches up), pending (the interval running now, not fetched yet).
 */
export type SlotState = 'present' | 'open' | 'missing' | 'late' | 'pending';

/** A run of consecutive slots in the same state: [start, end). */
export interface CoverageSegment {
  start: string;
  end: string;
  state: SlotState;
  candles: number;
}

/** The coverage of one OHLCV series over a range, as Dagster shows partitions. */
export interface SeriesCoverage {
  exchange: string;
  symbol: string;
  timeframe: string;
  /** The series' first candle ever: slots before it are not expected. */
  first: string;
  /** Segments in time order, covering the slots from max(range start, first) to min(range end, now). */
  segments: CoverageSegment[];
  counts: Record<SlotState, number>;
}

/** The coverage of the OHLCV series a filter selects; `skipped` lists series with more than `maxSlots` slots. */
export interface CoverageReport {
  from: string;
  to: string;
  series: SeriesCoverage[];
  skipped: Array<{ exchange: string; symbol: string; timeframe: string; slots: number }>;
}

/**
 * The coverage of every selected OHLCV series over [from, to) at `now`: consecutive candle slots (aligned to each
 * series' first candle) in the same state, as segments. A series whose range holds more than `maxSlots` candles is
 * skipped (listed) rather than making a huge strip. A timeframe no schedule brings (a backfill) is expected only up to
 * its newest candle.
 */
export async function coverageReport(
  pool: Pool,
  range: TimeRange & { now: Date },
  filter: ReportFilter = {},
  maxSlots = 20_160,
): Promise<CoverageReport> {
  const out: CoverageReport = {
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    series: [],
    skipped: [],
  };
  if (!onlyOhlcv(filter)) return out;
  const end = Math.min(range.to.getTime(), range.now.getTime());
  const series = await pool.query(
    `SELECT exchange, symbol, timeframe, min(first_open) AS first, max(last_open) AS last
       FROM ohlcv_coverage
      WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR symbol = $2) AND ($3::text IS NULL OR timeframe = $3)
      GROUP BY exchange, symbol, timeframe
     HAVING min(first_open) < $4::timestamptz
      ORDER BY exchange, symbol, timeframe`,
    [filter.exchange ?? null, filter.symbol ?? null, filter.timeframe ?? null, new Date(end)],
  );
  type Kept = Series & { tf: Timeframe; first: number; last: number; start: number; stop: number };
  const kept: Kept[] = [];
  for (const s of series.rows) {
    const tf = parseTimeframe(s.timeframe as string);
    if (!tf) continue;
    const first = (s.first as Date).getTime();
    const last = (s.last as Date).getTime();
    const start = candleOpen(tf, Math.max(range.from.getTime(), first));
    const stop = SCHEDULED_TIMEFRAMES.includes(tf.text) ? end : Math.min(end, nextOpen(tf, last));
    const slots = Math.ceil((stop - start) / tf.ms);
    if (slots > maxSlots)
      out.skipped.push({ exchange: s.exchange, symbol: s.symbol, timeframe: s.timeframe, slots });
    else if (slots > 0 && stop > range.from.getTime())
      kept.push({
        exchange: s.exchange,
        symbol: s.symbol,
        timeframe: s.timeframe,
        tf,
        first,
        last,
        start,
        stop,
      });
  }
  if (kept.length === 0 || end <= range.from.getTime()) return out;
  // The bitmaps of the buckets the range touches, per series (never the ohlcv rows).
  const { rows } = await pool.query<{
    exchange: string;
    symbol: string;
    timeframe: string;
    bucket: Date;
    closed_bits: Buffer;
    open_bits: Buffer;
  }>(
    `SELECT c.exchange, c.symbol, c.timeframe, c.bucket, c.closed_bits, c.open_bits
       FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[]) AS s (exchange, symbol, timeframe, lo, hi)
       JOIN ohlcv_coverage c ON c.exchange = s.exchange AND c.symbol = s.symbol AND c.timeframe = s.timeframe
                            AND c.bucket >= s.lo AND c.bucket < s.hi`,
    [
      kept.map((k) => k.exchange),
      kept.map((k) => k.symbol),
      kept.map((k) => k.timeframe),
      kept.map((k) => new Date(bucketOf(k.tf, k.start))),
      kept.map((k) => new Date(k.stop)),
    ],
  );
  const bits = new Map<string, { closed: Uint8Array; open: Uint8Array }>();
  for (const r of rows)
    bits.set(`${r.exchange}\n${r.symbol}\n${r.timeframe}\n${r.bucket.getTime()}`, {
      closed: r.closed_bits,
      open: r.open_bits,
    });
  const now = range.now.getTime();
  for (const k of kept) {
    const c: SeriesCoverage = {
      exchange: k.exchange,
      symbol: k.symbol,
      timeframe: k.timeframe,
      first: new Date(k.first).toISOString(),
      segments: [],
      counts: { present: 0, open: 0, missing: 0, late: 0, pending: 0 },
    };
    let grid: BucketGrid | undefined;
    let bucket: { closed: Uint8Array; open: Uint8Array } | undefined;
    let run: CoverageSegment | undefined;
    for (let t = k.start; t < k.stop; t = nextOpen(k.tf, t)) {
      const b = bucketOf(k.tf, t);
      if (grid?.bucket !== b) {
        grid = new BucketGrid(k.tf, b);
        bucket = bits.get(`${k.exchange}\n${k.symbol}\n${k.timeframe}\n${b}`);
      }
      const held = bucket ? slotState(bucket, grid.index(t)) : undefined;
      const state: SlotState =
        held === 'closed'
          ? 'present'
          : held === 'open'
            ? 'open'
            : t < k.last
              ? 'missing'
              : nextOpen(k.tf, t) > now
                ? 'pending'
                : 'late';
      c.counts[state]++;
      if (run?.state === state) {
        run.end = new Date(nextOpen(k.tf, t)).toISOString();
        run.candles++;
      } else {
        run = {
          start: new Date(t).toISOString(),
          end: new Date(nextOpen(k.tf, t)).toISOString(),
          state,
          candles: 1,
        };
        c.segments.push(run);
      }
    }
    out.series.push(c);
  }
  return out;
}

/** Per exchange and dataset: the newest load by transform and what loaded (or was rejected) within a range. */
export interface StreamRuns {
  exchange: string;
  dataset: string;
  lastLoadedAt: string | null;
  lastKey: string | null;
  lastRows: number | null;
  lastEventId: string | null;
  /** Objects, rows and findings loaded within the range. */
  objects: number;
  rows: number;
  findings: number;
  /** Objects rejected within the range, and the newest rejection ever with its reason. */
  rejected: number;
  lastRejectedAt: string | null;
  lastRejectReason: string | null;
}

/** One run of the chain for one raw object: extract's batch (event id) → load-raw's object → transform's load. */
export interface RunEntry {
  status: 'loaded' | 'rejected';
  at: string;
  exchange: string | null;
  dataset: string | null;
  key: string;
  eventId: string | null;
  rows: number | null;
  findings: number | null;
  reason: string | null;
}

/** What `ingestion_ledger` and `rejected_objects` say about the runs: per stream, and the newest `limit` runs. */
export interface RunsReport {
  streams: StreamRuns[];
  recent: RunEntry[];
}

/** Runs from the ledger (loaded objects) and rejected objects, per exchange and dataset and the newest ones. */
export async function runsReport(
  pool: Pool,
  range: TimeRange,
  filter: ReportFilter = {},
  limit = 25,
): Promise<RunsReport> {
  const params = [filter.exchange ?? null, filter.dataset ?? null, range.from, range.to];
  // rejected_objects has no exchange/dataset columns: they come from the key (exchange=<x>/dataset=<d>/...).
  const rejectedRows = `SELECT substring(object_key FROM '^exchange=([^/]+)/') AS exchange,
                               substring(object_key FROM '^exchange=[^/]+/dataset=([^/]+)/') AS dataset,
                               object_key, reason, rejected_at FROM rejected_objects`;
  const [streams, last, rejected, recent] = await Promise.all([
    pool.query(
      `SELECT exchange, dataset, max(loaded_at) AS last_loaded,
              count(*) FILTER (WHERE loaded_at >= $3 AND loaded_at < $4)::int AS objects,
              coalesce(sum(rows) FILTER (WHERE loaded_at >= $3 AND loaded_at < $4), 0)::int AS rows,
              coalesce(sum(findings) FILTER (WHERE loaded_at >= $3 AND loaded_at < $4), 0)::int AS findings
         FROM ingestion_ledger
        WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR dataset = $2)
        GROUP BY exchange, dataset`,
      params,
    ),
    pool.query(
      `SELECT DISTINCT ON (exchange, dataset) exchange, dataset, object_key, rows, event_id
         FROM ingestion_ledger
        WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR dataset = $2)
        ORDER BY exchange, dataset, loaded_at DESC, object_key`,
      params.slice(0, 2),
    ),
    pool.query(
      `SELECT exchange, dataset, count(*) FILTER (WHERE rejected_at >= $3 AND rejected_at < $4)::int AS n,
              max(rejected_at) AS last_at,
              (array_agg(reason ORDER BY rejected_at DESC, object_key))[1] AS last_reason
         FROM (${rejectedRows}) r
        WHERE exchange IS NOT NULL AND ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR dataset = $2)
        GROUP BY exchange, dataset`,
      params,
    ),
    pool.query(
      `SELECT * FROM (
         SELECT 'loaded' AS status, loaded_at AS at, exchange, dataset, object_key, event_id, rows, findings, NULL AS reason
           FROM ingestion_ledger
          WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR dataset = $2)
         UNION ALL
         SELECT 'rejected', rejected_at, exchange, dataset, object_key, NULL, NULL, NULL, reason
           FROM (${rejectedRows}) r
          WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR dataset = $2)
       ) u ORDER BY at DESC, object_key LIMIT $3`,
      [...params.slice(0, 2), limit],
    ),
  ]);
  const map = new Map<string, StreamRuns>();
  const entry = (exchange: string, dataset: string): StreamRuns => {
    const k = `${exchange}\n${dataset}`;
    let e = map.get(k);
    if (!e) {
      e = {
        exchange,
        dataset,
        lastLoadedAt: null,
        lastKey: null,
        lastRows: null,
        lastEventId: null,
        objects: 0,
        rows: 0,
        findings: 0,
        rejected: 0,
        lastRejectedAt: null,
        lastRejectReason: null,
      };
      map.set(k, e);
    }
    return e;
  };
  for (const r of streams.rows)
    Object.assign(entry(r.exchange, r.dataset), {
      lastLoadedAt: iso(r.last_loaded),
      objects: r.objects,
      rows: r.rows,
      findings: r.findings,
    });
  for (const r of last.rows)
    Object.assign(entry(r.exchange, r.dataset), {
      lastKey: r.object_key,
      lastRows: r.rows,
      lastEventId: r.event_id,
    });
  for (const r of rejected.rows)
    Object.assign(entry(r.exchange, r.dataset ?? ''), {
      rejected: r.n,
      lastRejectedAt: iso(r.last_at),
      lastRejectReason: r.last_reason,
    });
  return {
    streams: [...map.values()].sort((a, b) =>
      a.exchange === b.exchange ? a.dataset.localeCompare(b.dataset) : a.exchange.localeCompare(b.exchange),
    ),
    recent: recent.rows.map((r) => ({
      status: r.status,
      at: iso(r.at) as string,
      exchange: r.exchange,
      dataset: r.dataset,
      key: r.object_key,
      eventId: r.event_id,
      rows: r.rows,
      findings: r.findings,
      reason: r.reason,
    })),
  };
}

/** One data-quality finding with its details. */
export interface FindingEntry {
  exchange: string;
  dataset: string;
  symbol: string;
  series: string;
  ts: string;
  check: string;
  details: string;
  sourceKey: string;
}

/** The newest `limit` data-quality findings with their details (as JSON text). */
export async function recentFindings(
  pool: Pool,
  filter: ReportFilter = {},
  limit = 50,
): Promise<FindingEntry[]> {
  const { rows } = await pool.query(
    `SELECT exchange, dataset, symbol, series, ts, check_name, details::text AS details, source_key FROM dq_findings
      WHERE ($1::text IS NULL OR exchange = $1) AND ($2::text IS NULL OR dataset = $2) AND ($3::text IS NULL OR symbol = $3)
      ORDER BY ts DESC, exchange, dataset, symbol, series, check_name LIMIT $4`,
    [filter.exchange ?? null, filter.dataset ?? null, filter.symbol ?? null, limit],
  );
  return rows.map((r) => ({
    exchange: r.exchange,
    dataset: r.dataset,
    symbol: r.symbol,
    series: r.series,
    ts: iso(r.ts) as string,
    check: r.check_name,
    details: r.details,
    sourceKey: r.source_key,
  }));
}

/** The exchanges with any data (a loose index scan of the coverage and instruments: cheap at any size). */
export async function knownExchanges(pool: Pool): Promise<string[]> {
  const tables = ['ohlcv_coverage', 'series_coverage', 'instruments'];
  const { rows } = await pool.query<{ x: string }>(
    tables
      .map(
        (t) => `(WITH RECURSIVE e AS (
                   SELECT min(exchange) AS x FROM ${t}
                   UNION ALL SELECT (SELECT min(exchange) FROM ${t} WHERE exchange > e.x) FROM e WHERE e.x IS NOT NULL
                 ) SELECT x FROM e WHERE x IS NOT NULL)`,
      )
      .join(' UNION ') + ' ORDER BY x',
  );
  return rows.map((r) => r.x);
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
    ...r.unavailable.map(
      (u) => `${u.part}: not shown, ${u.reason === 'timed_out' ? u.message : `failed: ${u.message}`}`,
    ),
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
  // A long history has thousands of gaps: the command lists those of a range, the series table counts them all.
  const range = r.gapRange;
  const bounds = [
    range?.from ? `--from=${range.from.slice(0, 16)}` : '',
    range?.to ? `--to=${range.to.slice(0, 16)}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const unlisted =
    range && !r.unavailable.some((u) => u.part === 'gaps' || u.part === 'series')
      ? r.series.reduce((n, s) => n + s.gaps, 0) - r.gaps.length
      : 0;
  if (r.gaps.length > 0)
    out.push(
      '',
      range ? `gaps overlapping ${bounds}` : 'gaps',
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
  if (unlisted > 0)
    out.push(
      '',
      `${unlisted} gap(s) outside ${bounds} not listed (the series table counts them; --from lists them)`,
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
    ...r.deadLetters
      .slice(0, 20)
      .map(
        (x) =>
          `  ${x.key}` +
          (x.code || x.reason
            ? `: ${[x.code, x.reason].filter(Boolean).join(' ').replace(/\s+/g, ' ').slice(0, 200)}`
            : ''),
      ),
  );
  return out.join('\n');
}
