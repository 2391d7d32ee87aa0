// The coverage transform keeps equals a full recount from the fact tables, after randomised loads, redeliveries,
// reprocessing, candles that close later, off-grid candles and concurrent writers of the same series; objects loaded
// as transform loads them (raw bytes as load-raw writes them: candles read in slices while written, or whole).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildCoverage } from '../../../shared/db/coverage.ts';
import { inTransaction, prepareCandlePartitions, preparePartitions } from '../../../shared/db/writers.ts';
import { buildEvent } from '../../../shared/events/cloudevent.ts';
import { EventType, type ExtractBatch, type OhlcvRecord } from '../../../shared/events/schemas.ts';
import { batchBody } from '../../../shared/lake/objects.ts';
import { openCandleObject } from '../../../shared/transform/candle-stream.ts';
import { writeBody } from '../../../shared/transform/load.ts';
import { startDatabase, type TestDatabase } from '../../support/postgres.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await startDatabase();
});
afterAll(() => db?.close());

/** A small seeded generator (mulberry32), so a failure names the seed that reproduces it. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MINUTE = 60_000;
const TIMEFRAMES = [
  { tf: '1m', ms: MINUTE },
  { tf: '5m', ms: 5 * MINUTE },
  { tf: '1h', ms: 60 * MINUTE },
  { tf: '1d', ms: 1440 * MINUTE },
];
/** Two hours before a UTC midnight, so 1-minute windows cross day buckets and 1-day ones cross a year. */
const T0 = Date.UTC(2025, 11, 28, 22);

type Rng = () => number;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;

const base = (dataset: ExtractBatch['dataset'], symbol: string | null, timeframe: string | null) => ({
  schemaVersion: 1 as const,
  exchange: 'binance',
  symbol,
  timeframe,
  requestId: 'r',
  extractedAt: T0,
  window: null,
  batchId: 'b',
  chunk: { index: 0, count: 1 },
  dataset,
});

/** A window of candles of one series: some slots left out (gaps), the newest one possibly still open. */
function candleBatch(rng: Rng, symbol: string, tf: { tf: string; ms: number }): ExtractBatch {
  const first = Math.floor(rng() * 400);
  // Now and then an object of several slices (openCandleObject reads about 300 candles a slice).
  const n = 1 + Math.floor(rng() * (rng() < 0.2 ? 1_200 : 300));
  const records: OhlcvRecord[] = [];
  for (let i = first; i < first + n; i++) {
    if (rng() < 0.05) continue;
    // Now and then a candle off the grid (an exchange whose day starts at another hour), counted in its slot.
    const offset = tf.ms >= 60 * MINUTE && rng() < 0.05 ? 7 * MINUTE : 0;
    records.push({
      ts: T0 + i * tf.ms + offset,
      open: '1',
      high: '2',
      low: '0.5',
      close: '1.5',
      volume: '10',
      closed: i < first + n - 1 || rng() < 0.5,
    });
  }
  return { ...base('ohlcv', symbol, tf.tf), records } as ExtractBatch;
}

function recordBatch(rng: Rng, symbol: string): ExtractBatch {
  const at = (i: number) => T0 + i * 17 * MINUTE + Math.floor(rng() * 3) * 1000;
  const first = Math.floor(rng() * 300);
  const n = 1 + Math.floor(rng() * 40);
  const kind = pick(rng, ['trades', 'tickers', 'orderbook', 'funding'] as const);
  const idx = Array.from({ length: n }, (_, k) => first + k);
  switch (kind) {
    case 'trades':
      return {
        ...base('trades', symbol, null),
        records: idx.map((i) => ({
          id: String(i),
          ts: T0 + i * 7 * MINUTE,
          side: 'buy' as const,
          price: '1',
          amount: '2',
          cost: null,
          takerOrMaker: null,
        })),
      } as ExtractBatch;
    case 'tickers':
      return {
        ...base('tickers', null, null),
        records: idx.map((i) => ({
          symbol: pick(rng, [symbol, 'ETH/USDT']),
          ts: T0 + i * 11 * MINUTE,
          exchangeTs: null,
          ...Object.fromEntries(
            [
              'bid',
              'bidVolume',
              'ask',
              'askVolume',
              'last',
              'open',
              'high',
              'low',
              'vwap',
              'baseVolume',
              'quoteVolume',
              'change',
              'percentage',
              'markPrice',
              'indexPrice',
            ].map((k) => [k, null]),
          ),
          last: '1',
        })),
      } as ExtractBatch;
    case 'orderbook':
      return {
        ...base('orderbook', symbol, null),
        records: idx.slice(0, 5).flatMap((i) =>
          [0, 1, 2].map((level) => ({
            ts: at(i),
            exchangeTs: null,
            nonce: null,
            side: pick(rng, ['bid', 'ask'] as const),
            level,
            price: '1',
            amount: '1',
          })),
        ),
      } as ExtractBatch;
    case 'funding':
      return {
        ...base('funding', null, null),
        records: idx.map((i) => ({
          symbol: `${symbol}:USDT`,
          ts: T0 + i * 8 * 60 * MINUTE,
          exchangeTs: null,
          fundingRate: '0.0001',
          fundingTs: null,
          nextFundingTs: null,
          markPrice: null,
          indexPrice: null,
          interval: '8h',
        })),
      } as ExtractBatch;
  }
}

/** The coverage tables as text, in key order. */
async function coverage(): Promise<{ ohlcv: unknown[]; series: unknown[] }> {
  const ohlcv = await db.pool.query(
    `SELECT exchange, symbol, timeframe, bucket, encode(closed_bits, 'hex') AS closed_bits,
            encode(open_bits, 'hex') AS open_bits, closed, open, first_open, last_open, first_closed, last_closed,
            hole_starts, hole_ends, hole_missing
       FROM ohlcv_coverage ORDER BY exchange, symbol, timeframe, bucket`,
  );
  const series = await db.pool.query('SELECT * FROM series_coverage ORDER BY exchange, dataset, symbol, day');
  return { ohlcv: ohlcv.rows, series: series.rows };
}

describe('coverage kept by transform', () => {
  it('equals a full recount after randomised loads, redeliveries, reprocessing and concurrent writers', async () => {
    const seed = Number(process.env['COVERAGE_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
    const rng = random(seed);
    const sent: Array<{ batch: ExtractBatch; key: string }> = [];
    let objects = 0;
    const read = { slices: 0, whole: 0 };
    // As transform loads an object: its partitions first, then rows and coverage in one transaction.
    const load = async (batch: ExtractBatch, key: string) => {
      const body = batchBody(
        buildEvent({ id: key, source: '/test', type: EventType.extractBatch, time: T0, data: batch }),
      );
      const object = openCandleObject(body, key);
      await (object ? prepareCandlePartitions(db.pool, object) : preparePartitions(db.pool, batch));
      return inTransaction(db.pool, async (c) => {
        const w = await writeBody(c, body, key, object);
        if (w.beforeCommit) await c.query(w.beforeCommit);
        read[w.read] += 1;
      });
    };

    for (let round = 0; round < 25; round++) {
      // A handful of objects at once, as transform's instances would meet them, some for the same series.
      const wave: Array<{ batch: ExtractBatch; key: string }> = [];
      for (let k = 0; k < 6; k++) {
        const r = rng();
        const symbol = pick(rng, ['BTC/USDT', 'ETH/USDT', 'SOL/USDT']);
        if (r < 0.2 && sent.length > 0) {
          wave.push(pick(rng, sent)); // redelivery: the same object again
        } else if (r < 0.3 && sent.length > 0) {
          // reprocessing or an overlapping extraction: the same records under another key
          wave.push({ batch: pick(rng, sent).batch, key: `reprocess/${objects++}.json` });
        } else if (r < 0.75) {
          wave.push({ batch: candleBatch(rng, symbol, pick(rng, TIMEFRAMES)), key: `o/${objects++}.json` });
        } else {
          wave.push({ batch: recordBatch(rng, symbol), key: `o/${objects++}.json` });
        }
      }
      await Promise.all(wave.map((w) => load(w.batch, w.key)));
      sent.push(...wave);
    }

    const kept = await coverage();
    // Not an empty comparison: series of every timeframe, holes, open candles and every counted dataset are there.
    const ohlcvRows = kept.ohlcv as Array<{ timeframe: string; hole_missing: number[]; open: number }>;
    expect(new Set(ohlcvRows.map((r) => r.timeframe)).size, `seed ${seed}`).toBeGreaterThanOrEqual(3);
    expect(
      ohlcvRows.some((r) => r.hole_missing.length > 0),
      `seed ${seed}`,
    ).toBe(true);
    expect(
      new Set((kept.series as Array<{ dataset: string }>).map((r) => r.dataset)).size,
      `seed ${seed}`,
    ).toBeGreaterThanOrEqual(3);

    // Both ways of reading an object were taken (the slices for fresh ranges, whole for the rest).
    expect(read.slices, `seed ${seed}`).toBeGreaterThan(10);
    expect(read.whole, `seed ${seed}`).toBeGreaterThan(10);
    await inTransaction(db.pool, (c) => rebuildCoverage(c));
    expect(kept, `seed ${seed}: coverage kept by transform differs from a recount`).toEqual(await coverage());
  });
});
