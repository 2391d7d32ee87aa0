// Tests of durations, instants and candle intervals.
import { describe, expect, it } from 'vitest';
import {
  candleOpen,
  candleOpens,
  isClosed,
  nextOpen,
  parseDuration,
  parseInstant,
  parseTimeframe,
} from '../../shared/time.ts';

describe('parseDuration', () => {
  const cases: Array<[string, number | undefined]> = [
    ['PT1H', 3_600_000],
    ['PT1H30M', 5_400_000],
    ['P2D', 172_800_000],
    ['P1DT12H', 129_600_000],
    ['PT0.5S', 500],
    ['90m', 5_400_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
    ['P', undefined],
    ['PT', undefined],
    ['1y', undefined],
    ['', undefined],
    ['-5m', undefined],
  ];
  it.each(cases)('%s -> %s', (text, want) => expect(parseDuration(text)).toBe(want));
});

describe('parseInstant', () => {
  it('reads epoch ms, digit strings and ISO dates', () => {
    expect(parseInstant(1_700_000_000_000)).toBe(1_700_000_000_000);
    expect(parseInstant('1700000000000')).toBe(1_700_000_000_000);
    expect(parseInstant('2024-01-01T00:00:00Z')).toBe(Date.UTC(2024, 0, 1));
    expect(parseInstant('2024-01-01')).toBe(Date.UTC(2024, 0, 1));
  });
  it('rejects garbage, negatives and fractions', () => {
    for (const bad of ['yesterday', -1, 1.5, '2024-13-45T99:00:00Z', 'Jan 1 2024'])
      expect(parseInstant(bad)).toBeUndefined();
  });
});

describe('timeframes', () => {
  it('parses ccxt timeframes', () => {
    expect(parseTimeframe('1m')?.ms).toBe(60_000);
    expect(parseTimeframe('4h')?.ms).toBe(14_400_000);
    expect(parseTimeframe('1w')?.ms).toBe(604_800_000);
    expect(parseTimeframe('0m')).toBeUndefined();
    expect(parseTimeframe('1x')).toBeUndefined();
  });
  it('steps months by the calendar', () => {
    const tf = parseTimeframe('1M')!;
    expect(nextOpen(tf, Date.UTC(2024, 0, 1))).toBe(Date.UTC(2024, 1, 1));
    expect(nextOpen(tf, Date.UTC(2024, 1, 1))).toBe(Date.UTC(2024, 2, 1));
  });
  it('a candle is closed only once its interval has ended', () => {
    const tf = parseTimeframe('1m')!;
    const open = Date.UTC(2024, 0, 1, 0, 0);
    expect(isClosed(tf, open, open + 59_999)).toBe(false);
    expect(isClosed(tf, open, open + 60_000)).toBe(true);
  });
});

describe('candleOpen', () => {
  // As Binance, Bybit and OKX cut candles: epoch multiples, weeks from Monday 00:00 UTC, months from the 1st.
  const cases = [
    { name: '5m inside', tf: '5m', t: Date.UTC(2026, 0, 1, 10, 7, 30), want: Date.UTC(2026, 0, 1, 10, 5) },
    { name: '1m on its open', tf: '1m', t: Date.UTC(2026, 0, 1, 10, 7), want: Date.UTC(2026, 0, 1, 10, 7) },
    {
      name: '1m a ms before the next',
      tf: '1m',
      t: Date.UTC(2026, 0, 1, 10, 8) - 1,
      want: Date.UTC(2026, 0, 1, 10, 7),
    },
    { name: '4h', tf: '4h', t: Date.UTC(2026, 0, 1, 10, 7), want: Date.UTC(2026, 0, 1, 8) },
    { name: '1d', tf: '1d', t: Date.UTC(2026, 0, 1, 23, 59), want: Date.UTC(2026, 0, 1) },
    // 2026-01-01 is day 20,454 = 3 * 6,818 of the epoch: a 3d candle opens on it.
    { name: '3d from the epoch', tf: '3d', t: Date.UTC(2026, 0, 2, 5), want: Date.UTC(2026, 0, 1) },
    // 2026-01-01 is a Thursday: its week opened on Monday 2025-12-29.
    { name: '1w on a Thursday', tf: '1w', t: Date.UTC(2026, 0, 1, 10), want: Date.UTC(2025, 11, 29) },
    { name: '1w on Monday 00:00', tf: '1w', t: Date.UTC(2026, 10, 23), want: Date.UTC(2026, 10, 23) },
    { name: '1w on Sunday 23:59', tf: '1w', t: Date.UTC(2026, 10, 22, 23, 59), want: Date.UTC(2026, 10, 16) },
    { name: '1w in the epoch week', tf: '1w', t: Date.UTC(1970, 0, 3), want: Date.UTC(1969, 11, 29) },
    // 2w: fortnights counted from Monday 1970-01-05; 2025-12-29 is 2,921 weeks after it (odd), so 2025-12-22 opens one.
    { name: '2w from the first Monday', tf: '2w', t: Date.UTC(2026, 0, 1), want: Date.UTC(2025, 11, 22) },
    { name: '1M mid-month', tf: '1M', t: Date.UTC(2026, 1, 17, 3), want: Date.UTC(2026, 1, 1) },
    { name: '1M last ms of a month', tf: '1M', t: Date.UTC(2026, 2, 1) - 1, want: Date.UTC(2026, 1, 1) },
    { name: '3M quarter', tf: '3M', t: Date.UTC(2026, 4, 17), want: Date.UTC(2026, 3, 1) },
    { name: '12M year', tf: '12M', t: Date.UTC(2026, 10, 24), want: Date.UTC(2026, 0, 1) },
  ];
  for (const c of cases)
    it(c.name, () =>
      expect(new Date(candleOpen(parseTimeframe(c.tf)!, c.t)).toISOString()).toBe(
        new Date(c.want).toISOString(),
      ),
    );

  it('is where nextOpen steps from, for every frame', () => {
    for (const text of ['1m', '15m', '1h', '4h', '1d', '3d', '1w', '1M', '3M']) {
      const tf = parseTimeframe(text)!;
      const open = candleOpen(tf, Date.UTC(2026, 10, 24, 12, 34, 56));
      expect(candleOpen(tf, open)).toBe(open);
      expect(candleOpen(tf, nextOpen(tf, open) - 1)).toBe(open);
      expect(candleOpen(tf, nextOpen(tf, open))).toBe(nextOpen(tf, open));
    }
  });

  it('candleOpens lists the opens in [since, until), since aligned down', () => {
    const w = parseTimeframe('1w')!;
    expect(candleOpens(w, Date.UTC(2026, 10, 4), Date.UTC(2026, 10, 24))).toEqual([
      Date.UTC(2026, 10, 2),
      Date.UTC(2026, 10, 9),
      Date.UTC(2026, 10, 16),
      Date.UTC(2026, 10, 23),
    ]);
    expect(candleOpens(parseTimeframe('1M')!, Date.UTC(2026, 10, 15), Date.UTC(2027, 1, 1))).toEqual([
      Date.UTC(2026, 10, 1),
      Date.UTC(2026, 11, 1),
      Date.UTC(2027, 0, 1),
    ]);
  });
});
