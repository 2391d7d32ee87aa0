// The status page's queries against a database with a known gap, lags, findings, rejections and dead letters.
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStatusConfig } from '../../shared/config.ts';
import { migrate, readMigrations } from '../../shared/db/migrate.ts';
import { describeDeadLetter, readDeadLetters } from '../../shared/report/dead-letters.ts';
import {
  SCHEDULED_TIMEFRAMES,
  SCHEDULE_SECONDS,
  catalogueReport,
  coverageReport,
  freshness,
  gapsReport,
  knownExchanges,
  recentFindings,
  runsReport,
  timeframeSeconds,
} from '../../shared/report/queries.ts';
import { buildStatus, repairCommand, shellWord } from '../../shared/report/status.ts';
import { cronMatches, readManifests, wiring } from '../../scripts/local/manifests.ts';
import { byHand, startDatabase, type TestDatabase } from '../support/postgres.ts';
import { startS3, type TestS3 } from '../support/s3.ts';
import { DEAD_LETTER_KEYS, HOSTILE, MIN, NOW, T0, at, seedDatabase, seedDeadLetters } from './status.seed.ts';

let db: TestDatabase;
let s3: TestS3;
const range = { from: new Date(T0), to: new Date(T0 + 60 * MIN) };

beforeAll(async () => {
  [db, s3] = await Promise.all([startDatabase(), startS3()]);
  await seedDatabase(db.pool);
  await seedDeadLetters(s3.client, s3.settings.bucket);
});
afterAll(async () => {
  await db?.close();
  await s3?.close();
});

describe('freshness against the schedule', () => {
  it('is green within one missed interval plus slack, amber up to four, red after, grey on demand', () => {
    expect(freshness(180, 60)).toBe('ok');
    expect(freshness(181, 60)).toBe('late');
    expect(freshness(360, 60)).toBe('late');
    expect(freshness(361, 60)).toBe('stale');
    expect(freshness(16 * 3600, 8 * 3600)).toBe('ok');
    expect(freshness(16 * 3600 + 1, 8 * 3600)).toBe('late');
    expect(freshness(40 * 3600 + 1, 8 * 3600)).toBe('stale');
    expect(freshness(10, null)).toBe('unscheduled');
    expect(freshness(null, 60)).toBe('late');
    expect(timeframeSeconds('1m')).toBe(60);
    expect(timeframeSeconds('4h')).toBe(14_400);
    expect(timeframeSeconds('1x')).toBeNull();
  });

  it('expects each dataset as often as the PingSources of knative/base bring it', () => {
    const pings = wiring(readManifests(join(import.meta.dirname, '../../knative/base'))).pings;
    expect(pings.length).toBeGreaterThan(0);
    const seen = new Set<string>();
    for (const p of pings) {
      // Seconds between the first two firings in a week of minutes.
      const fires: number[] = [];
      for (let t = T0; t < T0 + 7 * 86_400_000 && fires.length < 3; t += MIN)
        if (cronMatches(p.schedule, new Date(t))) fires.push(t);
      const every = ((fires[2] as number) - (fires[1] as number)) / 1000;
      const data = JSON.parse(p.data) as { datasets: string[]; timeframe?: string };
      for (const d of data.datasets) {
        seen.add(d);
        const expected =
          d === 'ohlcv'
            ? timeframeSeconds(data.timeframe ?? '1m')
            : SCHEDULE_SECONDS[d as keyof typeof SCHEDULE_SECONDS];
        expect(expected, `${p.name} (${p.schedule}) brings ${d}`).toBe(every);
      }
    }
    expect([...seen].sort()).toEqual(['funding', 'markets', 'ohlcv', 'tickers']);
    const timeframes = pings.flatMap((p) => {
      const d = JSON.parse(p.data) as { datasets: string[]; timeframe?: string };
      return d.datasets.includes('ohlcv') ? [d.timeframe ?? '1m'] : [];
    });
    expect([...new Set(timeframes)].sort()).toEqual([...SCHEDULED_TIMEFRAMES].sort());
    expect(SCHEDULE_SECONDS.trades).toBeNull();
    expect(SCHEDULE_SECONDS.orderbook).toBeNull();
  });
});

describe('catalogue', () => {
  it('lists every series of every dataset with first, latest, lag and freshness', async () => {
    const c = await catalogueReport(db.pool, new Date(NOW));
    const row = (
      exchange: string,
      dataset: string,
      symbol: string,
      series: string,
      first: number,
      last: number,
      records: number,
      lagSeconds: number,
      everySeconds: number | null,
      fresh: string,
      findings = 0,
      extra: Record<string, unknown> = {},
    ) => ({
      exchange,
      dataset,
      symbol,
      series,
      first: at(first),
      last: at(last),
      lastClosed: null,
      records,
      lagSeconds,
      everySeconds,
      freshness: fresh,
      findings,
      gaps: 0,
      missingCandles: 0,
      ...extra,
    });
    expect(c).toEqual([
      row('binance', 'funding', 'BTC/USDT:USDT', '', NOW - 72e6, NOW - 72e6, 1, 72_000, 28_800, 'late'),
      row('binance', 'markets', '', '', NOW - 3.6e6, NOW - 3.6e6, 2, 3600, 86_400, 'ok'),
      row('binance', 'ohlcv', 'BTC/USDT', '1m', T0, T0 + 12 * MIN, 10, 150, 60, 'ok', 1, {
        lastClosed: at(T0 + 11 * MIN),
        gaps: 1,
        missingCandles: 3,
      }),
      row('binance', 'tickers', 'BTC/USDT', '', T0, T0 + 14 * MIN, 2, 30, 60, 'ok'),
      row('binance', 'trades', 'BTC/USDT', '', T0 + MIN, T0 + 2 * MIN, 2, 750, null, 'unscheduled', 1),
      row('okx', 'ohlcv', 'ETH/USDT', '1m', T0, T0 + 5 * MIN, 6, 510, 60, 'stale', 0, {
        lastClosed: at(T0 + 5 * MIN),
      }),
    ]);
  });

  it('filters by exchange, dataset, symbol and timeframe', async () => {
    const keys = async (f: Parameters<typeof catalogueReport>[2]) =>
      (await catalogueReport(db.pool, new Date(NOW), f)).map((e) => `${e.exchange} ${e.dataset} ${e.symbol}`);
    expect(await keys({ exchange: 'okx' })).toEqual(['okx ohlcv ETH/USDT']);
    expect(await keys({ dataset: 'tickers' })).toEqual(['binance tickers BTC/USDT']);
    expect(await keys({ dataset: 'markets', exchange: 'binance' })).toEqual(['binance markets ']);
    expect(await keys({ symbol: 'BTC/USDT' })).toEqual([
      'binance ohlcv BTC/USDT',
      'binance tickers BTC/USDT',
      'binance trades BTC/USDT',
    ]);
    expect(await keys({ timeframe: '1m', exchange: 'binance' })).toEqual(['binance ohlcv BTC/USDT']);
    expect(await keys({ exchange: 'kraken' })).toEqual([]);
    expect(await knownExchanges(db.pool)).toEqual(['binance', 'okx']);
  });
});

describe('coverage', () => {
  it('shows each candle slot of the range as loaded, open, missing (the gap), late or pending', async () => {
    const c = await coverageReport(db.pool, { ...range, now: new Date(NOW) });
    const seg = (state: string, from: number, to: number) => ({
      state,
      start: at(T0 + from * MIN),
      end: at(T0 + to * MIN),
      candles: to - from,
    });
    expect(c).toEqual({
      from: at(T0),
      to: at(T0 + 60 * MIN),
      skipped: [],
      series: [
        {
          exchange: 'binance',
          symbol: 'BTC/USDT',
          timeframe: '1m',
          first: at(T0),
          segments: [
            seg('present', 0, 4),
            seg('missing', 4, 7),
            seg('present', 7, 12),
            seg('open', 12, 13),
            seg('late', 13, 14),
            seg('pending', 14, 15),
          ],
          counts: { present: 9, open: 1, missing: 3, late: 1, pending: 1 },
        },
        {
          exchange: 'okx',
          symbol: 'ETH/USDT',
          timeframe: '1m',
          first: at(T0),
          segments: [seg('present', 0, 6), seg('late', 6, 14), seg('pending', 14, 15)],
          counts: { present: 6, open: 0, missing: 0, late: 8, pending: 1 },
        },
      ],
    });
  });

  it('clips to the range and the filter, and skips a series whose strip would be too long', async () => {
    const part = await coverageReport(
      db.pool,
      { from: new Date(T0 + 5 * MIN + 20_000), to: new Date(T0 + 10 * MIN), now: new Date(NOW) },
      { exchange: 'binance' },
    );
    expect(part.series.map((s) => s.segments.map((x) => [x.state, x.start, x.candles]))).toEqual([
      [
        ['missing', at(T0 + 5 * MIN), 2],
        ['present', at(T0 + 7 * MIN), 3],
      ],
    ]);
    const tooLong = await coverageReport(db.pool, { ...range, now: new Date(NOW) }, {}, 10);
    expect(tooLong.series).toEqual([]);
    expect(tooLong.skipped).toEqual([
      { exchange: 'binance', symbol: 'BTC/USDT', timeframe: '1m', slots: 15 },
      { exchange: 'okx', symbol: 'ETH/USDT', timeframe: '1m', slots: 15 },
    ]);
    expect(
      (await coverageReport(db.pool, { ...range, now: new Date(NOW) }, { dataset: 'trades' })).series,
    ).toEqual([]);
  });

  it('expects a timeframe no schedule brings (a backfill) only up to its newest candle, and calls it on demand', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await byHand(client, [T0 - 10 * 3600_000], async () => {
        for (const h of [0, 1, 3])
          await client.query(
            `INSERT INTO ohlcv VALUES ('binance', 'BTC/USDT', '1h', $1, 1, 2, 0.5, 1.5, 10, true, $1, 'kh')`,
            [new Date(T0 - 10 * 3600_000 + h * 3600_000)],
          );
      });
      const now = new Date(NOW);
      const [entry] = await catalogueReport(client as unknown as typeof db.pool, now, { timeframe: '1h' });
      expect(entry).toMatchObject({ series: '1h', everySeconds: null, freshness: 'unscheduled', gaps: 1 });
      const c = await coverageReport(
        client as unknown as typeof db.pool,
        { from: new Date(T0 - 12 * 3600_000), to: new Date(T0 + 3600_000), now },
        { timeframe: '1h' },
      );
      expect(c.series[0]?.segments.map((x) => [x.state, x.candles])).toEqual([
        ['present', 2],
        ['missing', 1],
        ['present', 1],
      ]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('lists the gaps overlapping a range, whole, each with the repair command that fills it', async () => {
    const gaps = await gapsReport(db.pool, {}, { from: new Date(T0 + 5 * MIN), to: new Date(T0 + 6 * MIN) });
    expect(gaps).toEqual([
      {
        exchange: 'binance',
        symbol: 'BTC/USDT',
        timeframe: '1m',
        start: at(T0 + 4 * MIN),
        end: at(T0 + 7 * MIN),
        missingCandles: 3,
      },
    ]);
    expect(repairCommand(gaps[0]!)).toBe(
      'npm run repair -- --exchange=binance --symbol=BTC/USDT --timeframe=1m --from=2026-11-24T00:04:00.000Z --to=2026-11-24T00:07:00.000Z',
    );
    expect(
      await gapsReport(db.pool, {}, { from: new Date(T0 + 7 * MIN), to: new Date(T0 + 60 * MIN) }),
    ).toEqual([]);
    // A symbol from the database can never break out of the command line.
    expect(shellWord(`--symbol=${HOSTILE}`)).toBe(`'--symbol=${HOSTILE}'`);
    expect(shellWord(`--symbol=a'b;rm -rf /`)).toBe(`'--symbol=a'\\''b;rm -rf /'`);
  });
});

describe('runs, findings, dead letters', () => {
  it('sums loads and rejections per exchange and dataset within the range, and lists the newest runs', async () => {
    const r = await runsReport(db.pool, range);
    const stream = (o: Record<string, unknown>) => ({
      lastLoadedAt: null,
      lastKey: null,
      lastRows: null,
      lastEventId: null,
      objects: 0,
      rows: 0,
      findings: 0,
      rejected: 0,
      lastRejectedAt: null,
      lastRejectReason: null,
      ...o,
    });
    expect(r.streams).toEqual([
      stream({
        exchange: 'binance',
        dataset: 'ohlcv',
        lastLoadedAt: at(T0 + 13 * MIN),
        lastKey: 'exchange=binance/dataset=ohlcv/k1.json',
        lastRows: 10,
        lastEventId: 'b1.0',
        objects: 2,
        rows: 14,
        findings: 1,
        rejected: 1,
        lastRejectedAt: at(T0 + 10 * MIN),
        lastRejectReason: 'invalid_json',
      }),
      stream({
        exchange: 'binance',
        dataset: 'tickers',
        lastLoadedAt: at(T0 - 2 * 86_400_000),
        lastKey: 'exchange=binance/dataset=tickers/k3.json',
        lastRows: 1,
        lastEventId: 't3.0',
      }),
      stream({
        exchange: 'okx',
        dataset: 'ohlcv',
        lastLoadedAt: at(T0 + 6 * MIN),
        lastKey: 'exchange=okx/dataset=ohlcv/k2.json',
        lastRows: 6,
        lastEventId: 'o2.0',
        objects: 1,
        rows: 6,
      }),
      stream({
        exchange: 'okx',
        dataset: 'tickers',
        rejected: 1,
        lastRejectedAt: at(T0 + 20 * MIN),
        lastRejectReason: 'invalid_batch',
      }),
    ]);
    expect(r.recent.map((x) => [x.status, x.at, x.key, x.rows, x.reason])).toEqual([
      ['rejected', at(T0 + 20 * MIN), 'exchange=okx/dataset=tickers/x.json', null, 'invalid_batch'],
      ['loaded', at(T0 + 13 * MIN), 'exchange=binance/dataset=ohlcv/k1.json', 10, null],
      ['rejected', at(T0 + 10 * MIN), 'exchange=binance/dataset=ohlcv/bad.json', null, 'invalid_json'],
      ['loaded', at(T0 + 6 * MIN), 'exchange=okx/dataset=ohlcv/k2.json', 6, null],
      ['loaded', at(T0 + 5 * MIN), 'exchange=binance/dataset=ohlcv/k0.json', 4, null],
      ['loaded', at(T0 - 2 * 86_400_000), 'exchange=binance/dataset=tickers/k3.json', 1, null],
    ]);
    const okx = await runsReport(db.pool, range, { exchange: 'okx', dataset: 'tickers' });
    expect(okx.streams.map((s) => [s.exchange, s.dataset, s.rejected])).toEqual([['okx', 'tickers', 1]]);
    expect(okx.recent.map((x) => x.key)).toEqual(['exchange=okx/dataset=tickers/x.json']);
  });

  it('lists the newest findings with their details', async () => {
    expect(await recentFindings(db.pool, { dataset: 'trades' })).toEqual([
      {
        exchange: 'binance',
        dataset: 'trades',
        symbol: 'BTC/USDT',
        series: '',
        ts: at(T0 + 2 * MIN),
        check: 'non_positive_price',
        details: '{"id": "2", "price": "0"}',
        sourceKey: 'ktr',
      },
    ]);
    expect((await recentFindings(db.pool, { exchange: 'okx' })).length).toBe(0);
  });

  it('reads dead letters with the reason Knative recorded, newest first, by exchange', async () => {
    const all = await readDeadLetters(s3.client, s3.settings.bucket);
    expect(all.listed).toBe(3);
    expect(all.items).toEqual([
      {
        key: DEAD_LETTER_KEYS[0],
        type: 'cryptopipe.extract.batch',
        id: 'bin-1',
        exchange: 'binance',
        dataset: 'ohlcv',
        time: '2026-11-24',
        code: '400',
        destination: 'http://load-raw.crypto-pipeline.svc.cluster.local',
        reason: `bad_request: invalid batch: symbol ${HOSTILE}`,
      },
      expect.objectContaining({
        key: DEAD_LETTER_KEYS[1],
        exchange: 'okx',
        code: '503',
        reason: 'upstream timeout',
      }),
      { key: DEAD_LETTER_KEYS[2], time: '2026-11-22', reason: 'unreadable: not a JSON CloudEvent' },
    ]);
    const okx = await readDeadLetters(s3.client, s3.settings.bucket, { filter: { exchange: 'okx' } });
    expect(okx.items.map((d) => d.key)).toEqual([DEAD_LETTER_KEYS[1]]);
    expect((await readDeadLetters(s3.client, s3.settings.bucket, { limit: 1 })).items.length).toBe(1);
    expect(describeDeadLetter('_dead-letters/x.json', 'missing').reason).toMatch(/gone/);
  });

  it('composes the whole status with its summary', async () => {
    const st = await buildStatus(
      {
        pool: db.pool,
        deadLetters: () => readDeadLetters(s3.client, s3.settings.bucket),
      },
      { now: new Date(NOW), ...range, filter: {} },
    );
    expect(st.summary).toEqual({
      series: 6,
      ok: 3,
      late: 1,
      stale: 1,
      unscheduled: 1,
      gaps: 1,
      missingCandles: 3,
      findings: 2,
      rejected: 2,
      deadLetters: 3,
    });
    expect(st.gaps[0]?.repair).toMatch(/^npm run repair -- --exchange=binance --symbol=BTC\/USDT /);
    expect(st.exchanges).toEqual(['binance', 'okx']);
  });
});

describe('the read-only role crypto_status (migration 002)', () => {
  /** A pool whose sessions act as crypto_status. */
  const asReader = (url: string) => {
    const pool = new pg.Pool({ connectionString: url, max: 2, options: '-c role=crypto_status' });
    pool.on('error', () => undefined);
    return pool;
  };

  async function checkReader(target: TestDatabase): Promise<void> {
    const reader = asReader(target.url);
    try {
      const roles = await target.pool.query(
        `SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = 'crypto_status'`,
      );
      expect(roles.rows).toEqual([
        { rolcanlogin: false, rolsuper: false, rolcreaterole: false, rolcreatedb: false },
      ]);
      expect((await reader.query('SELECT current_user AS u')).rows).toEqual([{ u: 'crypto_status' }]);
      // Every query of the page works as the reader.
      await buildStatus(
        { pool: reader, deadLetters: async () => ({ listed: 0, scanned: 0, items: [] }) },
        { now: new Date(NOW), ...range, filter: {} },
      );
      for (const sql of [
        `INSERT INTO rejected_objects (bucket, object_key, etag, reason) VALUES ('b', 'k', 'e', 'r')`,
        `DELETE FROM ohlcv`,
        `UPDATE ingestion_ledger SET rows = 0`,
        `CREATE TABLE status_was_here (x int)`,
      ])
        await expect(reader.query(sql), sql).rejects.toMatchObject({ code: '42501' });
      // Tables made by later migrations are readable too (default privileges).
      await target.pool.query('CREATE TABLE later_table (x int)');
      expect((await reader.query('SELECT count(*)::int AS n FROM later_table')).rows).toEqual([{ n: 0 }]);
    } finally {
      await reader.end();
    }
  }

  it('can read every table and view of the page and write nothing (PostgreSQL of the environment)', async () => {
    await checkReader(db);
  });

  it('is idempotent, and databases of one cluster can apply it at the same time', async () => {
    const sql = readMigrations().find((m) => m.version === 2)!.sql;
    await db.pool.query(sql);
    await db.pool.query(sql);
    expect(await migrate(db.pool)).toEqual([]);
    const applied = await db.pool.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(applied.rows.map((r) => r.version)).toEqual(readMigrations().map((m) => m.version));
    // Roles are cluster-wide: three databases migrating at once (as test files do) must not trip over each other.
    const names = [1, 2, 3].map((i) => `${db.settings.database}_m${i}`);
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      for (const n of names) await admin.query(`CREATE DATABASE ${n}`);
      await Promise.all(
        names.map(async (n) => {
          const u = new URL(db.url);
          u.pathname = `/${n}`;
          const c = new pg.Client({ connectionString: u.toString() });
          await c.connect();
          try {
            await c.query('CREATE TABLE t (x int)');
            await c.query(`BEGIN; ${sql}; COMMIT`);
            const r = await c.query(`SELECT has_table_privilege('crypto_status', 't', 'SELECT') AS ok`);
            expect(r.rows).toEqual([{ ok: true }]);
          } finally {
            await c.end();
          }
        }),
      );
    } finally {
      for (const n of names) await admin.query(`DROP DATABASE IF EXISTS ${n} WITH (FORCE)`);
      await admin.end();
    }
  });

  it('works on the embedded PostgreSQL 17 as well', async () => {
    const embedded = await startDatabase({ forceEmbedded: true });
    try {
      expect((await embedded.pool.query('SHOW server_version_num')).rows[0].server_version_num).toMatch(
        /^17/,
      );
      await seedDatabase(embedded.pool);
      await checkReader(embedded);
    } finally {
      await embedded.close();
    }
  }, 120_000);
});

describe('loadStatusConfig', () => {
  it('reads the database and S3 settings like transform, with the page limits', () => {
    const cfg = loadStatusConfig({ DATABASE_URL: 'postgres://u:p@h/db', STATUS_MAX_RANGE: '2d' });
    expect(cfg).toMatchObject({
      db: { connectionString: 'postgres://u:p@h/db' },
      s3: { bucket: 'crypto-raw' },
      dbPoolMax: 2,
      defaultRangeMs: 86_400_000,
      maxRangeMs: 2 * 86_400_000,
      deadLetterLimit: 50,
      queryTimeoutMs: 15_000,
    });
    expect(() => loadStatusConfig({ STATUS_DEFAULT_RANGE: '8d' })).toThrow(/STATUS_DEFAULT_RANGE/);
    expect(() => loadStatusConfig({ STATUS_MAX_RANGE: 'soon' })).toThrow(
      /STATUS_MAX_RANGE: must be a duration/,
    );
  });
});
