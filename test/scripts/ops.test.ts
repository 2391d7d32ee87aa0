// The backfill and repair command lines: usage errors, dry runs, requests sent to the Broker, gaps found in PostgreSQL.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractRequestSchema } from '../../shared/events/schemas.ts';
import { startDatabase, type TestDatabase } from '../support/postgres.ts';
import { startSink, type TestSink } from '../support/sink.ts';

const root = resolve(import.meta.dirname, '../..');
let db: TestDatabase;
let sink: TestSink;
let dir: string;

beforeAll(async () => {
  [db, sink] = await Promise.all([startDatabase(), startSink()]);
  dir = mkdtempSync(join(tmpdir(), 'ops-cli-'));
  // BTC/USDT 1m: 12:00, 12:01, then 12:05 -> a gap of 3 candles [12:02, 12:05).
  await db.pool.query(
    `INSERT INTO ohlcv (exchange, symbol, timeframe, open_time, open, high, low, close, volume, closed, extracted_at, source_key)
     SELECT 'binance', 'BTC/USDT', '1m', t, 1, 1, 1, 1, 1, true, now(), 'k'
       FROM unnest(ARRAY['2026-11-24T12:00Z', '2026-11-24T12:01Z', '2026-11-24T12:05Z']::timestamptz[]) AS t`,
  );
}, 60_000);

afterAll(async () => {
  await sink?.close();
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs an operator script in a child process (asynchronously: the sink in this process must keep answering). */
function run(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'scripts', script), ...args], {
    cwd: root,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    timeout: 60_000,
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((done) => child.on('close', (code) => done({ code, out, err })));
}

describe('npm run backfill', () => {
  it('explains a usage error and exits 64', async () => {
    const r = await run('backfill.ts', ['--exchange=binance', '--symbols=BTC/USDT']);
    expect(r.code).toBe(64);
    expect(r.err).toContain('backfill: --from is required');
    expect(r.err).toContain('npm run backfill -- --exchange=binance');
    expect(
      (await run('backfill.ts', ['--exchange=nosuchex', '--symbols=X/Y', '--from=2026-01-01'])).err,
    ).toContain("'nosuchex' is not a ccxt exchange id");
  });

  it('prints its chunks and the pace it takes from the exchange in a dry run', async () => {
    const r = await run('backfill.ts', [
      '--exchange=binance',
      '--symbols=BTC/USDT,ETH/USDT',
      '--timeframe=1d',
      '--from=2026-01-01',
      '--to=2026-03-01',
      '--chunk=30',
      '--dry-run',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^4 chunk\(s\) of up to 30 candles for 2 symbol\(s\) on binance; at most one request every \d+ ms/,
    );
    expect(r.out).toContain('the local run of npm start');
    expect(r.out).toContain('BTC/USDT 1d 2026-01-01T00:00:00.000Z..2026-01-31T00:00:00.000Z (30 candles)');
    expect(r.out).toContain('ETH/USDT 1d 2026-01-31T00:00:00.000Z..2026-03-01T00:00:00.000Z (29 candles)');
  });

  it('sends each chunk to the Broker as an extract request and reports chunks whose rows never arrive', async () => {
    const before = sink.events.length;
    const r = await run(
      'backfill.ts',
      [
        '--exchange=binance',
        '--symbols=ETH/USDT',
        '--timeframe=1h',
        '--from=2026-11-01',
        '--to=2026-11-01T02:00Z',
        '--timeout=1s',
        `--progress=${join(dir, 'p.json')}`,
      ],
      { BROKER_URL: sink.url, DATABASE_URL: db.url },
    );
    expect(r.code).toBe(1);
    const sent = sink.events.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      type: 'cryptopipe.extract.request',
      exchange: 'binance',
      source: 'cryptopipe/backfill',
    });
    expect(extractRequestSchema.parse(sent[0]!.data)).toMatchObject({
      symbols: ['ETH/USDT'],
      timeframe: '1h',
      since: Date.UTC(2026, 10, 1),
      until: Date.UTC(2026, 10, 1, 2),
    });
    expect(r.out).toContain('1 request(s) sent');
    expect(r.out).toContain(
      'no-data: binance ETH/USDT 1h 2026-11-01T00:00:00.000Z..2026-11-01T02:00:00.000Z (0/2 candles)',
    );
  });
});

describe('npm run repair', () => {
  it('finds the gap in PostgreSQL and shows the window it would fill', async () => {
    const r = await run('repair.ts', ['--dry-run'], { DATABASE_URL: db.url, BROKER_URL: sink.url });
    expect(r.err).toBe('');
    expect(r.out).toContain('binance: 3 missing candle(s) in 1 window(s) of BTC/USDT');
    expect(r.out).toContain('BTC/USDT 1m 2026-11-24T12:02:00.000Z..2026-11-24T12:05:00.000Z (3 candles)');
  });

  it('says so when the selection has no gap', async () => {
    const r = await run('repair.ts', ['--symbols=ETH/USDT'], { DATABASE_URL: db.url, BROKER_URL: sink.url });
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe('no gaps to repair');
  });
});
