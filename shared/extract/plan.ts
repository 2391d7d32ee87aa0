// Checks an extract request against this deployment's exchange and turns it into series to fetch.
import type { ExtractConfig } from '../config.ts';
import { BadRequestError } from '../errors.ts';
import type { ExtractRequest } from '../events/schemas.ts';
import type { Capabilities, Market } from '../exchange/client.ts';
import { parseTimeframe, type Timeframe } from '../time.ts';

/** One unit of work: a dataset for one symbol (or for a group of symbols for snapshot datasets). */
export type SeriesPlan =
  | { dataset: 'markets'; symbol: null; marketTypes: string[] }
  | { dataset: 'ohlcv'; symbol: string; market: Market; tf: Timeframe }
  | { dataset: 'trades'; symbol: string; market: Market }
  | { dataset: 'orderbook'; symbol: string; market: Market; depth: number }
  | { dataset: 'tickers'; symbol: null; symbols: string[] }
  | { dataset: 'funding'; symbol: null; symbols: string[] };

function isSwap(m: Market): boolean {
  return m !== undefined && (m.swap === true || m.type === 'swap');
}

/**
 * Validates the request against the exchange (its id, datasets, symbols, timeframe) and returns the series to
 * extract. Every problem is a 400 that names what the exchange does have.
 */
export function planRequest(
  req: ExtractRequest,
  cfg: ExtractConfig,
  caps: Capabilities,
  markets: Record<string, Market>,
  symbolsForId: (id: string) => string[] = () => [],
): SeriesPlan[] {
  if (req.exchange !== undefined && req.exchange !== cfg.exchange) {
    throw new BadRequestError(
      `this deployment serves '${cfg.exchange}', not '${req.exchange}': send the request to extract-${req.exchange}`,
      { exchange: cfg.exchange },
      'wrong_exchange',
    );
  }
  const supported = caps.datasets;
  const unsupported = req.datasets.filter((d) => !supported.includes(d));
  if (unsupported.length > 0) {
    throw new BadRequestError(
      `${cfg.exchange} does not provide ${unsupported.join(', ')}; it provides: ${supported.join(', ')}`,
      { supported },
      'unsupported_dataset',
    );
  }
  const symbols = [...new Set(req.symbols ?? [])];
  const unknown = symbols.filter((s) => markets[s] === undefined);
  if (unknown.length > 0) {
    const hint = unknown
      .map((s) => {
        const byId = symbolsForId(s)[0];
        return byId ? `${s} (did you mean ${byId}?)` : s;
      })
      .join(', ');
    throw new BadRequestError(
      `unknown symbol(s) on ${cfg.exchange}: ${hint}; use ccxt symbols such as BTC/USDT (spot) or BTC/USDT:USDT (swap), among the loaded market types ${cfg.marketTypes.join(', ')}`,
      { unknown },
      'bad_symbol',
    );
  }

  const plans: SeriesPlan[] = [];
  for (const dataset of req.datasets) {
    switch (dataset) {
      case 'markets':
        plans.push({ dataset, symbol: null, marketTypes: req.marketTypes ?? cfg.marketTypes });
        break;
      case 'ohlcv': {
        const frames = caps.timeframes;
        const tf = parseTimeframe(req.timeframe);
        if (!tf || (frames.length > 0 && !frames.includes(req.timeframe))) {
          throw new BadRequestError(
            `${cfg.exchange} has no timeframe '${req.timeframe}'; it has: ${frames.join(', ')}`,
            { timeframes: frames },
            'bad_timeframe',
          );
        }
        for (const symbol of symbols) plans.push({ dataset, symbol, market: markets[symbol] as Market, tf });
        break;
      }
      case 'trades':
        for (const symbol of symbols) plans.push({ dataset, symbol, market: markets[symbol] as Market });
        break;
      case 'orderbook':
        for (const symbol of symbols) {
          plans.push({
            dataset,
            symbol,
            market: markets[symbol] as Market,
            depth: req.depth ?? cfg.orderBookDepth,
          });
        }
        break;
      case 'tickers': {
        const chosen = symbols.length > 0 ? symbols : Object.keys(markets);
        plans.push({ dataset, symbol: null, symbols: chosen });
        break;
      }
      case 'funding': {
        // Funding exists for swaps only: of the symbols asked, the swaps; all loaded swaps when none were named.
        const swaps = Object.keys(markets).filter((s) => isSwap(markets[s]));
        const chosen = symbols.length > 0 ? symbols.filter((s) => isSwap(markets[s])) : swaps;
        if (chosen.length === 0) {
          throw new BadRequestError(
            symbols.length > 0
              ? `funding rates exist only for swap markets; none of ${symbols.join(', ')} is a swap (swaps look like BTC/USDT:USDT)`
              : `no swap markets are loaded on ${cfg.exchange}; add swap to MARKET_TYPES to extract funding rates`,
            undefined,
            symbols.length > 0 ? 'bad_symbol' : 'unsupported_dataset',
          );
        }
        plans.push({ dataset, symbol: null, symbols: chosen });
        break;
      }
    }
  }
  return plans;
}
