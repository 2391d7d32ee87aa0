// The only module that imports ccxt; per-exchange bundles alias 'ccxt' to a module holding one exchange class.
import * as ccxt from 'ccxt';
import type { Exchange } from 'ccxt';

export type { Exchange, Market, OHLCV, Trade, Ticker, OrderBook, FundingRate } from 'ccxt';
export {
  BadRequest,
  BadSymbol,
  BadResponse,
  DDoSProtection,
  ExchangeError,
  ExchangeNotAvailable,
  NetworkError,
  NotSupported,
  OnMaintenance,
  RateLimitExceeded,
  RequestTimeout,
  AuthenticationError,
} from 'ccxt';

type ExchangeClass = new (config?: Record<string, unknown>) => Exchange;

/** The ccxt exchange ids this build contains (all of ccxt, or one in a per-exchange bundle). */
export function availableExchanges(): readonly string[] {
  return Object.keys(ccxt.exchanges);
}

/** A new instance of the ccxt class for `id`; throws when this build does not contain it. */
export function newExchange(id: string, config: Record<string, unknown>): Exchange {
  const cls = (ccxt.exchanges as unknown as Record<string, ExchangeClass | undefined>)[id];
  if (typeof cls !== 'function') {
    throw new Error(`ccxt exchange '${id}' is not in this build`);
  }
  return new cls(config);
}
