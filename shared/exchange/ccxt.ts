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

function classOf(id: string): ExchangeClass {
  const cls = (ccxt.exchanges as unknown as Record<string, ExchangeClass | undefined>)[id];
  if (typeof cls !== 'function') {
    throw new Error(`ccxt exchange '${id}' is not in this build`);
  }
  return cls;
}

/**
 * Settings ccxt only reads when a request is made, so that setting them on a made instance is the same as passing
 * them to its constructor.
 */
const REQUEST_TIME_SETTINGS = new Set(['enableRateLimit', 'timeout']);

/** Instances made ahead of need by prepareExchange, each handed out once. */
const prepared = new Map<string, Exchange>();

/**
 * Makes an instance of `id` ahead of need: the next newExchange(id) with request-time settings only takes it instead
 * of constructing one. A ccxt constructor builds every API method of the exchange (binance has over a thousand), so a
 * startup snapshot that holds a made instance saves that work at every cold start. Returns the instance.
 */
export function prepareExchange(id: string): Exchange {
  const ex = new (classOf(id))({});
  prepared.set(id, ex);
  return ex;
}

/** A new instance of the ccxt class for `id`; throws when this build does not contain it. */
export function newExchange(id: string, config: Record<string, unknown>): Exchange {
  const ready = prepared.get(id);
  if (ready && Object.keys(config).every((k) => REQUEST_TIME_SETTINGS.has(k))) {
    prepared.delete(id);
    Object.assign(ready, config);
    return ready;
  }
  return new (classOf(id))(config);
}
