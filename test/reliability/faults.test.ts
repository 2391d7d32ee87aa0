// Faults in every dependency: PostgreSQL killed mid-transaction or unreachable, S3 answering 500 or stalling, the
// exchange failing in each way it can. Each stage answers as designed, and a redelivery after the fault completes the
// tables with nothing duplicated and nothing half-written.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CloudEvent } from 'cloudevents';
import type { ExtractBatch, OhlcvRecord } from '../../shared/events/schemas.ts';
import { createPool } from '../../shared/db/pool.ts';
import { S3_TIMEOUT_MS as DEFAULT_S3_TIMEOUT_MS, s3Client } from '../../shared/lake/s3.ts';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { startFakeExchange, type FakeExchange, type FaultRule } from '../../scripts/offline/fake-exchange.ts';
import { seriesEvents } from '../support/batches.ts';
import { extractUnderTest } from '../support/extract.ts';
import { startHttpFaultProxy, startTcpProxy, type HttpFaultProxy } from '../support/faults.ts';
import { startLake, type Lake, type LakeNotification } from '../support/lake.ts';
import {
  deadLetterServer,
  listen,
  loadRawServer,
  post,
  postEvent,
  postNotification,
  transformServer,
  type Listening,
} from '../support/pipeline.ts';
import { startDatabase, type TestDatabase } from '../support/postgres.ts';
import { waitFor } from '../support/reliability.ts';
import { buildEvent, toBinary } from '../../shared/events/cloudevent.ts';

const TOKEN = 'faults-token-0123456789abcdef';
const BUCKET = 'faults-raw';
const NOW = Date.UTC(2026, 10, 24, 12, 0, 30);
const MIN = 60_000;
/** The S3 client of the functions under test: short timeouts so a stalled S3 fails within a test's time. */
const S3_TIMEOUT_MS = 400;

let lake: Lake;
let db: TestDatabase;
let s3proxy: HttpFaultProxy;
let loadRaw: Listening;
let transform: Listening;
let watcher: pg.Client;
let seen = 0;

beforeAll(async () => {
  [lake, db] = await Promise.all([startLake(), startDatabase()]);
  await lake.createBucket(BUCKET);
  s3proxy = await startHttpFaultProxy(lake.endpoint);
  const viaProxy = { ...lake.settings(BUCKET), endpoint: s3proxy.url };
  const client = s3Client(viaProxy, { timeoutMs: S3_TIMEOUT_MS });
  loadRaw = await listen(loadRawServer(viaProxy, { MAX_BODY_BYTES: String(32 * 1024 * 1024) }, client));
  // The PostgreSQL faults need objects of 30,000 candles (~4 MiB), above the 2 MiB default limit.
  transform = await listen(
    transformServer(viaProxy, db.pool, TOKEN, { MAX_OBJECT_BYTES: String(16 * 1024 * 1024) }, client),
  );
  watcher = new pg.Client({ connectionString: db.url });
  await watcher.connect();
}, 60_000);

afterAll(async () => {
  await watcher?.end();
  await loadRaw?.close();
  await transform?.close();
  await s3proxy?.close();
  await db?.close();
  await lake?.close();
});

afterEach(() => s3proxy.clearFaults());

/** Notifications s3rver emitted since the last call. */
function newNotifications(): LakeNotification[] {
  const out = lake.notifications.slice(seen);
  seen = lake.notifications.length;
  return out;
}

/** Candles of one symbol, all closed, `n` minutes from `from`. */
function candles(n: number, from = Date.UTC(2026, 10, 20)): OhlcvRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    ts: from + i * MIN,
    open: `${40000 + (i % 1000)}.12345678`,
    high: `${41000 + (i % 1000)}.5`,
    low: `${39000 + (i % 1000)}.25`,
    close: `${40000 + (i % 1000)}.87654321`,
    volume: `${i}.001`,
    closed: true,
  }));
}

/** Stores one object of `n` candles for `symbol` through load-raw and returns its notification. */
async function storeCandles(symbol: string, n: number): Promise<LakeNotification> {
  newNotifications();
  const [event] = seriesEvents(
    { exchange: 'binance', dataset: 'ohlcv', symbol, timeframe: '1m', extractedAt: NOW },
    candles(n),
    32 * 1024 * 1024,
  );
  expect((await postEvent(loadRaw.url, event!)).status).toBe(204);
  const [note] = newNotifications();
  expect(note?.key).toMatch(/^exchange=binance\/dataset=ohlcv\//);
  return note!;
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  return (await db.pool.query<{ n: number }>(sql, params)).rows[0]?.n ?? -1;
}

/** Rows, distinct keys and ledger rows of one symbol's candles: all three equal `n` once complete. */
async function completeness(symbol: string) {
  return {
    rows: await count(`SELECT count(*)::int AS n FROM ohlcv WHERE symbol = $1`, [symbol]),
    distinct: await count(`SELECT count(DISTINCT open_time)::int AS n FROM ohlcv WHERE symbol = $1`, [
      symbol,
    ]),
    exact: await count(
      `SELECT count(*)::int AS n FROM ohlcv WHERE symbol = $1 AND close::text LIKE '%.87654321' AND volume IS NOT NULL`,
      [symbol],
    ),
    ledger: await count(
      `SELECT count(*)::int AS n FROM ingestion_ledger WHERE object_key LIKE $1 AND rows > 0`,
      [`%symbol=${symbol.replace('/', '-')}/%`],
    ),
  };
}

/** The pid of a backend of the test database (not the watcher) matching `where`, once there is one. */
async function backend(where: string, timeoutMs = 15_000): Promise<number> {
  let pid: number | undefined;
  await waitFor(
    async () => {
      const { rows } = await watcher.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND ${where} LIMIT 1`,
      );
      pid = rows[0]?.pid;
      return pid !== undefined;
    },
    `a backend where ${where}`,
    timeoutMs,
  );
  return pid as number;
}

describe('PostgreSQL faults (transform)', () => {
  it('a connection killed mid-transaction, after a large batch was written: 503, nothing half-written, redelivery completes', async () => {
    const N = 30_000;
    const note = await storeCandles('KILL/USDT', N);
    // Hold the ledger so transform's transaction stops right after it wrote every candle (EXCLUSIVE still lets the
    // ledger be read, so transform gets that far).
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE ingestion_ledger IN EXCLUSIVE MODE');
      const answer = postNotification(transform.url, note.payload, TOKEN);
      const pid = await backend(
        `wait_event_type = 'Lock' AND backend_xid IS NOT NULL AND query LIKE 'INSERT INTO ingestion_ledger%'`,
      );
      await watcher.query('SELECT pg_terminate_backend($1)', [pid]);
      await locker.query('ROLLBACK');
      const res = await answer;
      expect(res.status).toBe(503);
      expect(JSON.parse(res.text)).toMatchObject({ error: 'database_unavailable' });
    } finally {
      await locker.end();
    }
    expect(await completeness('KILL/USDT')).toEqual({ rows: 0, distinct: 0, exact: 0, ledger: 0 });

    // MinIO delivers it again: everything, once.
    expect((await postNotification(transform.url, note.payload, TOKEN)).status).toBe(200);
    expect(await completeness('KILL/USDT')).toEqual({ rows: N, distinct: N, exact: N, ledger: 1 });
    // And once more: a no-op.
    expect((await postNotification(transform.url, note.payload, TOKEN)).status).toBe(200);
    expect(await completeness('KILL/USDT')).toEqual({ rows: N, distinct: N, exact: N, ledger: 1 });
  });

  it('a connection killed while its COPY streams: 503, nothing written, redelivery completes', async () => {
    const N = 40_000;
    let killed = 0;
    for (let attempt = 0; attempt < 6 && killed === 0; attempt++) {
      const symbol = `COPY${attempt}/USDT`;
      const note = await storeCandles(symbol, N);
      const answer = postNotification(transform.url, note.payload, TOKEN);
      const pid = await backend(`state = 'active' AND query LIKE 'COPY ohlcv%'`).catch(() => undefined);
      if (pid !== undefined) await watcher.query('SELECT pg_terminate_backend($1)', [pid]);
      const res = await answer;
      expect([200, 503]).toContain(res.status);
      if (res.status === 503) {
        killed += 1;
        expect(JSON.parse(res.text)).toMatchObject({ error: 'database_unavailable' });
        expect(await completeness(symbol)).toEqual({ rows: 0, distinct: 0, exact: 0, ledger: 0 });
        expect((await postNotification(transform.url, note.payload, TOKEN)).status).toBe(200);
      }
      expect(await completeness(symbol)).toEqual({ rows: N, distinct: N, exact: N, ledger: 1 });
    }
    expect(killed, 'no COPY was caught in flight in 6 attempts').toBeGreaterThan(0);
  });

  it("the pool's database unreachable, then its connections cut: 503 while down, complete after redelivery", async () => {
    const u = new URL(db.url);
    const proxy = await startTcpProxy(u.hostname, Number(u.port || 5432));
    const via = new URL(db.url);
    via.hostname = proxy.host;
    via.port = String(proxy.port);
    const pool = createPool({ ...db.settings, connectionString: via.toString() }, 2);
    const fn = await listen(transformServer(lake.settings(BUCKET), pool, TOKEN));
    try {
      const note = await storeCandles('DOWN/USDT', 500);
      proxy.down();
      const res = await postNotification(fn.url, note.payload, TOKEN);
      expect(res.status).toBe(503);
      expect(JSON.parse(res.text)).toMatchObject({ error: 'database_unavailable' });
      expect(await completeness('DOWN/USDT')).toEqual({ rows: 0, distinct: 0, exact: 0, ledger: 0 });

      proxy.up();
      expect((await postNotification(fn.url, note.payload, TOKEN)).status).toBe(200);
      expect(await completeness('DOWN/USDT')).toEqual({ rows: 500, distinct: 500, exact: 500, ledger: 1 });

      // Idle pooled connections cut under the pool: the next delivery either works or is a 503; the one after works.
      const next = await storeCandles('CUT/USDT', 500);
      expect(proxy.open).toBeGreaterThan(0);
      proxy.cutAll();
      const first = await postNotification(fn.url, next.payload, TOKEN);
      expect([200, 503]).toContain(first.status);
      if (first.status !== 200)
        expect((await postNotification(fn.url, next.payload, TOKEN)).status).toBe(200);
      expect(await completeness('CUT/USDT')).toEqual({ rows: 500, distinct: 500, exact: 500, ledger: 1 });
    } finally {
      await fn.close();
      await pool.end();
      await proxy.close();
    }
  });
});

describe('S3 faults', () => {
  const event = (symbol: string) =>
    seriesEvents(
      { exchange: 'binance', dataset: 'ohlcv', symbol, timeframe: '1m', extractedAt: NOW },
      candles(50),
    )[0] as CloudEvent<ExtractBatch>;
  const keysOf = async (symbol: string) =>
    (await lake.objects(BUCKET)).filter((o) => o.key.includes(`symbol=${symbol.replace('/', '-')}/`));

  it.each([
    ['answering 500 to every write', { status: 500, match: (r: { method: string }) => r.method === 'PUT' }],
    ['answering 500 to everything', { status: 500 }],
    ['accepting connections and never answering', { stall: true }],
  ])('load-raw with S3 %s: 503, no object; after the fault, redelivery stores it once', async (_n, fault) => {
    const symbol = `S3LR${Math.floor(Math.random() * 1e6)}/USDT`;
    s3proxy.addFault(fault);
    const res = await postEvent(loadRaw.url, event(symbol));
    expect(res.status).toBe(503);
    expect(JSON.parse(res.text)).toMatchObject({ error: 's3_unavailable' });
    s3proxy.clearFaults();
    expect(await keysOf(symbol)).toEqual([]);
    expect((await postEvent(loadRaw.url, event(symbol))).status).toBe(204);
    expect((await postEvent(loadRaw.url, event(symbol))).status).toBe(204);
    expect(await keysOf(symbol)).toHaveLength(1);
  });

  it("the functions' default S3 client gives up on a silent S3 (connect, answer and socket timeouts, as errors)", async () => {
    const client = s3Client(lake.settings(BUCKET));
    await client.send(new HeadBucketCommand({ Bucket: BUCKET }));
    const handler = client.config.requestHandler as { httpHandlerConfigs?: () => Record<string, unknown> };
    expect(handler.httpHandlerConfigs?.()).toMatchObject({
      requestTimeout: DEFAULT_S3_TIMEOUT_MS,
      socketTimeout: DEFAULT_S3_TIMEOUT_MS,
      connectionTimeout: expect.any(Number),
      throwOnRequestTimeout: true,
    });
    expect(DEFAULT_S3_TIMEOUT_MS).toBeLessThan(20_000); // three attempts stay inside load-raw's 60 s Knative timeout
  });

  it('one S3 500 is retried inside the S3 client: load-raw still answers 204', async () => {
    const symbol = 'S3ONCE/USDT';
    s3proxy.addFault({ status: 500, times: 1, match: (r) => r.method === 'PUT' });
    const before = s3proxy.seen.filter((s) => s.faulted).length;
    expect((await postEvent(loadRaw.url, event(symbol))).status).toBe(204);
    expect(s3proxy.seen.filter((s) => s.faulted).length).toBe(before + 1);
    expect(await keysOf(symbol)).toHaveLength(1);
  });

  it.each([
    ['answering 500', { status: 500, match: (r: { method: string }) => r.method === 'GET' }],
    ['never answering', { stall: true, match: (r: { method: string }) => r.method === 'GET' }],
  ])(
    'transform with S3 %s: 503, no rows, no ledger; after the fault, redelivery loads it once',
    async (_n, fault) => {
      const symbol = `S3TR${Math.floor(Math.random() * 1e6)}/USDT`;
      newNotifications();
      expect((await postEvent(loadRaw.url, event(symbol))).status).toBe(204);
      const [note] = newNotifications();
      s3proxy.addFault(fault);
      const res = await postNotification(transform.url, note!.payload, TOKEN);
      expect(res.status).toBe(503);
      expect(JSON.parse(res.text)).toMatchObject({ error: 's3_unavailable' });
      s3proxy.clearFaults();
      expect(await completeness(symbol)).toEqual({ rows: 0, distinct: 0, exact: 0, ledger: 0 });
      expect(
        await count(`SELECT count(*)::int AS n FROM rejected_objects WHERE object_key = $1`, [note!.key]),
      ).toBe(0);
      expect((await postNotification(transform.url, note!.payload, TOKEN)).status).toBe(200);
      expect((await postNotification(transform.url, note!.payload, TOKEN)).status).toBe(200);
      expect(await completeness(symbol)).toEqual({ rows: 50, distinct: 50, exact: 50, ledger: 1 });
    },
  );

  it('dead-letter with S3 answering 500: 503 (the Broker retries), stored after the fault', async () => {
    const viaProxy = { ...lake.settings(BUCKET), endpoint: s3proxy.url };
    const fn = await listen(deadLetterServer(viaProxy));
    try {
      const dead = buildEvent({
        id: 'dl-1',
        source: '/faults',
        type: 'cryptopipe.extract.batch',
        time: NOW,
        data: { any: 'thing' },
      });
      const { headers, body } = toBinary(dead);
      const withReason = {
        ...headers,
        'ce-knativeerrorcode': '500',
        'ce-knativeerrordest': 'http://load-raw',
      };
      s3proxy.addFault({ status: 500 });
      const res = await post(fn.url, body, withReason);
      expect(res.status).toBe(503);
      s3proxy.clearFaults();
      expect((await post(fn.url, body, withReason)).status).toBe(204);
      expect((await lake.objects(BUCKET)).filter((o) => o.key.startsWith('_dead-letters/'))).toHaveLength(1);
    } finally {
      await fn.close();
    }
  });
});

describe('exchange faults (extract -> load-raw -> S3 -> transform)', () => {
  let fake: FakeExchange;
  beforeAll(async () => {
    fake = await startFakeExchange({ exchange: 'binance', now: NOW });
  });
  afterAll(() => fake?.close());
  afterEach(() => fake.clearFaults());

  const KLINES = '/api/v3/klines';
  const minuteNow = Math.floor(NOW / MIN) * MIN;
  let windowNo = 0;

  const make = () =>
    extractUnderTest({
      exchange: 'binance',
      apiBaseUrl: fake.url,
      sinkUrl: loadRaw.url,
      now: NOW,
      env: { CURSOR_STORE: 'none', RETRY_WINDOW_MS: '2500', EXCHANGE_TIMEOUT_MS: '300' },
    });

  /** A 20-minute window of its own, so every case has rows nobody else writes. */
  function nextWindow() {
    windowNo += 1;
    const since = minuteNow - windowNo * 30 * MIN;
    return { since, until: since + 20 * MIN };
  }

  async function candlesIn(w: { since: number; until: number }) {
    const q = (sql: string) => count(sql, [new Date(w.since).toISOString(), new Date(w.until).toISOString()]);
    const where = `symbol = 'BTC/USDT' AND exchange = 'binance' AND open_time >= $1 AND open_time < $2`;
    return {
      rows: await q(`SELECT count(*)::int AS n FROM ohlcv WHERE ${where}`),
      distinct: await q(`SELECT count(DISTINCT open_time)::int AS n FROM ohlcv WHERE ${where}`),
    };
  }

  /** Delivers every new notification to transform; each must be loaded. */
  async function transformAll(): Promise<number> {
    const notes = newNotifications();
    for (const n of notes) {
      const res = await postNotification(transform.url, n.payload, TOKEN);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text).results).toEqual([expect.objectContaining({ status: 'loaded' })]);
    }
    return notes.length;
  }

  const cases: Array<{
    name: string;
    faults: FaultRule[];
    status: number;
    error?: string;
    retryAfter?: boolean;
  }> = [
    {
      name: '500 on every call',
      faults: [{ pathPrefix: KLINES, status: 500 }],
      status: 503,
      error: 'exchange_unavailable',
    },
    {
      name: 'timing out (answers after EXCHANGE_TIMEOUT_MS)',
      faults: [{ pathPrefix: KLINES, delayMs: 800 }],
      status: 503,
      error: 'exchange_unavailable',
    },
    {
      name: '429 with Retry-After, twice (retried, then served)',
      faults: [{ pathPrefix: KLINES, status: 429, headers: { 'retry-after': '1' }, times: 2 }],
      status: 200,
    },
    {
      name: '429 with Retry-After on every call',
      faults: [{ pathPrefix: KLINES, status: 429, headers: { 'retry-after': '1' } }],
      status: 503,
      retryAfter: true,
    },
    {
      name: '418 (IP ban) with Retry-After',
      faults: [{ pathPrefix: KLINES, status: 418, headers: { 'retry-after': '1' } }],
      status: 503,
      error: 'exchange_ip_banned',
      retryAfter: true,
    },
    {
      name: 'truncated JSON on every call',
      faults: [{ pathPrefix: KLINES, truncate: true }],
      status: 503,
      error: 'exchange_unavailable',
    },
  ];

  it.each(cases)(
    'exchange $name: extract answers $status; after the fault, the tables are complete',
    async (c) => {
      const served = await listen(make().server);
      const w = nextWindow();
      const body = JSON.stringify({ datasets: ['ohlcv'], symbols: ['BTC/USDT'], ...w });
      const send = () => post(served.url, body, { 'content-type': 'application/json' });
      try {
        newNotifications();
        for (const f of c.faults) fake.addFault(f);
        const res = await send();
        expect(res.status, res.text).toBe(c.status);
        if (c.error) expect(JSON.parse(res.text)).toMatchObject({ error: c.error });
        if (c.retryAfter) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        if (res.status !== 200) {
          // Nothing of a failed series reaches the sink.
          expect(newNotifications()).toEqual([]);
          fake.clearFaults();
          // The Broker redelivers until it works (an IP ban lasts until its Retry-After).
          let again = await send();
          for (let i = 0; again.status === 503 && i < 30; i++) {
            await new Promise((r) => setTimeout(r, 200));
            again = await send();
          }
          expect(again.status, again.text).toBe(200);
        }
        expect(await transformAll()).toBeGreaterThan(0);
        expect(await candlesIn(w)).toEqual({ rows: 20, distinct: 20 });
        // One more redelivery of the request changes nothing.
        expect((await send()).status).toBe(200);
        await transformAll();
        expect(await candlesIn(w)).toEqual({ rows: 20, distinct: 20 });
      } finally {
        await served.close();
      }
    },
  );

  it('S3 refusing writes behind load-raw: extract answers 5xx (sink_refused); after the fault, complete', async () => {
    const served = await listen(make().server);
    const w = nextWindow();
    const body = JSON.stringify({ datasets: ['ohlcv'], symbols: ['BTC/USDT'], ...w });
    try {
      newNotifications();
      s3proxy.addFault({ status: 500, match: (r) => r.method === 'PUT' });
      const res = await post(served.url, body, { 'content-type': 'application/json' });
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(JSON.parse(res.text)).toMatchObject({ error: 'sink_refused' });
      expect(newNotifications()).toEqual([]);
      s3proxy.clearFaults();
      expect((await post(served.url, body, { 'content-type': 'application/json' })).status).toBe(200);
      expect(await transformAll()).toBeGreaterThan(0);
      expect(await candlesIn(w)).toEqual({ rows: 20, distinct: 20 });
    } finally {
      await served.close();
    }
  });
});
