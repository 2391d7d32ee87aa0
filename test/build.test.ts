// The esbuild bundles: one per exchange with only that exchange's ccxt class, runnable with plain `node`, and the
// extract bundles' startup snapshots, which serve exactly as their bundles do.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { ExtractBatch, ExtractSummary } from '../shared/events/schemas.ts';
import { startFakeExchange } from '../scripts/offline/fake-exchange.ts';
import { startSink } from './support/sink.ts';

const root = join(import.meta.dirname, '..');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
/** The NODE_OPTIONS of the image's runtime stage, under which extract's snapshots are made and run. */
const IMAGE_NODE_OPTIONS =
  /^ENV\b.*\bNODE_OPTIONS="([^"]*)"/m.exec(dockerfile.split(/^FROM /m).at(-1) ?? '')?.[1] ?? '';
let out: string;

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'bundles-'));
  execFileSync(process.execPath, ['scripts/build.mjs', '--exchanges=binance,okx', `--outdir=${out}`], {
    cwd: root,
    stdio: 'pipe',
    env: { ...process.env, NODE_OPTIONS: IMAGE_NODE_OPTIONS },
  });
}, 180_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Starts a bundle (a path, or node's arguments) like a container does and resolves with its port once it listens. */
function run(
  bundle: string | string[],
  env: Record<string, string>,
): Promise<{ port: number; stop: () => void; output: () => string }> {
  const child = spawn(process.execPath, typeof bundle === 'string' ? [bundle] : bundle, {
    env: { PATH: process.env['PATH'] ?? '', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      text += b.toString();
      const m = /"message":"function listening".*?"port":(\d+)/.exec(text);
      if (m) resolve({ port: Number(m[1]), stop: () => child.kill('SIGTERM'), output: () => text });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`bundle exited with ${code}: ${text}`)));
  });
}

describe('per-exchange extract bundles', () => {
  it('contain only their own exchange class', () => {
    const binance = readFileSync(join(out, 'extract-binance/index.mjs'), 'utf8');
    expect(binance).toContain('"binance"');
    for (const other of ['"okx"', '"bybit"', '"kraken"', '"coinbase"']) expect(binance).not.toContain(other);
    expect(statSync(join(out, 'extract-binance/index.mjs')).size).toBeLessThan(4 * 1024 * 1024);
  });

  it("hold zod's messages in English only, and a configuration error still reads in English", () => {
    const binance = readFileSync(join(out, 'extract-binance/index.mjs'), 'utf8');
    expect(binance).toContain('Invalid input');
    // German, Spanish, Polish messages (the ASCII part of each: the bundle escapes other characters).
    for (const other of ['Eingabe: erwartet', 'se esperaba', 'oczekiwano'])
      expect(binance).not.toContain(other);
  });

  it('start with node and answer', async () => {
    const proc = await run(join(out, 'extract-okx/index.mjs'), {
      EXCHANGE: 'okx',
      K_SINK: 'http://127.0.0.1:9/',
      CURSOR_STORE: 'none',
    });
    try {
      const res = await fetch(`http://127.0.0.1:${proc.port}/`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ function: 'extract', exchange: 'okx' });
      // Idle connections outlive the queue-proxy's pool, so a pooled connection is never closed under it.
      expect(res.headers.get('keep-alive')).toBe('timeout=120');
    } finally {
      proc.stop();
    }
  });

  it('stop at start-up with one line naming a bad variable', () => {
    const { status, stderr } = startupFailure([join(out, 'extract-binance/index.mjs')], {
      EXCHANGE: 'okx',
      K_SINK: 'http://x/',
    });
    expect(status).toBe(78);
    expect(stderr).toMatch(/EXCHANGE: 'okx' is not an exchange this build contains \(binance\)/);
    expect(stderr).not.toMatch(/at .*index\.mjs/);
  });
});

/** Runs node with `args` and `env` (PATH added), expecting it to stop: its exit status and what it wrote to stderr. */
function startupFailure(
  args: string[],
  env: Record<string, string>,
): { status: number | null; stderr: string } {
  try {
    execFileSync(process.execPath, args, { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: 'pipe' });
  } catch (err) {
    return { status: (err as { status: number }).status, stderr: String((err as { stderr: Buffer }).stderr) };
  }
  return { status: 0, stderr: '' };
}

/** node's arguments to start an extract bundle from its startup snapshot, as the Knative Service does. */
const fromSnapshot = (bundle: string) => [`--snapshot-blob=${join(out, bundle, 'snapshot.blob')}`];

describe('startup snapshots of the extract bundles', () => {
  it('are built beside each extract bundle, without the script they were made from', () => {
    for (const ex of ['binance', 'okx']) {
      expect(statSync(join(out, `extract-${ex}/snapshot.blob`)).size).toBeGreaterThan(1024 * 1024);
      expect(existsSync(join(out, `extract-${ex}/snapshot-entry.cjs`))).toBe(false);
    }
    expect(existsSync(join(out, 'load-raw/snapshot.blob'))).toBe(false);
  });

  it('start with node --snapshot-blob, read the environment of the run (not of the build) and answer', async () => {
    const proc = await run(fromSnapshot('extract-okx'), {
      NODE_OPTIONS: IMAGE_NODE_OPTIONS,
      EXCHANGE: 'okx',
      K_SINK: 'http://127.0.0.1:9/',
      CURSOR_STORE: 'none',
      MARKET_TYPES: 'spot',
    });
    try {
      const res = await fetch(`http://127.0.0.1:${proc.port}/`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ function: 'extract', exchange: 'okx', marketTypes: ['spot'] });
      expect(res.headers.get('keep-alive')).toBe('timeout=120');
    } finally {
      proc.stop();
    }
  });

  it('stop at start-up with one line naming a bad variable, as the bundle does', () => {
    const { status, stderr } = startupFailure(fromSnapshot('extract-binance'), {
      NODE_OPTIONS: IMAGE_NODE_OPTIONS,
      EXCHANGE: 'okx',
      K_SINK: 'http://x/',
    });
    expect(status).toBe(78);
    expect(stderr).toMatch(/EXCHANGE: 'okx' is not an exchange this build contains \(binance\)/);
  });

  it('serve an extract request against the exchange exactly as the plain bundle does', async () => {
    const now = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
    const fake = await startFakeExchange({ exchange: 'binance', now });
    const sink = await startSink();
    onTestFinished(async () => {
      await sink.close();
      await fake.close();
    });
    const body = JSON.stringify({
      datasets: ['ohlcv', 'trades', 'tickers'],
      symbols: ['BTC/USDT', 'ETH/USDT:USDT'],
      timeframe: '1m',
      since: now - 1_800_000,
      until: now - 600_000,
    });
    /** Starts `args`, posts the request, and returns the summary and the batches the sink received. */
    const extractWith = async (args: string | string[]) => {
      sink.events.length = 0;
      const proc = await run(args, {
        NODE_OPTIONS: IMAGE_NODE_OPTIONS,
        EXCHANGE: 'binance',
        EXCHANGE_API_BASE_URL: fake.url,
        K_SINK: sink.url,
        CURSOR_STORE: 'none',
      });
      try {
        const res = await fetch(`http://127.0.0.1:${proc.port}/`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        const summary = (await res.json()) as ExtractSummary;
        expect(res.status, JSON.stringify(summary)).toBe(200);
        const batches = sink.events
          .map((e) => e.data as ExtractBatch)
          .map((b) => ({ dataset: b.dataset, symbol: b.symbol, timeframe: b.timeframe, records: b.records }))
          .sort((a, b) => `${a.dataset} ${a.symbol}`.localeCompare(`${b.dataset} ${b.symbol}`));
        return { summary, batches };
      } finally {
        proc.stop();
      }
    };
    const plain = await extractWith(join(out, 'extract-binance/index.mjs'));
    const snap = await extractWith(fromSnapshot('extract-binance'));
    const again = await extractWith(fromSnapshot('extract-binance'));
    const counts = (b: typeof plain.batches) => b.map((x) => `${x.dataset} ${x.symbol}: ${x.records.length}`);
    // Every series delivered something: 20 one-minute candles per symbol, trades and tickers.
    expect(counts(plain.batches)).toEqual(
      expect.arrayContaining(['ohlcv BTC/USDT: 20', 'ohlcv ETH/USDT:USDT: 20']),
    );
    expect(new Set(plain.batches.map((b) => b.dataset))).toEqual(new Set(['ohlcv', 'trades', 'tickers']));
    expect(snap.batches).toEqual(plain.batches);
    const stable = (s: ExtractSummary) => ({ ...s, requestId: '', startedAt: 0, finishedAt: 0 });
    expect(stable(snap.summary)).toEqual(stable(plain.summary));
    // Each process draws its own ids: nothing random was frozen into the snapshot.
    expect(snap.summary.requestId).not.toBe(again.summary.requestId);
    expect(again.batches).toEqual(plain.batches);
  }, 60_000);
});

describe('status bundle', () => {
  it('starts with node, serves its API index, and answers a database it cannot reach with a 503 naming no secret', async () => {
    const proc = await run(join(out, 'status/index.mjs'), {
      DATABASE_URL: 'postgres://crypto_status:bundle-secret-pw@127.0.0.1:9/crypto',
      S3_ENDPOINT: 'http://127.0.0.1:9',
      AWS_ACCESS_KEY_ID: 'k',
      AWS_SECRET_ACCESS_KEY: 'bundle-s3-secret',
    });
    try {
      const index = await fetch(`http://127.0.0.1:${proc.port}/api`);
      expect(await index.json()).toMatchObject({
        function: 'status',
        endpoints: { '/api/series': expect.any(String) },
      });
      const page = await fetch(`http://127.0.0.1:${proc.port}/`);
      expect(page.status).toBe(503);
      const text = await page.text();
      expect(text).toContain('PostgreSQL cannot be reached');
      for (const secret of ['bundle-secret-pw', 'bundle-s3-secret', 'postgres://'])
        expect(text + proc.output()).not.toContain(secret);
    } finally {
      proc.stop();
    }
  });
});

describe('Dockerfile', () => {
  it("builds extract's snapshots with the node image and the NODE_OPTIONS it runs them with", () => {
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(froms).toEqual(['${NODE_IMAGE}', '${NODE_IMAGE}']);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:\d+-/m);
    expect(IMAGE_NODE_OPTIONS).toMatch(/--max-old-space-size=\d+/);
    const build = /^RUN NODE_OPTIONS="([^"]*)" npm run build$/m.exec(dockerfile);
    expect(build?.[1]).toBe(IMAGE_NODE_OPTIONS);
  });

  it('a snapshot does not start under other V8 flags than it was made with (so the two must agree)', () => {
    const res = spawnSync(process.execPath, fromSnapshot('extract-okx'), {
      env: { PATH: process.env['PATH'] ?? '', NODE_OPTIONS: '', EXCHANGE: 'okx', K_SINK: 'http://x/' },
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toMatch(/different V8 configurations|snapshot/i);
  });

  it('copies the build output and starts a bundle npm run build makes, as a numeric non-root user', () => {
    expect(dockerfile).toMatch(/^RUN (NODE_OPTIONS="[^"]*" )?npm run build$/m);
    expect(dockerfile).toMatch(/COPY --from=build [^\n]*\/src\/dist\/ \/app\//);
    expect(dockerfile).toMatch(/^USER 1000:1000$/m);
    const cmd = /^CMD \["node", "\/app\/([^/]+)\/index\.mjs"\]$/m.exec(dockerfile);
    expect(cmd?.[1]).toBe('load-raw');
  });

  it('caps the V8 heap well below the smallest container memory limit, with options node accepts', () => {
    const options = /^ENV\b.*\bNODE_OPTIONS="([^"]*)"/m.exec(dockerfile.split(/^FROM /m).at(-1) ?? '')?.[1];
    expect(options, 'the runtime stage sets NODE_OPTIONS').toBeDefined();
    const oldSpace = Number(/--max-old-space-size=(\d+)/.exec(options!)?.[1]);
    const semiSpace = Number(/--max-semi-space-size=(\d+)/.exec(options!)?.[1]);
    // Memory limits of every container in the manifests, in MiB.
    const base = join(root, 'knative/base');
    const limits = readdirSync(base, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.yaml'))
      .flatMap((f) => [
        ...readFileSync(join(base, f), 'utf8').matchAll(/limits:\s+cpu: \S+\s+memory: (\d+)Mi/g),
      ])
      .map((m) => Number(m[1]));
    expect(limits.length).toBeGreaterThan(4);
    // Old space plus the young generation (two semi-spaces) plus ~100 MiB for Node, code and buffers must fit, so
    // V8 collects garbage before the kernel's OOM killer ends the pod.
    expect(oldSpace + 2 * semiSpace + 100).toBeLessThanOrEqual(Math.min(...limits));
    const limit = execFileSync(
      process.execPath,
      ['-p', 'require("v8").getHeapStatistics().heap_size_limit'],
      { env: { PATH: process.env['PATH'] ?? '', NODE_OPTIONS: options }, encoding: 'utf8' },
    );
    expect(Number(limit) / 2 ** 20).toBeLessThanOrEqual(oldSpace + 3 * semiSpace);
  });

  it('the CMD runs from the build output with plain node (no node_modules) and answers', async () => {
    const proc = await run(join(out, 'load-raw/index.mjs'), { CURSOR_STORE: 'none' });
    try {
      const res = await fetch(`http://127.0.0.1:${proc.port}/`);
      expect(await res.json()).toMatchObject({ function: 'load-raw', bucket: 'crypto-raw' });
    } finally {
      proc.stop();
    }
  });
});
