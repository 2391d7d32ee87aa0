// What ccxt knows of an exchange without calling it: the ids in this build, its API host, pace and page limits.
import { availableExchanges, newExchange } from './ccxt.ts';

/** The ccxt exchange ids this build contains (all of ccxt, or one in a per-exchange bundle). */
export const exchangeIds = availableExchanges;

/** An exchange as ccxt describes it: host, nominal pace, and candles per request by market kind. */
export interface ExchangeProfile {
  /** The first https host of its API URLs (e.g. `api.binance.com`), templates such as `api.{hostname}` filled. */
  host: string | undefined;
  /** ccxt's `rateLimit`: milliseconds between two calls of cost 1. */
  msPerRequest: number;
  /** Candles one request may ask for, from ccxt's `features` (spot, and swaps: linear where it splits them). */
  candleLimit: { spot: number | undefined; swap: number | undefined };
}

/** The profile of `id`; undefined for an id ccxt (this build) does not know. */
export function exchangeProfile(id: string): ExchangeProfile | undefined {
  let ex;
  try {
    ex = newExchange(id, {}) as unknown as {
      urls: { api?: unknown };
      hostname?: unknown;
      rateLimit?: number;
      features?: Record<string, Record<string, unknown> | undefined>;
    };
  } catch {
    return undefined;
  }
  const hostname = typeof ex.hostname === 'string' ? ex.hostname : '';
  const api = JSON.stringify(ex.urls.api ?? {}).replaceAll('{hostname}', hostname);
  const limitOf = (kind: 'spot' | 'swap') => {
    const byType = ex.features?.[kind];
    const scoped = (kind === 'spot' ? byType : (byType?.['linear'] ?? byType)) as
      Record<string, unknown> | undefined;
    const limit = (scoped?.['fetchOHLCV'] as { limit?: unknown } | undefined)?.limit;
    return typeof limit === 'number' ? limit : undefined;
  };
  return {
    host: /https:\/\/([a-z0-9.-]+\.[a-z]{2,})/i.exec(api)?.[1],
    msPerRequest: ex.rateLimit || 1000,
    candleLimit: { spot: limitOf('spot'), swap: limitOf('swap') },
  };
}
