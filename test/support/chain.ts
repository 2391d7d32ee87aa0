// The whole chain in one process for end-to-end tests: fake exchange, local Broker wired by knative/base, extract,
// load-raw, s3rver with MinIO-style notifications, transform and dead-letter, with a movable clock and fault gates.
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { createDeadLetterHandler } from '../../functions/dead-letter/handler.ts';
import { createExtractHandler } from '../../functions/extract/handler.ts';
import { createLoadRawHandler } from '../../functions/load-raw/handler.ts';
import { createTransformHandler } from '../../functions/transform/handler.ts';
import { loadCommonConfig, loadExtractConfig, loadTransformConfig } from '../../shared/config.ts';
import { ExchangeClient } from '../../shared/exchange/client.ts';
import type { HttpFunction } from '../../shared/http/message.ts';
import { functionServer, registerFunction } from '../../shared/http/server.ts';
import { S3CursorStore } from '../../shared/lake/cursors.ts';
import { BATCH_PREFIX, DEAD_LETTER_PREFIX, listKeys } from '../../shared/lake/list.ts';
import { s3Client } from '../../shared/lake/s3.ts';
import { readManifests, restrict, wiring } from '../../scripts/local/manifests.ts';
import { NotificationQueue, minioPayload, type S3rverEvent } from '../../scripts/local/notifier.ts';
import { LocalBroker, type DeliveryReport } from '../../scripts/local/router.ts';
import { startFakeExchange, type FakeExchange } from '../../scripts/offline/fake-exchange.ts';
import { startDatabase, type TestDatabase } from './postgres.ts';

/** The stages a gate can sit in front of. */
export type Stage = 'extract-binance' | 'load-raw' | 'transform' | 'dead-letter';

/**
 * Decides about one request before the stage sees it: a status to answer instead (e.g. 503), 'drop' to answer 202
 * and throw the request away (a lost delivery), or undefined to let the stage handle it.
 */
export type Gate = (req: { headers: Record<string, unknown>; body: unknown }) => number | 'drop' | undefined;

export interface Chain {
  fake: FakeExchange;
  db: TestDatabase;
  s3: S3Client;
  broker: LocalBroker;
  queue: NotificationQueue;
  reports: DeliveryReport[];
  /** Requests each stage received (gated or not). */
  received: Record<Stage, number>;
  gates: Partial<Record<Stage, Gate>>;
  /** The time the extract function and the fake exchange see. */
  setNow(ms: number): void;
  now(): number;
  /** Resolves when every delivery, reply and notification is done. */
  settle(): Promise<void>;
  deadLetters(): Promise<string[]>;
  close(): Promise<void>;
}

export const CHAIN_TOKEN = 'e2e-token-0123456789abcdef';

/** Starts the chain for binance at `now` with `initialLookback` as the first run's window. */
export async function startChain(opts: {
  now: number;
  initialLookback?: string;
  /** Extra spot markets SYN1/USDT, ... on the fake exchange. */
  syntheticSymbols?: number;
}): Promise<Chain> {
  let now = opts.now;
  const fake = await startFakeExchange({
    exchange: 'binance',
    now,
    syntheticSymbols: opts.syntheticSymbols ?? 0,
  });
  const db = await startDatabase();
  const s3dir = mkdtempSync(join(tmpdir(), 'e2e-s3-'));
  const s3server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3dir });
  const urls: Record<string, string> = {};
  const servers: Server[] = [];
  const reports: DeliveryReport[] = [];
  const received: Record<Stage, number> = {
    'extract-binance': 0,
    'load-raw': 0,
    transform: 0,
    'dead-letter': 0,
  };
  const gates: Partial<Record<Stage, Gate>> = {};
  const ready: { queue?: NotificationQueue } = {};
  const early: S3rverEvent[] = [];
  (s3server as unknown as { on(n: 'event', f: (e: S3rverEvent) => void): void }).on('event', (e) => {
    const key = e.Records[0]?.s3.object.key ?? '';
    if (!key.startsWith(BATCH_PREFIX) || !key.endsWith('.json')) return;
    if (ready.queue) ready.queue.push(minioPayload(e));
    else early.push(e);
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
  await s3.send(new CreateBucketCommand({ Bucket: 'crypto-raw' }));

  const wired = restrict(
    wiring(readManifests(join(import.meta.dirname, '../../knative/base'))),
    (s) => !s.env['EXCHANGE'] || s.env['EXCHANGE'] === 'binance',
  );
  const broker = new LocalBroker(
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
    INITIAL_LOOKBACK: opts.initialLookback ?? 'PT30M',
  });
  const handlers: Record<Stage, HttpFunction> = {
    'extract-binance': createExtractHandler(extractCfg, {
      client: new ExchangeClient(extractCfg),
      cursors: new S3CursorStore(s3, 'crypto-raw'),
      now: () => now,
    }),
    'load-raw': createLoadRawHandler(common, { s3 }),
    transform: createTransformHandler(loadTransformConfig({ ...s3env, TRANSFORM_AUTH_TOKEN: CHAIN_TOKEN }), {
      pool: db.pool,
      s3,
    }),
    'dead-letter': createDeadLetterHandler(common, { s3, now: () => now }),
  };
  const suffix = Math.random().toString(36).slice(2, 8);
  for (const [stage, handler] of Object.entries(handlers) as Array<[Stage, HttpFunction]>) {
    const name = `chain-${stage}-${suffix}`;
    registerFunction(
      name,
      (req, res) => {
        received[stage] += 1;
        const verdict = gates[stage]?.({ headers: req.headers, body: req.body });
        if (verdict === 'drop') return void res.status(202).end();
        if (verdict !== undefined) return void res.status(verdict).send(`injected ${verdict}`);
        return handler(req, res);
      },
      { maxBodyBytes: common.maxBodyBytes },
    );
    const server = functionServer(name);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    urls[stage] = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }
  const q = new NotificationQueue(urls['transform'] as string, CHAIN_TOKEN, undefined, 20);
  for (const e of early) q.push(minioPayload(e));
  ready.queue = q;

  return {
    fake,
    db,
    s3,
    broker,
    queue: q,
    reports,
    received,
    gates,
    setNow(ms) {
      now = ms;
      fake.setNow(ms);
    },
    now: () => now,
    async settle() {
      for (let quiet = 0; quiet < 3;) {
        await broker.idle();
        await q.idle();
        await new Promise((r) => setTimeout(r, 100));
        quiet = q.size === 0 ? quiet + 1 : 0;
      }
    },
    deadLetters: () => listKeys(s3, 'crypto-raw', DEAD_LETTER_PREFIX),
    async close() {
      await broker.close();
      servers.forEach((s) => s.close());
      await s3server.close();
      rmSync(s3dir, { recursive: true, force: true });
      await db.close();
      await fake.close();
    },
  };
}
