// openCandleObject reads an OHLCV object's candles from its bytes in slices with parseRawObject's verdict, records and
// checkBatch's findings, and the same COPY rows, or declines (the object is then read whole): on load-raw's own bytes,
// on hostile edits of them, and on objects it must leave.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { binaryCandleEncoder, binaryCandles, type CandleSpans } from '../../../shared/db/copy-binary.ts';
import type { OhlcvRecord } from '../../../shared/events/schemas.ts';
import { batchBody } from '../../../shared/lake/objects.ts';
import { openCandleObject } from '../../../shared/transform/candle-stream.ts';
import { parseRawObject } from '../../../shared/transform/load.ts';
import { checkBatch } from '../../../shared/transform/quality.ts';
import { seriesEvents } from '../../support/batches.ts';

const T0 = Date.UTC(2024, 0, 1);
const KEY = 'exchange=binance/dataset=ohlcv/x.json';

function candles(n: number, from = T0): OhlcvRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    ts: from + i * 60_000,
    open: (43000 + (i % 97) / 100).toFixed(8),
    // Every 50th candle breaks an invariant (high below open): a finding.
    high: i % 50 === 7 ? '1.00000000' : '43100.00000000',
    low: '42900.00000000',
    close: (43000 + (i % 89) / 100).toFixed(8),
    volume: i % 13 === 0 ? null : '1.25000000',
    closed: i !== n - 1,
  }));
}

function body(records: OhlcvRecord[], dataset: 'ohlcv' | 'trades' = 'ohlcv'): Buffer {
  const [event] = seriesEvents(
    {
      exchange: 'binance',
      dataset,
      symbol: 'BTC/USDT',
      timeframe: dataset === 'ohlcv' ? '1m' : null,
      extractedAt: T0 + 3_000 * 60_000,
    },
    records as never,
    64 * 1024 * 1024,
  );
  return batchBody(event!);
}

/** The candles of a slice as records, their decimals the text of their bytes. */
function recordsOf(c: CandleSpans): OhlcvRecord[] {
  const text = (k: number) => c.body.toString('latin1', c.spans[k], c.spans[k + 1]);
  return Array.from({ length: c.count }, (_, i) => ({
    close: text(10 * i + 6),
    closed: c.closed[i] === 1,
    high: text(10 * i + 2),
    low: text(10 * i + 4),
    open: text(10 * i),
    ts: c.ts[i]!,
    volume: c.spans[10 * i + 8]! < 0 ? null : text(10 * i + 8),
  }));
}

const CTX = {
  exchange: 'binance',
  symbol: 'BTC/USDT',
  timeframe: '1m',
  extractedAt: new Date(T0).toISOString(),
  sourceKey: KEY,
};

/**
 * The fast path read to its end: what it gives, or undefined where it declines or gives up; with its slices encoded
 * for COPY, which must be the bytes binaryCandles gives for the records parsed.
 */
function sliced(b: Buffer) {
  const object = openCandleObject(b, KEY);
  if (!object) return undefined;
  const records: OhlcvRecord[] = [];
  const encoder = binaryCandleEncoder(CTX);
  const pieces: Buffer[] = [];
  let slices = 0;
  for (const slice of object.slices()) {
    if (!slice) return undefined;
    slices += 1;
    records.push(...recordsOf(slice));
    pieces.push(encoder.spans(slice)!);
  }
  expect(object.count).toBe(records.length);
  expect(Buffer.concat([...pieces, encoder.end()]).equals(binaryCandles(records, CTX)!)).toBe(true);
  return {
    slices,
    read: {
      batch: { ...object.header, records },
      eventId: object.eventId,
      findings: object.findings,
    },
  };
}

/** parseRawObject and checkBatch over the whole object, or 'rejected'. */
function whole(b: Buffer) {
  try {
    const { batch, eventId } = parseRawObject(b);
    return { batch, eventId, findings: checkBatch(batch, KEY) };
  } catch {
    return 'rejected' as const;
  }
}

describe('openCandleObject', () => {
  it("reads load-raw's bytes in several slices to what parseRawObject and checkBatch give", () => {
    const b = body(candles(1_500));
    const out = sliced(b);
    expect(out?.slices).toBeGreaterThan(3);
    expect(out?.read).toEqual(whole(b));
    expect(out?.read.findings.length).toBeGreaterThan(0);
    const object = openCandleObject(b, KEY)!;
    expect([object.first, object.last]).toEqual([T0, T0 + 1_499 * 60_000]);
  });

  it('a reading stopped after a slice goes on where it stopped, to the whole object', () => {
    const b = body(candles(1_500));
    const object = openCandleObject(b, KEY)!;
    const slices = object.slices();
    const records = recordsOf(slices.next().value!);
    expect(records).toHaveLength(object.count);
    expect(object.count).toBeLessThan(1_500);
    for (const slice of slices) records.push(...recordsOf(slice!));
    expect(object.count).toBe(1_500);
    expect({
      batch: { ...object.header, records },
      eventId: object.eventId,
      findings: object.findings,
    }).toEqual(whole(b));
  });

  it('agrees with parseRawObject on any series of candles, and takes every one without an exponent', () => {
    const price = fc.stringMatching(/^-?\d{1,6}(\.\d{0,9})?$/);
    const candle = fc.record({
      open: price,
      high: fc.oneof(price, fc.constantFrom('0', '-0', '0.000', '00012.5', '12.50')),
      low: fc.stringMatching(/^\d{1,6}(\.\d{1,8})?$/),
      close: fc.oneof(price, fc.stringMatching(/^-?\d{1,3}(\.\d{1,3})?(e-?\d)?$/)),
      volume: fc.option(fc.oneof(price, fc.constantFrom('-0', '-0.00', '-0.001'))),
      closed: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(candle, { minLength: 1, maxLength: 900 }),
        fc.integer({ min: 1, max: 5 }),
        (cs, step) => {
          const b = body(cs.map((c, i) => ({ ...c, ts: T0 + i * step * 60_000 })));
          const out = sliced(b);
          // An exponent is a form the bytes reader leaves to the whole parse.
          if (cs.some((c) => /e/.test(c.close))) expect(out).toBeUndefined();
          else expect(out?.read).toEqual(whole(b));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('on any edit of the bytes, gives what parseRawObject gives or declines, never something else', () => {
    const original = body(candles(1_000));
    const text = original.toString('latin1');
    const token = fc.constantFrom(
      '"',
      '}',
      '{',
      ',',
      ']',
      '[',
      ':',
      '0',
      '9',
      '.',
      '-',
      'e',
      '\\',
      ' ',
      'null',
      'true',
      'x',
      '},{',
      '"records":[',
      '],"requestId":',
      '"ts":',
      '"close":"1"',
      '{"a":[[[1]]]}',
    );
    let accepted = 0;
    fc.assert(
      fc.property(fc.nat(text.length - 1), fc.nat(3), token, (at, cut, insert) => {
        const b = Buffer.from(text.slice(0, at) + insert + text.slice(at + cut), 'latin1');
        const out = sliced(b);
        if (out) {
          accepted += 1;
          expect(out.read).toEqual(whole(b));
        }
      }),
      { numRuns: 300 },
    );
    // Edits inside a decimal's digits keep the object valid: the fast path still takes some of them.
    expect(accepted).toBeGreaterThan(0);
  });

  it('gives up, and parseRawObject refuses, where a later slice holds a bad record', () => {
    const records = candles(1_500);
    const b = Buffer.from(body(records).toString().replace('"open":"43000.14000000"', '"open":"43k"'));
    expect(openCandleObject(b, KEY)).toBeDefined();
    expect(sliced(b)).toBeUndefined();
    expect(whole(b)).toBe('rejected');
  });

  it('gives up where candles are out of order or one time comes twice (the whole path writes them)', () => {
    const swapped = candles(1_000);
    [swapped[400], swapped[401]] = [swapped[401]!, swapped[400]!];
    const twice = candles(1_000);
    twice[600] = { ...twice[600]!, ts: twice[599]!.ts };
    for (const records of [swapped, twice]) {
      const b = body(records);
      expect(sliced(b)).toBeUndefined();
      expect(whole(b)).not.toBe('rejected');
    }
  });

  it('declines a second "records" key, where JSON.parse keeps the last one', () => {
    const b = Buffer.from(
      body(candles(10)).toString().replace('"window":null}', '"window":null,"records":[]}'),
    );
    expect((whole(b) as { batch: { records: unknown[] } }).batch.records).toEqual([]);
    expect(openCandleObject(b, KEY)).toBeUndefined();
  });

  it('declines what it does not take: other datasets, no records, JSON other than canonical, a wrong type', () => {
    const b = body(candles(10));
    const event = JSON.parse(b.toString()) as Record<string, unknown>;
    const cases = [
      body([], 'ohlcv'),
      body(
        [{ id: '1', ts: T0, side: 'buy', price: '1', amount: '1', cost: null, takerOrMaker: null }] as never,
        'trades',
      ),
      Buffer.from(JSON.stringify(event, null, 1)),
      Buffer.from(JSON.stringify({ ...event, type: 'other' })),
      Buffer.from(b.toString().replace('"schemaversion":"1"', '"schemaversion":"2"')),
      Buffer.from('not json'),
    ];
    for (const c of cases) expect(openCandleObject(c, KEY)).toBeUndefined();
  });
});
