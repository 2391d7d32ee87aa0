// Backfill: an OHLCV date range cut into chunks, sent as extract requests through the Broker, paced, resumable.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CloudEvent } from 'cloudevents';
import { countClosedCandles } from '../db/counts.ts';
import type { Pool } from '../db/pool.ts';
import { buildEvent, toBinary } from '../events/cloudevent.ts';
import { sendToBroker } from '../events/post.ts';
import { EventType, type ExtractRequest } from '../events/schemas.ts';
import { candleOpen, candleOpens, iso, nextOpen, parseTimeframe } from '../time.ts';
import { ServiceUnreachable } from '../unreachable.ts';

/** One extract request of a backfill: a series and a window [since, until) of whole candles. */
export interface Chunk {
  exchange: string;
  symbol: string;
  timeframe: string;
  since: number;
  until: number;
  /** Closed candles the window holds when the exchange has every one of them. */
  expected: number;
}

/** Identity of a chunk in the progress file. */
export const chunkId = (c: Chunk) => `${c.exchange}|${c.symbol}|${c.timeframe}|${c.since}|${c.until}`;

/**
 * Cuts [since, until) of every symbol into chunks of at most `candlesPerChunk` candles. Only closed candles are
 * asked for: the end is clamped to the open time of the candle that is still running at `now`.
 */
export function planChunks(opts: {
  exchange: string;
  symbols: readonly string[];
  timeframe: string;
  since: number;
  until: number;
  now: number;
  candlesPerChunk: number;
}): Chunk[] {
  const tf = parseTimeframe(opts.timeframe);
  if (!tf) throw new Error(`timeframe '${opts.timeframe}' is not a ccxt timeframe such as 1m, 1h, 1d`);
  if (!(opts.until > opts.since)) throw new Error(`the end (${iso(opts.until)}) must be after the start`);
  const until = Math.min(opts.until, candleOpen(tf, opts.now));
  const opens = candleOpens(tf, opts.since, until);
  const chunks: Chunk[] = [];
  for (const symbol of opts.symbols)
    for (let i = 0; i < opens.length; i += opts.candlesPerChunk) {
      const part = opens.slice(i, i + opts.candlesPerChunk);
      const first = part[0] as number;
      const last = part[part.length - 1] as number;
      chunks.push({
        exchange: opts.exchange,
        symbol,
        timeframe: opts.timeframe,
        since: first,
        until: nextOpen(tf, last),
        expected: part.length,
      });
    }
  return chunks;
}

/** The extract request event of a chunk, as the Broker routes it: type and `exchange` select extract-<exchange>. */
export function chunkEvent(chunk: Chunk, runId: string, time: number): CloudEvent<ExtractRequest> {
  return buildEvent<ExtractRequest>({
    id: `${runId}.${chunk.symbol}.${chunk.since}`,
    source: 'cryptopipe/backfill',
    type: EventType.extractRequest,
    subject: `${chunk.symbol} ${chunk.timeframe} ${iso(chunk.since)}..${iso(chunk.until)}`,
    time,
    data: {
      exchange: chunk.exchange,
      datasets: ['ohlcv'],
      symbols: [chunk.symbol],
      timeframe: chunk.timeframe,
      since: chunk.since,
      until: chunk.until,
      runId,
    },
    extensions: { exchange: chunk.exchange, dataset: 'ohlcv' },
  });
}

/**
 * Sends an event to a Broker (or any CloudEvents receiver) in binary mode; a non-2xx answer is an error, a Broker that
 * cannot be reached a ServiceUnreachable.
 */
export function brokerSender(url: string): (event: CloudEvent<unknown>) => Promise<void> {
  return (event) => sendToBroker(url, toBinary(event));
}

/** Closed candles of a chunk's series already in PostgreSQL, inside the chunk's window. */
export function loadedCandles(pool: Pool): (c: Chunk) => Promise<number> {
  return (c) => countClosedCandles(pool, c);
}

/** How a chunk ended. */
export type ChunkOutcome =
  /** Every candle of the window is in PostgreSQL. */
  | 'complete'
  /** Already complete before anything was sent. */
  | 'already-loaded'
  /** Settled in an earlier run (progress file). */
  | 'resumed'
  /** Rows arrived, then stopped before the window was full: the exchange has holes there (see report). */
  | 'partial'
  /** Nothing arrived within the timeout: the exchange has no data there, or a stage fails (see report). */
  | 'no-data'
  /** The Broker refused the request. */
  | 'send-failed';

/** Chunks settled by earlier runs, kept in a JSON file written atomically after every chunk. */
export class ProgressFile {
  private readonly settled: Record<string, { outcome: ChunkOutcome; loaded: number; at: string }>;

  constructor(private readonly path: string) {
    try {
      this.settled = (JSON.parse(readFileSync(path, 'utf8')) as { settled: ProgressFile['settled'] }).settled;
    } catch {
      this.settled = {};
    }
  }

  has(c: Chunk): boolean {
    return chunkId(c) in this.settled;
  }

  mark(c: Chunk, outcome: ChunkOutcome, loaded: number): void {
    this.settled[chunkId(c)] = { outcome, loaded, at: new Date().toISOString() };
    mkdirSync(dirname(this.path), { recursive: true });
    writeFileSync(`${this.path}.tmp`, JSON.stringify({ settled: this.settled }, null, 1));
    renameSync(`${this.path}.tmp`, this.path);
  }
}

/** Where a backfill stands, after every chunk. */
export interface BackfillProgress {
  done: number;
  total: number;
  candles: number;
  expected: number;
  chunk: Chunk;
  outcome: ChunkOutcome;
  loaded: number;
  elapsedMs: number;
}

/** What a backfill did. */
export interface BackfillResult {
  outcomes: Record<ChunkOutcome, number>;
  /** Chunks to look at: partial, no data, or refused. */
  incomplete: Array<{ chunk: Chunk; outcome: ChunkOutcome; loaded: number; reason?: string }>;
  requestsSent: number;
}

export interface BackfillDeps {
  send: (event: CloudEvent<unknown>) => Promise<void>;
  loaded: (c: Chunk) => Promise<number>;
  progress?: ProgressFile;
  onProgress?: (p: BackfillProgress) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface BackfillOptions {
  /** Least time between two requests sent, from the exchange's limits. */
  minIntervalMs: number;
  /** A chunk whose rows stop growing for this long is settled as partial. */
  settleMs: number;
  /** A chunk with no row after this long is given up as no-data. */
  timeoutMs: number;
  pollMs: number;
  /** Chunks in flight at once (1 keeps one extract instance busy, paced by its weight budget). */
  concurrency: number;
  runId?: string;
}

/**
 * Runs the chunks: skips what PostgreSQL (or the progress file) already has, sends the rest as extract requests
 * no faster than `minIntervalMs` apart, and waits for each chunk's rows to be committed before taking the next.
 */
export async function runBackfill(
  chunks: readonly Chunk[],
  deps: BackfillDeps,
  opts: BackfillOptions,
): Promise<BackfillResult> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const runId = opts.runId ?? `backfill-${randomUUID()}`;
  const started = now();
  const result: BackfillResult = {
    outcomes: { complete: 0, 'already-loaded': 0, resumed: 0, partial: 0, 'no-data': 0, 'send-failed': 0 },
    incomplete: [],
    requestsSent: 0,
  };
  const expected = chunks.reduce((s, c) => s + c.expected, 0);
  let done = 0;
  let candles = 0;
  let nextSendAt = 0;

  const settle = async (c: Chunk, before: number): Promise<{ outcome: ChunkOutcome; loaded: number }> => {
    const sentAt = now();
    let last = before;
    let changedAt = sentAt;
    for (;;) {
      await sleep(opts.pollMs);
      const n = await deps.loaded(c);
      if (n >= c.expected) return { outcome: 'complete', loaded: n };
      if (n !== last) {
        last = n;
        changedAt = now();
      }
      if (last > before && now() - changedAt >= opts.settleMs) return { outcome: 'partial', loaded: last };
      if (last === before && now() - sentAt >= opts.timeoutMs) return { outcome: 'no-data', loaded: last };
    }
  };

  const one = async (c: Chunk): Promise<void> => {
    let outcome: ChunkOutcome;
    let loaded = 0;
    let reason: string | undefined;
    if (deps.progress?.has(c)) outcome = 'resumed';
    else {
      loaded = await deps.loaded(c);
      if (loaded >= c.expected) outcome = 'already-loaded';
      else {
        const wait = nextSendAt - now();
        nextSendAt = Math.max(now(), nextSendAt) + opts.minIntervalMs;
        if (wait > 0) await sleep(wait);
        try {
          await deps.send(chunkEvent(c, runId, now()));
          result.requestsSent += 1;
          ({ outcome, loaded } = await settle(c, loaded));
        } catch (err) {
          // A Broker that cannot be reached fails every chunk alike: the run stops instead.
          if (err instanceof ServiceUnreachable) throw err;
          outcome = 'send-failed';
          reason = (err as Error).message;
        }
      }
    }
    if (outcome === 'complete' || outcome === 'already-loaded' || outcome === 'partial')
      deps.progress?.mark(c, outcome, loaded);
    if (outcome === 'partial' || outcome === 'no-data' || outcome === 'send-failed')
      result.incomplete.push({ chunk: c, outcome, loaded, ...(reason ? { reason } : {}) });
    result.outcomes[outcome] += 1;
    done += 1;
    candles += outcome === 'resumed' ? c.expected : loaded;
    deps.onProgress?.({
      done,
      total: chunks.length,
      candles,
      expected,
      chunk: c,
      outcome,
      loaded,
      elapsedMs: now() - started,
    });
  };

  const queue = [...chunks];
  // The first failure (the database or the Broker out of reach) stops every worker before it is reported.
  let failed: { error: unknown } | undefined;
  const workers = Array.from({ length: Math.max(1, opts.concurrency) }, async () => {
    for (let c = queue.shift(); c && !failed; c = queue.shift())
      await one(c).catch((error: unknown) => void (failed ??= { error }));
  });
  await Promise.all(workers);
  if (failed) throw failed.error;
  return result;
}

/** A one-line progress bar: `[#######.............]  35%  14/40 chunks  13,000/40,000 candles  ETA 1m05s`. */
export function progressBar(p: BackfillProgress, width = 24): string {
  const share = p.total === 0 ? 1 : p.done / p.total;
  const filled = Math.round(share * width);
  const eta = p.done === 0 ? 0 : Math.round(((p.elapsedMs / p.done) * (p.total - p.done)) / 1000);
  const etaText = eta >= 60 ? `${Math.floor(eta / 60)}m${String(eta % 60).padStart(2, '0')}s` : `${eta}s`;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(share * 100)).padStart(3)}%  ${p.done}/${p.total} chunks  ${p.candles.toLocaleString('en-US')}/${p.expected.toLocaleString('en-US')} candles  ETA ${etaText}`;
}
