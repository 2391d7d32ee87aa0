// What backfill and repair share: the exchange's pace, their pacing flags, and running chunks through the Broker.
import { resolve } from 'node:path';
import { loadCommonConfig, type CommonConfig } from '../../shared/config.ts';
import { createPool } from '../../shared/db/pool.ts';
import {
  ProgressFile,
  brokerSender,
  loadedCandles,
  progressBar,
  runBackfill,
  type BackfillResult,
  type Chunk,
} from '../../shared/ops/backfill.ts';
import { UsageError, durationFlag, positiveFlag, type Flags } from './ops.ts';

/** The exchange's pace from ccxt: least ms between requests and the OHLCV page size for these symbols. */
export async function exchangePace(
  exchange: string,
  symbols: readonly string[],
): Promise<{ msPerRequest: number; pageLimit: number }> {
  const { exchangeProfile } = await import('../../shared/exchange/profile.ts');
  const profile = exchangeProfile(exchange);
  if (!profile) throw new UsageError(`--exchange: '${exchange}' is not a ccxt exchange id`);
  const pageLimit = Math.min(
    ...symbols.map((s) => profile.candleLimit[s.includes(':') ? 'swap' : 'spot'] ?? 100),
  );
  return { msPerRequest: profile.msPerRequest, pageLimit };
}

/** The pacing flags backfill and repair share. */
export const PACING_FLAGS = ['chunk', 'settle', 'timeout', 'concurrency'] as const;

/** The pacing of backfill and repair: --chunk (default 10 exchange pages) and the least interval it implies from the
 * exchange's pace; --settle, --timeout and --concurrency. */
export async function pacing(
  f: Flags,
  exchange: string,
  symbols: readonly string[],
): Promise<{
  pace: { msPerRequest: number; pageLimit: number };
  candlesPerChunk: number;
  minIntervalMs: number;
  settleMs: number;
  timeoutMs: number;
  concurrency: number;
}> {
  const pace = await exchangePace(exchange, symbols);
  const candlesPerChunk = positiveFlag(f.get('chunk'), 'chunk', pace.pageLimit * 10);
  return {
    pace,
    candlesPerChunk,
    minIntervalMs: Math.ceil(candlesPerChunk / pace.pageLimit) * pace.msPerRequest,
    settleMs: durationFlag(f.get('settle'), 'settle', 15_000),
    timeoutMs: durationFlag(f.get('timeout'), 'timeout', 120_000),
    concurrency: positiveFlag(f.get('concurrency'), 'concurrency', 1),
  };
}

/** Runs chunks through the Broker with a progress bar (one line per chunk when stdout is not a terminal). */
export async function runChunks(
  chunks: Chunk[],
  opts: {
    env: NodeJS.ProcessEnv;
    brokerUrl: string;
    minIntervalMs: number;
    settleMs: number;
    timeoutMs: number;
    concurrency: number;
    progressPath: string | undefined;
  },
): Promise<BackfillResult> {
  const cfg: CommonConfig = loadCommonConfig(opts.env);
  const pool = createPool(cfg.db, 2);
  const tty = process.stdout.isTTY === true;
  try {
    const result = await runBackfill(
      chunks,
      {
        send: brokerSender(opts.brokerUrl),
        loaded: loadedCandles(pool),
        ...(opts.progressPath ? { progress: new ProgressFile(resolve(opts.progressPath)) } : {}),
        onProgress: (p) => {
          const what = `${p.chunk.symbol} ${new Date(p.chunk.since).toISOString().slice(0, 16)}Z: ${p.outcome} (${p.loaded}/${p.chunk.expected})`;
          if (tty) process.stdout.write(`\r\x1b[2K${progressBar(p)}  ${what}`);
          else console.log(`${progressBar(p)}  ${what}`);
        },
      },
      { ...opts, pollMs: 500 },
    );
    if (tty) process.stdout.write('\n');
    const o = result.outcomes;
    console.log(
      `${result.requestsSent} request(s) sent; chunks: ${o.complete} complete, ${o['already-loaded']} already loaded, ${o.resumed} settled earlier, ${o.partial} partial, ${o['no-data']} without data, ${o['send-failed']} refused`,
    );
    for (const i of result.incomplete)
      console.log(
        `  ${i.outcome}: ${i.chunk.exchange} ${i.chunk.symbol} ${i.chunk.timeframe} ${new Date(i.chunk.since).toISOString()}..${new Date(i.chunk.until).toISOString()} (${i.loaded}/${i.chunk.expected} candles)${i.reason ? `: ${i.reason}` : ''}`,
      );
    if (result.incomplete.length > 0)
      console.log(
        'npm run report shows the gaps that remain and any dead letters; npm run repair retries them.',
      );
    return result;
  } finally {
    await pool.end();
  }
}
