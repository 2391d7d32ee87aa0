// At-least-once delivery: every batch event (to load-raw) and every MinIO notification (to transform) delivered one
// to three times, shuffled, concurrently, ends in the same bucket and the same tables as one clean delivery.
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { CloudEvent } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExtractBatch } from '../../shared/events/schemas.ts';
import { collidingEvents, extractedEvents } from '../support/batches.ts';
import { startLake, type Lake, type LakeNotification } from '../support/lake.ts';
import {
  deliverUntilAccepted,
  listen,
  loadRawServer,
  mapConcurrent,
  postEvent,
  postNotification,
  transformServer,
  type Listening,
} from '../support/pipeline.ts';
import { startDatabase, type TestDatabase } from '../support/postgres.ts';
import {
  prng,
  randInt,
  reliabilitySeeds,
  shuffle,
  tableDigests,
  truncateAll,
} from '../support/reliability.ts';

const TOKEN = 'redelivery-token-0123456789';
const NOW = Date.UTC(2026, 10, 24, 12, 0, 30);
/** The same requests a minute and a half later: the partial candle closes, snapshots and instruments repeat. */
const LATER = NOW + 90_000;
const SEEDS = reliabilitySeeds(8);
/** Two clean runs and one chaotic one must compare equal; bucket names legitimately differ between runs. */
const BUCKETLESS = { excludeAlso: { ingestion_ledger: ['bucket'], rejected_objects: ['bucket'] } };

let lake: Lake;
let db: TestDatabase;
let extracted: CloudEvent<ExtractBatch>[] = [];

beforeAll(async () => {
  [lake, db] = await Promise.all([startLake(), startDatabase()]);
  const requests = (until: number) => [
    { datasets: ['markets'], marketTypes: ['spot', 'swap'] },
    { datasets: ['ohlcv'], symbols: ['BTC/USDT', 'BTC/USDT:USDT'], since: until - 40 * 60_000, until },
    { datasets: ['trades'], symbols: ['ETH/USDT'], since: until - 4 * 60_000, until },
    { datasets: ['orderbook'], symbols: ['BTC/USDT', 'BTC/USDT:USDT'], depth: 20 },
    { datasets: ['tickers'], symbols: ['BTC/USDT', 'ETH/USDT', 'BTC/USDT:USDT'] },
    { datasets: ['funding'], symbols: ['BTC/USDT:USDT'] },
  ];
  const env = { MAX_EVENT_BYTES: '16384' };
  extracted = [
    ...(await extractedEvents('binance', NOW, requests(NOW), env)),
    ...(await extractedEvents('binance', LATER, requests(LATER), env)),
    ...(await extractedEvents('okx', NOW, requests(NOW).slice(1), env)),
  ];
}, 120_000);

afterAll(async () => {
  await db?.close();
  await lake?.close();
});

/** Objects transform must reject (and record once, however often they are announced). */
async function putBadObjects(bucket: string, seed: number): Promise<void> {
  const bad: Array<[string, string]> = [
    [
      `exchange=binance/dataset=ohlcv/symbol=BAD-USDT/date=2026-11-24/not-json-${seed}.json`,
      '{"type": "cryp',
    ],
    [
      `exchange=binance/dataset=trades/symbol=BAD-USDT/date=2026-11-24/wrong-type-${seed}.json`,
      JSON.stringify({ specversion: '1.0', id: 'x', source: '/x', type: 'com.example.other', data: {} }),
    ],
  ];
  for (const [key, body] of bad)
    await lake.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

interface Run {
  objects: Array<{ key: string; etag: string }>;
  tables: Record<string, string>;
}

/** Every event once, in order, one at a time; then every notification once, in order. */
async function cleanRun(bucket: string, events: CloudEvent<ExtractBatch>[], seed: number): Promise<Run> {
  await lake.createBucket(bucket);
  await truncateAll(db.pool);
  const loadRaw = await listen(loadRawServer(lake.settings(bucket)));
  const transform = await listen(transformServer(lake.settings(bucket), db.pool, TOKEN));
  try {
    for (const e of events) expect((await postEvent(loadRaw.url, e)).status, `seed ${seed}`).toBe(204);
    await putBadObjects(bucket, seed);
    for (const n of notificationsOf(bucket))
      expect((await postNotification(transform.url, n.payload, TOKEN)).status, `seed ${seed}`).toBe(200);
    return { objects: await lake.objects(bucket), tables: await tableDigests(db.pool, BUCKETLESS) };
  } finally {
    await loadRaw.close();
    await transform.close();
  }
}

function notificationsOf(bucket: string): LakeNotification[] {
  return lake.notifications.filter((n) => n.bucket === bucket);
}

/** The same notification with another event name (tagging, removal: acknowledged and ignored). */
function renamed(n: LakeNotification, eventName: string): Record<string, unknown> {
  const records = (n.payload['Records'] as Array<Record<string, unknown>>).map((r) => ({ ...r, eventName }));
  return { ...n.payload, EventName: eventName, Records: records };
}

/** Every event one to three times, shuffled, concurrently, in either mode; the same for every notification. */
async function chaoticRun(
  bucket: string,
  events: CloudEvent<ExtractBatch>[],
  seed: number,
  rand: () => number,
): Promise<Run> {
  await lake.createBucket(bucket);
  await truncateAll(db.pool);
  const loadRaws: Listening[] = [];
  // Two load-raw and two transform instances, as Knative scales them.
  for (let i = 0; i < 2; i++) loadRaws.push(await listen(loadRawServer(lake.settings(bucket))));
  const transforms: Listening[] = [];
  for (let i = 0; i < 2; i++)
    transforms.push(await listen(transformServer(lake.settings(bucket), db.pool, TOKEN)));
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)] as T;
  try {
    const deliveries = shuffle(
      events.flatMap((e) =>
        Array.from({ length: randInt(rand, 1, 3) }, () => ({
          e,
          mode: rand() < 0.5 ? ('binary' as const) : ('structured' as const),
          to: pick(loadRaws).url,
        })),
      ),
      rand,
    );
    const answers = await mapConcurrent(deliveries, 16, (d) => postEvent(d.to, d.e, d.mode));
    const refused = answers.filter((a) => a.status !== 204).map((a) => `${a.status} ${a.text.slice(0, 200)}`);
    expect(refused, `seed ${seed}: load-raw answers`).toEqual([]);
    await putBadObjects(bucket, seed);

    const announced = notificationsOf(bucket);
    const notifications = shuffle(
      [
        ...announced.flatMap((n) => Array.from({ length: randInt(rand, 1, 3) }, () => n.payload)),
        // Tagging and removal events for the same objects must change nothing.
        ...announced
          .filter(() => rand() < 0.2)
          .map((n) => renamed(n, rand() < 0.5 ? 's3:ObjectCreated:PutTagging' : 's3:ObjectRemoved:Delete')),
      ],
      rand,
    );
    const statuses = await mapConcurrent(notifications, 8, async (p) => {
      const first = await postNotification(pick(transforms).url, p, TOKEN);
      // Concurrent loads of one object may meet a deadlock: a 503 that MinIO retries, in order, until 2xx.
      if (first.status === 503) return [503, ...(await deliverUntilAccepted(pick(transforms).url, p, TOKEN))];
      return [first.status];
    });
    const wrong = statuses.filter((s) => s.at(-1) !== 200 || s.some((x) => x !== 200 && x !== 503));
    expect(wrong, `seed ${seed}: transform answers (only 200, or 503 then 200, are allowed)`).toEqual([]);
    return { objects: await lake.objects(bucket), tables: await tableDigests(db.pool, BUCKETLESS) };
  } finally {
    for (const s of [...loadRaws, ...transforms]) await s.close();
  }
}

describe('redelivery', () => {
  it('the extracted events cover every dataset', () => {
    const datasets = new Set(extracted.map((e) => e.data?.dataset));
    expect([...datasets].sort()).toEqual(['funding', 'markets', 'ohlcv', 'orderbook', 'tickers', 'trades']);
    expect(extracted.length).toBeGreaterThan(20);
  });

  it.each(SEEDS.map((seed) => ({ seed })))(
    'seed $seed: events and notifications delivered 1-3 times, shuffled, concurrently = one clean delivery (re-run: RELIABILITY_SEED=$seed)',
    async ({ seed }) => {
      const rand = prng(seed);
      const events = [...extracted, ...collidingEvents(rand)];
      const clean = await cleanRun(`clean-${seed}`, events, seed);
      // Every table is filled, or the comparison proves little.
      for (const [table, digest] of Object.entries(clean.tables))
        expect(digest.startsWith('0:'), `seed ${seed}: ${table} is empty after the clean run`).toBe(false);

      const chaotic = await chaoticRun(`chaos-${seed}`, events, seed, rand);
      expect(chaotic.objects, `seed ${seed}: the raw bucket`).toEqual(clean.objects);
      expect(chaotic.tables, `seed ${seed}: the tables`).toEqual(clean.tables);
    },
    90_000,
  );
});
