// Tests of durations, instants and candle intervals.
import { describe, expect, it } from 'vitest';
import { isClosed, nextOpen, parseDuration, parseInstant, parseTimeframe } from '../../shared/time.ts';

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
