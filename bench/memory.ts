// Benchmark: each function's bundle in its own process under load, as a pod runs it: peak RSS (VmHWM) against the
// 128 MiB goal, and load-raw's events/s and latency with the client, the function and S3 in separate processes.
// Writes bench/results/memory.json. Usage: npm run bench:memory (PostgreSQL from DATABASE_URL, else embedded)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBatchEvents } from '../shared/events/batches.ts';
import { toBinary } from '../shared/events/cloudevent.ts';
import type { OhlcvRecord } from '../shared/events/schemas.ts';
import { BATCH_PREFIX, listKeys } from '../shared/lake/list.ts';
import { s3Client } from '../shared/lake/s3.ts';
import { minioPayload } from '../scripts/local/notifier.ts';
import { startFakeExchange } from '../scripts/offline/fake-exchange.ts';
import { startDatabase } from '../test/support/postgres.ts';
import {
  bundleArgs,
  children,
  countingSink,
  drive,
  freePort,
  imageNodeOptions,
  memory,
  start,
  step,
  writeResult,
} from './lib.ts';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
const root = join(import.meta.dirname, '..');
const T0 = Date.UTC(2024, 0, 1);
const TOKEN = 'bench-token-0123456789abcdef';
const LOAD = [
  { concurrency: 1, events: 100 },
  { concurrency: 8, events: 300 },
  { concurrency: 16, events: 400 },
  { concurrency: 32, events: 600 },
];

function batch(i: number) {
  const recs: OhlcvRecord[] = Array.from({ length: 1500 }, (_, k) => ({
    ts: T0 + (i * 1500 + k) * 60_000,
    open: (43000 + (k % 97) / 100).toFixed(8),
    high: '43010.00000000',
    low: '42990.00000000',
    close: (43000 + (k % 89) / 100).toFixed(8),
    volume: '1.25000000',
    closed: true,
  }));
  const head = { exchange: 'binance', dataset: 'ohlcv' as const, symbol: 'BTC/USDT', timeframe: '1m' };
  const [ev] = buildBatchEvents(
    { ...head, window: null, requestId: 'bench', extractedAt: T0 },
    recs,
    1 << 20,
  );
  return toBinary(ev!);
}

const work = mkdtempSync(join(tmpdir(), 'bench-memory-'));
try {
  // Built with the image's NODE_OPTIONS, as the image builds extract's startup snapshot.
  execFileSync(
    process.execPath,
    [join(root, 'scripts/build.mjs'), '--exchanges=binance', `--outdir=${join(work, 'dist')}`],
    { stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: imageNodeOptions() } },
  );
  const db = await startDatabase();
  // S3 (s3rver) in a process of its own, as MinIO would be.
  const s3Port = await freePort();
  const s3Url = `http://127.0.0.1:${s3Port}`;
  await start(
    [
      '--input-type=module',
      '-e',
      `import S3rver from 's3rver'; await new S3rver({ port: ${s3Port}, address: '127.0.0.1', silent: true, directory: ${JSON.stringify(join(work, 's3'))}, configureBuckets: [{ name: 'crypto-raw' }] }).run();`,
    ],
    {},
    `${s3Url}/`,
  ).catch((err: unknown) => {
    throw new Error(`s3rver: ${(err as Error).message}`);
  });
  const s3env = {
    S3_ENDPOINT: s3Url,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    RAW_BUCKET: 'crypto-raw',
  };
  /** Starts a bundle of the build as its Service does, on a free port; waits until it answers: process and URL. */
  const startBundle = async (name: string, env: Record<string, string>) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    const proc = await start(bundleArgs(join(work, 'dist'), name), { ...env, PORT: String(port) }, url);
    return { proc, url };
  };

  // load-raw: distinct 1,500-candle events (230 KB) at concurrency 1, 8, 16, 32; then the same at 8 and 16 in a
  // process with Node's default heap flags, the reference for the image's NODE_OPTIONS.
  let offset = 0;
  const runLoadRaw = async (steps: typeof LOAD, env: Record<string, string> = {}) => {
    const { proc, url } = await startBundle('load-raw', { ...s3env, ...env });
    const idle = memory(proc.pid!);
    const rows = [];
    for (const { concurrency, events } of steps) {
      const messages = Array.from({ length: events }, (_, i) => batch(offset + i));
      offset += events;
      const post = (m: (typeof messages)[number]) => () =>
        fetch(url, { method: 'POST', headers: m.headers, body: m.body });
      rows.push(await step(proc.pid!, () => drive(concurrency, messages.map(post))));
    }
    proc.kill('SIGTERM');
    return { idle, rows };
  };
  const { idle: loadRawIdle, rows: loadRawRows } = await runLoadRaw(LOAD);
  const loadRawDefaults = await runLoadRaw(
    LOAD.filter((l) => l.concurrency === 8 || l.concurrency === 16),
    { NODE_OPTIONS: '' },
  );

  // transform: the MinIO notification of every object written, at its containerConcurrency (4) and at 16.
  const { proc: transform, url: transformUrl } = await startBundle('transform', {
    ...s3env,
    DATABASE_URL: db.url,
    TRANSFORM_AUTH_TOKEN: TOKEN,
  });
  const keys = await listKeys(
    s3Client({
      endpoint: s3Url,
      region: 'us-east-1',
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      bucket: 'crypto-raw',
    }),
    'crypto-raw',
    BATCH_PREFIX,
    Infinity,
  );
  const notify = (key: string) => () =>
    fetch(transformUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(
        minioPayload({
          Records: [
            { eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'crypto-raw' }, object: { key } } },
          ],
        }),
      ),
    });
  const half = Math.floor(keys.length / 2);
  const transformIdle = memory(transform.pid!);
  const transformRows = [
    await step(transform.pid!, () => drive(4, keys.slice(0, half).map(notify))),
    await step(transform.pid!, () => drive(16, keys.slice(half).map(notify))),
  ];
  const rows = (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ohlcv`)).rows[0]!.n;

  // extract-binance: 20 requests one after the other (containerConcurrency 1): 10 schedule ticks (every dataset of 4
  // symbols, the last hour), then 10 backfill chunks (10,000 candles of one symbol).
  const fake = await startFakeExchange({ exchange: 'binance' });
  const sink = await countingSink();
  const { proc: extract, url: extractUrl } = await startBundle('extract-binance', {
    EXCHANGE: 'binance',
    EXCHANGE_API_BASE_URL: fake.url,
    K_SINK: sink.url,
    CURSOR_STORE: 'none',
  });
  const tick = JSON.stringify({
    datasets: ['ohlcv', 'trades', 'orderbook', 'tickers'],
    symbols: ['BTC/USDT', 'ETH/USDT', 'BTC/USDT:USDT', 'ETH/USDT:USDT'],
    timeframe: '1m',
    lookback: 'PT1H',
    depth: 100,
  });
  const day = 86_400_000;
  const chunk = (i: number) =>
    JSON.stringify({
      datasets: ['ohlcv'],
      symbols: [i % 2 === 0 ? 'BTC/USDT' : 'ETH/USDT:USDT'],
      timeframe: '1m',
      since: Date.now() - (i + 8) * 7 * day,
      until: Date.now() - (i + 8) * 7 * day + 10_000 * 60_000,
    });
  const extractIdle = memory(extract.pid!);
  const post = (body: string) => () =>
    fetch(extractUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
  const extractRows = [
    {
      what: '10 schedule ticks (4 symbols: 1 h of 1m candles and of trades, 100-level books, tickers)',
      ...(await step(extract.pid!, () =>
        drive(
          1,
          Array.from({ length: 10 }, () => post(tick)),
        ),
      )),
    },
    {
      what: '10 backfill chunks of 10,000 1m candles of one symbol',
      ...(await step(extract.pid!, () =>
        drive(
          1,
          Array.from({ length: 10 }, (_, i) => post(chunk(i))),
        ),
      )),
    },
  ];
  await sink.close();
  await fake.close();
  await db.close();

  const goal = 128;
  // A pod never holds more requests than its containerConcurrency (the queue-proxy queues the rest), so the goal
  // applies at that concurrency; the steps above it show the margin.
  const podPeak = (limit: number, rows: Array<{ concurrency: number; peakMiB: number }>) =>
    Math.max(...rows.filter((r) => r.concurrency <= limit).map((r) => r.peakMiB));
  const functions = {
    'load-raw': {
      containerConcurrency: 16,
      idle: loadRawIdle,
      peakMiB: podPeak(16, loadRawRows),
      load: `${offset} events of 1,500 candles (${Buffer.byteLength(batch(0).body)} bytes)`,
      steps: loadRawRows,
      nodeDefaults: {
        what: "the same bundle with Node's default heap flags (NODE_OPTIONS empty), in the same run",
        idle: loadRawDefaults.idle,
        peakMiB: podPeak(16, loadRawDefaults.rows),
        steps: loadRawDefaults.rows,
      },
    },
    transform: {
      containerConcurrency: 4,
      idle: transformIdle,
      peakMiB: podPeak(4, transformRows),
      load: `${keys.length} MinIO notifications (${rows} rows)`,
      steps: transformRows,
    },
    'extract-binance': {
      containerConcurrency: 1,
      idle: extractIdle,
      peakMiB: podPeak(1, extractRows),
      load: `20 requests, ${sink.received()} events sent`,
      steps: extractRows,
    },
  };
  console.log(
    `load-raw with Node's default heap flags: peak ${functions['load-raw'].nodeDefaults.peakMiB} MiB at 16; ` +
      loadRawDefaults.rows.map((r) => `c=${r.concurrency}: ${r.peakMiB} MiB ${r.perSec}/s`).join('; '),
  );
  for (const [name, f] of Object.entries(functions)) {
    console.log(
      `${name.padEnd(16)} idle ${f.idle.rssMiB} MiB, peak ${f.peakMiB} MiB at containerConcurrency ${f.containerConcurrency}; ` +
        f.steps
          .map((r) => `c=${r.concurrency}: ${r.peakMiB} MiB ${r.perSec}/s p50 ${r.p50Ms} p99 ${r.p99Ms} ms`)
          .join('; '),
    );
  }
  writeResult('memory', {
    what: 'peak RSS (VmHWM, reset before each step) of each function bundle in its own process under load; S3 (s3rver) and PostgreSQL in other processes',
    nodeOptions: imageNodeOptions(),
    goalMiB: goal,
    functions,
    met: Object.values(functions).every((f) => f.peakMiB < goal),
  });
} finally {
  for (const c of children) c.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
process.exit(0);
