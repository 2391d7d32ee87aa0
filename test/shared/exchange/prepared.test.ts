// ccxt instances made ahead of need (what a startup snapshot holds): handed out once, the same as a constructed one.
import { describe, expect, it } from 'vitest';
import { newExchange, prepareExchange, type Exchange } from '../../../shared/exchange/ccxt.ts';

/** What an instance is made of, functions aside (they are new closures in every instance). */
function shape(ex: Exchange) {
  const e = ex as unknown as Record<string, unknown>;
  return {
    keys: Object.keys(e).sort(),
    methods: Object.keys(e)
      .filter((k) => typeof e[k] === 'function')
      .sort(),
    data: JSON.stringify(
      ['id', 'has', 'urls', 'api', 'options', 'timeframes', 'features', 'fees', 'rateLimit', 'timeout'].map(
        (k) => e[k],
      ),
    ),
    enableRateLimit: e['enableRateLimit'],
    tokenBucket: JSON.stringify((e['throttler'] as { config?: unknown } | undefined)?.config),
  };
}

describe('prepareExchange', () => {
  it('hands its instance to the next newExchange with request-time settings, once, equal to a constructed one', () => {
    const config = { enableRateLimit: true, timeout: 4321 };
    const constructed = newExchange('okx', config);
    const ready = prepareExchange('okx');
    const taken = newExchange('okx', config);
    expect(taken).toBe(ready);
    expect(taken.timeout).toBe(4321);
    expect(shape(taken)).toEqual(shape(constructed));
    // Each API method is there, bound to its own instance.
    expect(typeof (taken as unknown as Record<string, unknown>)['publicGetMarketTicker']).toBe('function');
    // Handed out once: the next one is constructed.
    const next = newExchange('okx', config);
    expect(next).not.toBe(taken);
    expect(shape(next)).toEqual(shape(constructed));
  });

  it('is not used for settings the constructor reads (they are applied by constructing)', () => {
    const ready = prepareExchange('binance');
    const withOptions = newExchange('binance', { options: { defaultType: 'future' } });
    expect(withOptions).not.toBe(ready);
    expect((withOptions.options as Record<string, unknown>)['defaultType']).toBe('future');
    // The prepared instance was still there for request-time settings only.
    const plain = newExchange('binance', { timeout: 1000 });
    expect(plain).toBe(ready);
    expect((plain.options as Record<string, unknown>)['defaultType']).not.toBe('future');
    expect(plain.timeout).toBe(1000);
  });

  it('refuses an exchange the build does not contain', () => {
    expect(() => prepareExchange('no-such-exchange')).toThrow(/not in this build/);
  });
});
