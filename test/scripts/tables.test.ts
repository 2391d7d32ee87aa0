// The two tables scripts read: knative/exchanges.txt through its one parser, and the table of functions.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exchangeIds, parseExchanges } from '../../scripts/lib/exchanges.mjs';
import { FUNCTIONS, bundleNames, entryOf, functionNamed } from '../../scripts/lib/functions.mjs';

const root = join(import.meta.dirname, '../..');

describe('parseExchanges', () => {
  const cases = [
    {
      name: 'ids with symbols, comments and blank lines',
      input: '# deployed\n\nbinance BTC/USDT,BTC/USDT:USDT  # spot and swap\nkraken   BTC/USDT\n',
      want: [
        { id: 'binance', symbols: ['BTC/USDT', 'BTC/USDT:USDT'] },
        { id: 'kraken', symbols: ['BTC/USDT'] },
      ],
    },
    { name: 'an id without symbols', input: 'okx\n', want: [{ id: 'okx', symbols: [] }] },
  ];
  it.each(cases)('$name', ({ input, want }) => expect(parseExchanges(input)).toEqual(want));

  const bad = [
    {
      name: 'an id that is not a ccxt id',
      input: 'Binance BTC/USDT',
      error: /'Binance' is not a ccxt exchange id/,
    },
    { name: 'an id listed twice', input: 'okx\nokx ETH/USDT', error: /'okx' is listed twice/ },
  ];
  it.each(bad)('refuses $name, naming the file', ({ input, error }) => {
    expect(() => parseExchanges(input, 'x.txt')).toThrow(error);
    expect(() => parseExchanges(input, 'x.txt')).toThrow(/^x\.txt: /);
  });

  it('reads the committed knative/exchanges.txt', () => {
    expect(exchangeIds()).toContain('binance');
  });
});

describe('the table of functions', () => {
  it('has an entry module and a manifest for every function', () => {
    for (const fn of FUNCTIONS) {
      expect(existsSync(entryOf(fn)), fn.name).toBe(true);
      expect(existsSync(join(root, 'knative/base', fn.manifest)), fn.name).toBe(true);
      expect(functionNamed(fn.name)).toBe(fn);
    }
    expect(functionNamed('nope')).toBeUndefined();
  });

  it('names one bundle per exchange for extract and one per other function', () => {
    expect(bundleNames(['binance', 'okx'])).toEqual([
      'extract-binance',
      'extract-okx',
      'load-raw',
      'transform',
      'dead-letter',
      'status',
    ]);
  });
});
