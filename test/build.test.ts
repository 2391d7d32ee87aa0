// The esbuild bundles: one per exchange with only that exchange's ccxt class, runnable with plain `node`.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
let out: string;

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'bundles-'));
  execFileSync(process.execPath, ['scripts/build.mjs', '--exchanges=binance,okx', `--outdir=${out}`], {
    cwd: root,
    stdio: 'pipe',
  });
}, 120_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Starts a bundle like a container does and resolves with its port once it listens. */
function run(
  bundle: string,
  env: Record<string, string>,
): Promise<{ port: number; stop: () => void; output: () => string }> {
  const child = spawn(process.execPath, [bundle], {
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
    let stderr = '';
    let status: number | null = 0;
    try {
      execFileSync(process.execPath, [join(out, 'extract-binance/index.mjs')], {
        env: { PATH: process.env['PATH'] ?? '', EXCHANGE: 'okx', K_SINK: 'http://x/' },
        stdio: 'pipe',
      });
    } catch (err) {
      stderr = String((err as { stderr: Buffer }).stderr);
      status = (err as { status: number }).status;
    }
    expect(status).toBe(78);
    expect(stderr).toMatch(/EXCHANGE: 'okx' is not an exchange this build contains \(binance\)/);
    expect(stderr).not.toMatch(/at .*index\.mjs/);
  });
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
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  it('copies the build output and starts a bundle npm run build makes, as a numeric non-root user', () => {
    expect(dockerfile).toMatch(/RUN npm run build/);
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
