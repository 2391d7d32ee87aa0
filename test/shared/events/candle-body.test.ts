// readCandleBody answers only for bodies that are canonical JSON of a valid OHLCV batch, and then as parsing would.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCandleBody } from '../../../shared/events/candle-body.ts';
import { canonicalJsonBytes } from '../../../shared/events/canonical.ts';
import { parseExtractBatch, type OhlcvRecord } from '../../../shared/events/schemas.ts';

const T0 = Date.UTC(2026, 10, 24);
const header = {
  schemaVersion: 1,
  exchange: 'binance',
  dataset: 'ohlcv',
  symbol: 'BTC/USDT',
  timeframe: '1m',
  requestId: 'r1',
  extractedAt: T0,
  window: { since: T0, until: T0 + 180_000 },
  batchId: 'b1',
  chunk: { index: 0, count: 1 },
};

function candles(n: number, from = T0): OhlcvRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    ts: from + i * 60_000,
    open: '43519.34000000',
    high: '43600.00000000',
    low: '-0.5',
    close: '43550.',
    volume: i % 2 ? null : '1.23400000',
    closed: i < n - 1,
  }));
}

const canonical = (value: unknown): Buffer => canonicalJsonBytes(value);

/** What parsing gives for `body`: the verdict, and for a valid canonical OHLCV batch its count and span. */
function byParsing(body: Buffer) {
  let data: unknown;
  try {
    data = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = parseExtractBatch(data);
  if (!parsed.success || parsed.data.dataset !== 'ohlcv') return undefined;
  const ts = parsed.data.records.map((r) => r.ts);
  return {
    canonical: canonical(data).equals(body),
    records: ts.length,
    span: ts.length ? { from: Math.min(...ts), to: Math.max(...ts) } : undefined,
    header: { ...parsed.data, records: [] },
  };
}

/** readCandleBody answers only where parsing says the body is canonical and valid, and with what parsing gives. */
function agrees(body: Buffer): boolean {
  const read = readCandleBody(body);
  if (read === undefined) return true;
  const parsed = byParsing(body);
  expect(parsed?.canonical).toBe(true);
  expect(read.records).toBe(parsed!.records);
  expect(read.span).toEqual(parsed!.span);
  expect(read.header).toEqual(parsed!.header);
  expect(JSON.parse(read.headText)).toEqual(read.head);
  return true;
}

describe('readCandleBody', () => {
  it('reads a canonical batch: count, span, the batch without records', () => {
    const records = [...candles(5, T0 + 600_000), ...candles(3)];
    const read = readCandleBody(canonical({ ...header, records }));
    expect(read).toBeDefined();
    expect(read!.records).toBe(8);
    expect(read!.span).toEqual({ from: T0, to: T0 + 600_000 + 4 * 60_000 });
    expect(read!.head).toEqual({ ...header, records: [] });
    expect(read!.header).toEqual(parseExtractBatch({ ...header, records: [] }).data);
  });

  it('reads any valid candle series written canonically, as parsing does', () => {
    const decimal = fc.stringMatching(/^-?\d{1,12}(\.\d{0,10})?$/);
    const candle = fc.record({
      ts: fc.oneof(fc.constantFrom(0, Number.MAX_SAFE_INTEGER), fc.nat({ max: 4_102_444_800_000 })),
      open: decimal,
      high: decimal,
      low: decimal,
      close: decimal,
      volume: fc.option(decimal),
      closed: fc.boolean(),
    });
    const text = fc.string({ unit: 'grapheme', maxLength: 12 });
    fc.assert(
      fc.property(fc.array(candle, { minLength: 1, maxLength: 60 }), text, text, (records, exchange, id) => {
        const body = canonical({ ...header, exchange: exchange || 'x', requestId: id || 'r', records });
        const read = readCandleBody(body);
        const parsed = byParsing(body);
        // Every such body the schema takes is read (exchange names have their own rules: then neither takes it).
        expect(read !== undefined).toBe(parsed !== undefined);
        return agrees(body);
      }),
      { numRuns: 400 },
    );
  });

  it.each([
    ['keys in the order they were made', Buffer.from(JSON.stringify({ ...header, records: candles(3) }))],
    [
      'a space after a comma',
      Buffer.from(
        canonical({ ...header, records: candles(3) })
          .toString()
          .replace('},{', '}, {'),
      ),
    ],
    [
      'an exponent (valid, but not the form read here)',
      canonical({ ...header, records: [{ ...candles(1)[0], open: '1e5' }] }),
    ],
    ['an empty price', canonical({ ...header, records: [{ ...candles(1)[0], open: '' }] })],
    ['a sign alone', canonical({ ...header, records: [{ ...candles(1)[0], high: '-' }] })],
    ['a plus sign', canonical({ ...header, records: [{ ...candles(1)[0], close: '+1' }] })],
    [
      'batch keys in the order they were made around canonical records',
      Buffer.from(
        JSON.stringify({ ...header, records: 0 }).replace(
          '"records":0',
          `"records":${canonical(candles(2)).toString()}`,
        ),
      ),
    ],
    ['a time past 2^53 - 1', canonical({ ...header, records: [{ ...candles(1)[0], ts: 2 ** 53 }] })],
    ['a fractional time', canonical({ ...header, records: [{ ...candles(1)[0], ts: T0 + 0.5 }] })],
    ['a float price', canonical({ ...header, records: [{ ...candles(1)[0], open: 1.5 }] })],
    ['a missing volume', canonical({ ...header, records: [{ ...candles(1)[0], volume: undefined }] })],
    ['an extra field in a candle', canonical({ ...header, records: [{ ...candles(1)[0], x: 1 }] })],
    ['an extra field in the batch', canonical({ ...header, evil: true, records: candles(2) })],
    ['no records', canonical({ ...header, records: [] })],
    ['trades', canonical({ ...header, dataset: 'trades', records: candles(2) })],
    [
      'records twice',
      Buffer.from(
        canonical({ ...header, records: candles(2) })
          .toString()
          .replace('"requestId"', '"records":[],"requestId"'),
      ),
    ],
    [
      'not UTF-8 in the symbol',
      Buffer.concat([
        Buffer.from('{"batchId":"b\xff'.slice(0, 12)),
        Buffer.from([0xff]),
        canonical({ ...header, records: candles(2) }).subarray(12),
      ]),
    ],
  ])('declines %s', (_name, body) => {
    expect(readCandleBody(body)).toBeUndefined();
  });

  it('answers for no edit of a canonical body unless parsing says the result is canonical and valid', () => {
    const text = canonical({ ...header, records: candles(4) }).toString();
    const token = fc.constantFrom(
      '',
      ' ',
      '+',
      ',',
      '"',
      '}',
      '{',
      ']',
      '[',
      '0',
      '1',
      '-',
      '.',
      'e',
      'null',
      'true',
      ':',
      '\\',
      '\u00e9',
      '\u0000',
      '"records":[',
    );
    fc.assert(
      fc.property(fc.nat(text.length - 1), fc.nat(3), token, (at, cut, insert) => {
        return agrees(Buffer.from(text.slice(0, at) + insert + text.slice(at + cut)));
      }),
      { numRuns: 3000 },
    );
  });

  it('answers for no byte flip of a canonical body unless parsing agrees', () => {
    const bytes = canonical({ ...header, records: candles(3) });
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.nat(255), (at, value) => {
        const b = Buffer.from(bytes);
        b[at] = value;
        return agrees(b);
      }),
      { numRuns: 3000 },
    );
  });
});
