// A bounded burst on loopback: 2,000 batch events to load-raw at concurrency 32, then their 2,000 notifications to
// transform: no error, no lost object, every batch's rows in the tables, and the process's memory stays bounded.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudEvent } from 'cloudevents';
import type { ExtractBatch, OhlcvRecord } from '../../shared/events/schemas.ts';
import { seriesEvents } from '../support/batches.ts';
import { startLake, type Lake } from '../support/lake.ts';
import {
  listen,
  loadRawServer,
  mapConcurrent,
  postEvent,
  postNotification,
  transformServer,
  type Listening,
} from '../support/pipeline.ts';
import { startDatabase, type TestDatabase } from '../support/postgres.ts';

const TOKEN = 'load-token-0123456789abcdef';
const BUCKET = 'load-raw-burst';
/** LOAD_EVENTS scales the burst (never below 500). */
const EVENTS = Math.max(500, Number(process.env['LOAD_EVENTS'] ?? 2000) || 2000);
const CANDLES = 30;
const SYMBOLS = 50;
const MIB = 1024 * 1024;
/**
 * RSS growth allowed over the whole burst: load-raw, transform, s3rver, the client and vitest share this process, and
 * V8 keeps the heap it grew to. What is still reachable after a full collection must stay far smaller (no leak).
 */
const RSS_BOUND_MIB = 512;
const LIVE_HEAP_BOUND_MIB = 64;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** Heap in use after a full collection. */
function liveHeap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

let lake: Lake;
let db: TestDatabase;
let loadRaw: Listening;
let transform: Listening;

beforeAll(async () => {
  [lake, db] = await Promise.all([startLake(), startDatabase()]);
  await lake.createBucket(BUCKET);
  loadRaw = await listen(loadRawServer(lake.settings(BUCKET)));
  transform = await listen(transformServer(lake.settings(BUCKET), db.pool, TOKEN));
}, 60_000);

afterAll(async () => {
  await loadRaw?.close();
  await transform?.close();
  await db?.close();
  await lake?.close();
});

/** Event `i`: its own symbol and 30-minute window, so every batch has rows no other batch writes. */
function event(i: number): CloudEvent<ExtractBatch> {
  const symbol = `LOAD${i % SYMBOLS}/USDT`;
  const from = Date.UTC(2026, 10, 1) + Math.floor(i / SYMBOLS) * CANDLES * 60_000;
  const records: OhlcvRecord[] = Array.from({ length: CANDLES }, (_, k) => ({
    ts: from + k * 60_000,
    open: `${100 + (i % 97)}.${String(k).padStart(2, '0')}`,
    high: `${200 + (i % 97)}.5`,
    low: `${50 + (i % 97)}.25`,
    close: `${100 + (i % 97)}.75`,
    volume: `${i}.${k}`,
    closed: true,
  }));
  const [e] = seriesEvents(
    { exchange: 'binance', dataset: 'ohlcv', symbol, timeframe: '1m', extractedAt: from + CANDLES * 60_000 },
    records,
    1024 * 1024,
  );
  return e!;
}

describe(`load: ${EVENTS} events, then ${EVENTS} notifications`, () => {
  it('no errors, no lost object, every row loaded, bounded memory', async () => {
    // Warm up both functions (first requests load modules and open connections), then measure.
    const warm = await postEvent(loadRaw.url, event(EVENTS));
    expect(warm.status).toBe(204);
    const warmNote = lake.notifications.at(-1)!;
    expect((await postNotification(transform.url, warmNote.payload, TOKEN)).status).toBe(200);
    const seen = lake.notifications.length;
    const heapBefore = liveHeap();
    const rssBefore = process.memoryUsage().rss;

    const answers = await mapConcurrent(
      Array.from({ length: EVENTS }, (_, i) => i),
      32,
      async (i) => {
        const a = await postEvent(loadRaw.url, event(i));
        return { status: a.status, key: decodeURI(a.headers.get('x-object-key') ?? ''), text: a.text };
      },
    );
    const failed = answers.filter((a) => a.status !== 204);
    expect(failed.slice(0, 5), `${failed.length} load-raw errors`).toEqual([]);
    const keys = new Set(answers.map((a) => a.key));
    expect(keys.size).toBe(EVENTS);

    // Every object is in the bucket, and S3 announced each one.
    const listed = new Set((await lake.objects(BUCKET)).map((o) => o.key));
    expect([...keys].filter((k) => !listed.has(k))).toEqual([]);
    const notes = lake.notifications.slice(seen);
    expect(new Set(notes.map((n) => n.key))).toEqual(keys);

    const loaded = await mapConcurrent(notes, 8, async (n) => {
      const a = await postNotification(transform.url, n.payload, TOKEN);
      return { status: a.status, text: a.status === 200 ? '' : a.text };
    });
    const refused = loaded.filter((a) => a.status !== 200);
    expect(refused.slice(0, 5), `${refused.length} transform errors`).toEqual([]);
    const rssAfter = process.memoryUsage().rss;
    const heapAfter = liveHeap();

    // Every batch's rows: one ledger row and CANDLES rows per object, nothing else.
    const { rows } = await db.pool.query<{ objects: number; min: number; max: number; total: number }>(
      `SELECT count(*)::int AS objects, min(n)::int AS min, max(n)::int AS max, sum(n)::int AS total
         FROM (SELECT source_key, count(*) AS n FROM ohlcv WHERE symbol LIKE 'LOAD%' GROUP BY source_key) s
        WHERE source_key = ANY($1)`,
      [[...keys]],
    );
    expect(rows[0]).toEqual({ objects: EVENTS, min: CANDLES, max: CANDLES, total: EVENTS * CANDLES });
    const ledger = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ingestion_ledger WHERE object_key = ANY($1) AND rows = $2`,
      [[...keys], CANDLES],
    );
    expect(ledger.rows[0]?.n).toBe(EVENTS);
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM rejected_objects`)).rows[0].n).toBe(0);

    const growthMiB = (rssAfter - rssBefore) / MIB;
    const liveMiB = (heapAfter - heapBefore) / MIB;
    console.log(
      `load: ${EVENTS} events, RSS ${Math.round(rssBefore / MIB)} -> ${Math.round(rssAfter / MIB)} MiB, ` +
        `live heap ${Math.round(heapBefore / MIB)} -> ${Math.round(heapAfter / MIB)} MiB`,
    );
    expect(growthMiB, `RSS grew ${growthMiB.toFixed(0)} MiB`).toBeLessThan(RSS_BOUND_MIB);
    expect(liveMiB, `live heap grew ${liveMiB.toFixed(0)} MiB`).toBeLessThan(LIVE_HEAP_BOUND_MIB);
  }, 240_000);
});
