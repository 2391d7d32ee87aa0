// Benchmark: a long OHLCV backfill against a local exchange enforcing Binance's IP weight limits (429, then 418):
// the share of the budget used per minute and the 429/418 received. Writes bench/results/rate-limit.json.
// Usage: npm run bench:rate-limit [-- DURATION_S=150 SPOT_LIMIT=600 via env]
import { loadExtractConfig } from '../shared/config.ts';
import { extractRequestSchema } from '../shared/events/schemas.ts';
import { ExchangeClient } from '../shared/exchange/client.ts';
import { runExtract } from '../shared/extract/run.ts';
import { NoCursorStore } from '../shared/lake/cursors.ts';
import { log, setLogLevel } from '../shared/log.ts';
import { startFakeExchange } from '../scripts/offline/fake-exchange.ts';
import { countingSink, writeResult } from './lib.ts';

const DURATION_MS = Number(process.env['DURATION_S'] ?? 150) * 1000;
/** Binance spot's IP limit is 6,000 weight a minute; a smaller one makes the same behaviour quicker to reach. */
const SPOT_LIMIT = Number(process.env['SPOT_LIMIT'] ?? 600);
const PAGE = 100;
const SYMBOLS = ['BTC/USDT', 'ETH/USDT'];

const fake = await startFakeExchange({
  exchange: 'binance',
  weightLimits: { spot: SPOT_LIMIT, futures: 2400 },
});
const sink = await countingSink();

// ccxt counts Binance spot weight at 0.2 per unit (1,200 cost a minute = 6,000 weight): the budget in its units.
const budget = Math.floor(SPOT_LIMIT * 0.2);
const cfg = loadExtractConfig({
  EXCHANGE: 'binance',
  EXCHANGE_API_BASE_URL: fake.url,
  K_SINK: sink.url,
  CURSOR_STORE: 'none',
  WEIGHT_BUDGET_PER_MINUTE: String(budget),
  OHLCV_PAGE_LIMIT: String(PAGE),
  MAX_CATCHUP: '3650d',
});
setLogLevel('ERROR');
const client = new ExchangeClient(cfg);
const deps = { cfg, client, cursors: new NoCursorStore(), now: () => Date.now(), log };

// Backfill backwards from now, one request of 10 pages per symbol at a time, as `npm run backfill` sends them.
const started = Date.now();
let until = Math.floor(started / 60_000) * 60_000;
let candles = 0;
let requests = 0;
let failed = 0;
while (Date.now() - started < DURATION_MS) {
  const since = until - 10 * PAGE * 60_000;
  const req = extractRequestSchema.parse({
    datasets: ['ohlcv'],
    symbols: SYMBOLS,
    timeframe: '1m',
    since,
    until,
  });
  const summary = await runExtract(req, { requestId: `bench-${requests}` }, deps).catch((err: unknown) => {
    failed += 1;
    console.error((err as Error).message);
    return undefined;
  });
  requests += 1;
  candles += summary?.series.reduce((s, x) => s + x.records, 0) ?? 0;
  until = since;
}
const elapsedMs = Date.now() - started;

// Per calendar minute, as the exchange counted it; the first and last minutes are partial and left out.
const minutes = [...fake.limits.usedByMinute.entries()]
  .filter(([k]) => k.startsWith('spot '))
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([k, used]) => ({ minute: k.slice(5), used, share: Number((used / SPOT_LIMIT).toFixed(3)) }));
const full = minutes.slice(1, -1);
const shares = full.map((m) => m.share);
writeResult('rate-limit', {
  exchange: 'binance (local, Binance weights: klines 2, exchangeInfo 20; limit per calendar minute)',
  spotLimitPerMinute: SPOT_LIMIT,
  clientBudgetPerMinute: `${budget} ccxt cost units (= ${SPOT_LIMIT} weight)`,
  durationS: Math.round(elapsedMs / 1000),
  extractRequests: requests,
  failedRequests: failed,
  candles,
  eventsDelivered: sink.received(),
  answers429: fake.limits.tooMany,
  answers418: fake.limits.banned,
  minutes,
  usedShareOfFullMinutes: {
    min: Math.min(...shares),
    mean: Number((shares.reduce((a, b) => a + b, 0) / shares.length).toFixed(3)),
  },
  goal: '>= 0.9 of the budget used, no 429',
  met: shares.length > 0 && Math.min(...shares) >= 0.9 && fake.limits.tooMany === 0,
});
await sink.close();
await fake.close();
process.exit(0);
