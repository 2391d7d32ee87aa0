// `npm run backfill`: an exchange, symbols, a timeframe and a date range, sent as extract requests through the Broker
// (the schedule's event path), paced by the exchange's limits, with a progress bar; re-running resumes.
import { planChunks } from '../shared/ops/backfill.ts';
import { parseTimeframe } from '../shared/time.ts';
import { PACING_FLAGS, pacing, runChunks } from './lib/chunks.ts';
import { UsageError, instantFlag, operatorEnv, runOperator } from './lib/ops.ts';

const USAGE = `npm run backfill -- --exchange=binance --symbols=BTC/USDT,ETH/USDT --timeframe=1h --from=2026-01-01 [--to=2026-02-01]
  --chunk=N          candles per extract request (default: 10 exchange pages)
  --concurrency=N    requests in flight (default 1: one extract instance, paced by its weight budget)
  --settle=15s       a chunk whose rows stop arriving for this long is reported as partial
  --timeout=2m       a chunk with no new row after this long is reported as without data
  --progress=FILE    progress file (default .local/backfill-<exchange>.json); re-running skips settled chunks
  --dry-run          print the chunks, send nothing
Broker: BROKER_URL; database: DATABASE_URL or POSTGRESQL_*. With none of them set: the local run of npm start.`;

const COMMAND = {
  name: 'backfill',
  usage: USAGE,
  values: ['exchange', 'symbols', 'symbol', 'timeframe', 'from', 'to', 'progress', ...PACING_FLAGS],
  switches: ['dry-run'],
};

await runOperator(COMMAND, async (f) => {
  const exchange = f.get('exchange');
  const symbols = (f.get('symbols') ?? f.get('symbol'))?.split(',').filter(Boolean);
  const timeframe = f.get('timeframe') ?? '1m';
  if (!exchange) throw new UsageError('--exchange is required');
  if (!symbols || symbols.length === 0) throw new UsageError('--symbols is required');
  if (!parseTimeframe(timeframe)) throw new UsageError(`--timeframe: '${timeframe}' is not a ccxt timeframe`);
  const since = instantFlag(f.get('from'), 'from');
  if (since === undefined) throw new UsageError('--from is required');
  const until = instantFlag(f.get('to'), 'to') ?? Date.now();
  if (until <= since) throw new UsageError('--to must be after --from');
  const { pace, candlesPerChunk, minIntervalMs, ...rest } = await pacing(f, exchange, symbols);
  const chunks = planChunks({
    exchange,
    symbols,
    timeframe,
    since,
    until,
    now: Date.now(),
    candlesPerChunk,
  });
  const { env, local } = operatorEnv();
  const brokerUrl = env['BROKER_URL'] ?? '';
  console.log(
    `${chunks.length} chunk(s) of up to ${candlesPerChunk} candles for ${symbols.length} symbol(s) on ${exchange}; at most one request every ${minIntervalMs} ms (${pace.pageLimit} candles per page, ${pace.msPerRequest} ms per request); Broker ${brokerUrl}${local ? ' (the local run of npm start)' : ''}`,
  );
  if (f.has('dry-run')) {
    for (const c of chunks)
      console.log(
        `${c.symbol} ${c.timeframe} ${new Date(c.since).toISOString()}..${new Date(c.until).toISOString()} (${c.expected} candles)`,
      );
    return;
  }
  const r = await runChunks(chunks, {
    env,
    brokerUrl,
    minIntervalMs,
    ...rest,
    progressPath: f.get('progress') ?? `.local/backfill-${exchange}.json`,
  });
  process.exitCode = r.incomplete.length > 0 ? 1 : 0;
});
