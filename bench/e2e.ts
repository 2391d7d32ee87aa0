// Benchmark: one schedule tick for 20 symbols x 2 datasets (1-minute candles and tickers) through the Broker, extract,
// load-raw, S3 notifications and transform, until the rows are committed in PostgreSQL. Writes bench/results/e2e.json.
// Usage: npm run bench:e2e (PostgreSQL from DATABASE_URL, else embedded)
import { CloudEvent } from 'cloudevents';
import { startChain } from '../test/support/chain.ts';
import { setLogLevel } from '../shared/log.ts';
import { writeResult } from './lib.ts';

const TICKS = Number(process.env['TICKS'] ?? 15);
const SYMBOLS = [
  'BTC/USDT',
  'ETH/USDT',
  'LTC/USDT',
  ...Array.from({ length: 17 }, (_, i) => `SYN${i + 1}/USDT`),
];
const MIN = 60_000;
const T0 = Math.floor(Date.now() / MIN) * MIN - 24 * 60 * MIN + 30_000;

setLogLevel('ERROR');
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
const chain = await startChain({ now: T0, initialLookback: 'PT1H', syntheticSymbols: 17 });
const known = (await chain.db.pool.query(`SELECT 1`)).rowCount;
if (known !== 1) throw new Error('database not ready');

/** Publishes a PingSource-style tick at `at` and waits until its candles and tickers are all in PostgreSQL. */
async function tick(at: number): Promise<number> {
  chain.setNow(at);
  const open = Math.floor(at / MIN) * MIN;
  const started = performance.now();
  chain.broker.publish(
    new CloudEvent({
      id: `bench-${at}`,
      source: '/apis/v1/namespaces/bench/pingsources/bench-ohlcv-tickers',
      type: 'dev.knative.sources.ping',
      time: new Date(at).toISOString(),
      data: JSON.stringify({ datasets: ['ohlcv', 'tickers'], symbols: SYMBOLS, timeframe: '1m' }),
      exchange: 'binance',
    }),
  );
  for (;;) {
    const { rows } = await chain.db.pool.query<{ closed: number; open: number; tickers: number }>(
      `SELECT (SELECT count(*) FROM ohlcv WHERE open_time = $1 AND closed)::int AS closed,
              (SELECT count(*) FROM ohlcv WHERE open_time = $2)::int AS open,
              (SELECT count(DISTINCT symbol) FROM ticker_snapshots WHERE ts >= $3)::int AS tickers`,
      [new Date(open - MIN), new Date(open), new Date(at - 1000)],
    );
    const r = rows[0]!;
    if (r.closed === SYMBOLS.length && r.open === SYMBOLS.length && r.tickers === SYMBOLS.length)
      return performance.now() - started;
    if (performance.now() - started > 60_000)
      throw new Error(`tick at ${new Date(at).toISOString()} incomplete: ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 5));
  }
}

const first = await tick(T0);
const steady: number[] = [];
for (let i = 1; i <= TICKS; i++) {
  steady.push(await tick(T0 + i * MIN));
  await chain.settle();
}
const rows = (await chain.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ohlcv`)).rows[0]!.n;
const deadLetters = chain.reports.filter((r) => r.deadLettered).length;
await chain.close();

const sorted = [...steady].sort((a, b) => a - b);
const pick = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
writeResult('e2e', {
  what: 'one tick: 20 symbols x (1m OHLCV + ticker) -> Broker -> extract -> load-raw -> S3 -> notification -> transform -> rows committed',
  services: `in one process: local Broker, fake binance, s3rver, PostgreSQL ${chain.db.source}`,
  firstTickMs: Math.round(first),
  firstTickRows: `${SYMBOLS.length * 61} candles (1 hour of lookback each) + ${SYMBOLS.length} tickers`,
  steadyTicks: TICKS,
  steadyMs: { p50: pick(0.5), p90: pick(0.9), max: Math.round(sorted.at(-1)!) },
  ohlcvRows: rows,
  deadLetters,
  goal: '< 2000 ms per tick',
  met: first < 2000 && sorted.at(-1)! < 2000,
});
process.exit(0);
