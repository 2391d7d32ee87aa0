// The local run's progress lines: said when rows reached PostgreSQL, totals from transform's loaded rows only.
import { describe, expect, it } from 'vitest';
import { ProgressConsole, seriesOfKey } from '../../scripts/local/console.ts';
import type { DeliveryReport } from '../../scripts/local/router.ts';
import type { OhlcvRecord } from '../../shared/events/schemas.ts';
import { batchKey } from '../../shared/lake/objects.ts';
import { seriesEvents } from '../support/batches.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 24, 12, 0);

function candle(ts: number, closed: boolean): OhlcvRecord {
  return { ts, open: '1', high: '2', low: '1', close: '2', volume: '3', closed };
}

/** load-raw's delivery of a batch of 1m candles from `from`, `n` long, the newest one open. */
function stored(from: number, n: number, written = true): { report: DeliveryReport; key: string } {
  const records = Array.from({ length: n }, (_, i) => candle(from + i * MIN, i < n - 1));
  const [event] = seriesEvents(
    { exchange: 'binance', dataset: 'ohlcv', symbol: 'BTC/USDT', timeframe: '1m', extractedAt: T0 },
    records,
    1024 * 1024,
  );
  const key = batchKey(event!, event!.data!);
  return {
    key,
    report: {
      trigger: 'load-raw',
      subscriber: 'load-raw',
      event: event!,
      status: 204,
      headers: { 'x-object-key': encodeURI(key), 'x-object-written': String(written) },
      attempts: 1,
      deadLettered: false,
    },
  };
}

const answer = (...results: object[]) => JSON.stringify({ results });

describe('ProgressConsole', () => {
  it('says when rows reached PostgreSQL, and counts only the rows transform reports as loaded', () => {
    const lines: string[] = [];
    let now = T0 + 5_000;
    const c = new ProgressConsole(
      (l) => lines.push(l),
      () => now,
    );
    const series = 'binance ohlcv BTC/USDT 1m';

    // 31 candles (30 closed, the newest open), stored raw: nothing said until transform answers.
    const first = stored(T0 - 30 * MIN, 31);
    c.delivery(first.report);
    expect(lines).toEqual([]);
    c.transformed(
      answer({ status: 'loaded', key: first.key, etag: 'e1', rows: 31, records: 31, findings: 0 }),
    );
    expect(lines.pop()).toBe(
      `${series}: 31 rows stored raw, 31 written to PostgreSQL (total 31), latest closed candle 2026-11-24T11:59Z there 5 s after its close`,
    );

    // The same notification again: transform answers unchanged, nothing is counted.
    c.transformed(answer({ status: 'unchanged', key: first.key, etag: 'e1' }));
    expect(lines).toEqual([]);
    expect(c.total(series)).toBe(31);

    // The same batch sent again: load-raw already has the object, so no notification follows.
    c.delivery(stored(T0 - 30 * MIN, 31, false).report);
    expect(lines.pop()).toBe(`${series}: 31 rows sent again, already stored raw; not counted`);
    expect(c.total(series)).toBe(31);

    // The next minute: two candles sent, one of them the previous open one; transform wrote 2 rows.
    now = T0 + MIN + 3_000;
    const next = stored(T0, 2);
    c.delivery(next.report);
    c.transformed(answer({ status: 'loaded', key: next.key, etag: 'e2', rows: 2, records: 2, findings: 0 }));
    expect(lines.pop()).toBe(
      `${series}: 2 rows stored raw, 2 written to PostgreSQL (total 33), latest closed candle 2026-11-24T12:00Z there 3 s after its close`,
    );
    // A batch that adds no newer closed candle does not claim a lag.
    const old = stored(T0 - 10 * MIN, 2);
    c.delivery(old.report);
    c.transformed(answer({ status: 'loaded', key: old.key, etag: 'e3', rows: 0, records: 2, findings: 0 }));
    expect(lines.pop()).toBe(
      `${series}: 2 rows stored raw, 0 written to PostgreSQL (total 33), latest closed candle 2026-11-24T12:00Z`,
    );
  });

  it('says what transform rejected and what the Broker dead-lettered; objects it did not see are named by key', () => {
    const lines: string[] = [];
    const c = new ProgressConsole((l) => lines.push(l));
    const key = 'exchange=okx/dataset=trades/symbol=ETH-USDT/date=2026-11-24/x_1.json';
    c.transformed(
      answer(
        { status: 'rejected', key, etag: 'e', reason: 'invalid_batch' },
        { status: 'ignored', key: null, reason: 'not a creation' },
        { status: 'loaded', key, etag: 'e', rows: 4, records: 4, findings: 0 },
      ),
    );
    c.transformed('not json');
    const { report } = stored(T0, 1);
    c.delivery({ ...report, subscriber: 'load-raw', status: 400, attempts: 1, deadLettered: true });
    expect(lines).toEqual([
      'okx trades ETH-USDT: transform rejected the object (invalid_batch); npm run report lists it',
      'okx trades ETH-USDT: 4 written to PostgreSQL (total 4)',
      `load-raw refused cryptopipe.extract.batch ${report.event.id} (400 after 1 attempt(s)); sent to the dead-letter sink`,
    ]);
  });

  it('names a series from its object key', () => {
    const cases = [
      {
        key: 'exchange=binance/dataset=ohlcv/symbol=BTC-USDT/timeframe=1m/date=2026-11-24/a.json',
        want: 'binance ohlcv BTC-USDT 1m',
      },
      { key: 'exchange=kraken/dataset=markets/date=2026-11-24/a.json', want: 'kraken markets' },
    ];
    for (const c of cases) expect(seriesOfKey(c.key)).toBe(c.want);
  });
});
