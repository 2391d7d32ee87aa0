// Benchmark: extract's peak RSS against the length of one explicit window (1, 30 and 365 days of 1-minute candles)
// under the image's heap flags: pages go to K_SINK as they arrive, so memory must not grow with the window.
// Writes bench/results/extract-window.json. Usage: npm run bench:window
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeExchange } from '../scripts/offline/fake-exchange.ts';
import {
  children,
  countingSink,
  freePort,
  imageNodeOptions,
  memory,
  start,
  step,
  writeResult,
} from './lib.ts';

const root = join(import.meta.dirname, '..');
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 1);
const WINDOWS = [1, 30, 365];
const GOAL_MIB = 128;

const work = mkdtempSync(join(tmpdir(), 'bench-window-'));
try {
  execFileSync(
    process.execPath,
    [join(root, 'scripts/build.mjs'), '--exchanges=binance', `--outdir=${join(work, 'dist')}`],
    { stdio: 'ignore' },
  );
  const fake = await startFakeExchange({ exchange: 'binance', now: NOW });
  const sink = await countingSink();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const extract = await start(
    [join(work, 'dist', 'extract-binance', 'index.mjs')],
    {
      PORT: String(port),
      EXCHANGE: 'binance',
      EXCHANGE_API_BASE_URL: fake.url,
      K_SINK: sink.url,
      CURSOR_STORE: 'none',
      MAX_PAGES_PER_SERIES: '1000',
    },
    url,
  );
  const idle = memory(extract.pid!);
  const rows = [];
  for (const days of WINDOWS) {
    const before = sink.received();
    const row = await step(extract.pid!, async () => {
      const t = performance.now();
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          datasets: ['ohlcv'],
          symbols: ['BTC/USDT'],
          timeframe: '1m',
          since: NOW - days * DAY,
          until: NOW,
        }),
      });
      const body = (await res.json()) as {
        series?: Array<{ records: number; pages: number; missing: unknown[] }>;
      };
      const series = body.series?.[0];
      return {
        days,
        status: res.status,
        candles: series?.records ?? 0,
        pages: series?.pages ?? 0,
        missing: series?.missing.length ?? null,
        events: sink.received() - before,
        seconds: Math.round((performance.now() - t) / 100) / 10,
      };
    });
    console.log(
      `${days} d: ${row.candles} candles, ${row.events} events, peak ${row.peakMiB} MiB, ${row.seconds} s`,
    );
    rows.push(row);
  }
  await sink.close();
  await fake.close();
  const peaks = rows.map((r) => r.peakMiB);
  writeResult('extract-window', {
    what: 'peak RSS (VmHWM, reset before each request) of the extract-binance bundle answering one explicit window of 1-minute candles for one symbol, against the offline exchange; events to a counting sink',
    nodeOptions: imageNodeOptions(),
    goalMiB: GOAL_MIB,
    idle,
    windows: rows,
    // Flat: a year peaks no higher than the shorter windows' highest peak (within 5 MiB of GC timing).
    flat: (peaks.at(-1) ?? 0) <= Math.max(...peaks.slice(0, -1)) + 5,
    met: rows.every((r) => r.status === 200 && r.peakMiB < GOAL_MIB),
  });
} finally {
  for (const c of children) c.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
process.exit(0);
