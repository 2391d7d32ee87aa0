// Planning an extract request against what the exchange offers: every refusal is a 400 naming what it does have.
import { describe, expect, it } from 'vitest';
import { loadExtractConfig } from '../../../shared/config.ts';
import { BadRequestError } from '../../../shared/errors.ts';
import { extractRequestSchema } from '../../../shared/events/schemas.ts';
import type { Capabilities, Market } from '../../../shared/exchange/client.ts';
import { planRequest } from '../../../shared/extract/plan.ts';

const cfg = loadExtractConfig({ EXCHANGE: 'kraken', K_SINK: 'http://127.0.0.1:9/', CURSOR_STORE: 'none' });
const caps: Capabilities = {
  datasets: ['markets', 'ohlcv', 'trades', 'tickers', 'orderbook'],
  timeframes: ['1m', '5m', '1h', '1d'],
  many: { tickers: true, funding: false },
};
const markets = {
  'BTC/USDT': { symbol: 'BTC/USDT', id: 'XBTUSDT', type: 'spot', spot: true, swap: false },
} as unknown as Record<string, Market>;

function refusal(body: unknown, symbolsForId?: (id: string) => string[]): BadRequestError {
  try {
    planRequest(extractRequestSchema.parse(body), cfg, caps, markets, symbolsForId);
  } catch (err) {
    if (err instanceof BadRequestError) return err;
    throw err;
  }
  throw new Error('planned without a refusal');
}

describe('planRequest', () => {
  const cases = [
    {
      name: 'a dataset the exchange lacks names what it has',
      body: { datasets: ['funding'] },
      want: /kraken does not provide funding; it provides: markets, ohlcv, trades, tickers, orderbook/,
    },
    {
      name: 'a timeframe the exchange lacks names its timeframes',
      body: { datasets: ['ohlcv'], symbols: ['BTC/USDT'], timeframe: '3m' },
      want: /kraken has no timeframe '3m'; it has: 1m, 5m, 1h, 1d/,
    },
    {
      name: 'a symbol in the exchange notation suggests the ccxt one',
      body: { datasets: ['ohlcv'], symbols: ['XBTUSDT'] },
      want: /unknown symbol\(s\) on kraken: XBTUSDT \(did you mean BTC\/USDT\?\)/,
      symbolsForId: (id: string) => (id === 'XBTUSDT' ? ['BTC/USDT'] : []),
    },
  ];
  it.each(cases)('$name', ({ body, want, symbolsForId }) => {
    const err = refusal(body, symbolsForId);
    expect(err.status).toBe(400);
    expect(err.message).toMatch(want);
  });

  it('plans one series per symbol for windowed datasets and one group for snapshots', () => {
    const plans = planRequest(
      extractRequestSchema.parse({ datasets: ['ohlcv', 'tickers'], symbols: ['BTC/USDT'] }),
      cfg,
      caps,
      markets,
    );
    expect(plans.map((p) => [p.dataset, p.symbol])).toEqual([
      ['ohlcv', 'BTC/USDT'],
      ['tickers', null],
    ]);
  });
});
