// Bulk writers: new rows COPY straight into their table; rows meeting existing keys go through a staging table and
// one INSERT ... ON CONFLICT per table.
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Dataset, ExtractBatch, OhlcvRecord, RecordOf } from '../events/schemas.ts';
import { parseTimeframe } from '../time.ts';
import { binaryCandleChunks, binaryCandleEncoder, type CandleSpans } from './copy-binary.ts';
import { ensurePartitions, periodEnd, periodStart } from './partitions.ts';
import {
  addCandles,
  bucketsBetween,
  bucketsStatement,
  coverageChanges,
  coverRecords,
  lockAndReadBuckets,
  lockSeries,
  slotOf,
  slotTaken,
  type BucketGrid,
  type CountedDataset,
} from './coverage.ts';

type Cell = string | number | boolean | null;

/** How one dataset maps to its table. */
export interface TableSpec<R> {
  table: string;
  columns: readonly string[];
  key: readonly string[];
  /** The time column of a time-series table (its partition key). */
  time?: string;
  /** When an existing row is replaced (SQL over `t` = existing row, EXCLUDED = new row). */
  replaceWhen: string;
  row(r: R, ctx: RowContext): Cell[];
}

/** What every row of a batch shares. */
export interface RowContext {
  exchange: string;
  symbol: string | null;
  timeframe: string | null;
  extractedAt: string;
  sourceKey: string;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
/** Immutable facts keep the row from the lexicographically first object, whatever the delivery order. */
const FIRST_SOURCE = 'EXCLUDED.source_key < t.source_key';

const ohlcv: TableSpec<RecordOf['ohlcv']> = {
  table: 'ohlcv',
  columns: [
    'exchange',
    'symbol',
    'timeframe',
    'open_time',
    'open',
    'high',
    'low',
    'close',
    'volume',
    'closed',
    'extracted_at',
    'source_key',
  ],
  time: 'open_time',
  key: ['exchange', 'symbol', 'timeframe', 'open_time'],
  // A closed candle is final; a partial one is replaced by a closed one or by a newer extraction.
  replaceWhen: `(NOT t.closed AND EXCLUDED.closed)
    OR (NOT t.closed AND NOT EXCLUDED.closed AND (EXCLUDED.extracted_at, EXCLUDED.source_key) > (t.extracted_at, t.source_key))
    OR (t.closed AND EXCLUDED.closed AND ${FIRST_SOURCE})`,
  row: (r, c) => [
    c.exchange,
    c.symbol,
    c.timeframe,
    iso(r.ts),
    r.open,
    r.high,
    r.low,
    r.close,
    r.volume,
    r.closed,
    c.extractedAt,
    c.sourceKey,
  ],
};

const trades: TableSpec<RecordOf['trades']> = {
  table: 'trades',
  columns: [
    'exchange',
    'symbol',
    'trade_id',
    'ts',
    'side',
    'price',
    'amount',
    'cost',
    'taker_or_maker',
    'source_key',
  ],
  time: 'ts',
  // The time is part of the key because the table is partitioned by it; an id names one trade at one time.
  key: ['exchange', 'symbol', 'trade_id', 'ts'],
  replaceWhen: FIRST_SOURCE,
  row: (r, c) => [
    c.exchange,
    c.symbol,
    r.id,
    iso(r.ts),
    r.side,
    r.price,
    r.amount,
    r.cost,
    r.takerOrMaker,
    c.sourceKey,
  ],
};

const tickers: TableSpec<RecordOf['tickers']> = {
  table: 'ticker_snapshots',
  columns: [
    'exchange',
    'symbol',
    'ts',
    'exchange_ts',
    'bid',
    'bid_volume',
    'ask',
    'ask_volume',
    'last',
    'open',
    'high',
    'low',
    'vwap',
    'base_volume',
    'quote_volume',
    'change',
    'percentage',
    'mark_price',
    'index_price',
    'source_key',
  ],
  time: 'ts',
  key: ['exchange', 'symbol', 'ts'],
  replaceWhen: FIRST_SOURCE,
  row: (r, c) => [
    c.exchange,
    r.symbol,
    iso(r.ts),
    iso(r.exchangeTs),
    r.bid,
    r.bidVolume,
    r.ask,
    r.askVolume,
    r.last,
    r.open,
    r.high,
    r.low,
    r.vwap,
    r.baseVolume,
    r.quoteVolume,
    r.change,
    r.percentage,
    r.markPrice,
    r.indexPrice,
    c.sourceKey,
  ],
};

const orderbook: TableSpec<RecordOf['orderbook']> = {
  table: 'orderbook_levels',
  columns: [
    'exchange',
    'symbol',
    'ts',
    'side',
    'level',
    'price',
    'amount',
    'exchange_ts',
    'nonce',
    'source_key',
  ],
  time: 'ts',
  key: ['exchange', 'symbol', 'ts', 'side', 'level'],
  replaceWhen: FIRST_SOURCE,
  row: (r, c) => [
    c.exchange,
    c.symbol,
    iso(r.ts),
    r.side,
    r.level,
    r.price,
    r.amount,
    iso(r.exchangeTs),
    r.nonce,
    c.sourceKey,
  ],
};

const funding: TableSpec<RecordOf['funding']> = {
  table: 'funding_rates',
  columns: [
    'exchange',
    'symbol',
    'ts',
    'exchange_ts',
    'funding_rate',
    'funding_ts',
    'next_funding_ts',
    'mark_price',
    'index_price',
    'funding_interval',
    'source_key',
  ],
  time: 'ts',
  key: ['exchange', 'symbol', 'ts'],
  replaceWhen: FIRST_SOURCE,
  row: (r, c) => [
    c.exchange,
    r.symbol,
    iso(r.ts),
    iso(r.exchangeTs),
    r.fundingRate,
    iso(r.fundingTs),
    iso(r.nextFundingTs),
    r.markPrice,
    r.indexPrice,
    r.interval,
    c.sourceKey,
  ],
};

const markets: TableSpec<RecordOf['markets']> = {
  table: 'instruments',
  columns: [
    'exchange',
    'symbol',
    'market_id',
    'type',
    'base',
    'quote',
    'settle',
    'active',
    'linear',
    'inverse',
    'contract_size',
    'expiry',
    'strike',
    'option_type',
    'price_precision',
    'amount_precision',
    'min_amount',
    'min_cost',
    'maker',
    'taker',
    'info',
    'extracted_at',
    'source_key',
  ],
  key: ['exchange', 'symbol'],
  // The newest description of an instrument wins; ties resolve the same way in any delivery order.
  replaceWhen: '(EXCLUDED.extracted_at, EXCLUDED.source_key) > (t.extracted_at, t.source_key)',
  row: (r, c) => [
    c.exchange,
    r.symbol,
    r.id,
    r.type,
    r.base,
    r.quote,
    r.settle,
    r.active,
    r.linear,
    r.inverse,
    r.contractSize,
    iso(r.expiry),
    r.strike,
    r.optionType,
    r.pricePrecision,
    r.amountPrecision,
    r.minAmount,
    r.minCost,
    r.maker,
    r.taker,
    r.info === null || r.info === undefined ? null : JSON.stringify(r.info),
    c.extractedAt,
    c.sourceKey,
  ],
};

/** Table spec per dataset. */
export const TABLES: { [D in Dataset]: TableSpec<RecordOf[D]> } = {
  ohlcv,
  trades,
  tickers,
  orderbook,
  funding,
  markets,
};

/** One data-quality finding. */
export interface Finding {
  exchange: string;
  dataset: string;
  symbol: string;
  series: string;
  ts: number;
  check: string;
  details: Record<string, unknown>;
  sourceKey: string;
}

export const FINDINGS: TableSpec<Finding> = {
  table: 'dq_findings',
  columns: ['exchange', 'dataset', 'symbol', 'series', 'ts', 'check_name', 'details', 'source_key'],
  key: ['exchange', 'dataset', 'symbol', 'series', 'ts', 'check_name'],
  replaceWhen: FIRST_SOURCE,
  row: (f) => [
    f.exchange,
    f.dataset,
    f.symbol,
    f.series,
    iso(f.ts),
    f.check,
    JSON.stringify(f.details),
    f.sourceKey,
  ],
};

const NEEDS_ESCAPE = /[\\\t\n\r]/;

/** COPY text format: tab-separated, \N for null, backslash escapes. */
function copyText(cell: Cell): string {
  if (cell === null) return '\\N';
  if (typeof cell === 'boolean') return cell ? 't' : 'f';
  if (typeof cell === 'number') return String(cell);
  return NEEDS_ESCAPE.test(cell)
    ? cell.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r')
    : cell;
}

async function copyRows(
  client: PoolClient,
  table: string,
  columns: readonly string[],
  rows: Cell[][],
): Promise<void> {
  let text = '';
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) text += (i === 0 ? '' : '\t') + copyText(row[i] as Cell);
    text += '\n';
  }
  await copyLines(client, table, columns, text);
}

/** COPY of data already in COPY's text format (lines), or in its binary format when `binary`. */
async function copyLines(
  client: PoolClient,
  table: string,
  columns: readonly string[],
  text: string | Buffer,
  binary = false,
): Promise<void> {
  const stream = client.query(
    copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN${binary ? ' (FORMAT binary)' : ''}`),
  );
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  stream.end(text);
  await done;
}

/** Candles per piece of a binary COPY: PostgreSQL reads one while the next is written. */
const PIECE_ROWS = 300;

/**
 * COPies candles in the binary format from `pieces` (binaryCandleChunks), piece by piece, yielding to the event loop
 * between pieces so that each goes out as soon as it is written. `after`: statements run in the same round trip once
 * the COPY has ended (one simple query, which stops at the first error; none when empty). False when a value is left to
 * the text format: the COPY is then abandoned (CopyFail), which fails the transaction up to the caller's savepoint.
 */
async function copyBinaryCandles(
  client: PoolClient,
  pieces: Iterable<Buffer | undefined>,
  after: string,
): Promise<boolean> {
  const stream = client.query(
    copyFrom(
      `COPY ${ohlcv.table} (${ohlcv.columns.join(', ')}) FROM STDIN (FORMAT binary)${after ? `;\n${after}` : ''}`,
    ),
  );
  let failed = false;
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', (err) => {
      failed = true;
      reject(err);
    });
    stream.on('close', () => (stream.writableFinished ? resolve() : reject(new Error('COPY abandoned'))));
  });
  // Handled now (a key that exists fails the COPY while pieces are still being written); awaited below.
  done.catch(() => undefined);
  for (const piece of pieces) {
    if (stream.destroyed || failed) break;
    if (!piece) {
      stream.destroy(new Error('a value left to the text format'));
      await done.catch(() => undefined);
      return false;
    }
    stream.write(piece);
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (!stream.destroyed && !failed) stream.end();
  await done;
  return true;
}

/** Candles as COPY text lines in the columns of the ohlcv spec (the same text as its row() through copyText). */
function candleLines(records: readonly OhlcvRecord[], ctx: RowContext): string {
  const head = `${copyText(ctx.exchange)}\t${copyText(ctx.symbol)}\t${copyText(ctx.timeframe)}\t`;
  const tail = `\t${copyText(ctx.extractedAt)}\t${copyText(ctx.sourceKey)}\n`;
  let text = '';
  for (const r of records) {
    text +=
      head +
      new Date(r.ts).toISOString() +
      '\t' +
      copyText(r.open) +
      '\t' +
      copyText(r.high) +
      '\t' +
      copyText(r.low) +
      '\t' +
      copyText(r.close) +
      '\t' +
      copyText(r.volume) +
      (r.closed ? '\tt' : '\tf') +
      tail;
  }
  return text;
}

/** Staging tables this client filled in its current transaction (they empty themselves at commit). */
const dirtyStages = new WeakMap<PoolClient, Set<string>>();

/**
 * Runs `fn` in a transaction on one pooled client; a client whose rollback failed is discarded. `commitWith`: a last
 * statement (no parameters) made from fn's result, sent in one round trip with the COMMIT; if it fails, nothing commits.
 */
export async function inTransaction<T>(
  pool: Pool,
  fn: (c: PoolClient) => Promise<T>,
  commitWith?: (c: PoolClient, out: T) => string,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  // pg-pool listens for errors only on idle clients: a checked-out client whose server goes away (terminated
  // backend, restart, cut connection) emits 'error', which without a listener is an uncaught exception that takes
  // the whole process down. The failing query rejects on its own; here the client is only marked as broken.
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    // A simple query stops at its first failing statement: the COMMIT then never runs and the catch rolls back.
    await client.query(commitWith ? `${commitWith(client, out)};\nCOMMIT` : 'COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    dirtyStages.delete(client);
    client.off('error', onError);
    client.release(broken);
  }
}

/**
 * Keeps one row per key (the last occurrence wins; ON CONFLICT cannot touch a row twice in one statement, and
 * equal records; batches from extract are already unique, so this is a cheap pass).
 */
function uniqueByKey<R>(spec: TableSpec<R>, rows: Cell[][]): Cell[][] {
  const keyIdx = spec.key.map((k) => spec.columns.indexOf(k));
  const seen = new Map<string, number>();
  rows.forEach((row, i) => seen.set(keyIdx.map((k) => String(row[k])).join('\u0000'), i));
  return seen.size === rows.length
    ? rows
    : [...seen.values()].sort((a, b) => a - b).map((i) => rows[i] as Cell[]);
}

/** The distinct times (ms) of a column of ISO times. */
function timesOf(rows: Cell[][], at: number): Set<number> {
  const out = new Set<number>();
  for (const row of rows) out.add(Date.parse(row[at] as string));
  return out;
}

/** Rows an upsert inserted (not replaced): the symbol and time of each, for the coverage counts. */
type Fresh = Array<{ symbol: string; ts: number }>;

/**
 * Upserts rows into `spec.table` inside the caller's transaction (use `inTransaction`). New rows, the common case,
 * are COPied straight into the table under a savepoint; if any key already exists the COPY fails as a whole, is
 * rolled back to the savepoint, and the rows take the upsert path: COPY into a temporary staging table that empties
 * itself at commit, then one INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE spec.replaceWhen. Both paths end
 * in the same table contents. Returns the number of rows inserted or replaced.
 */
export async function upsertRows<R>(
  client: PoolClient,
  spec: TableSpec<R>,
  records: readonly R[],
  ctx: RowContext,
): Promise<number> {
  return (await upsert(client, spec, records, ctx, false)).written;
}

async function upsert<R>(
  client: PoolClient,
  spec: TableSpec<R>,
  records: readonly R[],
  ctx: RowContext,
  track: boolean,
): Promise<{ written: number; fresh: Fresh }> {
  const fresh: Fresh = [];
  if (records.length === 0) return { written: 0, fresh };
  const all = records.map((r) => spec.row(r, ctx));
  const symbolAt = spec.columns.indexOf('symbol');
  const timeAt = spec.time === undefined ? -1 : spec.columns.indexOf(spec.time);
  if (timeAt >= 0) await ensurePartitions(client, spec.table, timesOf(all, timeAt));
  await client.query('SAVEPOINT direct_copy');
  try {
    // A key repeated inside the batch fails here too and goes through the de-duplicating path below.
    await copyRows(client, spec.table, spec.columns, all);
    await client.query('RELEASE SAVEPOINT direct_copy');
    if (track)
      for (const row of all)
        fresh.push({ symbol: row[symbolAt] as string, ts: Date.parse(row[timeAt] as string) });
    return { written: all.length, fresh };
  } catch (err) {
    if ((err as { code?: string }).code !== '23505') throw err;
    await client.query('ROLLBACK TO SAVEPOINT direct_copy');
  }
  const stage = `stage_${spec.table}`;
  const dirty = dirtyStages.get(client) ?? new Set<string>();
  dirtyStages.set(client, dirty);
  await client.query(
    dirty.has(stage)
      ? `DELETE FROM ${stage}`
      : `CREATE TEMP TABLE IF NOT EXISTS ${stage} (LIKE ${spec.table}) ON COMMIT DELETE ROWS`,
  );
  dirty.add(stage);
  await copyRows(client, stage, spec.columns, uniqueByKey(spec, all));
  if (track && spec.time !== undefined) {
    // The caller holds the series lock (lockSeries): no other writer adds these keys before the INSERT below.
    const { rows } = await client.query<{ symbol: string; ts: Date }>(
      `SELECT s.symbol, s.${spec.time} AS ts FROM ${stage} s
        WHERE NOT EXISTS (SELECT 1 FROM ${spec.table} t WHERE ${spec.key.map((k) => `t.${k} = s.${k}`).join(' AND ')})`,
    );
    for (const r of rows) fresh.push({ symbol: r.symbol, ts: r.ts.getTime() });
  }
  const cols = spec.columns.join(', ');
  const updates = spec.columns
    .filter((c) => !spec.key.includes(c))
    .map((c) => `${c} = EXCLUDED.${c}`)
    .join(', ');
  const res = await client.query(
    `INSERT INTO ${spec.table} AS t (${cols}) SELECT ${cols} FROM ${stage}
     ON CONFLICT (${spec.key.join(', ')}) DO UPDATE SET ${updates} WHERE ${spec.replaceWhen}`,
  );
  return { written: res.rowCount ?? 0, fresh };
}

/**
 * Creates the partitions a batch's rows go to, in its own short transaction before the rows' one: creating a
 * partition locks its parent table exclusively, which inside a writer's transaction could deadlock with another writer.
 */
export async function preparePartitions(pool: Pool, batch: ExtractBatch): Promise<void> {
  if (batch.dataset === 'markets') return;
  await ensurePartitions(
    pool,
    TABLES[batch.dataset].table,
    (batch.records as Array<{ ts: number }>).map((r) => r.ts),
  );
}

/**
 * Writes the records of one batch into its table and keeps the coverage of its series exact, in the caller's
 * transaction. The series lock comes first, so the coverage sees the writers of one series one after the other.
 */
export async function writeBatch(
  client: PoolClient,
  batch: ExtractBatch,
  sourceKey: string,
): Promise<number> {
  const ctx: RowContext = {
    exchange: batch.exchange,
    symbol: batch.symbol,
    timeframe: batch.timeframe,
    extractedAt: new Date(batch.extractedAt).toISOString(),
    sourceKey,
  };
  const spec = TABLES[batch.dataset] as TableSpec<unknown>;
  const records = batch.records as unknown[];
  if (batch.dataset === 'markets' || records.length === 0) return upsertRows(client, spec, records, ctx);
  if (batch.dataset === 'ohlcv') return writeCandles(client, batch.records, ctx);
  await lockSeries(client, batch.exchange, batch.dataset, batch.symbol, batch.timeframe);
  if (batch.dataset === 'orderbook') {
    // Order books count snapshots: a time new to the table is a new snapshot, whatever its levels.
    const times = [...new Set((batch.records as RecordOf['orderbook'][]).map((r) => r.ts))];
    const known = await client.query<{ ts: Date }>(
      'SELECT DISTINCT ts FROM orderbook_levels WHERE exchange = $1 AND symbol = $2 AND ts = ANY($3::timestamptz[])',
      [batch.exchange, batch.symbol, times.map((t) => new Date(t))],
    );
    const had = new Set(known.rows.map((r) => r.ts.getTime()));
    const written = await upsertRows(client, spec, records, ctx);
    const fresh = times.filter((t) => !had.has(t)).map((ts) => ({ symbol: batch.symbol as string, ts }));
    await coverRecords(client, batch.exchange, 'orderbook', fresh);
    return written;
  }
  const { written, fresh } = await upsert(client, spec, records, ctx, true);
  await coverRecords(client, batch.exchange, batch.dataset as CountedDataset, fresh);
  return written;
}

/**
 * Writes the candles of one series and their coverage. The series lock, the coverage of the candles' buckets and the
 * candles this same object stored before come first, in one round trip: a candle whose slot the coverage does not have
 * is not in the table (the coverage equals a recount, kept under that lock), so a batch of such candles (a fresh range)
 * is COPied straight into the table, with the coverage it makes written right after the COPY in the same round trip; if
 * the COPY meets a key all the same (rows written around transform), it rolls back to its savepoint (the coverage is
 * then not written) and the batch takes the upsert path. Otherwise the rows already stored from the same object (same
 * source key, extraction time and closed flag), which no replaceWhen of the table would change, are left alone, and the
 * rest take the upsert path. Coverage buckets whose bitmaps stay the same are not written again.
 */
async function writeCandles(
  client: PoolClient,
  records: readonly OhlcvRecord[],
  ctx: RowContext,
): Promise<number> {
  const s = { exchange: ctx.exchange, symbol: ctx.symbol as string, timeframe: ctx.timeframe as string };
  const tf = parseTimeframe(s.timeframe);
  if (!tf) throw new Error(`'${s.timeframe}' is not a timeframe`);
  const grids = new Map<number, BucketGrid>();
  const slots: Array<{ bucket: number; index: number } | undefined> = [];
  const buckets = new Set<number>();
  const months = new Set<number>();
  let first = Infinity;
  let last = -Infinity;
  for (const r of records) {
    const slot = slotOf(tf, grids, r.ts);
    slots.push(slot);
    if (slot) buckets.add(slot.bucket);
    months.add(periodStart('month', r.ts));
    if (r.ts < first) first = r.ts;
    if (r.ts > last) last = r.ts;
  }
  await ensurePartitions(client, ohlcv.table, months);
  const lit = (v: string) => client.escapeLiteral(v);
  // The candles this object stored before (a redelivery), as `<ms><t|f>` tokens; nothing on a fresh range.
  const sameSource = `SELECT string_agg(((extract(epoch FROM open_time) * 1000)::int8)::text || CASE WHEN closed THEN 't' ELSE 'f' END, ',') AS same
       FROM ohlcv
      WHERE exchange = ${lit(s.exchange)} AND symbol = ${lit(s.symbol)} AND timeframe = ${lit(s.timeframe)}
        AND open_time BETWEEN ${lit(iso(first) as string)}::timestamptz AND ${lit(iso(last) as string)}::timestamptz
        AND source_key = ${lit(ctx.sourceKey)} AND extracted_at = ${lit(ctx.extractedAt)}::timestamptz
        AND extract(epoch FROM open_time) * 1000 = trunc(extract(epoch FROM open_time) * 1000)`;
  // The savepoint the fresh path may roll back to; released with the transaction.
  const reading = lockAndReadBuckets(client, s, buckets, { also: sameSource, savepoint: 'fresh_candles' });
  // While PostgreSQL answers: the first piece of the binary COPY, which a fresh range sends first.
  const chunks = binaryCandleChunks(records, ctx, PIECE_ROWS);
  const head = chunks.next();
  const pieces = (function* () {
    if (!head.done) yield head.value;
    yield* chunks;
  })();
  const { stored, also } = await reading;
  const seen = new Set<number>();
  let fresh = true;
  for (let i = 0; i < records.length && fresh; i++) {
    const slot = slots[i];
    const ts = (records[i] as OhlcvRecord).ts;
    if (!slot || slotTaken(stored, slot.bucket, slot.index) || seen.has(ts)) fresh = false;
    seen.add(ts);
  }
  if (fresh) {
    // Every candle is new: the coverage they make is known now and is written in the COPY's round trip, after it.
    const coverage = coverageChanges(s, stored, records);
    try {
      // The binary format spares PostgreSQL parsing the numbers and times; text for what it leaves out.
      if (await copyBinaryCandles(client, pieces, bucketsStatement(client, s, coverage)))
        return records.length;
      await client.query('ROLLBACK TO SAVEPOINT fresh_candles');
      await copyLines(client, ohlcv.table, ohlcv.columns, candleLines(records, ctx));
      await addCandles(client, s, stored, records);
      return records.length;
    } catch (err) {
      if ((err as { code?: string }).code !== '23505') throw err;
      await client.query('ROLLBACK TO SAVEPOINT fresh_candles');
      const written = await upsertRows(client, ohlcv, records, ctx);
      await addCandles(client, s, stored, records);
      return written;
    }
  }
  const tokens = (also[0] as { same: string | null } | undefined)?.same;
  const same = new Set(tokens ? tokens.split(',') : []);
  // As the upsert path does, the last of candles with one time is the one that counts.
  const lastAt = new Map<number, number>();
  records.forEach((r, i) => lastAt.set(r.ts, i));
  const changed = records.filter(
    (r, i) => lastAt.get(r.ts) === i && !same.has(`${r.ts}${r.closed ? 't' : 'f'}`),
  );
  const written = await upsertRows(client, ohlcv, changed, ctx);
  await addCandles(client, s, stored, records);
  return written;
}

/** The month starts from span.first to span.last: the ohlcv partitions a span of candles may go to. */
function monthsOf(span: { first: number; last: number }): number[] {
  const months: number[] = [];
  for (let m = periodStart('month', span.first); m <= span.last; m = periodEnd('month', m)) months.push(m);
  return months;
}

/** preparePartitions for candles known by their span only (openCandleObject): every month from first to last. */
export async function prepareCandlePartitions(
  pool: Pool,
  span: { first: number; last: number },
): Promise<void> {
  await ensurePartitions(pool, ohlcv.table, monthsOf(span));
}

/** Most coverage buckets an object read in slices may span (its records' times are not known before they are read). */
const MAX_SPAN_BUCKETS = 64;

/**
 * Writes the candles of one series read a slice at a time (openCandleObject: candles still in their bytes), where
 * every candle is new (a fresh range, the common case): the series lock and the coverage of every bucket from
 * `span.first` to `span.last` go out first, the first slice is read while PostgreSQL answers, and each slice is
 * COPied (binary format) while the next is read.
 * Undefined, with everything since its savepoint rolled back and the series lock still held, when the candles are not
 * all new, a slice is undefined, a value needs the text format or a key exists all the same: the caller then writes
 * the object whole with writeBatch, in the same transaction. The coverage the candles make is `beforeCommit`: a
 * statement (no parameters; empty when nothing changes) for the caller to send in the COMMIT's round trip.
 */
export async function writeCandleSlices(
  client: PoolClient,
  ctx: RowContext,
  span: { first: number; last: number },
  slices: Iterable<CandleSpans | undefined>,
): Promise<{ rows: number; beforeCommit: string } | undefined> {
  const tf = ctx.timeframe === null ? undefined : parseTimeframe(ctx.timeframe);
  const buckets = tf && bucketsBetween(tf, span.first, span.last, MAX_SPAN_BUCKETS);
  if (!tf || !buckets || ctx.symbol === null) return undefined;
  const s = { exchange: ctx.exchange, symbol: ctx.symbol, timeframe: ctx.timeframe as string };
  await ensurePartitions(client, ohlcv.table, monthsOf(span));
  const reading = lockAndReadBuckets(client, s, buckets, { savepoint: 'fresh_candles' });
  const slice = slices[Symbol.iterator]();
  const encoder = binaryCandleEncoder(ctx);
  const encode = (candles: CandleSpans | undefined) => (candles ? encoder.spans(candles) : undefined);
  // The first slice read and encoded while PostgreSQL answers.
  let head: IteratorResult<CandleSpans | undefined>;
  let headPiece: Buffer | undefined;
  try {
    head = slice.next();
    headPiece = head.done ? undefined : encode(head.value);
  } catch (err) {
    await reading.catch(() => undefined);
    throw err;
  }
  const { stored } = await reading;
  const grids = new Map<number, BucketGrid>();
  const written: Array<{ ts: number; closed: boolean }> = [];
  /** The candles' piece when every one of them is new (slots the coverage does not have), else undefined. */
  const fresh = (candles: CandleSpans | undefined, piece: Buffer | undefined) => {
    if (!candles || !piece) return undefined;
    for (let i = 0; i < candles.count; i++) {
      const slot = slotOf(tf, grids, candles.ts[i] as number);
      if (!slot || slotTaken(stored, slot.bucket, slot.index)) return undefined;
    }
    for (let i = 0; i < candles.count; i++)
      written.push({ ts: candles.ts[i] as number, closed: candles.closed[i] === 1 });
    return piece;
  };
  const givingUp = async () => {
    await client.query('ROLLBACK TO SAVEPOINT fresh_candles');
    return undefined;
  };
  const first = fresh(head.done ? undefined : head.value, headPiece);
  // A redelivery stops here, before any COPY: nothing to roll back (writeBatch makes its own savepoint).
  if (!first) return undefined;
  const pieces = function* () {
    yield first;
    for (let next = slice.next(); !next.done; next = slice.next()) {
      const out = fresh(next.value, encode(next.value));
      yield out;
      if (!out) return;
    }
    yield encoder.end();
  };
  try {
    if (!(await copyBinaryCandles(client, pieces(), ''))) return givingUp();
  } catch (err) {
    if ((err as { code?: string }).code !== '23505') throw err;
    return givingUp();
  }
  return {
    rows: written.length,
    beforeCommit: bucketsStatement(client, s, coverageChanges(s, stored, written)),
  };
}
