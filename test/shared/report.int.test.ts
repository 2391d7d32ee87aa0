// The report queries against a database with a known gap, findings and a rejected object.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport, formatReport } from '../../shared/report/queries.ts';
import { byHand, startDatabase, type TestDatabase } from '../support/postgres.ts';

const T0 = Date.UTC(2026, 10, 24, 0, 0);
const MIN = 60_000;
let db: TestDatabase;

beforeAll(async () => {
  db = await startDatabase();
  // 10 candles with 3 missing (minutes 4, 5, 6) and the newest one open; one finding; one rejected object.
  const minutes = [0, 1, 2, 3, 7, 8, 9, 10, 11, 12];
  await byHand(db.pool, [T0], async () => {
    for (const m of minutes) {
      await db.pool.query(
        `INSERT INTO ohlcv VALUES ('binance', 'BTC/USDT', '1m', $1, 1, 2, 0.5, 1.5, 10, $2, $3, 'k1')`,
        [new Date(T0 + m * MIN), m !== 12, new Date(T0 + 13 * MIN)],
      );
    }
  });
  await db.pool.query(
    `INSERT INTO dq_findings VALUES ('binance', 'ohlcv', 'BTC/USDT', '1m', $1, 'ohlc_invariant', '{}', 'k1')`,
    [new Date(T0 + 2 * MIN)],
  );
  await db.pool.query(
    `INSERT INTO rejected_objects (bucket, object_key, etag, reason) VALUES ('crypto-raw', 'exchange=binance/bad.json', 'e', 'invalid_json')`,
  );
});
afterAll(() => db?.close());

describe('report', () => {
  it('shows each series with its gaps, freshness, findings, rejected objects and dead letters', async () => {
    const now = new Date(T0 + 14 * MIN);
    const r = await buildReport(db.pool, async () => ['_dead-letters/date=2026-11-24/t/abc.json'], now);
    expect(r.series).toEqual([
      {
        exchange: 'binance',
        symbol: 'BTC/USDT',
        timeframe: '1m',
        first: new Date(T0).toISOString(),
        last: new Date(T0 + 12 * MIN).toISOString(),
        lastClosed: new Date(T0 + 11 * MIN).toISOString(),
        candles: 10,
        gaps: 1,
        missingCandles: 3,
        lagSeconds: 120,
        findings: 1,
      },
    ]);
    expect(r.gaps).toEqual([
      {
        exchange: 'binance',
        symbol: 'BTC/USDT',
        timeframe: '1m',
        start: new Date(T0 + 4 * MIN).toISOString(),
        end: new Date(T0 + 7 * MIN).toISOString(),
        missingCandles: 3,
      },
    ]);
    expect(r.findings).toEqual([
      {
        exchange: 'binance',
        dataset: 'ohlcv',
        check: 'ohlc_invariant',
        count: 1,
        latest: new Date(T0 + 2 * MIN).toISOString(),
      },
    ]);
    expect(r.rejected).toEqual([
      expect.objectContaining({ key: 'exchange=binance/bad.json', reason: 'invalid_json' }),
    ]);
    expect(r.deadLetters).toEqual([{ key: '_dead-letters/date=2026-11-24/t/abc.json' }]);
    const text = formatReport(r);
    expect(text).toMatch(
      /binance\s+BTC\/USDT\s+1m\s+2026-11-24T00:00\s+2026-11-24T00:11\s+10\s+1\s+3\s+120\s+1/,
    );
    expect(text).toMatch(/2026-11-24T00:04\s+2026-11-24T00:07\s+3/);
    expect(text).toContain('dead letters: 1');
  });

  it('lists the gaps overlapping a range and says how many others the series table counts', async () => {
    const now = new Date(T0 + 14 * MIN);
    const after = await buildReport(db.pool, async () => [], now, {}, 10_000, {
      from: new Date(T0 + 7 * MIN),
    });
    expect(after.gaps).toEqual([]);
    expect(after.gapRange).toEqual({ from: new Date(T0 + 7 * MIN).toISOString(), to: null });
    expect(formatReport(after)).toContain(
      '1 gap(s) outside --from=2026-11-24T00:07 not listed (the series table counts them; --from lists them)',
    );
    // A gap overlapping the range is listed whole.
    const range = { from: new Date(T0 + 6 * MIN), to: new Date(T0 + 10 * MIN) };
    const overlapping = await buildReport(db.pool, async () => [], now, {}, 10_000, range);
    expect(overlapping.gaps.map((g) => [g.start, g.end])).toEqual([
      [new Date(T0 + 4 * MIN).toISOString(), new Date(T0 + 7 * MIN).toISOString()],
    ]);
    const text = formatReport(overlapping);
    expect(text).toContain('gaps overlapping --from=2026-11-24T00:06 --to=2026-11-24T00:10');
    expect(text).not.toContain('not listed');
    expect(
      (await buildReport(db.pool, async () => [], now, {}, 10_000, { to: new Date(T0 + 4 * MIN) })).gaps,
    ).toEqual([]);
  });

  it('filters by exchange: series, gaps, findings and rejected objects', async () => {
    const r = await buildReport(db.pool, async () => [], new Date(T0 + 14 * MIN), { exchange: 'okx' });
    expect(r.series).toEqual([]);
    expect(r.gaps).toEqual([]);
    expect(r.findings).toEqual([]);
    expect(r.rejected).toEqual([]);
    const binance = await buildReport(db.pool, async () => [], new Date(T0 + 14 * MIN), {
      exchange: 'binance',
    });
    expect(binance.rejected.map((x) => x.key)).toEqual(['exchange=binance/bad.json']);
    // The rejected key names no dataset, so a dataset filter leaves it out.
    const trades = await buildReport(db.pool, async () => [], new Date(T0 + 14 * MIN), { dataset: 'trades' });
    expect([trades.series, trades.gaps, trades.findings, trades.rejected]).toEqual([[], [], [], []]);
  });

  it('prints dead letters with the reason Knative recorded when they were read', async () => {
    const r = await buildReport(
      db.pool,
      async () => [
        { key: '_dead-letters/date=2026-11-24/t/abc.json', code: '400', reason: 'bad_request: no\nsuch' },
      ],
      new Date(T0 + 14 * MIN),
    );
    expect(formatReport(r)).toContain('  _dead-letters/date=2026-11-24/t/abc.json: 400 bad_request: no such');
  });
});

describe('report within its time budget', () => {
  it('names a part that ran out of time or failed, shows the rest, and throws only when the database is gone', async () => {
    const now = new Date(T0 + 14 * MIN);
    const slowDeadLetters = () => new Promise<string[]>((r) => setTimeout(() => r(['late.json']), 3000));
    // A query error that concerns one part (say, a view a later migration renamed) fails only that part.
    const broken = new Proxy(db.pool, {
      get(target, prop, receiver) {
        if (prop !== 'query') return Reflect.get(target, prop, receiver);
        return (text: unknown, ...rest: unknown[]) =>
          (target.query as (...a: unknown[]) => Promise<unknown>)(
            typeof text === 'string' && text.includes('FROM rejected_objects')
              ? 'SELECT * FROM no_such_table'
              : text,
            ...rest,
          );
      },
    });
    const started = Date.now();
    const r = await buildReport(broken, slowDeadLetters, now, {}, 300);
    expect(Date.now() - started).toBeLessThan(2500);
    expect(r.unavailable).toEqual([
      { part: 'failures', reason: 'failed', message: 'relation "no_such_table" does not exist' },
      { part: 'deadLetters', reason: 'timed_out', message: 'took longer than 0.3 s' },
    ]);
    expect(r.series.length).toBeGreaterThan(0);
    const text = formatReport(r);
    expect(text).toContain('failures: not shown, failed: relation "no_such_table" does not exist');
    expect(text).toContain('deadLetters: not shown, took longer than 0.3 s');
  });
});
