// Replays ccxt's recorded exchange replies (test/fixtures/ccxt-static) through ccxt and our normalisation.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Dataset, RecordOf } from '../../shared/events/schemas.ts';
import type { FundingRate, OHLCV, OrderBook, Ticker, Trade } from '../../shared/exchange/ccxt.ts';
import { MARKET_TYPES } from '../../shared/config.ts';
import { pipelineExchange } from '../../shared/exchange/client.ts';
import {
  RawDecimals,
  toFunding,
  toOhlcv,
  toOrderBookLevels,
  toTicker,
  toTrades,
} from '../../shared/exchange/normalize.ts';
import { parseTimeframe } from '../../shared/time.ts';

/** One recorded call: its unified input, the raw exchange reply and ccxt's parsed result. */
export interface Entry {
  description: string;
  method: string;
  input: unknown[];
  httpResponse: unknown;
  parsedResponse: unknown;
}
interface Fixture {
  markets: Record<string, unknown>;
  responses: Record<string, Entry[]>;
}

/** The recorded methods behind the datasets extract serves (markets have no recorded replies). */
export const METHODS = [
  'fetchOHLCV',
  'fetchTrades',
  'fetchOrderBook',
  'fetchTicker',
  'fetchTickers',
  'fetchFundingRate',
  'fetchFundingRates',
];

/** The exchanges with recorded replies in test/fixtures/ccxt-static. */
export const EXCHANGES = [
  'binance',
  'bybit',
  'okx',
  'kraken',
  'kucoin',
  'gate',
  'bitget',
  'coinbase',
] as const;

/** The fixtures of every exchange in EXCHANGES. */
export const fixtures: Record<string, Fixture> = Object.fromEntries(
  EXCHANGES.map((id) => [
    id,
    JSON.parse(
      readFileSync(join(import.meta.dirname, '../fixtures/ccxt-static', `${id}.json`), 'utf8'),
    ) as Fixture,
  ]),
);

/**
 * Recorded replies the conformance cannot run, and why. A rule without `input` covers every entry of the method.
 * The tests assert that every recorded entry is either a case or matched here, and that every rule matches.
 */
export const EXCLUSIONS: ReadonlyArray<{
  exchange: string;
  method: string;
  input?: unknown[];
  reason: string;
}> = [
  {
    exchange: 'binance',
    method: 'fetchTicker',
    input: ['AAPL/USDC'],
    reason:
      "symbol not in the fixture's markets (a tokenized stock quoted by /sapi/v1/equity; ccxt answers BadSymbol before any request)",
  },
  { exchange: 'bybit', method: 'fetchOpenInterest', reason: 'open interest is not a dataset extract serves' },
  { exchange: 'okx', method: 'fetchOpenInterest', reason: 'open interest is not a dataset extract serves' },
  {
    exchange: 'bitget',
    method: 'fetchOpenInterest',
    reason: 'open interest is not a dataset extract serves',
  },
];

const excludedBy = (exchange: string, method: string, e: Entry) =>
  EXCLUSIONS.find(
    (x) =>
      x.exchange === exchange &&
      x.method === method &&
      (x.input === undefined || JSON.stringify(x.input) === JSON.stringify(e.input)),
  );

/** Every recorded entry of every fixture, with the exclusion that applies to it, if any. */
export const recordedEntries = Object.entries(fixtures).flatMap(([exchange, f]) =>
  Object.entries(f.responses).flatMap(([method, entries]) =>
    entries.map((entry) => ({ exchange, method, entry, excluded: excludedBy(exchange, method, entry) })),
  ),
);

/** Recorded entries for the datasets extract serves, minus EXCLUSIONS. */
export const recordedCases = recordedEntries
  .filter((e) => e.excluded === undefined && METHODS.includes(e.method))
  .map(({ exchange, method, entry }) => ({
    name: `${exchange} ${method} ${JSON.stringify(entry.input)}: ${entry.description}`,
    exchange,
    entry,
  }));

/** The decimal text is a token of the raw reply exactly as written: a quoted string or a bare JSON number. */
export function inReply(value: string, raw: string): boolean {
  const escaped = value.replace(/[.+-]/g, '\\$&');
  return new RegExp(`"${escaped}"|[:,[]\\s*${escaped}(?=\\s*[,\\]}])`).test(raw);
}

/** A server answering every request with the reply set last, as the recorded exchange did; it logs request URLs. */
export async function startReplayServer(): Promise<{
  url: string;
  requests: string[];
  reply(body: string): void;
  close(): Promise<void>;
}> {
  let body = '{}';
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '/');
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    reply: (b) => {
      body = b;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * Runs the recorded call through ccxt as the client sets it up (pipelineExchange: API URLs on `replay`; the fixture's
 * markets), returning ccxt's value and the raw bodies it was parsed from.
 */
export async function replay(
  exchange: string,
  entry: Entry,
  server: { url: string; reply(body: string): void },
) {
  const ex = pipelineExchange(exchange, {
    apiBaseUrl: server.url,
    marketTypes: MARKET_TYPES,
  }) as unknown as Record<string, unknown> & { setMarkets(m: unknown): void };
  ex.setMarkets(fixtures[exchange]!.markets);
  const body = JSON.stringify(entry.httpResponse);
  server.reply(body);
  const method = ex[entry.method] as (...a: unknown[]) => Promise<unknown>;
  return { value: await method.apply(ex, entry.input), raw: [body] };
}

/** The pipeline records extract would make from a recorded call, with the batch fields they belong to. */
export function recordsOf(
  entry: Entry,
  value: unknown,
  raw: string[],
  now: number,
): { dataset: Dataset; symbol: string | null; timeframe: string | null; records: RecordOf[Dataset][] } {
  const symbol = typeof entry.input[0] === 'string' ? entry.input[0] : null;
  const texts = new RawDecimals(raw);
  switch (entry.method) {
    case 'fetchOHLCV': {
      const tf = String(entry.input[1] ?? '1m');
      return {
        dataset: 'ohlcv',
        symbol,
        timeframe: tf,
        records: (value as OHLCV[]).map((r) => toOhlcv(r, parseTimeframe(tf)!, now, texts)),
      };
    }
    case 'fetchTrades':
      return { dataset: 'trades', symbol, timeframe: null, records: toTrades(value as Trade[], texts) };
    case 'fetchOrderBook':
      return {
        dataset: 'orderbook',
        symbol,
        timeframe: null,
        records: toOrderBookLevels(value as OrderBook, 1000, now, texts),
      };
    case 'fetchTicker':
      return {
        dataset: 'tickers',
        symbol: null,
        timeframe: null,
        records: [toTicker(value as Ticker, now, String(symbol), texts)],
      };
    case 'fetchTickers':
      return {
        dataset: 'tickers',
        symbol: null,
        timeframe: null,
        records: Object.values(value as Record<string, Ticker>).map((t) =>
          toTicker(t, now, String(t.symbol), texts),
        ),
      };
    default: {
      const list =
        entry.method === 'fetchFundingRate'
          ? [value as FundingRate]
          : Object.values(value as Record<string, FundingRate>);
      return {
        dataset: 'funding',
        symbol: null,
        timeframe: null,
        records: list.map((f) => toFunding(f, now, String(f.symbol), texts)),
      };
    }
  }
}
