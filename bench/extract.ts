// Benchmark: cold start (process start to first answer) and RSS of each per-exchange extract bundle beside the same
// function bundled with all of ccxt; bundle sizes. Writes bench/results/extract.json. Usage: npm run bench:extract
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageNodeOptions, writeResult } from './lib.ts';

const root = join(import.meta.dirname, '..');
const RUNS = Number(process.env['RUNS'] ?? 7);
const EXCHANGES = ['binance', 'bybit', 'okx'];

/** Starts a bundle, polls GET / until it answers; returns ms from spawn to the first answer and the RSS then. */
async function coldStart(
  bundle: string,
  exchange: string,
  port: number,
): Promise<{ ms: number; rssMiB: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [bundle], {
    env: {
      PATH: process.env['PATH'] ?? '',
      PORT: String(port),
      EXCHANGE: exchange,
      K_SINK: 'http://127.0.0.1:9/',
      CURSOR_STORE: 'none',
      LOG_LEVEL: 'ERROR',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      NODE_OPTIONS: imageNodeOptions(),
    },
    stdio: 'ignore',
  });
  try {
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`);
        if (res.ok) {
          await res.text();
          break;
        }
      } catch {
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    const ms = performance.now() - started;
    const status = execFileSync('cat', [`/proc/${child.pid}/status`], { encoding: 'utf8' });
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { ms, rssMiB: Math.round((rssKiB / 1024) * 10) / 10 };
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main() {
  const out = mkdtempSync(join(tmpdir(), 'bench-bundles-'));
  try {
    execFileSync(
      process.execPath,
      ['scripts/build.mjs', `--exchanges=${EXCHANGES.join(',')}`, '--all-ccxt', `--outdir=${out}`],
      { cwd: root, stdio: 'pipe' },
    );
    const rows = [];
    let port = 19400;
    const all = join(out, 'extract-all-ccxt/index.mjs');
    for (const ex of EXCHANGES) {
      const own = join(out, `extract-${ex}/index.mjs`);
      const a: Array<{ ms: number; rssMiB: number }> = [];
      const b: Array<{ ms: number; rssMiB: number }> = [];
      for (let i = 0; i < RUNS; i++) {
        a.push(await coldStart(own, ex, port++));
        b.push(await coldStart(all, ex, port++));
      }
      const coldMs = Math.round(median(a.map((x) => x.ms)));
      const allMs = Math.round(median(b.map((x) => x.ms)));
      rows.push({
        exchange: ex,
        bundleMiB: Math.round((statSync(own).size / 2 ** 20) * 100) / 100,
        allCcxtBundleMiB: Math.round((statSync(all).size / 2 ** 20) * 100) / 100,
        coldStartMs: coldMs,
        allCcxtColdStartMs: allMs,
        ratio: Math.round((coldMs / allMs) * 100) / 100,
        rssAfterStartMiB: median(a.map((x) => x.rssMiB)),
        allCcxtRssAfterStartMiB: median(b.map((x) => x.rssMiB)),
      });
    }
    writeResult('extract', { runs: RUNS, rows, goals: { coldStartMs: 200, ratioToAllCcxt: 0.5 } });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

await main();
