// Backfill and repair planning and running, with a fake Broker, a fake table and a fake clock.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { extractRequestSchema } from '../../shared/events/schemas.ts';
import {
  ProgressFile,
  chunkEvent,
  planChunks,
  progressBar,
  runBackfill,
  type Chunk,
} from '../../shared/ops/backfill.ts';
import { gapChunks, repairCommand, selectGaps } from '../../shared/ops/repair.ts';
import type { GapReport } from '../../shared/report/queries.ts';

const H = 3_600_000;
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('planChunks', () => {
  const base = { exchange: 'binance', symbols: ['BTC/USDT'], timeframe: '1h', candlesPerChunk: 10 };

  it('cuts the range into whole-candle chunks per symbol, the last one shorter', () => {
    const chunks = planChunks({
      ...base,
      symbols: ['BTC/USDT', 'ETH/USDT'],
      since: Date.UTC(2026, 0, 1, 0, 30),
      until: Date.UTC(2026, 0, 2),
      now: Date.UTC(2026, 5, 1),
    });
    // 00:00 (the candle containing 00:30) to 23:00: 24 candles, chunks of 10, 10 and 4, per symbol.
    expect(chunks.map((c) => [c.symbol, c.expected])).toEqual([
      ['BTC/USDT', 10],
      ['BTC/USDT', 10],
      ['BTC/USDT', 4],
      ['ETH/USDT', 10],
      ['ETH/USDT', 10],
      ['ETH/USDT', 4],
    ]);
    expect(chunks[0]).toMatchObject({ since: Date.UTC(2026, 0, 1), until: Date.UTC(2026, 0, 1, 10) });
    expect(chunks[2]).toMatchObject({ since: Date.UTC(2026, 0, 1, 20), until: Date.UTC(2026, 0, 2) });
  });

  it('asks only for closed candles: the end is clamped to the candle running at now', () => {
    const now = Date.UTC(2026, 0, 1, 5, 20);
    const chunks = planChunks({ ...base, since: Date.UTC(2026, 0, 1), until: Date.UTC(2026, 0, 3), now });
    expect(chunks).toEqual([
      {
        exchange: 'binance',
        symbol: 'BTC/USDT',
        timeframe: '1h',
        since: Date.UTC(2026, 0, 1),
        until: Date.UTC(2026, 0, 1, 5),
        expected: 5,
      },
    ]);
  });

  it('counts calendar months exactly', () => {
    const chunks = planChunks({
      ...base,
      timeframe: '1M',
      since: Date.UTC(2025, 0, 1),
      until: Date.UTC(2026, 0, 1),
      now: Date.UTC(2026, 5, 1),
      candlesPerChunk: 100,
    });
    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toMatchObject({
      expected: 12,
      since: Date.UTC(2025, 0, 1),
      until: Date.UTC(2026, 0, 1),
    });
  });

  it('refuses a bad timeframe or an empty range with a message', () => {
    expect(() => planChunks({ ...base, timeframe: '7x', since: 0, until: H, now: H })).toThrow(
      /timeframe '7x'/,
    );
    expect(() => planChunks({ ...base, since: H, until: H, now: 2 * H })).toThrow(/must be after the start/);
  });

  it('builds an extract request the extract function accepts, routed by type and exchange', () => {
    const [c] = planChunks({ ...base, since: 0, until: 10 * H, now: 20 * H });
    const event = chunkEvent(c!, 'run-1', 123);
    expect(event.type).toBe('cryptopipe.extract.request');
    expect((event as unknown as { exchange: string }).exchange).toBe('binance');
    expect(extractRequestSchema.parse(event.data)).toMatchObject({
      datasets: ['ohlcv'],
      symbols: ['BTC/USDT'],
      timeframe: '1h',
      since: 0,
      until: 10 * H,
      runId: 'run-1',
    });
  });
});

/** A fake pipeline: sending a chunk makes its candles appear `delay` ms later (all, or `keep` of them). */
function fakePipeline(opts: { keep?: (c: Chunk) => number; refuse?: (c: Chunk) => boolean } = {}) {
  let clock = 0;
  const sentAt: number[] = [];
  const rows = new Map<string, number>();
  const arrivals: Array<{ at: number; id: string; n: number }> = [];
  const id = (c: Chunk) => `${c.symbol}|${c.since}`;
  const timers: Array<{ at: number; resolve: () => void }> = [];
  return {
    sentAt,
    rows,
    deps: {
      now: () => clock,
      // A virtual clock: once every runnable worker has run, the earliest sleeper wakes and time jumps to it.
      sleep: (ms: number) =>
        new Promise<void>((resolve) => {
          timers.push({ at: clock + ms, resolve });
          setImmediate(() => {
            timers.sort((a, b) => a.at - b.at);
            const next = timers.shift();
            if (!next) return;
            clock = Math.max(clock, next.at);
            for (const a of arrivals.filter((x) => x.at <= clock)) rows.set(a.id, a.n);
            next.resolve();
          });
        }),
      send: async (event: { data?: unknown }) => {
        const d = event.data as { symbols: string[]; since: number; until: number };
        const c = { symbol: d.symbols[0], since: d.since } as Chunk;
        const chunk = { ...c, expected: (d.until - d.since) / H } as Chunk;
        if (opts.refuse?.(chunk)) throw new Error('Broker answered 503');
        sentAt.push(clock);
        arrivals.push({ at: clock + 1000, id: id(chunk), n: opts.keep?.(chunk) ?? chunk.expected });
      },
      loaded: async (c: Chunk) => rows.get(id(c)) ?? 0,
    },
  };
}

const OPTS = { minIntervalMs: 5000, settleMs: 3000, timeoutMs: 20_000, pollMs: 500, concurrency: 1 };
const chunksOf = (n: number) =>
  planChunks({
    exchange: 'binance',
    symbols: ['BTC/USDT'],
    timeframe: '1h',
    since: 0,
    until: n * 10 * H,
    now: 1e12,
    candlesPerChunk: 10,
  });

describe('runBackfill', () => {
  it('sends every missing chunk, no faster than the exchange allows, and waits for the rows', async () => {
    const p = fakePipeline();
    const seen: string[] = [];
    const r = await runBackfill(
      chunksOf(4),
      { ...p.deps, onProgress: (x) => seen.push(progressBar(x, 10)) },
      OPTS,
    );
    expect(r.outcomes.complete).toBe(4);
    expect(r.requestsSent).toBe(4);
    for (let i = 1; i < p.sentAt.length; i++)
      expect(p.sentAt[i]! - p.sentAt[i - 1]!).toBeGreaterThanOrEqual(OPTS.minIntervalMs);
    expect(seen.at(-1)).toMatch(/^\[#{10}\] 100% {2}4\/4 chunks {2}40\/40 candles/);
  });

  it('skips what is already loaded and what a progress file settled, and records what it settles', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ops-'));
    dirs.push(dir);
    const path = join(dir, 'progress.json');
    const chunks = chunksOf(3);
    const p = fakePipeline();
    p.rows.set(`BTC/USDT|${chunks[0]!.since}`, 10);
    const first = await runBackfill(
      chunks.slice(0, 2),
      { ...p.deps, progress: new ProgressFile(path) },
      OPTS,
    );
    expect(first.outcomes).toMatchObject({ 'already-loaded': 1, complete: 1 });
    expect(Object.keys(JSON.parse(readFileSync(path, 'utf8')).settled)).toHaveLength(2);
    const again = fakePipeline();
    const second = await runBackfill(chunks, { ...again.deps, progress: new ProgressFile(path) }, OPTS);
    expect(second.outcomes).toMatchObject({ resumed: 2, complete: 1 });
    expect(second.requestsSent).toBe(1);
  });

  it('reports partial chunks (the exchange has holes), chunks without data and refused requests', async () => {
    const chunks = chunksOf(3);
    const p = fakePipeline({
      keep: (c) => (c.since === chunks[0]!.since ? 7 : c.since === chunks[1]!.since ? 0 : 10),
      refuse: (c) => c.since === chunks[2]!.since,
    });
    const r = await runBackfill(chunks, p.deps, OPTS);
    expect(r.incomplete.map((i) => [i.outcome, i.loaded])).toEqual([
      ['partial', 7],
      ['no-data', 0],
      ['send-failed', 0],
    ]);
    expect(r.incomplete[2]!.reason).toMatch(/503/);
  });

  it('keeps several chunks in flight when asked, still paced', async () => {
    const p = fakePipeline();
    const r = await runBackfill(chunksOf(6), p.deps, { ...OPTS, concurrency: 3 });
    expect(r.outcomes.complete).toBe(6);
    const sorted = [...p.sentAt].sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++)
      expect(sorted[i]! - sorted[i - 1]!).toBeGreaterThanOrEqual(OPTS.minIntervalMs);
  });
});

describe('repair', () => {
  const gap = (symbol: string, start: string, end: string, timeframe = '1m'): GapReport => ({
    exchange: 'binance',
    symbol,
    timeframe,
    start: new Date(start).toISOString(),
    end: new Date(end).toISOString(),
    missingCandles: (Date.parse(end) - Date.parse(start)) / 60_000,
  });
  const gaps = [
    gap('BTC/USDT', '2026-11-24T12:05Z', '2026-11-24T12:10Z'),
    gap('ETH/USDT', '2026-11-24T00:00Z', '2026-11-24T02:00Z'),
    gap('ETH/USDT', '2026-11-24T00:00Z', '2026-11-25T00:00Z', '1h'),
  ];
  const now = Date.UTC(2026, 11, 1);

  it('turns every selected gap into exactly its missing candles', () => {
    const chunks = gapChunks(gaps, {}, now, 1000);
    expect(chunks.map((c) => [c.symbol, c.timeframe, c.expected])).toEqual([
      ['BTC/USDT', '1m', 5],
      ['ETH/USDT', '1m', 120],
      ['ETH/USDT', '1h', 24],
    ]);
    expect(chunks[0]).toMatchObject({
      since: Date.parse('2026-11-24T12:05Z'),
      until: Date.parse('2026-11-24T12:10Z'),
    });
  });

  it('narrows by symbol, timeframe and time, clipping gaps to the range', () => {
    expect(selectGaps(gaps, { symbols: ['ETH/USDT'], timeframe: '1m' })).toHaveLength(1);
    const clipped = gapChunks(gaps, { timeframe: '1m', from: Date.parse('2026-11-24T01:00Z') }, now, 1000);
    expect(clipped.map((c) => [c.symbol, c.since, c.expected])).toEqual([
      ['BTC/USDT', Date.parse('2026-11-24T12:05Z'), 5],
      ['ETH/USDT', Date.parse('2026-11-24T01:00Z'), 60],
    ]);
    expect(gapChunks(gaps, { to: Date.parse('2026-11-23T00:00Z') }, now, 1000)).toEqual([]);
  });

  it('prints the command line that repairs one gap', () => {
    expect(repairCommand(gaps[0]!)).toBe(
      'npm run repair -- --exchange=binance --symbols=BTC/USDT --timeframe=1m --from=2026-11-24T12:05:00.000Z --to=2026-11-24T12:10:00.000Z',
    );
  });
});
