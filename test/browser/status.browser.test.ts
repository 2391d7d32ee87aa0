// The status page in a real browser (Chromium through playwright-core): the known gap on the right series, the
// filters, the copy button, no script from the data, no CSP violation; a screenshot in test/artifacts/status.png.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStatusHandler } from '../../functions/status/handler.ts';
import { loadStatusConfig } from '../../shared/config.ts';
import { functionServer, registerFunction } from '../../shared/http/server.ts';
import { startDatabase, type TestDatabase } from '../support/postgres.ts';
import { startS3, type TestS3 } from '../support/s3.ts';
import { HOSTILE, MIN, NOW, T0, at, seedDatabase, seedDeadLetters } from '../shared/status.seed.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '../artifacts');
let db: TestDatabase;
let s3: TestS3;
let server: Server;
let base: string;
let browser: Browser;
let context: BrowserContext;
const problems: string[] = [];

beforeAll(async () => {
  // CI installs Chromium (.ci/run); a machine without it fails here, loudly, instead of skipping.
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} is missing: the status page browser test needs Debian's chromium (apt-get install chromium chromium-driver, as .ci/run does)`,
    );
  [db, s3] = await Promise.all([startDatabase(), startS3()]);
  await seedDatabase(db.pool, { hostile: true });
  await seedDeadLetters(s3.client, s3.settings.bucket);
  const cfg = loadStatusConfig({
    DATABASE_URL: db.url,
    S3_ENDPOINT: s3.settings.endpoint,
    AWS_ACCESS_KEY_ID: s3.settings.accessKeyId!,
    AWS_SECRET_ACCESS_KEY: s3.settings.secretAccessKey!,
    RAW_BUCKET: s3.settings.bucket,
  });
  registerFunction(
    'status-browser',
    createStatusHandler(cfg, { pool: db.pool, s3: s3.client, now: () => NOW }),
    { maxBodyBytes: cfg.maxBodyBytes },
  );
  server = functionServer('status-browser');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  context = await browser.newContext({
    viewport: { width: 1500, height: 1000 },
    permissions: ['clipboard-read', 'clipboard-write'],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  await db?.close();
  await s3?.close();
});

async function open(query: string): Promise<Page> {
  const page = await context.newPage();
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  const res = await page.goto(`${base}/${query}`);
  expect(res?.status()).toBe(200);
  return page;
}

const range = `?from=${at(T0)}&to=${at(T0 + 60 * MIN)}`;
const rowOf = (page: Page, key: string) => page.locator(`tr[data-series="${key}"]`);

describe('status page in Chromium', () => {
  it('shows the known gap on the right series, where it is in the range, linked to its repair command', async () => {
    const page = await open(range);
    const btc = rowOf(page, 'binance|ohlcv|BTC/USDT|1m');
    const gap = btc.locator('rect[data-state="missing"]');
    await expect(gap.count()).resolves.toBe(1);
    expect(await gap.getAttribute('data-start')).toBe(at(T0 + 4 * MIN));
    expect(await gap.getAttribute('data-end')).toBe(at(T0 + 7 * MIN));
    // Drawn where it belongs: minutes 4 to 7 of a 60-minute strip.
    const strip = (await btc.locator('svg.strip').boundingBox())!;
    const box = (await gap.boundingBox())!;
    expect((box.x - strip.x) / strip.width).toBeCloseTo(4 / 60, 2);
    expect(box.width / strip.width).toBeCloseTo(3 / 60, 2);
    expect(await rowOf(page, 'okx|ohlcv|ETH/USDT|1m').locator('rect[data-state="missing"]').count()).toBe(0);
    expect(await btc.locator('.badge').textContent()).toBe('fresh');
    expect(await rowOf(page, 'okx|ohlcv|ETH/USDT|1m').locator('.badge').textContent()).toBe('stale');

    // Clicking the gap goes to its row; the copy button copies the command.
    await btc.locator('a.gap-link').click();
    const target = page.locator('tr.gap-row:target');
    expect(await target.getAttribute('data-series')).toBe('binance|ohlcv|BTC/USDT|1m');
    const command =
      'npm run repair -- --exchange=binance --symbol=BTC/USDT --timeframe=1m --from=2026-11-24T00:04:00.000Z --to=2026-11-24T00:07:00.000Z';
    expect(await target.locator('code').textContent()).toBe(command);
    await target.locator('button.copy').click();
    // Polled from here, not with a string predicate in the page: Playwright evaluates those with eval once the first
    // check fails, which the page's Content-Security-Policy refuses (and the test below then counts as a violation).
    await expect.poll(() => target.locator('button.copy').textContent()).not.toBe('copy');
    expect(await target.locator('button.copy').textContent()).toBe('copied');
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(command);

    // A hostile symbol is shown as text; it ran nothing.
    expect(await rowOf(page, `binance|ohlcv|${HOSTILE}|1m`).locator('td.sym').textContent()).toBe(HOSTILE);
    expect(await page.locator('script').count()).toBe(1);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: join(ARTIFACTS, 'status.png'), fullPage: true });
    expect(statSync(join(ARTIFACTS, 'status.png')).size).toBeGreaterThan(10_000);
    await page.close();
  });

  it('filters by exchange and dataset with the form and the links', async () => {
    const page = await open(range);
    const series = async () =>
      page
        .locator('table.series tbody tr')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-series')));
    expect((await series()).length).toBe(7);

    await Promise.all([page.waitForURL(/exchange=okx/), page.selectOption('#f-exchange', 'okx')]);
    expect(await series()).toEqual(['okx|ohlcv|ETH/USDT|1m']);
    expect(page.url()).toContain(`from=${encodeURIComponent(at(T0))}`);
    expect(await page.locator('.dead-letter-row').count()).toBe(1);

    await Promise.all([
      page.waitForURL(/exchange=binance/),
      page.locator('nav.exchanges a', { hasText: /^binance$/ }).click(),
    ]);
    await Promise.all([page.waitForURL(/dataset=tickers/), page.selectOption('#f-dataset', 'tickers')]);
    expect(await series()).toEqual(['binance|tickers|BTC/USDT|']);
    expect(new URL(page.url()).searchParams.get('exchange')).toBe('binance');

    await Promise.all([
      page.waitForURL((u) => !u.search.includes('exchange')),
      page.locator('a.chip', { hasText: 'all exchanges' }).click(),
    ]);
    await Promise.all([
      page.waitForURL((u) => !u.search.includes('dataset')),
      page.selectOption('#f-dataset', ''),
    ]);
    expect((await series()).length).toBe(7);
    await page.close();
  });

  it('shows a bad parameter as a 400 page with its message', async () => {
    const page = await context.newPage();
    const res = await page.goto(`${base}/?from=${at(T0 + MIN)}&to=${at(T0)}`);
    expect(res?.status()).toBe(400);
    expect(await page.locator('.error-message').textContent()).toMatch(/must be before to/);
    await page.close();
  });

  it('ran no script from the data and broke no Content-Security-Policy rule', () => {
    expect(problems).toEqual([]);
  });
});
