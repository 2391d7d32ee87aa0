// canonicalJsonBytes writes the bytes of canonicalJson's text, for any value.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonBytes } from '../../../shared/events/canonical.ts';

function same(value: unknown): void {
  expect(canonicalJsonBytes(value, 8).equals(Buffer.from(canonicalJson(value), 'utf8'))).toBe(true);
}

describe('canonicalJsonBytes', () => {
  it('is Buffer.from(canonicalJson(value)) for any value', () => {
    fc.assert(
      fc.property(
        fc
          .anything({
            withBoxedValues: true,
            withDate: true,
            withNullPrototype: true,
            withSparseArray: true,
            withObjectString: true,
            withUnicodeString: true,
          })
          .filter((v) => v !== undefined && typeof v !== 'function' && typeof v !== 'symbol'),
        same,
      ),
      { numRuns: 2000 },
    );
  });

  it('records of one shape, of changing shapes, escapes, surrogates and what JSON leaves out', () => {
    same([
      { b: 1, a: '2', c: null },
      { b: 3, a: '4', c: null },
      { a: 5, b: 6, c: [undefined, () => 1, NaN, -0, Infinity] },
      { '10': 1, '2': 2, z: undefined, a: new Date(0) },
      { b: 'quote " backslash \\ tab \t nul \u0000', a: 'pair \ud83d\ude00 lone \ud800 é ü 中' },
      { b: 7, a: '8', c: null },
    ]);
    expect(() => canonicalJsonBytes({ a: 1n })).toThrow(TypeError);
    expect(() => canonicalJsonBytes([{ b: 1, a: 2n }])).toThrow(TypeError);
  });

  it('flat records written byte by byte: integers at the edges, ASCII text and what needs escaping', () => {
    const ints = [
      0,
      -0,
      1,
      -1,
      9,
      10,
      99,
      100,
      1_700_000_000_000,
      Number.MAX_SAFE_INTEGER,
      -Number.MAX_SAFE_INTEGER,
    ];
    const others = [2 ** 53, -(2 ** 53), 1e21, 1e-7, 0.1, -1.5, NaN, Infinity, -Infinity];
    same(ints.concat(others).map((n) => ({ ts: n, b: String(n), a: [n] })));
    same(ints.concat(others).map((n) => ({ ts: n, b: String(n) })));
    same([
      { close: '43000.01', closed: true, ts: 1, volume: null },
      { close: 'del \u007f tilde ~', closed: false, ts: 2, volume: '' },
      { close: 'é', closed: true, ts: 3, volume: 'quote " backslash \\ nl \n' },
      { close: '\u0000', closed: true, ts: 4, volume: '\ud83d\ude00 \udc00' },
      { close: 'x'.repeat(70_000), closed: true, ts: 5, volume: 'y' },
    ]);
  });

  it('a key of the last shape inherited, or listed in another order, is not taken for that shape', () => {
    const inherited = Object.create({ b: 5 }) as Record<string, unknown>;
    inherited['a'] = 1;
    same([{ a: 1, b: 2 }, inherited, { b: 3, a: 4 }, { a: 5, b: 6 }]);
    const nullProto = Object.assign(Object.create(null) as object, { a: 1, b: 2 });
    same([{ a: 1, b: 2 }, nullProto, { a: 1, b: 2, c: 3 }, { a: 1 }]);
  });

  it('is Buffer.from(canonicalJson(value)) for batches of flat records of one shape', () => {
    const scalar = fc.oneof(
      fc.string({ unit: 'grapheme-ascii' }),
      fc.string({ unit: 'binary' }),
      fc.stringMatching(/^-?\d{1,12}\.\d{1,8}$/),
      fc.integer(),
      fc.maxSafeInteger(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.constant(-0),
    );
    const record = fc.record({
      ts: scalar,
      open: scalar,
      high: scalar,
      low: scalar,
      close: scalar,
      volume: scalar,
      closed: scalar,
    });
    fc.assert(fc.property(fc.array(record, { maxLength: 40 }), same), { numRuns: 500 });
  });
});
