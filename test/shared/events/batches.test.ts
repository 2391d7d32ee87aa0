// Tests of deterministic ids and size-bounded chunking of extract batches.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PipelineError } from '../../../shared/errors.ts';
import { buildBatchEvents, chunkRecords } from '../../../shared/events/batches.ts';
import { canonicalJson, stableHash } from '../../../shared/events/canonical.ts';
import { toStructured } from '../../../shared/events/cloudevent.ts';
import { extractBatchSchema, type OhlcvRecord } from '../../../shared/events/schemas.ts';

function candles(n: number, start = Date.UTC(2024, 0, 1)): OhlcvRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    ts: start + i * 60_000,
    open: `4200${i % 10}.12345678`,
    high: `4210${i % 10}.00000000`,
    low: `4190${i % 10}.10000000`,
    close: `4205${i % 10}.55000000`,
    volume: `${i}.00100000`,
    closed: i < n - 1,
  }));
}

const header = {
  exchange: 'binance',
  dataset: 'ohlcv' as const,
  symbol: 'BTC/USDT',
  timeframe: '1m',
  window: { since: 0, until: 1 },
  requestId: 'r1',
  extractedAt: 1_700_000_000_000,
};

describe('canonical JSON and hashes', () => {
  it('ignores key order', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: 3 } })).toBe('{"a":{"c":3,"d":2},"b":1}');
    expect(stableHash({ a: 1, b: 2 })).toBe(stableHash({ b: 2, a: 1 }));
    expect(stableHash({ a: 1 })).not.toBe(stableHash({ a: 2 }));
  });

  /** The definition: JSON.stringify with a replacer that returns each object with its keys sorted. */
  const reference = (value: unknown) =>
    JSON.stringify(value, (_k, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(
            Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
          )
        : v,
    );

  it('writes exactly what JSON.stringify with sorted keys writes, for any value', () => {
    fc.assert(
      fc.property(
        fc.anything({
          withBoxedValues: true,
          withDate: true,
          withNullPrototype: true,
          withSparseArray: true,
          withObjectString: true,
          withUnicodeString: true,
        }),
        (value) => {
          expect(canonicalJson(value)).toBe(reference(value));
        },
      ),
      { numRuns: 2000 },
    );
    const special = {
      z: [undefined, () => 1, NaN, -0, Infinity],
      y: undefined,
      '10': 1,
      '2': 2,
      a: new Date(0),
    };
    expect(canonicalJson(special)).toBe(reference(special));
    expect(() => canonicalJson({ a: 1n })).toThrow(TypeError);
  });
});

describe('chunkRecords', () => {
  it('keeps every record once, in order, within the budget', () => {
    const recs = candles(500);
    const chunks = chunkRecords(recs, 10_000, 500);
    expect(chunks.flat()).toEqual(recs);
    for (const c of chunks) expect(Buffer.byteLength(JSON.stringify(c))).toBeLessThanOrEqual(9_500);
  });
  it('gives one empty chunk for an empty series', () => {
    expect(chunkRecords([], 1000, 100)).toEqual([[]]);
  });
  it('refuses a record larger than the budget instead of dropping it', () => {
    expect(() => chunkRecords([{ big: 'x'.repeat(2000) }], 1000, 100)).toThrow(/MAX_EVENT_BYTES/);
  });
  it('refuses it as a permanent error: a 4xx that is dead-lettered, never retried', () => {
    let caught: unknown;
    try {
      chunkRecords([{ big: 'x'.repeat(2000) }], 1000, 100);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PipelineError);
    expect(caught).toMatchObject({ code: 'record_too_large', status: 422, transient: false });
  });
});

describe('buildBatchEvents', () => {
  const cases = [
    { name: 'small series, one event', n: 3, max: 256 * 1024 },
    { name: 'large series at 16 KiB', n: 2_000, max: 16 * 1024 },
    { name: 'large series at 4 KiB', n: 300, max: 4 * 1024 },
  ];
  it.each(cases)('$name: events within the limit, valid, joined equal to the whole', ({ n, max }) => {
    const recs = candles(n);
    const events = buildBatchEvents(header, recs, max);
    const joined: OhlcvRecord[] = [];
    events.forEach((e, i) => {
      expect(Buffer.byteLength(toStructured(e).body)).toBeLessThanOrEqual(max);
      expect(e.validate()).toBe(true);
      const data = extractBatchSchema.parse(e.data);
      expect(data.chunk).toEqual({ index: i, count: events.length });
      expect(e.id).toBe(`${data.batchId}.${i}`);
      joined.push(...(data.records as OhlcvRecord[]));
    });
    expect(joined).toEqual(recs);
  });
  it('same data gives the same ids; other data other ids', () => {
    const a = buildBatchEvents(header, candles(50), 4096).map((e) => e.id);
    const b = buildBatchEvents({ ...header, requestId: 'r2', extractedAt: 5 }, candles(50), 4096).map(
      (e) => e.id,
    );
    const c = buildBatchEvents(header, candles(51), 4096).map((e) => e.id);
    expect(b).toEqual(a);
    expect(c[0]).not.toBe(a[0]);
  });
});
