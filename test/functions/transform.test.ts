// transform through its HTTP handler: MinIO payloads, token, ledger, rejections, candle rules, exactness, idempotency.
import { PutObjectCommand } from '@aws-sdk/client-s3';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTransformHandler } from '../../functions/transform/handler.ts';
import { loadTransformConfig } from '../../shared/config.ts';
import { buildBatchEvents } from '../../shared/events/batches.ts';
import { buildEvent, toBinary } from '../../shared/events/cloudevent.ts';
import type { Dataset, OhlcvRecord, RecordOf, TradeRecord } from '../../shared/events/schemas.ts';
import { RawDecimals, toMarket } from '../../shared/exchange/normalize.ts';
import type { Market, Ticker, Trade } from '../../shared/exchange/ccxt.ts';
import {
  fixtures,
  inReply,
  recordedCases,
  recordsOf,
  replay,
  startReplayServer,
} from '../support/recorded.ts';
import { functionServer, registerFunction } from '../../shared/http/server.ts';
import { batchBody, batchKey, putIfChanged } from '../../shared/lake/objects.ts';
import { startDatabase, type TestDatabase } from '../support/postgres.ts';
import { startS3, type TestS3 } from '../support/s3.ts';

const TOKEN = 'test-token-0123456789abcdef';

/** Where each dataset's decimals land: record fields, table columns, and a natural key to match rows. */
const EXACT: Record<
  Dataset,
  {
    table: string;
    key: string;
    keyOf: (r: Record<string, unknown>) => string;
    fields: string[];
    columns: string[];
  }
> = {
  ohlcv: {
    table: 'ohlcv',
    key: `(extract(epoch from open_time) * 1000)::bigint`,
    keyOf: (r) => String(r['ts']),
    fields: ['open', 'high', 'low', 'close', 'volume'],
    columns: ['open', 'high', 'low', 'close', 'volume'],
  },
  trades: {
    table: 'trades',
    key: 'trade_id',
    keyOf: (r) => String(r['id']),
    fields: ['price', 'amount', 'cost'],
    columns: ['price', 'amount', 'cost'],
  },
  orderbook: {
    table: 'orderbook_levels',
    key: `side || level`,
    keyOf: (r) => `${String(r['side'])}${String(r['level'])}`,
    fields: ['price', 'amount'],
    columns: ['price', 'amount'],
  },
  tickers: {
    table: 'ticker_snapshots',
    key: 'symbol',
    keyOf: (r) => String(r['symbol']),
    fields: [
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
    ],
    columns: [
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
    ],
  },
  funding: {
    table: 'funding_rates',
    key: 'symbol',
    keyOf: (r) => String(r['symbol']),
    fields: ['fundingRate', 'markPrice', 'indexPrice'],
    columns: ['funding_rate', 'mark_price', 'index_price'],
  },
  markets: {
    table: 'instruments',
    key: 'symbol',
    keyOf: (r) => String(r['symbol']),
    fields: ['contractSize'],
    columns: ['contract_size'],
  },
};
const T0 = Date.UTC(2026, 10, 24, 0, 0);
const MIN = 60_000;

let s3: TestS3;
let db: TestDatabase;
let n = 0;

beforeAll(async () => {
  [s3, db] = await Promise.all([startS3(), startDatabase()]);
});
afterAll(async () => {
  await db?.close();
  await s3?.close();
});

function server(env: Record<string, string> = {}, pool = db.pool) {
  const cfg = loadTransformConfig({
    S3_ENDPOINT: s3.settings.endpoint,
    AWS_ACCESS_KEY_ID: s3.settings.accessKeyId!,
    AWS_SECRET_ACCESS_KEY: s3.settings.secretAccessKey!,
    RAW_BUCKET: s3.settings.bucket,
    TRANSFORM_AUTH_TOKEN: TOKEN,
    ...env,
  });
  const name = `transform-test-${++n}`;
  registerFunction(name, createTransformHandler(cfg, { pool, s3: s3.client }), {
    maxBodyBytes: cfg.maxBodyBytes,
  });
  return functionServer(name);
}

function candle(i: number, closed: boolean, close = '43550.55000000'): OhlcvRecord {
  return {
    ts: T0 + i * MIN,
    open: '43519.34000000',
    high: '43600.00000000',
    low: '43500.10000000',
    close,
    volume: '1.23400000',
    closed,
  };
}

/** Stores a batch the way load-raw does and returns its key. */
async function store<D extends Dataset>(
  dataset: D,
  records: RecordOf[D][],
  opts: { symbol?: string | null; extractedAt?: number; timeframe?: string | null } = {},
): Promise<string> {
  const header = {
    exchange: 'binance',
    dataset,
    symbol: opts.symbol === undefined ? 'BTC/USDT' : opts.symbol,
    timeframe: opts.timeframe === undefined ? (dataset === 'ohlcv' ? '1m' : null) : opts.timeframe,
    window: null,
    requestId: 'r',
    extractedAt: opts.extractedAt ?? T0 + 100 * MIN,
  };
  const [event] = buildBatchEvents(header, records, 1024 * 1024);
  const key = batchKey(event!, event!.data as never);
  await putIfChanged(s3.client, s3.settings.bucket, key, batchBody(event!), {});
  return key;
}

/** The notification MinIO sends for a PUT (key URL-query-escaped in Records, plain in Key). */
function minio(key: string, eventName = 's3:ObjectCreated:Put') {
  const escaped = encodeURIComponent(key).replace(/%20/g, '+');
  return {
    EventName: eventName,
    Key: `${s3.settings.bucket}/${key}`,
    Records: [
      {
        eventVersion: '2.0',
        eventSource: 'minio:s3',
        awsRegion: '',
        eventTime: new Date().toISOString(),
        eventName,
        userIdentity: { principalId: 'minio' },
        requestParameters: { sourceIPAddress: '10.0.0.1' },
        responseElements: {},
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'Config',
          bucket: {
            name: s3.settings.bucket,
            ownerIdentity: { principalId: 'minio' },
            arn: `arn:aws:s3:::${s3.settings.bucket}`,
          },
          object: {
            key: escaped,
            size: 1,
            eTag: 'x',
            contentType: 'application/json',
            userMetadata: {},
            sequencer: '1',
          },
        },
        source: { host: '10.0.0.1', port: '', userAgent: 'MinIO' },
      },
    ],
  };
}

const post = (srv: ReturnType<typeof server>, body: unknown, token: string | null = TOKEN) => {
  const r = request(srv).post('/').set('content-type', 'application/json');
  return (token === null ? r : r.set('authorization', `Bearer ${token}`)).send(JSON.stringify(body));
};

async function rows(sql: string, params: unknown[] = []) {
  return (await db.pool.query(sql, params)).rows;
}

describe('transform', () => {
  it('loads the object of a real MinIO notification into exact rows, with lineage and a ledger row', async () => {
    const recs = [candle(0, true), candle(1, true), candle(2, false)];
    const key = await store('ohlcv', recs, { symbol: 'BTC/USDT:USDT' });
    const res = await post(server(), minio(key)).expect(200);
    expect(res.body.results).toEqual([expect.objectContaining({ status: 'loaded', key, records: 3 })]);
    const got = await rows(
      `SELECT open::text, high::text, low::text, close::text, volume::text, closed, source_key, extract(epoch from open_time)*1000 AS ts FROM ohlcv WHERE symbol = 'BTC/USDT:USDT' ORDER BY open_time`,
    );
    expect(got.map((r) => [Number(r.ts), r.open, r.high, r.low, r.close, r.volume, r.closed])).toEqual(
      recs.map((c) => [c.ts, c.open, c.high, c.low, c.close, c.volume, c.closed]),
    );
    expect(new Set(got.map((r) => r.source_key))).toEqual(new Set([key]));
    const ledger = await rows(
      'SELECT status, rows, dataset, exchange FROM ingestion_ledger WHERE object_key = $1',
      [key],
    );
    expect(ledger).toEqual([{ status: 'loaded', rows: 3, dataset: 'ohlcv', exchange: 'binance' }]);
  });

  it('decodes escaped keys (%2F, +, unicode)', async () => {
    const [ev] = buildBatchEvents(
      {
        exchange: 'binance',
        dataset: 'ohlcv',
        symbol: 'ETH/USDT',
        timeframe: '1m',
        window: null,
        requestId: 'r',
        extractedAt: T0,
      },
      [candle(0, true)],
      65536,
    );
    const key =
      'exchange=binance/dataset=ohlcv/symbol=ETH-USDT/timeframe=1m/date=2026-11-24/manual upload é+ü.json';
    await s3.client.send(
      new PutObjectCommand({ Bucket: s3.settings.bucket, Key: key, Body: batchBody(ev!) }),
    );
    const payload = minio(key);
    expect(payload.Records[0]!.s3.object.key).toContain('%2F');
    expect(payload.Records[0]!.s3.object.key).toContain('+');
    const res = await post(server(), payload).expect(200);
    expect(res.body.results[0]).toMatchObject({ status: 'loaded', key });
  });

  it.each([
    ['no token', null],
    ['a wrong token', 'wrong-token-0123456789abcdef'],
  ])('%s is a 401', async (_name, token) => {
    const res = await post(server(), minio('exchange=x/y.json'), token).expect(401);
    expect(res.headers['www-authenticate']).toMatch(/Bearer/);
    expect(res.body.message).toMatch(/bearer token/);
  });
  it('another scheme is a 401', async () => {
    await request(server())
      .post('/')
      .set('authorization', `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`)
      .send(minio('k'))
      .expect(401);
  });

  it('acknowledges and ignores events other than object creation', async () => {
    const key = await store('ohlcv', [candle(10, true)], { symbol: 'LTC/USDT' });
    for (const name of [
      's3:ObjectRemoved:Delete',
      's3:ObjectAccessed:Get',
      's3:ObjectCreated:PutTagging',
      's3:ObjectCreated:PutRetention',
    ]) {
      const res = await post(server(), minio(key, name)).expect(200);
      expect(res.body.results[0].status).toBe('ignored');
    }
    expect(await rows('SELECT 1 FROM ingestion_ledger WHERE object_key = $1', [key])).toEqual([]);
  });

  it('records a permanently bad object and answers 2xx, writing no rows', async () => {
    const bad = [
      ['exchange=binance/dataset=ohlcv/bad/not-json.json', '{"type":', 'invalid_json'],
      [
        'exchange=binance/dataset=ohlcv/bad/wrong-type.json',
        JSON.stringify({ type: 'other', data: {} }),
        'wrong_event_type',
      ],
      [
        'exchange=binance/dataset=ohlcv/bad/invalid.json',
        JSON.stringify({ type: 'cryptopipe.extract.batch', data: { records: 'x' } }),
        'invalid_batch',
      ],
    ] as const;
    for (const [key, body, reason] of bad) {
      await s3.client.send(new PutObjectCommand({ Bucket: s3.settings.bucket, Key: key, Body: body }));
      const res = await post(server(), minio(key)).expect(200);
      expect(res.body.results[0]).toMatchObject({ status: 'rejected', reason });
      expect(await rows('SELECT reason FROM rejected_objects WHERE object_key = $1', [key])).toEqual([
        { reason },
      ]);
    }
  });

  it('an object over MAX_OBJECT_BYTES (2 MiB by default) is recorded as too large, not loaded', async () => {
    const key = 'exchange=binance/dataset=ohlcv/bad/too-large.json';
    const body = JSON.stringify({ type: 'cryptopipe.extract.batch', pad: 'x'.repeat(2 * 1024 * 1024) });
    await s3.client.send(new PutObjectCommand({ Bucket: s3.settings.bucket, Key: key, Body: body }));
    const res = await post(server(), minio(key)).expect(200);
    expect(res.body.results[0]).toMatchObject({ status: 'rejected', reason: 'object_too_large' });
    expect(await rows('SELECT reason FROM rejected_objects WHERE object_key = $1', [key])).toEqual([
      { reason: 'object_too_large' },
    ]);
  });

  it('an object loaded with the same ETag is a no-op', async () => {
    const key = await store('ohlcv', [candle(20, true)], { symbol: 'SOL/USDT' });
    await post(server(), minio(key)).expect(200);
    const res = await post(server(), minio(key)).expect(200);
    expect(res.body.results[0].status).toBe('unchanged');
  });

  it('manual {bucket, key} reprocessing, 404 for a missing object, 400 for another bucket', async () => {
    const key = await store('trades', [
      { id: '1', ts: T0, side: 'buy', price: '1.5', amount: '2', cost: '3', takerOrMaker: null },
    ]);
    const res = await post(server(), { bucket: s3.settings.bucket, key }).expect(200);
    expect(res.body.results[0].status).toBe('loaded');
    await post(server(), { bucket: s3.settings.bucket, key: 'exchange=binance/nope.json' }).expect(404);
    const other = await post(server(), { bucket: 'elsewhere', key }).expect(400);
    expect(other.body.message).toMatch(/not crypto-raw|is not/);
  });

  it('accepts the notification as a CloudEvent', async () => {
    const key = await store('ohlcv', [candle(30, true)], { symbol: 'ETH/USDT:USDT' });
    const ev = buildEvent({
      id: 'n1',
      source: 'minio:s3',
      type: 's3:ObjectCreated:Put',
      time: T0,
      data: minio(key),
    });
    const { headers, body } = toBinary(ev);
    await request(server())
      .post('/')
      .set(headers)
      .set('authorization', `Bearer ${TOKEN}`)
      .send(body)
      .expect(204);
    expect(await rows('SELECT count(*)::int AS n FROM ohlcv WHERE symbol = $1', ['ETH/USDT:USDT'])).toEqual([
      { n: 1 },
    ]);
  });

  it('candles: closed is final, a partial one is replaced by a newer extraction or its closed version', async () => {
    const symbol = 'XRP/USDT';
    const load = async (recs: OhlcvRecord[], extractedAt: number) =>
      post(server(), minio(await store('ohlcv', recs, { symbol, extractedAt }))).expect(200);
    const read = async () =>
      (await rows(`SELECT close::text, closed FROM ohlcv WHERE symbol = $1`, [symbol]))[0];
    await load([candle(0, false, '1.00')], T0 + 10_000);
    await load([candle(0, false, '2.00')], T0 + 20_000);
    expect(await read()).toEqual({ close: '2.00', closed: false });
    await load([candle(0, false, '1.50')], T0 + 15_000); // an older partial arriving late
    expect(await read()).toEqual({ close: '2.00', closed: false });
    await load([candle(0, true, '3.00')], T0 + 61_000);
    expect(await read()).toEqual({ close: '3.00', closed: true });
    await load([candle(0, false, '4.00')], T0 + 90_000); // a later partial never overwrites a closed candle
    expect(await read()).toEqual({ close: '3.00', closed: true });
  });

  it('records data-quality findings and lists gaps', async () => {
    const symbol = 'DQ/USDT';
    const broken: OhlcvRecord = { ...candle(0, true), low: '43700.00000000' };
    const negative: OhlcvRecord = { ...candle(1, true), volume: '-1' };
    const future: OhlcvRecord = { ...candle(500, true) };
    const key = await store('ohlcv', [broken, negative, candle(5, true), future], {
      symbol,
      extractedAt: T0 + 10 * MIN,
    });
    const res = await post(server(), minio(key)).expect(200);
    expect(res.body.results[0].findings).toBe(3);
    const findings = await rows(
      `SELECT check_name, extract(epoch from ts)*1000 AS ts FROM dq_findings WHERE symbol = $1 ORDER BY ts, check_name`,
      [symbol],
    );
    expect(findings.map((f) => [f.check_name, Number(f.ts)])).toEqual([
      ['ohlc_invariant', T0],
      ['negative_volume', T0 + MIN],
      ['future_timestamp', T0 + 500 * MIN],
    ]);
    const gaps = await rows(
      `SELECT extract(epoch from gap_start)*1000 AS s, extract(epoch from gap_end)*1000 AS e, missing_candles::int AS m FROM ohlcv_gaps WHERE symbol = $1 ORDER BY gap_start`,
      [symbol],
    );
    expect(gaps.map((g) => [Number(g.s), Number(g.e), g.m])).toEqual([
      [T0 + 2 * MIN, T0 + 5 * MIN, 3],
      [T0 + 6 * MIN, T0 + 500 * MIN, 494],
    ]);
  });

  it.each(recordedCases)(
    'exactness, $name: stored NUMERIC text is the exchange decimal, as written in its reply',
    async ({ exchange, entry }) => {
      const replayServer = await startReplayServer();
      try {
        const { value, raw } = await replay(exchange, entry, replayServer);
        const batch = recordsOf(entry, value, raw, Date.UTC(2030, 0, 1));
        const isolated = `${exchange}-exact-${++n}`;
        const [ev] = buildBatchEvents(
          {
            exchange: isolated,
            dataset: batch.dataset,
            symbol: batch.symbol,
            timeframe: batch.timeframe,
            window: null,
            requestId: 'r',
            extractedAt: Date.UTC(2030, 0, 1),
          },
          batch.records,
          1024 * 1024,
        );
        const key = batchKey(ev!, ev!.data as never);
        await putIfChanged(s3.client, s3.settings.bucket, key, batchBody(ev!), {});
        const res = await post(server(), minio(key)).expect(200);
        expect(res.body.results[0]).toMatchObject({ status: 'loaded', records: batch.records.length });
        const spec = EXACT[batch.dataset];
        const got = await rows(
          `SELECT ${spec.key} AS k, ${spec.columns.map((c) => `${c}::text`).join(', ')} FROM ${spec.table} WHERE exchange = $1`,
          [isolated],
        );
        const byKey = new Map(got.map((r) => [String(r.k), r]));
        expect(byKey.size).toBe(batch.records.length);
        const body = raw.join('\n');
        for (const rec of batch.records as unknown as Array<Record<string, unknown>>) {
          const row = byKey.get(spec.keyOf(rec))!;
          expect(row, spec.keyOf(rec)).toBeDefined();
          spec.fields.forEach((f, i) => {
            const stored = row[spec.columns[i]!] as string | null;
            expect(stored, f).toBe(rec[f] ?? null);
            if (stored !== null) expect(inReply(stored, body), `${f} ${stored} in the reply`).toBe(true);
          });
        }
      } finally {
        await replayServer.close();
      }
    },
  );

  it('trades_derived: cost_derived is what ccxt computed (price x amount, contract size), for every recorded trade', async () => {
    const replayServer = await startReplayServer();
    try {
      for (const c of recordedCases.filter((k) => k.entry.method === 'fetchTrades')) {
        const { value, raw } = await replay(c.exchange, c.entry, replayServer);
        const batch = recordsOf(c.entry, value, raw, Date.UTC(2030, 0, 1));
        const isolated = `${c.exchange}-derived-${++n}`;
        const header = {
          exchange: isolated,
          window: null,
          requestId: 'r',
          extractedAt: Date.UTC(2030, 0, 1),
        };
        const market = fixtures[c.exchange]!.markets[batch.symbol!] as NonNullable<Market>;
        for (const [dataset, symbol, records] of [
          ['markets', null, [toMarket(market, RawDecimals.none)]],
          ['trades', batch.symbol, batch.records],
        ] as const) {
          const [ev] = buildBatchEvents(
            { ...header, dataset, symbol, timeframe: null },
            records as never,
            1024 * 1024,
          );
          const key = batchKey(ev!, ev!.data as never);
          await putIfChanged(s3.client, s3.settings.bucket, key, batchBody(ev!), {});
          await post(server(), minio(key)).expect(200);
        }
        const got = await rows(
          `SELECT trade_id, cost::text, cost_derived::text FROM trades_derived WHERE exchange = $1`,
          [isolated],
        );
        const ccxtCost = new Map(
          (value as Trade[]).map((t, i) => [(batch.records[i] as TradeRecord).id, String(t.cost)]),
        );
        expect(got.length, c.name).toBe(ccxtCost.size);
        for (const r of got) {
          expect(r.cost, c.name).toBeNull();
          const eq = await rows('SELECT $1::numeric = $2::numeric AS eq', [
            r.cost_derived,
            ccxtCost.get(r.trade_id),
          ]);
          expect(eq[0]!.eq, `${c.name}: ${r.cost_derived} = ${ccxtCost.get(r.trade_id)}`).toBe(true);
        }
      }
    } finally {
      await replayServer.close();
    }
  });

  it('ticker_snapshots_derived: what ccxt computes, in exact NUMERIC from the exchange columns', async () => {
    const replayServer = await startReplayServer();
    try {
      const derived: Record<string, Record<string, unknown>> = {};
      for (const [exchange, symbol] of [
        ['okx', 'BTC/USDT'],
        ['kraken', 'BTC/USDT'],
        ['gate', 'BTC/USDT'],
        ['binance', 'BTC/USDT'],
      ] as const) {
        const c = recordedCases.find(
          (k) => k.exchange === exchange && k.entry.method === 'fetchTicker' && k.entry.input[0] === symbol,
        )!;
        const { value, raw } = await replay(exchange, c.entry, replayServer);
        const batch = recordsOf(c.entry, value, raw, Date.UTC(2030, 0, 1));
        const isolated = `${exchange}-derived-${++n}`;
        const [ev] = buildBatchEvents(
          {
            exchange: isolated,
            dataset: 'tickers',
            symbol: null,
            timeframe: null,
            window: null,
            requestId: 'r',
            extractedAt: Date.UTC(2030, 0, 1),
          },
          batch.records as never,
          1024 * 1024,
        );
        const key = batchKey(ev!, ev!.data as never);
        await putIfChanged(s3.client, s3.settings.bucket, key, batchBody(ev!), {});
        await post(server(), minio(key)).expect(200);
        const [row] = await rows(
          `SELECT open::text, change::text, percentage::text, vwap::text, quote_volume::text,
                  open_derived::text, change_derived::text, percentage_derived::text, average_derived::text,
                  vwap_derived::text, quote_volume_derived::text
           FROM ticker_snapshots_derived WHERE exchange = $1`,
          [isolated],
        );
        derived[exchange] = { ...row, ccxt: value as Ticker };
      }
      const close = (a: unknown, b: unknown) =>
        expect(Math.abs(Number(a) - Number(b)) / Math.abs(Number(b))).toBeLessThan(1e-12);
      // okx sends open and last: change, percentage (ccxt: float noise), vwap and average are derived.
      const okx = derived['okx']!;
      const okxCcxt = okx['ccxt'] as Ticker;
      expect(okx).toMatchObject({ change: null, percentage: null, vwap: null, change_derived: '1218.0' });
      close(okx['percentage_derived'], okxCcxt.percentage);
      close(okx['vwap_derived'], okxCcxt.vwap);
      expect(Number(okx['average_derived'])).toBe(72775.8);
      expect(okx['percentage_derived']).not.toMatch(/e/);
      // kraken sends vwap and base volume: ccxt's quote volume (42760586.421038015904) is their product, exactly.
      expect(derived['kraken']).toMatchObject({
        quote_volume: null,
        quote_volume_derived: '42760586.4210380159040',
      });
      // gate sends last and change_percentage: open is derived, as ccxt does it.
      const gate = derived['gate']!;
      expect(gate).toMatchObject({ open: null, percentage: '1.71' });
      close(gate['open_derived'], (gate['ccxt'] as Ticker).open);
      close(gate['change_derived'], (gate['ccxt'] as Ticker).change);
      // binance sends them all: derived and sent agree.
      const binance = derived['binance']!;
      expect(binance).toMatchObject({ change: '1188.75000000', percentage: '1.647' });
      expect(Number(binance['change_derived'])).toBe(1188.75);
    } finally {
      await replayServer.close();
    }
  });

  it('PostgreSQL failing mid-transaction is a 503 and leaves nothing half-written', async () => {
    await db.pool.query(
      `CREATE FUNCTION fail_ledger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'simulated outage' USING ERRCODE = '57P01'; END $$`,
    );
    await db.pool.query(
      `CREATE TRIGGER fail_ledger BEFORE INSERT ON ingestion_ledger FOR EACH ROW EXECUTE FUNCTION fail_ledger()`,
    );
    try {
      const key = await store('ohlcv', [candle(0, true), candle(1, true)], { symbol: 'HALF/USDT' });
      const res = await post(server(), minio(key)).expect(503);
      expect(res.body.error).toBe('database_unavailable');
      expect(await rows(`SELECT count(*)::int AS n FROM ohlcv WHERE symbol = 'HALF/USDT'`)).toEqual([
        { n: 0 },
      ]);
    } finally {
      await db.pool.query('DROP TRIGGER fail_ledger ON ingestion_ledger; DROP FUNCTION fail_ledger()');
    }
  });

  it('PostgreSQL unreachable is a 503', async () => {
    const { createPool } = await import('../../shared/db/pool.ts');
    const dead = createPool({
      connectionString: 'postgres://postgres@127.0.0.1:9/none',
      host: '',
      port: 9,
      user: '',
      password: undefined,
      database: '',
    });
    const key = await store('ohlcv', [candle(0, true)], { symbol: 'DOWN/USDT' });
    const res = await post(server({}, dead), minio(key)).expect(503);
    expect(res.body.error).toBe('database_unavailable');
    await dead.end();
  });
});

describe('idempotency under redelivery', () => {
  const TABLES = ['ohlcv', 'trades', 'dq_findings'];
  async function tableHash(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const t of TABLES) {
      out[t] = (
        await rows(
          `SELECT coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') AS h FROM ${t} x WHERE symbol LIKE 'IDEM%'`,
        )
      )[0]!.h;
    }
    out['ledger'] = (
      await rows(
        `SELECT coalesce(md5(string_agg(object_key || etag || rows, '|' ORDER BY object_key)), '') AS h FROM ingestion_ledger WHERE object_key LIKE '%IDEM%'`,
      )
    )[0]!.h;
    return out;
  }
  async function reset() {
    for (const t of TABLES) await db.pool.query(`DELETE FROM ${t} WHERE symbol LIKE 'IDEM%'`);
    await db.pool.query(`DELETE FROM ingestion_ledger WHERE object_key LIKE '%IDEM%'`);
  }

  it('every object delivered one to three times, in random order, concurrently: the same tables', async () => {
    // Overlapping windows, partial then closed candles, the same trades in two objects, a broken candle.
    const keys: string[] = [];
    for (let w = 0; w < 6; w++) {
      const recs = Array.from({ length: 10 }, (_, i) =>
        candle(w * 7 + i, w * 7 + i < w * 7 + 9, `${43000 + w}.5`),
      );
      keys.push(
        await store('ohlcv', recs, { symbol: 'IDEM/USDT', extractedAt: T0 + (w * 7 + 9) * MIN + 1000 }),
      );
    }
    const trades: TradeRecord[] = Array.from({ length: 20 }, (_, i) => ({
      id: String(i),
      ts: T0 + i * 1000,
      side: 'sell',
      price: '1.10',
      amount: '0.5',
      cost: '0.55',
      takerOrMaker: 'taker',
    }));
    keys.push(await store('trades', trades.slice(0, 12), { symbol: 'IDEM/USDT' }));
    keys.push(await store('trades', trades.slice(8), { symbol: 'IDEM/USDT' }));
    keys.push(await store('ohlcv', [{ ...candle(100, true), high: '1' }], { symbol: 'IDEM/USDT' }));

    const srv = server();
    await reset();
    for (const k of keys) await post(srv, minio(k)).expect(200);
    const clean = await tableHash();
    expect(clean['ohlcv']).not.toBe('');

    for (let seed = 1; seed <= 8; seed++) {
      let s = seed;
      const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      const deliveries = keys.flatMap((k) => Array.from({ length: 1 + Math.floor(rand() * 3) }, () => k));
      for (let i = deliveries.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!];
      }
      await reset();
      const results = await Promise.all(deliveries.map((k) => post(srv, minio(k))));
      // Concurrent deliveries of one object may meet a deadlock or serialization failure: those are 503s that MinIO
      // retries, so deliver them again as MinIO would.
      for (const [i, r] of results.entries())
        if (r.status === 503) await post(srv, minio(deliveries[i]!)).expect(200);
      expect(
        results.every((r) => r.status === 200 || r.status === 503),
        `seed ${seed}`,
      ).toBe(true);
      expect(await tableHash(), `seed ${seed}`).toEqual(clean);
    }
  });
});
