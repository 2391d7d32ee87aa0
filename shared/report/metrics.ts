// What the status Service's /metrics says: per-series freshness, gaps and rows from the coverage, the raw lake's recent
// objects by state (loaded, rejected, waiting), rejected objects and dead letters; never a scan of the fact tables.
import type { S3Client } from '@aws-sdk/client-s3';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log.ts';
import { DEAD_LETTER_PREFIX, listKeys } from '../lake/list.ts';
import { listObjects, seriesDayPrefix, type ListedObject } from '../lake/inventory.ts';
import type { MetricFamily, Sample } from '../metrics/prometheus.ts';
import { inParts } from './parts.ts';
import { catalogueReport, type CatalogueEntry } from './queries.ts';

const DAY_MS = 86_400_000;

/** Limits of one collection. */
export interface MetricsOptions {
  now: Date;
  bucket: string;
  /** Series beyond this many (in catalogue order) are left out and counted in cryptopipe_metrics_series_dropped. */
  maxSeries: number;
  /** How far back the raw lake is looked at (objects whose data begins within it). */
  lakeWindowMs: number;
  /** Each part answers within this (else it is reported as not up and left out). */
  budgetMs: number;
  /** Errors that concern the whole answer (no database): thrown. */
  fatal?: (err: unknown) => boolean;
}

/** The raw lake's objects of the window per exchange and dataset. */
export interface LakeWindow {
  exchange: string;
  dataset: string;
  loaded: number;
  rejected: number;
  waiting: number;
  rowsLoaded: number;
  /** Write time (ms) of the oldest object neither loaded nor rejected; null when none waits. */
  oldestWaiting: number | null;
}

/** A series' raw-object prefix key (the batch key's layout): OHLCV per timeframe, trades and books per symbol. */
function lakeSeries(e: CatalogueEntry): { symbol: string | null; timeframe: string | null } | undefined {
  if (e.dataset === 'ohlcv') return { symbol: e.symbol, timeframe: e.series };
  if (e.dataset === 'trades' || e.dataset === 'orderbook') return { symbol: e.symbol, timeframe: null };
  return { symbol: null, timeframe: null };
}

/** `20261124T000000Z`: how a raw key writes the time its data begins. */
const compact = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');

/**
 * Lists the raw objects of every series whose data begins within [now - window, now] (by marker: each listing starts
 * at the window's first key, so a day of history costs nothing) and looks each key up in the ledger and the rejected
 * objects by primary key.
 */
export async function lakeWindow(
  pool: Pool,
  s3: S3Client,
  bucket: string,
  series: CatalogueEntry[],
  now: number,
  windowMs: number,
  concurrency = 8,
): Promise<LakeWindow[]> {
  const since = now - windowMs;
  const prefixes = new Map<string, { exchange: string; dataset: string; prefix: string; marker: string }>();
  for (const e of series) {
    const s = lakeSeries(e);
    if (!s) continue;
    for (let day = Math.floor(since / DAY_MS) * DAY_MS; day <= now; day += DAY_MS) {
      const prefix = seriesDayPrefix(e.exchange, e.dataset, s.symbol, s.timeframe, day);
      const marker = day < since ? `${prefix}${compact(since)}` : '';
      prefixes.set(prefix, { exchange: e.exchange, dataset: e.dataset, prefix, marker });
    }
  }
  const listed: Array<ListedObject & { exchange: string; dataset: string }> = [];
  const todo = [...prefixes.values()];
  await Promise.all(
    Array.from({ length: Math.min(concurrency, todo.length) }, async () => {
      for (let p = todo.shift(); p; p = todo.shift()) {
        const { exchange, dataset } = p;
        for (const o of await listObjects(s3, bucket, p.prefix, 5_000, p.marker || undefined))
          listed.push({ ...o, exchange, dataset });
      }
    }),
  );
  const out = new Map<string, LakeWindow>();
  const entry = (exchange: string, dataset: string) => {
    const k = `${exchange}\n${dataset}`;
    let w = out.get(k);
    if (!w) {
      w = { exchange, dataset, loaded: 0, rejected: 0, waiting: 0, rowsLoaded: 0, oldestWaiting: null };
      out.set(k, w);
    }
    return w;
  };
  for (const e of series) if (lakeSeries(e)) entry(e.exchange, e.dataset);
  if (listed.length === 0) return [...out.values()];
  const keys = listed.map((o) => o.key);
  const [loaded, rejected] = await Promise.all([
    pool.query<{ object_key: string; rows: number }>(
      'SELECT object_key, rows FROM ingestion_ledger WHERE bucket = $1 AND object_key = ANY($2::text[])',
      [bucket, keys],
    ),
    pool.query<{ object_key: string }>(
      'SELECT DISTINCT object_key FROM rejected_objects WHERE bucket = $1 AND object_key = ANY($2::text[])',
      [bucket, keys],
    ),
  ]);
  const rows = new Map(loaded.rows.map((r) => [r.object_key, r.rows]));
  const refused = new Set(rejected.rows.map((r) => r.object_key));
  for (const o of listed) {
    const w = entry(o.exchange, o.dataset);
    const n = rows.get(o.key);
    if (n !== undefined) {
      w.loaded++;
      w.rowsLoaded += n;
    } else if (refused.has(o.key)) w.rejected++;
    else {
      w.waiting++;
      if (w.oldestWaiting === null || o.modified < w.oldestWaiting) w.oldestWaiting = o.modified;
    }
  }
  return [...out.values()].sort((a, b) =>
    a.exchange === b.exchange ? a.dataset.localeCompare(b.dataset) : a.exchange.localeCompare(b.exchange),
  );
}

/** Rejected objects ever, per exchange and dataset of their key (the table holds only objects that never load). */
async function rejectedTotals(pool: Pool): Promise<Array<{ exchange: string; dataset: string; n: number }>> {
  const { rows } = await pool.query<{ exchange: string | null; dataset: string | null; n: number }>(
    `SELECT substring(object_key FROM '^exchange=([^/]+)/') AS exchange,
            substring(object_key FROM '^exchange=[^/]+/dataset=([^/]+)/') AS dataset, count(*)::int AS n
       FROM rejected_objects GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  return rows.map((r) => ({ exchange: r.exchange ?? '', dataset: r.dataset ?? '', n: r.n }));
}

/** Dead letters waiting under `_dead-letters/`, per event type (the key's second segment); listed, never read. */
async function deadLetterCounts(s3: S3Client, bucket: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const key of await listKeys(s3, bucket, DEAD_LETTER_PREFIX, 100_000)) {
    const type = key.slice(DEAD_LETTER_PREFIX.length).split('/')[1] ?? 'unknown';
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  return counts;
}

const seriesLabels = (e: CatalogueEntry) => ({
  exchange: e.exchange,
  dataset: e.dataset,
  symbol: e.symbol,
  timeframe: e.series,
});

/** Remembers the lake window for a while: listing it costs one S3 request per series, scrapes come often. */
export class LakeWindowCache {
  private last: { at: number; value: Promise<LakeWindow[]> } | undefined;

  constructor(private readonly ttlMs: number) {}

  get(now: number, compute: () => Promise<LakeWindow[]>): Promise<LakeWindow[]> {
    if (this.last && now - this.last.at < this.ttlMs && now >= this.last.at) return this.last.value;
    const value = compute();
    this.last = { at: now, value };
    value.catch(() => {
      if (this.last?.value === value) this.last = undefined;
    });
    return value;
  }
}

/** Collects every family of /metrics. */
export async function collectMetrics(
  deps: { pool: Pool; s3: S3Client; lakeCache?: LakeWindowCache; log?: Logger },
  opts: MetricsOptions,
): Promise<MetricFamily[]> {
  const started = Date.now();
  const now = opts.now.getTime();
  // One catalogue read: the series metrics and the lake window's prefixes both come from it.
  let seriesCount = 0;
  const catalogue = catalogueReport(deps.pool, opts.now).then((all) => {
    seriesCount = all.length;
    return all.slice(0, opts.maxSeries);
  });
  catalogue.catch(() => undefined);
  const lake = () =>
    catalogue.then((series) => lakeWindow(deps.pool, deps.s3, opts.bucket, series, now, opts.lakeWindowMs));
  const { values, unavailable } = await inParts(
    {
      catalogue: {
        run: () => catalogue,
        fallback: [] as CatalogueEntry[],
      },
      lake: {
        run: () => (deps.lakeCache ? deps.lakeCache.get(now, lake) : lake()),
        fallback: [] as LakeWindow[],
      },
      rejected: {
        run: () => rejectedTotals(deps.pool),
        fallback: [] as Awaited<ReturnType<typeof rejectedTotals>>,
      },
      deadLetters: {
        run: () => deadLetterCounts(deps.s3, opts.bucket),
        fallback: new Map<string, number>(),
      },
    },
    opts.budgetMs,
    opts.fatal ?? (() => false),
  );
  for (const u of unavailable) deps.log?.warn('metrics part not read', { part: u.part, reason: u.message });
  const down = new Set(unavailable.map((u) => u.part));
  const series = values.catalogue;
  const fam = (name: string, type: MetricFamily['type'], help: string, samples: Sample[]): MetricFamily => ({
    name,
    type,
    help,
    samples,
  });
  const perSeries = (pick: (e: CatalogueEntry) => number | null, only?: (e: CatalogueEntry) => boolean) =>
    series.flatMap((e) => {
      const v = only && !only(e) ? null : pick(e);
      return v === null ? [] : [{ labels: seriesLabels(e), value: v }];
    });
  const ohlcv = (e: CatalogueEntry) => e.dataset === 'ohlcv';
  const byStream = (w: LakeWindow) => ({ exchange: w.exchange, dataset: w.dataset });
  return [
    fam(
      'cryptopipe_series_freshness_seconds',
      'gauge',
      'Seconds since the newest record of the series (OHLCV: since the newest final candle ended); absent before the first final candle.',
      perSeries((e) => e.lagSeconds),
    ),
    fam(
      'cryptopipe_series_expected_interval_seconds',
      'gauge',
      'How often the schedules bring the series, in seconds; absent for series loaded on demand only (backfills, trades, order books).',
      perSeries((e) => e.everySeconds),
    ),
    fam(
      'cryptopipe_series_last_record_timestamp_seconds',
      'gauge',
      'Unix time of the newest record of the series (OHLCV: open time of the newest final candle).',
      perSeries((e) => {
        const t = Date.parse(e.lastClosed ?? e.last);
        return Number.isFinite(t) ? t / 1000 : null;
      }),
    ),
    fam(
      'cryptopipe_series_rows',
      'gauge',
      'Rows of the series in PostgreSQL, from the coverage (order books: snapshots; markets: instruments); its rate is rows loaded per second.',
      perSeries((e) => e.records),
    ),
    fam(
      'cryptopipe_series_gaps',
      'gauge',
      'Gaps of the OHLCV series: runs of missing final candles between two final candles.',
      perSeries((e) => e.gaps, ohlcv),
    ),
    fam(
      'cryptopipe_series_missing_candles',
      'gauge',
      'Candles missing in the gaps of the OHLCV series (npm run repair fills them).',
      perSeries((e) => e.missingCandles, ohlcv),
    ),
    fam(
      'cryptopipe_series_findings',
      'gauge',
      'Data-quality findings recorded for the series.',
      perSeries((e) => e.findings),
    ),
    fam(
      'cryptopipe_lake_window_objects',
      'gauge',
      'Raw objects whose data begins within the lake window (METRICS_LAKE_WINDOW), by state: loaded, rejected, waiting (neither yet).',
      values.lake.flatMap((w) => [
        { labels: { ...byStream(w), state: 'loaded' }, value: w.loaded },
        { labels: { ...byStream(w), state: 'rejected' }, value: w.rejected },
        { labels: { ...byStream(w), state: 'waiting' }, value: w.waiting },
      ]),
    ),
    fam(
      'cryptopipe_lake_window_rows_loaded',
      'gauge',
      'Rows transform loaded from the raw objects of the lake window.',
      values.lake.map((w) => ({ labels: byStream(w), value: w.rowsLoaded })),
    ),
    fam(
      'cryptopipe_oldest_unprocessed_object_age_seconds',
      'gauge',
      'Seconds since the oldest raw object of the lake window that transform has neither loaded nor rejected was written; 0 when none waits.',
      values.lake.map((w) => ({
        labels: byStream(w),
        value: w.oldestWaiting === null ? 0 : Math.max(0, Math.round((now - w.oldestWaiting) / 1000)),
      })),
    ),
    fam(
      'cryptopipe_rejected_objects_total',
      'counter',
      'Raw objects transform rejected (they can never load: invalid JSON, wrong schema, too large), ever.',
      values.rejected.map((r) => ({ labels: { exchange: r.exchange, dataset: r.dataset }, value: r.n })),
    ),
    fam(
      'cryptopipe_dead_letters',
      'gauge',
      'Events the Broker gave up on, waiting under _dead-letters/ of the raw bucket (npm run replay sends them back).',
      [...values.deadLetters].map(([type, n]) => ({ labels: { type }, value: n })),
    ),
    fam(
      'cryptopipe_metrics_series_dropped',
      'gauge',
      'Series left out of these metrics because there are more than METRICS_MAX_SERIES.',
      [{ value: Math.max(0, seriesCount - series.length) }],
    ),
    fam(
      'cryptopipe_metrics_part_up',
      'gauge',
      '1 when this part of the metrics could be read within the time budget, 0 when it failed or took too long (see the status log).',
      ['catalogue', 'lake', 'rejected', 'deadLetters'].map((part) => ({
        labels: { part },
        value: down.has(part) ? 0 : 1,
      })),
    ),
    fam('cryptopipe_metrics_scrape_duration_seconds', 'gauge', 'Seconds this answer took to collect.', [
      { value: (Date.now() - started) / 1000 },
    ]),
  ];
}
