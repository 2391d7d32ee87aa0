// End to end, in one process: a PingSource tick through the local Broker (wired by knative/base) to extract,
// load-raw, the embedded S3's MinIO-style notification and transform, ending as exact rows in PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http } from '@google-cloud/functions-framework';
import { CreateBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeadLetterHandler } from '../../functions/dead-letter/handler.ts';
import { createExtractHandler } from '../../functions/extract/handler.ts';
import { createLoadRawHandler } from '../../functions/load-raw/handler.ts';
import { createTransformHandler } from '../../functions/transform/handler.ts';
import { loadCommonConfig, loadExtractConfig, loadTransformConfig } from '../../shared/config.ts';
import { ExchangeClient } from '../../shared/exchange/client.ts';
import { functionServer } from '../../shared/http/server.ts';
import { S3CursorStore } from '../../shared/lake/cursors.ts';
import { BATCH_PREFIX } from '../../shared/lake/objects.ts';
import { s3Client } from '../../shared/lake/s3.ts';
import { readManifests, restrict, wiring } from '../../scripts/local/manifests.ts';
import { NotificationQueue, minioPayload, type S3rverEvent } from '../../scripts/local/notifier.ts';
import { LocalBroker, type DeliveryReport } from '../../scripts/local/router.ts';
import { reprocess } from '../../scripts/reprocess.ts';
import { startFakeExchange, type FakeExchange } from '../../scripts/offline/fake-exchange.ts';
import { startDatabase, type TestDatabase } from '../support/postgres.ts';

const NOW = Date.UTC(2026, 10, 24, 12, 0, 30);
const TOKEN = 'e2e-token-0123456789abcdef';

let fake: FakeExchange;
let db: TestDatabase;
let s3dir: string;
let s3server: S3rver;
let broker: LocalBroker;
let queue: NotificationQueue;
let rawS3: ReturnType<typeof s3Client>;
const servers: Server[] = [];
const reports: DeliveryReport[] = [];

async function listen(name: string): Promise<string> {
  const server = functionServer(name);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

beforeAll(async () => {
  fake = await startFakeExchange({ exchange: 'binance', now: NOW });
  db = await startDatabase();
  s3dir = mkdtempSync(join(tmpdir(), 'e2e-s3-'));
  s3server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3dir });
  const urls: Record<string, string> = {};
  const pending: S3rverEvent[] = [];
  (s3server as unknown as { on(n: 'event', f: (e: S3rverEvent) => void): void }).on('event', (e) => {
    const key = e.Records[0]?.s3.object.key ?? '';
    if (!key.startsWith(BATCH_PREFIX) || !key.endsWith('.json')) return;
    if (queue) queue.push(minioPayload(e));
    else pending.push(e);
  });
  const { port } = (await s3server.run()) as { port: number };
  const s3env = {
    S3_ENDPOINT: `http://127.0.0.1:${port}`,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    RAW_BUCKET: 'crypto-raw',
  };
  const common = loadCommonConfig(s3env);
  const s3 = s3Client(common.s3);
  rawS3 = s3;
  await s3.send(new CreateBucketCommand({ Bucket: 'crypto-raw' }));

  // The wiring of knative/base, for binance.
  const wired = restrict(
    wiring(readManifests(join(import.meta.dirname, '../../knative/base'))),
    (s) => !s.env['EXCHANGE'] || s.env['EXCHANGE'] === 'binance',
  );
  broker = new LocalBroker(
    'default',
    wired,
    urls,
    (r) => reports.push(r),
    (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
  );
  const brokerUrl = await broker.start();

  const extractCfg = loadExtractConfig({
    ...s3env,
    EXCHANGE: 'binance',
    K_SINK: brokerUrl,
    EXCHANGE_API_BASE_URL: fake.url,
    INITIAL_LOOKBACK: 'PT30M',
  });
  http(
    'e2e-extract',
    createExtractHandler(extractCfg, {
      client: new ExchangeClient(extractCfg),
      cursors: new S3CursorStore(s3, 'crypto-raw'),
      now: () => NOW,
    }),
  );
  http('e2e-load-raw', createLoadRawHandler(common, { s3 }));
  http(
    'e2e-transform',
    createTransformHandler(loadTransformConfig({ ...s3env, TRANSFORM_AUTH_TOKEN: TOKEN }), {
      pool: db.pool,
      s3,
    }),
  );
  http('e2e-dead-letter', createDeadLetterHandler(common, { s3, now: () => NOW }));
  urls['extract-binance'] = await listen('e2e-extract');
  urls['load-raw'] = await listen('e2e-load-raw');
  urls['transform'] = await listen('e2e-transform');
  urls['dead-letter'] = await listen('e2e-dead-letter');
  queue = new NotificationQueue(urls['transform'] as string, TOKEN, undefined, 50);
  for (const e of pending) queue.push(minioPayload(e));
}, 120_000);

afterAll(async () => {
  await broker?.close();
  servers.forEach((s) => s.close());
  await s3server?.close();
  rmSync(s3dir, { recursive: true, force: true });
  await db?.close();
  await fake?.close();
});

async function settle() {
  for (let quiet = 0; quiet < 3;) {
    await broker.idle();
    await queue.idle();
    await new Promise((r) => setTimeout(r, 100));
    quiet = queue.size === 0 ? quiet + 1 : 0;
  }
}

describe('the chain', () => {
  it('turns one firing of every binance schedule into exact rows, with lineage to existing raw objects and a full ledger', async () => {
    expect(broker.firePings(new Date(NOW), true)).toBeGreaterThanOrEqual(4);
    await settle();
    expect(
      reports.filter((r) => r.deadLettered).map((r) => `${r.subscriber} ${r.event.type} ${String(r.status)}`),
    ).toEqual([]);

    const rows = (
      await db.pool.query(
        `SELECT symbol, open::text, close::text, closed, source_key FROM ohlcv ORDER BY symbol, open_time`,
      )
    ).rows;
    const symbols = ['BTC/USDT', 'BTC/USDT:USDT', 'ETH/USDT', 'ETH/USDT:USDT'];
    expect([...new Set(rows.map((r) => r.symbol))].sort()).toEqual(symbols);
    // 30 minutes of INITIAL_LOOKBACK: 30 closed candles and the open one, per symbol.
    for (const s of symbols) expect(rows.filter((r) => r.symbol === s)).toHaveLength(31);
    // Values are the exchange's decimal text as served on the wire.
    const wire = fake.requests
      .filter((r) => r.path.endsWith('/klines'))
      .map((r) => r.body)
      .join('\n');
    for (const r of rows) expect(wire).toContain(`"${r.open}"`);

    // Lineage: every source_key is an object in the raw bucket; the ledger has every batch object loaded.
    const keys = new Set<string>(
      (
        await db.pool.query(
          `SELECT DISTINCT source_key FROM ohlcv UNION SELECT DISTINCT source_key FROM ticker_snapshots UNION SELECT DISTINCT source_key FROM instruments`,
        )
      ).rows.map((r) => r.source_key),
    );
    const ledger = (await db.pool.query(`SELECT object_key, status FROM ingestion_ledger`)).rows;
    const batchDeliveries = reports.filter((r) => r.subscriber === 'load-raw' && r.status === 204).length;
    expect(ledger).toHaveLength(batchDeliveries);
    expect(ledger.every((l) => l.status === 'loaded')).toBe(true);
    for (const k of keys) expect(ledger.map((l) => l.object_key)).toContain(k);
    expect(
      (await db.pool.query(`SELECT count(*)::int AS n FROM instruments WHERE exchange = 'binance'`)).rows[0]
        .n,
    ).toBeGreaterThan(0);
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM funding_rates`)).rows[0].n).toBe(2);
  });

  it('the next tick continues from the cursor: nothing refetched but the open candle', async () => {
    const before = (await db.pool.query(`SELECT count(*)::int AS n FROM ohlcv`)).rows[0].n;
    broker.firePings(new Date(NOW + 60_000));
    await settle();
    const after = (
      await db.pool.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE closed)::int AS c FROM ohlcv`)
    ).rows[0];
    expect(after.n).toBe(before);
    expect(after.c).toBe(30 * 4);
  });

  it('reprocess after truncating the tables rebuilds identical tables from the raw lake, and again changes nothing', async () => {
    const tables = [
      'ohlcv',
      'trades',
      'ticker_snapshots',
      'orderbook_levels',
      'funding_rates',
      'instruments',
      'dq_findings',
    ];
    const hash = async () => {
      const out: Record<string, string> = {};
      for (const t of tables)
        out[t] = (
          await db.pool.query(
            `SELECT coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') AS h FROM ${t} x`,
          )
        ).rows[0].h;
      return out;
    };
    const before = await hash();
    expect(before['ohlcv']).not.toBe('');
    await db.pool.query(`TRUNCATE ${tables.join(', ')}`);
    const deps = { pool: db.pool, s3: rawS3, bucket: 'crypto-raw', maxObjectBytes: 64 * 1024 * 1024 };
    const first = await reprocess(deps);
    expect(first.rejected).toBe(0);
    expect(first.loaded).toBeGreaterThan(0);
    expect(await hash()).toEqual(before);
    await reprocess(deps, { prefix: 'exchange=binance/dataset=ohlcv/', date: '2026-11-24' });
    expect(await hash()).toEqual(before);
  });

  it('lineage points at objects that exist in the raw bucket', async () => {
    const keys = (await db.pool.query(`SELECT DISTINCT source_key AS k FROM ohlcv`)).rows.map(
      (r) => r.k as string,
    );
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys)
      await expect(
        rawS3.send(new HeadObjectCommand({ Bucket: 'crypto-raw', Key: k })),
      ).resolves.toBeDefined();
  });
});
