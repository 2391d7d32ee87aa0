// Coverage kept beside the facts: OHLCV candle slots as bitmaps per series and bucket, other series as counts per day.
// Transform updates it in the transaction of the rows; rebuildCoverage recounts it from the fact tables.
import type { PoolClient } from 'pg';
import { candleOpen, nextOpen, parseTimeframe, type Timeframe } from '../time.ts';

const DAY_MS = 86_400_000;

/** The bucket a candle slot belongs to: its UTC day for timeframes under a day, else its UTC year. */
export function bucketOf(tf: Timeframe, slot: number): number {
  if (tf.unit !== 'M' && tf.ms < DAY_MS) return Math.floor(slot / DAY_MS) * DAY_MS;
  return Date.UTC(new Date(slot).getUTCFullYear(), 0, 1);
}

function bucketEnd(tf: Timeframe, bucket: number): number {
  if (tf.unit !== 'M' && tf.ms < DAY_MS) return bucket + DAY_MS;
  return Date.UTC(new Date(bucket).getUTCFullYear() + 1, 0, 1);
}

/** The buckets of the candle slots from `first` to `last` (times), in order; undefined when there are more than `max`. */
export function bucketsBetween(
  tf: Timeframe,
  first: number,
  last: number,
  max: number,
): number[] | undefined {
  const out: number[] = [];
  const to = bucketOf(tf, candleOpen(tf, last));
  for (let b = bucketOf(tf, candleOpen(tf, first)); b <= to; b = bucketEnd(tf, b)) {
    if (out.length === max) return undefined;
    out.push(b);
  }
  return out;
}

/** The candle slots of one bucket on the timeframe's grid (candleOpen): their count, index of a time, time of an index. */
export class BucketGrid {
  readonly first: number;
  readonly size: number;

  constructor(
    readonly tf: Timeframe,
    readonly bucket: number,
  ) {
    let g = candleOpen(tf, bucket);
    if (g < bucket) g = nextOpen(tf, g);
    this.first = g;
    const end = bucketEnd(tf, bucket);
    if (tf.unit === 'M') {
      let n = 0;
      for (let t = g; t < end; t = nextOpen(tf, t)) n++;
      this.size = n;
    } else this.size = Math.max(0, Math.ceil((end - g) / tf.ms));
  }

  /** Index of the slot that contains `t` (a candle off the grid counts in the slot it falls in). */
  index(t: number): number {
    const slot = candleOpen(this.tf, t);
    if (this.tf.unit !== 'M') return Math.round((slot - this.first) / this.tf.ms);
    const a = new Date(this.first);
    const b = new Date(slot);
    const months = (b.getUTCFullYear() - a.getUTCFullYear()) * 12 + b.getUTCMonth() - a.getUTCMonth();
    return Math.round(months / this.tf.amount);
  }

  /** Open time of slot `i`. */
  time(i: number): number {
    if (this.tf.unit !== 'M') return this.first + i * this.tf.ms;
    const a = new Date(this.first);
    return Date.UTC(a.getUTCFullYear(), a.getUTCMonth() + i * this.tf.amount, 1);
  }
}

const bitSet = (bits: Uint8Array, i: number) => ((bits[i >> 3] as number) & (1 << (i & 7))) !== 0;
const setBit = (bits: Uint8Array, i: number) => {
  bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
};

/** One bucket's bitmaps and what the reports read from them. */
export interface BucketCoverage {
  bucket: number;
  closedBits: Uint8Array;
  openBits: Uint8Array;
  closed: number;
  open: number;
  firstOpen: number;
  lastOpen: number;
  firstClosed: number | null;
  lastClosed: number | null;
  holes: Array<{ start: number; end: number; missing: number }>;
}

/** Counts, bounds and holes of a bucket's bitmaps (open bits never overlap closed ones); undefined when empty. */
export function summarise(
  grid: BucketGrid,
  closedBits: Uint8Array,
  openBits: Uint8Array,
): BucketCoverage | undefined {
  let closed = 0;
  let open = 0;
  let first = -1;
  let last = -1;
  let firstClosed = -1;
  let lastClosed = -1;
  const holes: BucketCoverage['holes'] = [];
  let holeStart = -1;
  for (let i = 0; i < grid.size; i++) {
    const c = bitSet(closedBits, i);
    const o = !c && bitSet(openBits, i);
    if (c || o) {
      if (first < 0) first = i;
      last = i;
    }
    if (c) {
      closed++;
      if (firstClosed < 0) firstClosed = i;
      else if (holeStart >= 0)
        holes.push({ start: grid.time(holeStart), end: grid.time(i), missing: i - holeStart });
      holeStart = -1;
      lastClosed = i;
    } else {
      if (o) open++;
      if (firstClosed >= 0 && holeStart < 0) holeStart = i;
    }
  }
  if (first < 0) return undefined;
  return {
    bucket: grid.bucket,
    closedBits,
    openBits,
    closed,
    open,
    firstOpen: grid.time(first),
    lastOpen: grid.time(last),
    firstClosed: firstClosed < 0 ? null : grid.time(firstClosed),
    lastClosed: lastClosed < 0 ? null : grid.time(lastClosed),
    holes,
  };
}

/** An OHLCV series. */
export interface Series {
  exchange: string;
  symbol: string;
  timeframe: string;
}

function timeframeOf(text: string): Timeframe {
  const tf = parseTimeframe(text);
  if (!tf) throw new Error(`'${text}' is not a timeframe`);
  return tf;
}

/** Merges candles into bucket bitmaps (closed wins over open, as the ohlcv table's upsert does). */
function mergeCandles(
  tf: Timeframe,
  existing: Map<number, { closed: Uint8Array; open: Uint8Array }>,
  candles: Iterable<{ ts: number; closed: boolean }>,
): Map<number, { grid: BucketGrid; closed: Uint8Array; open: Uint8Array }> {
  const out = new Map<number, { grid: BucketGrid; closed: Uint8Array; open: Uint8Array }>();
  for (const c of candles) {
    const bucket = bucketOf(tf, candleOpen(tf, c.ts));
    let b = out.get(bucket);
    if (!b) {
      const grid = new BucketGrid(tf, bucket);
      const bytes = Math.ceil(grid.size / 8);
      const old = existing.get(bucket);
      b = {
        grid,
        closed: old && old.closed.length === bytes ? Uint8Array.from(old.closed) : new Uint8Array(bytes),
        open: old && old.open.length === bytes ? Uint8Array.from(old.open) : new Uint8Array(bytes),
      };
      out.set(bucket, b);
    }
    const i = b.grid.index(c.ts);
    if (i < 0 || i >= b.grid.size) continue;
    if (c.closed) setBit(b.closed, i);
    else setBit(b.open, i);
  }
  for (const b of out.values())
    for (let k = 0; k < b.open.length; k++) b.open[k] = (b.open[k] as number) & ~(b.closed[k] as number);
  return out;
}

const BUCKET_COLUMNS = `exchange, symbol, timeframe, bucket, closed_bits, open_bits, closed, open, first_open, last_open,
            first_closed, last_closed, hole_starts, hole_ends, hole_missing`;
const BUCKET_UPSERT = `ON CONFLICT (exchange, symbol, timeframe, bucket) DO UPDATE SET closed_bits = EXCLUDED.closed_bits,
       open_bits = EXCLUDED.open_bits, closed = EXCLUDED.closed, open = EXCLUDED.open, first_open = EXCLUDED.first_open,
       last_open = EXCLUDED.last_open, first_closed = EXCLUDED.first_closed, last_closed = EXCLUDED.last_closed,
       hole_starts = EXCLUDED.hole_starts, hole_ends = EXCLUDED.hole_ends, hole_missing = EXCLUDED.hole_missing`;

async function writeBuckets(client: PoolClient, s: Series, buckets: BucketCoverage[]): Promise<void> {
  const sql = bucketsStatement(client, s, buckets);
  if (sql) await client.query(sql);
}

/**
 * The upsert of coverage buckets, its values written out as literals so that it can also go into one simple query
 * together with other statements (no parameters there); empty when there is nothing to write.
 */
export function bucketsStatement(client: PoolClient, s: Series, buckets: BucketCoverage[]): string {
  if (buckets.length === 0) return '';
  const lit = (v: string) => client.escapeLiteral(v);
  const iso = (ms: number) => new Date(ms).toISOString();
  const time = (ms: number | null) => (ms === null ? 'NULL' : `${lit(iso(ms))}::timestamptz`);
  const bytes = (bits: Uint8Array) => `${lit(`\\x${Buffer.from(bits).toString('hex')}`)}::bytea`;
  const array = (items: string[], type: string) => `${lit(`{${items.join(',')}}`)}::${type}[]`;
  const series = `${lit(s.exchange)}, ${lit(s.symbol)}, ${lit(s.timeframe)}`;
  const values = buckets.map(
    (b) =>
      `(${series}, ${time(b.bucket)}, ${bytes(b.closedBits)}, ${bytes(b.openBits)}, ${b.closed}, ${b.open}, ` +
      `${time(b.firstOpen)}, ${time(b.lastOpen)}, ${time(b.firstClosed)}, ${time(b.lastClosed)}, ` +
      `${array(
        b.holes.map((h) => `"${iso(h.start)}"`),
        'timestamptz',
      )}, ${array(
        b.holes.map((h) => `"${iso(h.end)}"`),
        'timestamptz',
      )}, ${array(
        b.holes.map((h) => String(h.missing)),
        'int',
      )})`,
  );
  return `INSERT INTO ohlcv_coverage (${BUCKET_COLUMNS}) VALUES ${values.join(', ')} ${BUCKET_UPSERT}`;
}

/** The bitmaps of a series' buckets as stored, by bucket start (ms). */
export type StoredBuckets = Map<number, { closed: Uint8Array; open: Uint8Array }>;

/**
 * Takes the series lock (lockSeries) and then reads the stored bitmaps of `buckets`, in one round trip: statements of
 * one simple query, each with its own snapshot, so the read sees every writer that held the lock before. `also`: one
 * more read (a statement without parameters) run after them under the lock, in the same round trip; its rows are
 * returned. `savepoint`: a savepoint set after them, in the same round trip.
 */
export async function lockAndReadBuckets(
  client: PoolClient,
  s: Series,
  buckets: Iterable<number>,
  opts: { savepoint?: string; also?: string } = {},
): Promise<{ stored: StoredBuckets; also: Array<Record<string, unknown>> }> {
  const literal = (v: string) => client.escapeLiteral(v);
  const times = [...buckets].map((b) => `"${new Date(b).toISOString()}"`).join(',');
  const results = (await client.query(
    `SELECT pg_advisory_xact_lock(hashtextextended(${literal(lockKey(s.exchange, 'ohlcv', s.symbol, s.timeframe))}, 7243190002));
     SELECT bucket, closed_bits, open_bits FROM ohlcv_coverage
      WHERE exchange = ${literal(s.exchange)} AND symbol = ${literal(s.symbol)} AND timeframe = ${literal(s.timeframe)}
        AND bucket = ANY(${literal(`{${times}}`)}::timestamptz[])${opts.also ? `;\n     ${opts.also}` : ''}${opts.savepoint ? `;\n     SAVEPOINT ${client.escapeIdentifier(opts.savepoint)}` : ''}`,
  )) as unknown as Array<{ rows: Array<Record<string, unknown>> }>;
  const rows = (results[1]?.rows ?? []) as Array<{ bucket: Date; closed_bits: Buffer; open_bits: Buffer }>;
  return {
    stored: new Map(rows.map((r) => [r.bucket.getTime(), { closed: r.closed_bits, open: r.open_bits }])),
    also: opts.also ? (results[2]?.rows ?? []) : [],
  };
}

/** The bucket and slot index of a candle, or undefined when it falls outside its bucket's grid. */
export function slotOf(
  tf: Timeframe,
  grids: Map<number, BucketGrid>,
  ts: number,
): { bucket: number; index: number } | undefined {
  const bucket = bucketOf(tf, candleOpen(tf, ts));
  let grid = grids.get(bucket);
  if (!grid) {
    grid = new BucketGrid(tf, bucket);
    grids.set(bucket, grid);
  }
  const index = grid.index(ts);
  return index < 0 || index >= grid.size ? undefined : { bucket, index };
}

/** True when the stored coverage has slot `index` of `bucket` (closed or open): a candle may exist there. */
export function slotTaken(stored: StoredBuckets, bucket: number, index: number): boolean {
  const b = stored.get(bucket);
  if (!b) return false;
  return (
    (index >> 3 < b.closed.length && bitSet(b.closed, index)) ||
    (index >> 3 < b.open.length && bitSet(b.open, index))
  );
}

const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((x, i) => x === (b[i] as number));

/**
 * The coverage buckets that change when candles of one series are added, given the bitmaps stored for their buckets
 * (lockAndReadBuckets, same transaction): the bitmaps only grow (a slot once closed stays closed), so the result is the
 * same in any order. Buckets whose bitmaps do not change are left out.
 */
export function coverageChanges(
  s: Series,
  stored: StoredBuckets,
  candles: ReadonlyArray<{ ts: number; closed: boolean }>,
): BucketCoverage[] {
  if (candles.length === 0) return [];
  const merged = mergeCandles(timeframeOf(s.timeframe), stored, candles);
  const out: BucketCoverage[] = [];
  for (const b of merged.values()) {
    const old = stored.get(b.grid.bucket);
    if (old && sameBytes(old.closed, b.closed) && sameBytes(old.open, b.open)) continue;
    const sum = summarise(b.grid, b.closed, b.open);
    if (sum) out.push(sum);
  }
  return out;
}

/**
 * Adds candles of one series to its coverage (coverageChanges, written in the caller's transaction). Returns how many
 * buckets it wrote.
 */
export async function addCandles(
  client: PoolClient,
  s: Series,
  stored: StoredBuckets,
  candles: ReadonlyArray<{ ts: number; closed: boolean }>,
): Promise<number> {
  const out = coverageChanges(s, stored, candles);
  await writeBuckets(client, s, out);
  return out.length;
}

/** A time series other than OHLCV: what series_coverage counts. */
export type CountedDataset = 'trades' | 'tickers' | 'orderbook' | 'funding';

/** Adds records new to the table (order books: new snapshots) to the per-day counts; same transaction as the rows. */
export async function coverRecords(
  client: PoolClient,
  exchange: string,
  dataset: CountedDataset,
  fresh: ReadonlyArray<{ symbol: string; ts: number }>,
): Promise<void> {
  if (fresh.length === 0) return;
  const groups = new Map<string, { symbol: string; day: number; n: number; first: number; last: number }>();
  for (const r of fresh) {
    const day = Math.floor(r.ts / DAY_MS) * DAY_MS;
    const k = `${r.symbol}\n${day}`;
    const g = groups.get(k);
    if (!g) groups.set(k, { symbol: r.symbol, day, n: 1, first: r.ts, last: r.ts });
    else {
      g.n++;
      if (r.ts < g.first) g.first = r.ts;
      if (r.ts > g.last) g.last = r.ts;
    }
  }
  const g = [...groups.values()];
  await client.query(
    `INSERT INTO series_coverage (exchange, dataset, symbol, day, records, first_ts, last_ts)
     SELECT $1, $2, u.symbol, (u.day AT TIME ZONE 'UTC')::date, u.n, u.first, u.last
       FROM unnest($3::text[], $4::timestamptz[], $5::bigint[], $6::timestamptz[], $7::timestamptz[])
            AS u (symbol, day, n, first, last)
     ON CONFLICT (exchange, dataset, symbol, day) DO UPDATE SET records = series_coverage.records + EXCLUDED.records,
       first_ts = least(series_coverage.first_ts, EXCLUDED.first_ts),
       last_ts = greatest(series_coverage.last_ts, EXCLUDED.last_ts)`,
    [
      exchange,
      dataset,
      g.map((x) => x.symbol),
      g.map((x) => new Date(x.day)),
      g.map((x) => x.n),
      g.map((x) => new Date(x.first)),
      g.map((x) => new Date(x.last)),
    ],
  );
}

/**
 * Serialises, until the end of the transaction, the writers of one series' coverage (for tickers and funding rates,
 * whose batches hold many symbols: of the exchange's whole dataset). Take it before writing the rows.
 */
export async function lockSeries(
  client: PoolClient,
  exchange: string,
  dataset: string,
  symbol: string | null,
  timeframe: string | null,
): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7243190002))', [
    lockKey(exchange, dataset, symbol, timeframe),
  ]);
}

/** The text whose hash is the advisory lock of a series' coverage. */
function lockKey(exchange: string, dataset: string, symbol: string | null, timeframe: string | null): string {
  const key = dataset === 'tickers' || dataset === 'funding' ? '' : (symbol ?? '');
  return `coverage\n${exchange}\n${dataset}\n${key}\n${timeframe ?? ''}`;
}

/** Per table: its dataset and how a new record is counted (order books count snapshots, one per time). */
const COUNTED: Array<{ table: string; dataset: CountedDataset; records: string }> = [
  { table: 'trades', dataset: 'trades', records: 'count(*)' },
  { table: 'ticker_snapshots', dataset: 'tickers', records: 'count(*)' },
  { table: 'orderbook_levels', dataset: 'orderbook', records: 'count(DISTINCT ts)' },
  { table: 'funding_rates', dataset: 'funding', records: 'count(*)' },
];

/**
 * Recounts the whole coverage from the fact tables (after the partitioning migration, or when rows were changed by
 * hand). Runs in the caller's transaction; returns the OHLCV buckets and day rows written.
 */
export async function rebuildCoverage(client: PoolClient): Promise<{ buckets: number; days: number }> {
  await client.query('DELETE FROM ohlcv_coverage');
  await client.query('DELETE FROM series_coverage');
  let days = 0;
  for (const c of COUNTED) {
    const res = await client.query(
      `INSERT INTO series_coverage (exchange, dataset, symbol, day, records, first_ts, last_ts)
       SELECT exchange, '${c.dataset}', symbol, (ts AT TIME ZONE 'UTC')::date, ${c.records}, min(ts), max(ts)
         FROM ${c.table} GROUP BY exchange, symbol, (ts AT TIME ZONE 'UTC')::date`,
    );
    days += res.rowCount ?? 0;
  }
  const series = await client.query<Series>(
    'SELECT DISTINCT exchange, symbol, timeframe FROM ohlcv ORDER BY exchange, symbol, timeframe',
  );
  let buckets = 0;
  for (const s of series.rows) {
    const tf = timeframeOf(s.timeframe);
    const { rows } = await client.query<{ t: Date; closed: boolean }>(
      'SELECT open_time AS t, closed FROM ohlcv WHERE exchange = $1 AND symbol = $2 AND timeframe = $3',
      [s.exchange, s.symbol, s.timeframe],
    );
    const merged = mergeCandles(
      tf,
      new Map(),
      rows.map((r) => ({ ts: r.t.getTime(), closed: r.closed })),
    );
    const out: BucketCoverage[] = [];
    for (const b of merged.values()) {
      const sum = summarise(b.grid, b.closed, b.open);
      if (sum) out.push(sum);
    }
    for (let i = 0; i < out.length; i += 500) await writeBuckets(client, s, out.slice(i, i + 500));
    buckets += out.length;
  }
  return { buckets, days };
}

/** Reads a bucket's slot states back: 'closed', 'open' or undefined per slot index (for the coverage strips). */
export function slotState(
  b: { closed: Uint8Array; open: Uint8Array },
  i: number,
): 'closed' | 'open' | undefined {
  if (bitSet(b.closed, i)) return 'closed';
  if (bitSet(b.open, i)) return 'open';
  return undefined;
}
