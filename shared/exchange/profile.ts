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

/**
 * Candles one request may ask for on a market of this kind, from ccxt's `features` (per type, and per linear or
 * inverse where the exchange splits contracts); undefined where ccxt does not say.
 */
export function featureCandleLimit(
  ex: object,
  market: { type?: unknown; linear?: boolean | null | undefined; inverse?: boolean | null | undefined },
): number | undefined {
  const features = (ex as { features?: Record<string, Record<string, unknown> | undefined> }).features;
  const byType = features?.[String(market.type)];
  const scoped = (market.linear ? byType?.['linear'] : market.inverse ? byType?.['inverse'] : byType) as
    Record<string, unknown> | undefined;
  const entry = (scoped?.['fetchOHLCV'] ?? byType?.['fetchOHLCV']) as { limit?: unknown } | undefined;
  return typeof entry?.limit === 'number' ? entry.limit : undefined;
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
  return {
    host: /https:\/\/([a-z0-9.-]+\.[a-z]{2,})/i.exec(api)?.[1],
    msPerRequest: ex.rateLimit || 1000,
    candleLimit: {
      spot: featureCandleLimit(ex, { type: 'spot' }),
      swap: featureCandleLimit(ex, { type: 'swap', linear: true }),
    },
  };
}
