// The operator command lines: usage errors, services out of reach, dry runs, requests sent to the Broker, gaps found
// in PostgreSQL.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvent } from '../../shared/events/cloudevent.ts';
import { extractRequestSchema } from '../../shared/events/schemas.ts';
import { batchBody, deadLetterKey, putIfChanged } from '../../shared/lake/objects.ts';
import { byHand, startDatabase, type TestDatabase } from '../support/postgres.ts';
import { startS3, type TestS3 } from '../support/s3.ts';
import { startSink, type TestSink } from '../support/sink.ts';

const root = resolve(import.meta.dirname, '../..');
let db: TestDatabase;
let sink: TestSink;
let s3: TestS3;
let dir: string;
/** A loopback port nothing listens on. */
let closedPort: number;

beforeAll(async () => {
  [db, sink, s3] = await Promise.all([startDatabase(), startSink(), startS3()]);
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  closedPort = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  dir = mkdtempSync(join(tmpdir(), 'ops-cli-'));
  // BTC/USDT 1m: 12:00, 12:01, then 12:05 -> a gap of 3 candles [12:02, 12:05).
  await byHand(db.pool, [Date.UTC(2026, 10, 24)], () =>
    db.pool.query(
      `INSERT INTO ohlcv (exchange, symbol, timeframe, open_time, open, high, low, close, volume, closed, extracted_at, source_key)
       SELECT 'binance', 'BTC/USDT', '1m', t, 1, 1, 1, 1, 1, true, now(), 'k'
         FROM unnest(ARRAY['2026-11-24T12:00Z', '2026-11-24T12:01Z', '2026-11-24T12:05Z']::timestamptz[]) AS t`,
    ),
  );
}, 60_000);

afterAll(async () => {
  await sink?.close();
  await s3?.close();
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

/** One line of output, and no stack trace. */
const oneLine = (text: string) => {
  expect(text.trim().split('\n')).toHaveLength(1);
  expect(text).not.toMatch(/^\s+at /m);
};

describe('usage errors: one line, exit 64, nothing done', () => {
  const cases = [
    {
      name: 'the space form of a flag',
      script: 'backfill.ts',
      args: ['--exchange', 'binance', '--symbols=BTC/USDT', '--from=2026-01-01'],
      want: 'backfill: --exchange takes a value: --exchange=<value>',
    },
    {
      name: 'an unknown flag',
      script: 'repair.ts',
      args: ['--exchnage=binance', '--dry-run'],
      want: 'repair: unknown flag --exchnage',
    },
    {
      name: 'a bare word',
      script: 'report.ts',
      args: ['binance'],
      want: "report: unexpected argument 'binance'",
    },
    {
      name: 'a range that ends before it starts',
      script: 'report.ts',
      args: ['--from=2026-11-24T00:00Z', '--to=2026-11-23T00:00Z'],
      want: 'report: --to must be later than --from',
    },
    {
      name: 'a value given to a switch',
      script: 'replay.ts',
      args: ['--dry-run=yes'],
      want: 'replay: --dry-run takes no value',
    },
    {
      name: 'the space form of --prefix',
      script: 'reprocess.ts',
      args: ['--prefix', 'exchange=binance/'],
      want: 'reprocess: --prefix takes a value: --prefix=<value>',
    },
    {
      name: 'a required flag missing',
      script: 'backfill.ts',
      args: ['--exchange=binance', '--symbols=BTC/USDT'],
      want: 'backfill: --from is required',
    },
  ];
  for (const c of cases)
    it(c.name, async () => {
      const r = await run(c.script, c.args, { BROKER_URL: sink.url, DATABASE_URL: db.url });
      expect(r.code).toBe(64);
      expect(r.err).toContain(c.want);
      expect(r.err).toContain(`npm run ${c.script.replace('.ts', '')} -- --help`);
      oneLine(r.err);
      expect(r.out).toBe('');
    });
});

describe('a Broker or S3 out of reach: one line, exit 2', () => {
  const s3Env = () => ({
    S3_ENDPOINT: s3.settings.endpoint,
    AWS_ACCESS_KEY_ID: s3.settings.accessKeyId!,
    AWS_SECRET_ACCESS_KEY: s3.settings.secretAccessKey!,
    RAW_BUCKET: s3.settings.bucket,
  });
  const cases = [
    {
      name: 'backfill with the Broker down stops at the first chunk',
      script: 'backfill.ts',
      args: [
        '--exchange=binance',
        '--symbols=BTC/USDT,ETH/USDT',
        '--timeframe=1h',
        '--from=2026-10-01',
        '--to=2026-10-03',
        '--chunk=4',
      ],
      env: () => ({ DATABASE_URL: db.url, BROKER_URL: `http://127.0.0.1:${closedPort}/` }),
      want: () => `backfill: cannot reach the Broker at http://127.0.0.1:${closedPort}/: connection refused`,
    },
    {
      name: 'replay without S3 credentials',
      script: 'replay.ts',
      args: [],
      env: () => ({ S3_ENDPOINT: s3.settings.endpoint, BROKER_URL: sink.url }),
      want: () => 'replay: cannot reach S3: no S3 credentials',
    },
    {
      name: 'replay with S3 down',
      script: 'replay.ts',
      args: [],
      env: () => ({ ...s3Env(), S3_ENDPOINT: `http://127.0.0.1:${closedPort}`, BROKER_URL: sink.url }),
      want: () => `replay: cannot reach S3: connection refused (127.0.0.1:${closedPort})`,
    },
    {
      name: 'replay with the Broker down stops at the first dead letter',
      script: 'replay.ts',
      args: [],
      env: () => ({ ...s3Env(), BROKER_URL: `http://127.0.0.1:${closedPort}/` }),
      want: () => `replay: cannot reach the Broker at http://127.0.0.1:${closedPort}/: connection refused`,
    },
    {
      name: 'reprocess without S3 credentials',
      script: 'reprocess.ts',
      args: [],
      env: () => ({ DATABASE_URL: db.url, S3_ENDPOINT: s3.settings.endpoint }),
      want: () => 'reprocess: cannot reach S3: no S3 credentials',
    },
    {
      name: 'reprocess with S3 down',
      script: 'reprocess.ts',
      args: [],
      env: () => ({ ...s3Env(), DATABASE_URL: db.url, S3_ENDPOINT: `http://127.0.0.1:${closedPort}` }),
      want: () => `reprocess: cannot reach S3: connection refused (127.0.0.1:${closedPort})`,
    },
  ];
  beforeAll(async () => {
    // Two dead letters: a replay that cannot reach the Broker must say so once, not once per dead letter.
    for (const id of ['ops-dl-1', 'ops-dl-2']) {
      const ev = buildEvent({ id, source: '/test', type: 'cryptopipe.extract.batch', time: 0, data: {} });
      await putIfChanged(s3.client, s3.settings.bucket, deadLetterKey(ev, 0), batchBody(ev), {});
    }
  });
  for (const c of cases)
    it(c.name, async () => {
      const r = await run(c.script, c.args, c.env());
      expect(r.err).toContain(c.want());
      oneLine(r.err);
      expect(r.code).toBe(2);
    });
});

describe('npm run backfill', () => {
  it('says when --exchange is not a ccxt exchange', async () => {
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

describe('npm run retention', () => {
  it('drops nothing while no retention is set, and says which settings would', async () => {
    const r = await run('retention.ts', [], { DATABASE_URL: db.url });
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(
      'kept whole (no retention set): trades (RETENTION_TRADES), tickers (RETENTION_TICKERS), orderbook (RETENTION_ORDERBOOK), funding (RETENTION_FUNDING)',
    );
  });

  it('lists per dataset what it would drop in a dry run', async () => {
    const r = await run('retention.ts', ['--dry-run'], { DATABASE_URL: db.url, RETENTION_ORDERBOOK: '2d' });
    expect(r.err).toBe('');
    // The day partitions made for the candles above (empty for order books) are older than two days.
    expect(r.out).toMatch(
      /^orderbook: would drop 1 partition\(s\) of orderbook_levels, 2026-11-24 to 2026-11-24, 0 rows \(RETENTION_ORDERBOOK=2d, before \d{4}-\d\d-\d\d\)$/m,
    );
  });

  it('names a bad setting and stops (exit 78)', async () => {
    const r = await run('retention.ts', [], { DATABASE_URL: db.url, RETENTION_TRADES: '36h' });
    expect(r.code).toBe(78);
    expect(r.err).toContain('RETENTION_TRADES: must be a whole number of days, at least 1d (such as 30d)');
    expect(r.err).not.toMatch(/^\s+at /m);
  });
});

describe('scripts/run.mjs (what npm run report runs)', () => {
  const runMjs = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ code: number | null; out: string; err: string }>((done) => {
      const child = spawn(process.execPath, [join(root, 'scripts', 'run.mjs'), ...args], {
        cwd: root,
        env: { PATH: process.env['PATH'] ?? '', ...env },
        timeout: 60_000,
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      child.on('close', (code) => done({ code, out, err }));
    });

  it('runs the command from its bundle with its own flags, and refuses an unknown command', async () => {
    const r = await runMjs(['report', '--json'], { DATABASE_URL: db.url, S3_ENDPOINT: s3.settings.endpoint });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).series).toEqual([
      expect.objectContaining({ exchange: 'binance', symbol: 'BTC/USDT', gaps: 1, missingCandles: 3 }),
    ]);
    const usage = await runMjs(['report', '--exchange', 'binance']);
    expect(usage.code).toBe(64);
    expect(usage.err.trim()).toBe(
      'report: --exchange takes a value: --exchange=<value> (usage: npm run report -- --help)',
    );
    const none = await runMjs(['no-such-command']);
    expect(none.code).toBe(64);
    expect(none.err.trim()).toBe("run: no operator command 'no-such-command' in scripts/");
  });

  it('compiles a bundle once: later runs start from its code cache; a changed file builds it again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ops-cache-'));
    const env = { DATABASE_URL: db.url, S3_ENDPOINT: s3.settings.endpoint, CRYPTO_OPS_CACHE: dir };
    const inputsFile = join(dir, 'report.cjs.inputs.json');
    const inputs = () =>
      JSON.parse(readFileSync(inputsFile, 'utf8')) as { build: string; files: Record<string, number> };
    const caches = () => readdirSync(dir).filter((f) => f.endsWith('.v8'));
    const report = async () => {
      const r = await runMjs(['report', '--json'], env);
      expect(r.code, r.err).toBe(0);
      return (JSON.parse(r.out) as { series: Array<{ symbol: string; candles: number }> }).series.map(
        (s) => `${s.symbol} ${s.candles}`,
      );
    };
    try {
      const first = await report();
      const { build, files } = inputs();
      // The project's files each by itself; the packages stood for by the lockfile of the install.
      expect(files).toHaveProperty([join(root, 'scripts', 'report.ts')]);
      const lockfile = join(root, 'node_modules', '.package-lock.json');
      if (existsSync(lockfile))
        expect(Object.keys(files).filter((f) => f.includes(`${join(root, 'node_modules')}/`))).toEqual([
          lockfile,
        ]);
      expect(caches()).toEqual([`report.cjs.${build}.v8`]);
      const cacheFile = join(dir, `report.cjs.${build}.v8`);
      const written = statSync(cacheFile).mtimeMs;
      // V8 took the cache: nothing written again, the same report.
      expect(await report()).toEqual(first);
      expect(statSync(cacheFile).mtimeMs).toBe(written);
      // A cache V8 refuses is compiled past and written again.
      writeFileSync(cacheFile, 'not a code cache');
      expect(await report()).toEqual(first);
      expect(statSync(cacheFile).size).toBeGreaterThan(10_000);
      // A file of the bundle changed: a new build, whose cache replaces the old one.
      writeFileSync(
        inputsFile,
        JSON.stringify({ build, files: { ...files, [join(root, 'scripts', 'report.ts')]: 0 } }),
      );
      expect(await report()).toEqual(first);
      expect(inputs().build).not.toBe(build);
      expect(caches()).toEqual([`report.cjs.${inputs().build}.v8`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
