// Local run: embedded S3, an extract server per exchange (same entry as the container), a local event receiver,
// and a schedule that ticks every minute. `--offline` serves recorded exchange data instead of the live APIs.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import pg from 'pg';
import S3rver from 's3rver';
import { loadCommonConfig } from '../shared/config.ts';
import { migrate } from '../shared/db/migrate.ts';
import { createPool } from '../shared/db/pool.ts';
import { buildEvent, decodeRequest, toBinary } from '../shared/events/cloudevent.ts';
import {
  EventType,
  extractBatchSchema,
  type ExtractSummary,
  type OhlcvRecord,
} from '../shared/events/schemas.ts';
import { BATCH_PREFIX } from '../shared/lake/objects.ts';
import { s3Client } from '../shared/lake/s3.ts';
import { nextOpen, parseTimeframe } from '../shared/time.ts';
import { startEmbeddedServer } from './local/embedded-postgres.ts';
import { NotificationQueue, minioPayload, type S3rverEvent } from './local/notifier.ts';
import { startFakeExchange, type FakeExchangeId } from './offline/fake-exchange.ts';

const root = resolve(import.meta.dirname, '..');
// The AWS SDK's notice that its 2027 releases need Node 22 is not actionable in a local run on Node 20.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const option = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

if (flag('help')) {
  console.log(`npm start -- [--offline] [--once] [--exchanges=binance,bybit] [--symbols=BTC/USDT,BTC/USDT:USDT] [--port=8080]
  --offline    serve recorded exchange responses (no network needed)
  --once       run one schedule tick, print the summary and exit
Ports: extract-<exchange> on --port, --port+1, ...; the event receiver on 8070; embedded S3 on 4568.`);
  process.exit(0);
}

const offline = flag('offline');
const once = flag('once');
const listed = readFileSync(join(root, 'knative/exchanges.txt'), 'utf8')
  .split('\n')
  .map((l) => l.replace(/#.*/, '').trim().split(/\s+/)[0] ?? '')
  .filter(Boolean);
const exchanges = (option('exchanges')?.split(',') ?? listed).filter(Boolean);
const symbols = option('symbols')?.split(',') ?? ['BTC/USDT', 'BTC/USDT:USDT'];
const basePort = Number(option('port') ?? 8080);
const stateDir = join(root, '.local');
const children: ChildProcess[] = [];
const closers: Array<() => Promise<unknown>> = [];

function line(text: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)}  ${text}\n`);
}

async function reachable(id: string): Promise<string | undefined> {
  const ccxt = await import('ccxt');
  const ex = new (
    ccxt.default as unknown as Record<string, new () => { urls: { www?: unknown; api: unknown } }>
  )[id]!();
  const api = JSON.stringify(ex.urls.api);
  const host = /https:\/\/([a-z0-9.-]+\.[a-z]{2,})/i.exec(api)?.[1];
  if (!host) return undefined;
  try {
    await fetch(`https://${host}/`, { method: 'HEAD', signal: AbortSignal.timeout(4000) });
    return undefined;
  } catch (err) {
    return `${host}: ${(err as Error).cause ? String((err as { cause: unknown }).cause) : (err as Error).message}`;
  }
}

/** Embedded S3 (s3rver) unless S3_ENDPOINT is set; `onEvent` receives its object events. */
async function startS3(onEvent: (e: S3rverEvent) => void): Promise<{ url: string; embedded: boolean }> {
  if (process.env['S3_ENDPOINT']) return { url: process.env['S3_ENDPOINT'], embedded: false };
  const dir = join(stateDir, 's3');
  mkdirSync(dir, { recursive: true });
  const server = new S3rver({ port: 4568, address: '127.0.0.1', silent: true, directory: dir });
  (server as unknown as { on(name: 'event', fn: (e: S3rverEvent) => void): void }).on('event', onEvent);
  await server.run();
  closers.push(() => server.close());
  return { url: 'http://127.0.0.1:4568', embedded: true };
}

/** Embedded PostgreSQL (real binaries from npm, data under .local/pg) unless DATABASE_URL is set; migrated. */
async function startPostgres(): Promise<string> {
  let url = process.env['DATABASE_URL'];
  if (!url) {
    const server = await startEmbeddedServer({
      dataDir: join(stateDir, 'pg'),
      port: 54329,
      persistent: true,
    });
    closers.push(() => server.stop());
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    const exists = await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'crypto'`);
    if (exists.rowCount === 0) await admin.query('CREATE DATABASE crypto');
    await admin.end();
    url = server.url.replace(/\/postgres$/, '/crypto');
  }
  const pool = createPool(loadCommonConfig({ DATABASE_URL: url }).db, 1);
  const applied = await migrate(pool);
  await pool.end();
  line(
    `PostgreSQL ready (${process.env['DATABASE_URL'] ? 'DATABASE_URL' : 'embedded, data in .local/pg'})${applied.length > 0 ? `, applied migrations ${applied.join(', ')}` : ''}`,
  );
  return url;
}

/**
 * The local stand-in for the Broker until the manifest-driven router exists: batch events go to load-raw (as the
 * Trigger on their type does), retried on 5xx with backoff; a refused event is kept under .local/dead-letters.
 */
async function startBroker(loadRawUrl: string): Promise<string> {
  const latest = new Map<string, { rows: number; last?: number; closesAt?: number }>();
  const deliver = async (headers: Record<string, string>, body: Buffer): Promise<number> => {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(loadRawUrl, { method: 'POST', headers, body }).catch(() => undefined);
      if (res && res.status < 500) return res.status;
      if (attempt >= 4) return res?.status ?? 503;
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
  };
  const progress = (ev: { data?: unknown }) => {
    const batch = extractBatchSchema.parse(ev.data);
    const key = [batch.exchange, batch.dataset, batch.symbol ?? '*', batch.timeframe ?? ''].join(' ').trim();
    const s = latest.get(key) ?? { rows: 0 };
    s.rows += batch.records.length;
    const tf = batch.timeframe ? parseTimeframe(batch.timeframe) : undefined;
    const closed =
      batch.dataset === 'ohlcv' ? (batch.records as OhlcvRecord[]).filter((r) => r.closed).at(-1) : undefined;
    if (closed && tf && closed.ts >= (s.last ?? 0)) {
      s.last = closed.ts;
      s.closesAt = nextOpen(tf, closed.ts);
    }
    latest.set(key, s);
    const lag =
      s.last !== undefined && s.closesAt !== undefined
        ? `, latest closed candle ${new Date(s.last).toISOString().slice(0, 16)}Z, lag ${Math.round((Date.now() - s.closesAt) / 1000)} s after its close`
        : '';
    line(`${key}: +${batch.records.length} rows stored raw (total ${s.rows})${lag}`);
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
        const body = Buffer.concat(chunks);
        let decoded;
        try {
          decoded = decodeRequest(headers, body);
        } catch (err) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
          return;
        }
        if (decoded.kind !== 'cloudevent') {
          res.writeHead(400).end('the broker accepts CloudEvents');
          return;
        }
        const ev = decoded.event;
        res.writeHead(202).end();
        if (ev.type !== EventType.extractBatch) return;
        const status = await deliver(headers, body);
        if (status < 300) {
          progress(ev);
          return;
        }
        const dir = join(stateDir, 'dead-letters');
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, `${ev.id}.json`), JSON.stringify({ status, event: ev.toJSON() }, null, 1));
        line(`load-raw refused event ${ev.id} with HTTP ${status}; kept in .local/dead-letters`);
      })();
    });
  });
  await new Promise<void>((r) => server.listen(8070, '127.0.0.1', r));
  closers.push(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

function startFunction(
  name: string,
  label: string,
  port: number,
  env: Record<string, string>,
): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'scripts/serve-function.ts'), name], {
    env: {
      ...process.env,
      ...env,
      PORT: String(port),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolveStart, reject) => {
    let buf = '';
    child.stdout!.on('data', (b: Buffer) => {
      buf += b.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (text.includes('"function listening"')) resolveStart();
        if (/"severity":"(WARNING|ERROR)"/.test(text)) line(`${label}: ${text}`);
      }
    });
    child.on('exit', (code) => reject(new Error(`${label} exited with code ${code}`)));
  });
}

async function tick(id: string, url: string, n: number): Promise<void> {
  const ev = buildEvent({
    id: `local-${id}-${Date.now()}-${n}`,
    source: '/local/schedule',
    type: 'dev.knative.sources.ping',
    time: Date.now(),
    data: { datasets: ['ohlcv', 'tickers'], symbols, timeframe: '1m' },
    extensions: { exchange: id },
  });
  const { headers, body } = toBinary(ev);
  const res = await fetch(url, { method: 'POST', headers, body });
  const text = await res.text();
  if (!res.ok) {
    line(`extract-${id}: tick failed with HTTP ${res.status}: ${text}`);
    return;
  }
  const summary = JSON.parse(text) as ExtractSummary;
  line(
    `extract-${id}: tick done, ${summary.events} events, ${summary.exchangeRequests} exchange requests, weight ${summary.weightUsed}`,
  );
}

async function main(): Promise<void> {
  mkdirSync(stateDir, { recursive: true });
  const apis: Record<string, string> = {};
  if (offline) {
    for (const [i, id] of exchanges.entries()) {
      const fake = await startFakeExchange({ exchange: id as FakeExchangeId, port: 9101 + i });
      closers.push(() => fake.close());
      apis[id] = fake.url;
    }
    line(`offline: recorded exchange data served for ${exchanges.join(', ')}`);
  } else {
    for (const id of exchanges) {
      const problem = await reachable(id);
      if (problem) {
        console.error(
          `${id} cannot be reached from this machine (${problem}); run offline with: npm start -- --offline`,
        );
        process.exit(2);
      }
    }
  }
  const token = randomBytes(16).toString('hex');
  const transformPort = basePort + exchanges.length + 1;
  const transformUrl = `http://127.0.0.1:${transformPort}/`;
  notifications = new NotificationQueue(transformUrl, token, (status, attempt) => {
    if (attempt === 1 || attempt % 10 === 0)
      line(`transform answered ${status} to a notification; retrying in order (attempt ${attempt})`);
  });
  const queue = notifications;
  // The bucket notification is configured with prefix exchange= and suffix .json (as for MinIO in knative/).
  const s3 = await startS3((e) => {
    const key = e.Records[0]?.s3.object.key ?? '';
    if (key.startsWith(BATCH_PREFIX) && key.endsWith('.json')) queue.push(minioPayload(e));
  });
  const databaseUrl = await startPostgres();
  await s3Client({
    endpoint: s3.url,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    bucket: 'crypto-raw',
  })
    .send(new CreateBucketCommand({ Bucket: 'crypto-raw' }))
    .catch(() => undefined);
  const s3Env = {
    S3_ENDPOINT: s3.url,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    RAW_BUCKET: 'crypto-raw',
  };
  const loadRawPort = basePort + exchanges.length;
  const loadRawUrl = `http://127.0.0.1:${loadRawPort}/`;
  await Promise.all([
    startFunction('load-raw', 'load-raw', loadRawPort, s3Env),
    startFunction('transform', 'transform', transformPort, {
      ...s3Env,
      DATABASE_URL: databaseUrl,
      TRANSFORM_AUTH_TOKEN: token,
    }),
  ]);
  const broker = await startBroker(loadRawUrl);
  const urls: Record<string, string> = {};
  await Promise.all(
    exchanges.map((id, i) => {
      urls[id] = `http://127.0.0.1:${basePort + i}/`;
      return startFunction('extract', `extract-${id}`, basePort + i, {
        ...s3Env,
        EXCHANGE: id,
        K_SINK: broker,
        ...(apis[id] ? { EXCHANGE_API_BASE_URL: apis[id] } : {}),
      });
    }),
  );
  for (const id of exchanges) line(`extract-${id} listening on ${urls[id]}`);
  line(
    `load-raw listening on ${loadRawUrl} (bucket crypto-raw at ${s3.url}${s3.embedded ? ', files under .local/s3' : ''})`,
  );
  line(`transform listening on ${transformUrl} (Bearer token for curl: ${token})`);
  line(`broker (local stand-in) on ${broker}: batch events -> load-raw`);
  if (!s3.embedded)
    line('S3_ENDPOINT is external: configure its bucket notification to transform (see README)');
  databaseForReport = databaseUrl;
  let n = 0;
  const runTick = () =>
    Promise.all(
      exchanges.map((id) =>
        tick(id, urls[id]!, ++n).catch((e: unknown) => line(`extract-${id}: ${String(e)}`)),
      ),
    );
  await runTick();
  if (once) {
    // Let every stage finish: the broker's deliveries and MinIO-style notifications to transform.
    await new Promise((r) => setTimeout(r, 500));
    await queue.idle();
    await report();
    return shutdown(0);
  }
  line('next ticks every minute at :00; Ctrl-C stops everything');
  setTimeout(
    () => {
      void runTick();
      setInterval(() => void runTick(), 60_000);
    },
    60_000 - (Date.now() % 60_000),
  );
}

let notifications: NotificationQueue | undefined;
let databaseForReport: string | undefined;

/** Rows per table in PostgreSQL, for the end of a --once run. */
async function report(): Promise<void> {
  if (!databaseForReport) return;
  const pool = createPool(loadCommonConfig({ DATABASE_URL: databaseForReport }).db, 1);
  try {
    const { rows } = await pool.query<{ t: string; n: number }>(
      `SELECT 'ohlcv' AS t, count(*)::int AS n FROM ohlcv UNION ALL SELECT 'ticker_snapshots', count(*)::int FROM ticker_snapshots
       UNION ALL SELECT 'ingestion_ledger', count(*)::int FROM ingestion_ledger UNION ALL SELECT 'rejected_objects', count(*)::int FROM rejected_objects`,
    );
    line(`PostgreSQL now holds: ${rows.map((r) => `${r.t} ${r.n}`).join(', ')}`);
  } finally {
    await pool.end();
  }
}

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (notifications && notifications.size > 0)
    line(
      `${notifications.size} notification(s) not yet delivered; the objects stay in S3 (reprocess them later)`,
    );
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(
    children.map((c) => (c.exitCode === null ? new Promise((r) => c.on('exit', r)) : undefined)),
  );
  for (const close of closers.reverse()) await close().catch(() => undefined);
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  void shutdown(1);
});
