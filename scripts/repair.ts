// `npm run repair`: finds the gaps that `report` shows (optionally narrowed) and backfills exactly those windows
// through the Broker, paced like backfill.
import { loadCommonConfig } from '../shared/config.ts';
import { createPool } from '../shared/db/pool.ts';
import { gapChunks, selectGaps, type GapFilter } from '../shared/ops/repair.ts';
import { gapsReport } from '../shared/report/queries.ts';
import { PACING_FLAGS, pacing, runChunks } from './lib/chunks.ts';
import { instantFlag, operatorEnv, runOperator } from './lib/ops.ts';

const USAGE = `npm run repair -- [--exchange=binance] [--symbols=BTC/USDT,...] [--timeframe=1m] [--from=ISO] [--to=ISO] [--dry-run]
  Fills the gaps of the ohlcv table (the 'gaps' of npm run report) inside the selection; same pacing flags as backfill:
  --chunk=N --settle=15s --timeout=2m --concurrency=1
Broker: BROKER_URL; database: DATABASE_URL or POSTGRESQL_*. With none of them set: the local run of npm start.`;

const COMMAND = {
  name: 'repair',
  usage: USAGE,
  values: ['exchange', 'symbols', 'symbol', 'timeframe', 'from', 'to', ...PACING_FLAGS],
  switches: ['dry-run'],
};

await runOperator(COMMAND, async (f) => {
  const { env, local } = operatorEnv();
  const exchange = f.get('exchange');
  const symbols = (f.get('symbols') ?? f.get('symbol'))?.split(',').filter(Boolean);
  const timeframe = f.get('timeframe');
  const from = instantFlag(f.get('from'), 'from');
  const to = instantFlag(f.get('to'), 'to');
  const pool = createPool(loadCommonConfig(env).db, 1);
  const gaps = await gapsReport(pool, exchange ? { exchange } : {}).finally(() => pool.end());
  const filter: GapFilter = {
    ...(exchange ? { exchange } : {}),
    ...(symbols ? { symbols } : {}),
    ...(timeframe ? { timeframe } : {}),
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
  };
  const byExchange = new Map<string, string[]>();
  for (const g of selectGaps(gaps, filter))
    byExchange.set(g.exchange, [...new Set([...(byExchange.get(g.exchange) ?? []), g.symbol])]);
  if (byExchange.size === 0) {
    console.log(`no gaps to repair${local ? ' in the local run' : ''}`);
    return;
  }
  let incomplete = 0;
  for (const [ex, exSymbols] of byExchange) {
    const { pace: _pace, candlesPerChunk, ...paced } = await pacing(f, ex, exSymbols);
    const chunks = gapChunks(gaps, { ...filter, exchange: ex }, Date.now(), candlesPerChunk);
    const missing = chunks.reduce((s, c) => s + c.expected, 0);
    console.log(
      `${ex}: ${missing} missing candle(s) in ${chunks.length} window(s) of ${exSymbols.join(', ')}`,
    );
    if (f.has('dry-run')) {
      for (const c of chunks)
        console.log(
          `  ${c.symbol} ${c.timeframe} ${new Date(c.since).toISOString()}..${new Date(c.until).toISOString()} (${c.expected} candles)`,
        );
      continue;
    }
    const r = await runChunks(chunks, {
      env,
      brokerUrl: env['BROKER_URL'] ?? '',
      ...paced,
      progressPath: undefined,
    });
    incomplete += r.incomplete.length;
  }
  process.exitCode = incomplete > 0 ? 1 : 0;
});
