// An offline exchange for binance, bybit, okx, kraken, kucoin, gate and bitget: each one's public REST API in its
// own wire format (scripts/offline/venues/), deterministic data, the instruments of the recorded fixtures, and
// injectable faults. ccxt's real code talks to it.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError, MIN, RawJson, loadMarkets, type Market, type Venue } from './core.ts';
import { binance, binanceWeight } from './venues/binance.ts';
import { bitget } from './venues/bitget.ts';
import { bybit } from './venues/bybit.ts';
import { gate } from './venues/gate.ts';
import { kraken } from './venues/kraken.ts';
import { kucoin } from './venues/kucoin.ts';
import { okx } from './venues/okx.ts';

export { binanceWeight };

const VENUES = { binance, bybit, okx, kraken, kucoin, gate, bitget } satisfies Record<string, Venue>;

/** Exchanges the fake speaks. */
export type FakeExchangeId = keyof typeof VENUES;

/** The exchanges the fake speaks, in a stable order. */
export const FAKE_EXCHANGES = Object.keys(VENUES) as FakeExchangeId[];

/** Whether the fake speaks `id` (a ccxt exchange id). */
export function isFakeExchangeId(id: string): id is FakeExchangeId {
  return Object.hasOwn(VENUES, id);
}

/** One answered request, with the body sent. */
export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  at: number;
  status: number;
  body: string;
}

/** A fault: matching requests get this answer instead of the real one. */
export interface FaultRule {
  pathPrefix?: string;
  match?: (req: { path: string; query: Record<string, string> }) => boolean;
  status?: number;
  body?: string;
  headers?: Record<string, string>;
  /** How many matching requests it affects (default: all). */
  times?: number;
  delayMs?: number;
  /** Send a cut-off JSON body with status 200. */
  truncate?: boolean;
}

/** A running fake exchange. */
export interface FakeExchange {
  url: string;
  exchange: FakeExchangeId;
  requests: FakeRequest[];
  addFault(rule: FaultRule): void;
  clearFaults(): void;
  setNow(ms: number): void;
  /** Binance only, with `weightLimits`: request weight per calendar minute, and the 429/418 answers given. */
  readonly limits: { usedByMinute: Map<string, number>; tooMany: number; banned: number };
  close(): Promise<void>;
}

/** `n` extra spot markets SYN1/USDT ... made from BTC/USDT (for benchmarks with many symbols). */
function syntheticSpot(markets: Market[], n: number): Market[] {
  const model = markets.find((m) => m.type === 'spot' && m.symbol === 'BTC/USDT');
  if (!model || n <= 0) return markets;
  const extra = Array.from({ length: n }, (_, i) => {
    const base = `SYN${i + 1}`;
    return {
      ...model,
      id: `${base}USDT`,
      symbol: `${base}/USDT`,
      base,
      info: { ...model.info, symbol: `${base}USDT`, baseAsset: base },
    };
  });
  return [...markets, ...extra];
}

function faultBody(venue: Venue, status: number, now: number): string {
  if (status === 418) return venue.errorBody(venue.codes.tooMany, 'Way too many requests; IP banned', now);
  if (status === 429) return venue.errorBody(venue.codes.tooMany, 'Too many requests', now);
  if (status === 451)
    return venue.errorBody(
      0,
      'Service unavailable from a restricted location according to b. Eligibility in Terms.',
      now,
    );
  return venue.errorBody(venue.codes.failure, 'Service temporarily unavailable', now);
}

/** Starts a fake exchange on loopback (port 0 = any free port). */
export async function startFakeExchange(opts: {
  exchange: FakeExchangeId;
  now?: number;
  port?: number;
  host?: string;
  /** Binance only: extra spot markets SYN1/USDT, SYN2/USDT, ... */
  syntheticSymbols?: number;
  /**
   * Binance only: enforce IP weight limits per calendar minute as Binance does: over the limit a 429 with
   * Retry-After; a request before that Retry-After has passed gets a 418 (banned for 2 minutes).
   */
  weightLimits?: { spot: number; futures: number };
}): Promise<FakeExchange> {
  const { exchange } = opts;
  if (!isFakeExchangeId(exchange))
    throw new Error(
      `no offline simulator for '${String(exchange)}' (there are: ${FAKE_EXCHANGES.join(', ')})`,
    );
  const markets = syntheticSpot(
    loadMarkets(exchange),
    exchange === 'binance' ? (opts.syntheticSymbols ?? 0) : 0,
  );
  const venue: Venue = VENUES[exchange];
  const routes = venue.routes(markets);
  let fixedNow = opts.now;
  let faults: Array<FaultRule & { left: number }> = [];
  const requests: FakeRequest[] = [];
  const weights: number[] = [];
  const limits = { usedByMinute: new Map<string, number>(), tooMany: 0, banned: 0 };
  let retryAfterUntil = 0;
  let bannedUntil = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams.entries());
    const path = url.pathname;
    const now = fixedNow ?? Date.now();
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      requests.push({ method: req.method ?? 'GET', path, query, at: Date.now(), status, body });
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body);
    };
    const fault = faults.find(
      (f) =>
        f.left > 0 &&
        (f.pathPrefix === undefined || path.startsWith(f.pathPrefix)) &&
        (f.match === undefined || f.match({ path, query })),
    );
    if (fault) {
      fault.left -= 1;
      if (fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault.truncate) return send(200, '{"code":0,"data":[["17', fault.headers);
      if (fault.status !== undefined)
        return send(fault.status, fault.body ?? faultBody(venue, fault.status, now), fault.headers);
    }
    if (exchange === 'binance' && opts.weightLimits && path !== '/api/v3/time' && path !== '/api/v3/ping') {
      const at = Date.now();
      if (at < bannedUntil || at < retryAfterUntil) {
        bannedUntil = Math.max(bannedUntil, at + 120_000);
        limits.banned += 1;
        return send(
          418,
          venue.errorBody(-1003, `Way too many requests; IP banned until ${bannedUntil}.`, now),
          { 'retry-after': String(Math.ceil((bannedUntil - at) / 1000)) },
        );
      }
      const { pool, weight } = binanceWeight(path, query);
      const key = `${pool} ${new Date(Math.floor(at / MIN) * MIN).toISOString()}`;
      const used = (limits.usedByMinute.get(key) ?? 0) + weight;
      const limit = pool === 'spot' ? opts.weightLimits.spot : opts.weightLimits.futures;
      if (used > limit) {
        retryAfterUntil = (Math.floor(at / MIN) + 1) * MIN;
        limits.tooMany += 1;
        return send(
          429,
          venue.errorBody(
            -1003,
            `Too many requests; current limit of IP is ${limit} requests per minute.`,
            now,
          ),
          { 'retry-after': String(Math.ceil((retryAfterUntil - at) / 1000)) },
        );
      }
      limits.usedByMinute.set(key, used);
    }
    const route = routes[path];
    if (!route) {
      process.stderr.write(`fake ${exchange}: no route for ${req.method} ${path}\n`);
      return send(
        404,
        venue.errorBody(venue.codes.notFound, venue.notFoundMessage ?? `no such endpoint ${path}`, now),
      );
    }
    try {
      const answer = route(query, now);
      const body = answer instanceof RawJson ? answer.text : JSON.stringify(answer);
      const minute = Math.floor(Date.now() / MIN);
      weights[minute] = (weights[minute] ?? 0) + 1;
      send(200, body, exchange === 'binance' ? { 'x-mbx-used-weight-1m': String(weights[minute]) } : {});
    } catch (err) {
      if (err instanceof ApiError) return send(err.status, venue.errorBody(err.code, err.message, now));
      send(500, venue.errorBody(venue.codes.failure, String(err), now));
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    exchange,
    requests,
    addFault(rule) {
      faults.push({ ...rule, left: rule.times ?? Infinity });
    },
    clearFaults() {
      faults = [];
    },
    setNow(ms) {
      fixedNow = ms;
    },
    limits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
