// A real Prometheus in the loop: Debian's /usr/bin/prometheus scrapes the status function's /metrics every second
// with the alert rules loaded; its HTTP API must give the series the data holds, and fire CryptoGapGrowing (after its
// minute pending) once a gap is made.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStatusHandler } from '../../functions/status/handler.ts';
import { loadStatusConfig } from '../../shared/config.ts';
import { functionServer, registerFunction } from '../../shared/http/server.ts';
import { s3Env } from '../support/pipeline.ts';
import { byHand, startDatabase, type TestDatabase } from '../support/postgres.ts';
import { PROMETHEUS, requireBinary } from '../support/prometheus.ts';
import { startS3, type TestS3 } from '../support/s3.ts';
import { deadLetterBody } from '../shared/status.seed.ts';

const MIN = 60_000;
const RULES = join(import.meta.dirname, '../../knative/components/monitoring/crypto-pipeline.rules.yaml');

let db: TestDatabase;
let s3: TestS3;
let status: Server;
let prometheus: ChildProcess | undefined;
let api = '';
let log = '';
const dir = mkdtempSync(join(tmpdir(), 'prometheus-loop-'));
/** The minute the seeded candles end at (the newest final candle opens one minute before it). */
const end = Math.floor(Date.now() / MIN) * MIN;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function candles(minutesBeforeEnd: number[]): Promise<void> {
  const times = minutesBeforeEnd.map((m) => end - m * MIN);
  await byHand(db.pool, times, async () => {
    for (const t of times)
      await db.pool.query(
        `INSERT INTO ohlcv VALUES ('binance', 'BTC/USDT', '1m', $1, 1, 2, 0.5, 1.5, 10, true, now(), 'k')`,
        [new Date(t)],
      );
  });
}

interface Vector {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(expr: string): Promise<Vector[]> {
  const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; data: { result: Vector[] } };
  expect(body.status, expr).toBe('success');
  return body.data.result;
}

/** Polls `probe` until it returns a value (not undefined), or fails after `ms` naming what was awaited. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const stop = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > stop)
      throw new Error(`timed out waiting for ${what}; prometheus log:\n${log.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  requireBinary(PROMETHEUS);
  [db, s3] = await Promise.all([startDatabase(), startS3()]);
  // binance BTC/USDT 1m: the ten minutes before `end`, all final, no gap; one dead letter waiting.
  await candles([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  await s3.client.send(
    new PutObjectCommand({
      Bucket: s3.settings.bucket,
      Key: '_dead-letters/date=2026-12-01/cryptopipe.extract.batch/0123456789abcdef.json',
      Body: deadLetterBody({ id: 'x', exchange: 'binance', dataset: 'ohlcv', code: 400, answer: 'no' }),
    }),
  );
  const cfg = loadStatusConfig({
    DATABASE_URL: db.url,
    ...s3Env(s3.settings),
    METRICS_LAKE_REFRESH: '1s',
  });
  registerFunction('status-prometheus-loop', createStatusHandler(cfg, { pool: db.pool, s3: s3.client }), {
    maxBodyBytes: cfg.maxBodyBytes,
  });
  status = functionServer('status-prometheus-loop');
  await new Promise<void>((resolve) => status.listen(0, '127.0.0.1', resolve));
  const target = `127.0.0.1:${(status.address() as AddressInfo).port}`;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      `  - ${JSON.stringify(RULES)}`,
      'scrape_configs:',
      '  - job_name: crypto-pipeline-status',
      '    static_configs:',
      `      - targets: [${JSON.stringify(target)}]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.stdout?.on('data', (b: Buffer) => (log += b.toString()));
  prometheus.stderr?.on('data', (b: Buffer) => (log += b.toString()));
  await until('Prometheus to be ready', async () => ((await fetch(`${api}/-/ready`)).ok ? true : undefined));
}, 120_000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((r) => prometheus?.once('exit', r));
    prometheus.kill('SIGTERM');
    await exited;
  }
  await new Promise((r) => (status ? status.close(r) : r(undefined)));
  await db?.close();
  await s3?.close();
  rmSync(dir, { recursive: true, force: true });
});

const btc = '{exchange="binance",dataset="ohlcv",symbol="BTC/USDT",timeframe="1m"}';

describe('Prometheus scraping the status function', () => {
  it('scrapes the target and holds the series the data says', async () => {
    await until('the status target to be up', async () => {
      const up = await query('up{job="crypto-pipeline-status"}');
      return up[0]?.value[1] === '1' ? true : undefined;
    });
    const rows = await until(
      'cryptopipe_series_rows',
      async () => (await query(`cryptopipe_series_rows${btc}`))[0],
    );
    expect(rows.value[1]).toBe('10');
    const last = (await query(`cryptopipe_series_last_record_timestamp_seconds${btc}`))[0];
    expect(Number(last?.value[1])).toBe((end - MIN) / 1000);
    // Freshness is the time since the newest final candle ended, as Prometheus's own clock sees it (±5 s of scrapes).
    const skew = await query(
      `abs(cryptopipe_series_freshness_seconds${btc} - (time() - cryptopipe_series_last_record_timestamp_seconds${btc} - 60))`,
    );
    expect(Number(skew[0]?.value[1])).toBeLessThan(5);
    expect((await query(`cryptopipe_series_missing_candles${btc}`))[0]?.value[1]).toBe('0');
    expect((await query('sum(cryptopipe_dead_letters)'))[0]?.value[1]).toBe('1');
    // The rules are loaded: the dead letter is pending (it must wait 10 minutes before it fires), no gap alert.
    await until(
      'CryptoDeadLettersWaiting pending',
      async () => (await query('ALERTS{alertname="CryptoDeadLettersWaiting",alertstate="pending"}'))[0],
    );
    expect(await query('ALERTS{alertname="CryptoGapGrowing"}')).toEqual([]);
  }, 60_000);

  it('fires CryptoGapGrowing on the series once a gap is made, with the missing candles the data has', async () => {
    // Candles 20 and 19 minutes before `end`: minutes 18..11 are now a gap of 8 between final candles.
    await candles([20, 19]);
    const missing = await until('8 missing candles', async () => {
      const v = (await query(`cryptopipe_series_missing_candles${btc}`))[0];
      return v?.value[1] === '8' ? v : undefined;
    });
    expect(missing.metric).toMatchObject({ exchange: 'binance', symbol: 'BTC/USDT', timeframe: '1m' });
    expect((await query(`cryptopipe_series_gaps${btc}`))[0]?.value[1]).toBe('1');
    // Pending first (the rule waits a minute, for gaps that only last while objects load out of order), then firing.
    await until(
      'CryptoGapGrowing pending',
      async () => (await query('ALERTS{alertname="CryptoGapGrowing",alertstate="pending"}'))[0],
    );
    const alert = await until(
      'CryptoGapGrowing to fire',
      async () => {
        const res = await fetch(`${api}/api/v1/alerts`);
        const body = (await res.json()) as {
          data: {
            alerts: Array<{
              labels: Record<string, string>;
              annotations: Record<string, string>;
              state: string;
            }>;
          };
        };
        return body.data.alerts.find(
          (a) => a.labels['alertname'] === 'CryptoGapGrowing' && a.state === 'firing',
        );
      },
      120_000,
    );
    expect(alert.labels).toMatchObject({
      exchange: 'binance',
      dataset: 'ohlcv',
      symbol: 'BTC/USDT',
      timeframe: '1m',
      severity: 'warning',
    });
    expect(alert.annotations['runbook']).toBe(
      'npm run repair -- --exchange=binance --symbols=BTC/USDT --timeframe=1m (npm run repair -- --dry-run first shows the windows)',
    );
    // Only the series with the gap: okx or other symbols would be a wrong match.
    expect((await query('ALERTS{alertname="CryptoGapGrowing",alertstate="firing"}')).length).toBe(1);
  }, 180_000);
});
