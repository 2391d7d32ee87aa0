// canonicalJsonBytes writes the bytes of canonicalJson's text, for any value.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonBytes } from '../../../shared/events/batches.ts';

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
  });
});
