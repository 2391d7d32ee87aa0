// The status function through its HTTP handler: page, JSON API, filters, 400s, escaping, and no secret anywhere.
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStatusHandler } from '../../functions/status/handler.ts';
import { loadStatusConfig } from '../../shared/config.ts';
import { createPool } from '../../shared/db/pool.ts';
import { functionServer, registerFunction } from '../../shared/http/server.ts';
import { s3Client } from '../../shared/lake/s3.ts';
import { setLogSink } from '../../shared/log.ts';
import { startDatabase, type TestDatabase } from '../support/postgres.ts';
import { startS3, type TestS3 } from '../support/s3.ts';
import {
  DEAD_LETTER_KEYS,
  HOSTILE,
  MIN,
  NOW,
  T0,
  at,
  seedDatabase,
  seedDeadLetters,
} from '../shared/status.seed.ts';

const DB_PASSWORD = 'db-Pa55word-never-shown';
const S3_SECRET = 's3-secret-never-shown-0123';
let db: TestDatabase;
let s3: TestS3;
let n = 0;

beforeAll(async () => {
  [db, s3] = await Promise.all([startDatabase(), startS3()]);
  await seedDatabase(db.pool, { hostile: true });
  await seedDeadLetters(s3.client, s3.settings.bucket);
});
afterAll(async () => {
  await db?.close();
  await s3?.close();
});

/** The settings as a deployment would have them: a password in the database URL and an S3 secret. */
function config(env: Record<string, string> = {}) {
  return loadStatusConfig({
    DATABASE_URL: `postgres://crypto_status:${DB_PASSWORD}@127.0.0.1:5432/crypto`,
    S3_ENDPOINT: s3.settings.endpoint,
    AWS_ACCESS_KEY_ID: 'status-reader',
    AWS_SECRET_ACCESS_KEY: S3_SECRET,
    RAW_BUCKET: s3.settings.bucket,
    ...env,
  });
}

function server(
  deps: Partial<Parameters<typeof createStatusHandler>[1]> = {},
  env: Record<string, string> = {},
) {
  const name = `status-test-${++n}`;
  const cfg = config(env);
  registerFunction(
    name,
    createStatusHandler(cfg, { pool: db.pool, s3: s3.client, now: () => NOW, ...deps }),
    { maxBodyBytes: cfg.maxBodyBytes },
  );
  return functionServer(name);
}

const range = `from=${at(T0)}&to=${at(T0 + 60 * MIN)}`;

/** Every secret or connection detail that must never reach a client. */
function expectNoSecret(text: string): void {
  for (const s of [
    DB_PASSWORD,
    S3_SECRET,
    'postgres://',
    'postgresql://',
    db.url,
    s3.settings.secretAccessKey!,
  ])
    if (s.length >= 6) expect(text).not.toContain(s);
}

describe('status page', () => {
  it('shows each series with its freshness and the known gap on the right series, with its repair command', async () => {
    const res = await request(server()).get(`/?${range}`).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const page = res.text;
    const row = (key: string) => {
      const start = page.indexOf(`<tr data-series="${key}"`);
      expect(start, key).toBeGreaterThan(0);
      return page.slice(start, page.indexOf('</tr>', start));
    };
    const btc = row('binance|ohlcv|BTC/USDT|1m');
    expect(btc).toMatch(/<span class="badge ok"[^>]*>fresh<\/span>/);
    expect(btc).toContain(
      `data-state="missing" data-start="${at(T0 + 4 * MIN)}" data-end="${at(T0 + 7 * MIN)}" data-candles="3"`,
    );
    // The gap links to its row in the gaps table, which holds the repair command and a copy button.
    const gap = /<a href="#gap-(\d+)" class="gap-link" data-gap="\d+"><rect class="seg missing"/.exec(
      btc,
    )?.[1];
    expect(gap).toBeDefined();
    expect(page).toContain(
      `<tr id="gap-${gap}" class="gap-row" data-series="binance|ohlcv|BTC/USDT|1m" data-start="${at(T0 + 4 * MIN)}" data-end="${at(T0 + 7 * MIN)}">`,
    );
    expect(row('okx|ohlcv|ETH/USDT|1m')).toMatch(/<span class="badge stale"[^>]*>stale<\/span>/);
    expect(row('okx|ohlcv|ETH/USDT|1m')).not.toContain('data-state="missing"');
    expect(row('binance|funding|BTC/USDT:USDT|')).toMatch(/badge late/);
    expect(row('binance|trades|BTC/USDT|')).toMatch(/on demand/);
    expect(page).toContain(
      `<code id="repair-${gap}">npm run repair -- --exchange=binance --symbol=BTC/USDT --timeframe=1m --from=2026-11-24T00:04:00.000Z --to=2026-11-24T00:07:00.000Z</code>`,
    );
    expect(page).toContain(`data-copy="repair-${gap}"`);
    // Findings, runs, rejected objects and dead letters with their reasons.
    expect(page).toContain('ohlc_invariant');
    expect(page).toContain('non_positive_price');
    expect(page).toContain('exchange=binance/dataset=ohlcv/k1.json');
    expect(page).toMatch(
      /exchange=okx\/dataset=tickers\/x\.json<\/td><td><span class="pill bad">invalid_batch/,
    );
    expect(page).toContain(DEAD_LETTER_KEYS[1]);
    expect(page).toContain('upstream timeout');
    expect(page).toContain('unreadable: not a JSON CloudEvent');
  });

  it('escapes every value from the database: a hostile symbol stays text', async () => {
    const res = await request(server()).get(`/?${range}`).expect(200);
    expect(res.text).not.toContain(HOSTILE);
    expect(res.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    // The one script element is the page's own, allowed by the nonce of the Content-Security-Policy.
    expect(res.text.match(/<script/g)).toHaveLength(1);
    const nonce = /script-src 'nonce-([^']+)'/.exec(res.headers['content-security-policy'] ?? '')?.[1];
    expect(nonce).toBeDefined();
    expect(res.text).toContain(`<script nonce="${nonce}">`);
    // The repair command for the hostile series quotes the symbol for the shell, and the HTML escapes it.
    const hostile = await request(server())
      .get('/api/gaps?exchange=binance&' + range)
      .expect(200);
    const gaps = hostile.body.gaps.map((g: { symbol: string; repair: string }) => [g.symbol, g.repair]);
    expect(gaps.sort()).toEqual([
      [
        HOSTILE,
        `npm run repair -- --exchange=binance '--symbol=${HOSTILE}' --timeframe=1m --from=2026-11-24T00:01:00.000Z --to=2026-11-24T00:02:00.000Z`,
      ],
      ['BTC/USDT', expect.stringContaining('--symbol=BTC/USDT ')],
    ]);
    expect(res.text).toContain(`&#39;--symbol=&lt;script&gt;alert(1)&lt;/script&gt;&#39;`);
  });

  it('filters by exchange and dataset (query parameters, and links and a form on the page)', async () => {
    const okx = (await request(server()).get(`/?exchange=okx&${range}`).expect(200)).text;
    expect(okx).toContain('data-series="okx|ohlcv|ETH/USDT|1m"');
    expect(okx).not.toContain('data-series="binance|');
    expect(okx).toContain('<option value="okx" selected>okx</option>');
    expect(okx).toContain('class="chip active" href="?exchange=okx&amp;from=');
    // The dead letters too: okx's is shown, binance's is not.
    expect(okx).toContain('upstream timeout');
    expect(okx).not.toContain('bad_request: invalid batch');
    const tickers = (await request(server()).get(`/?dataset=tickers&${range}`).expect(200)).text;
    expect(tickers.match(/<tr data-series="/g)).toHaveLength(1);
    expect(tickers).toContain('data-series="binance|tickers|BTC/USDT|"');
    const none = (await request(server()).get(`/?exchange=kraken`).expect(200)).text;
    expect(none).toContain('No data for exchange <b>kraken</b>');
  });

  it('answers HEAD, refuses other methods with 405 and unknown paths with 404', async () => {
    await request(server()).head('/').expect(200);
    const post = await request(server()).post('/').send('x').expect(405);
    expect(post.headers['allow']).toBe('GET, HEAD');
    expect(post.text).toContain('the status page only reads (GET)');
    const missing = await request(server()).get('/nope').expect(404);
    expect(missing.body).toMatchObject({
      error: 'not_found',
      message: expect.stringContaining('/api/series'),
    });
  });
});

describe('JSON API', () => {
  it('/api lists the endpoints; /api/series is the catalogue', async () => {
    const index = await request(server()).get('/api').expect(200);
    expect(Object.keys(index.body.endpoints)).toEqual(
      expect.arrayContaining(['/api/report', '/api/series', '/api/coverage', '/api/gaps', '/api/runs']),
    );
    const series = await request(server()).get('/api/series?exchange=binance&dataset=ohlcv').expect(200);
    expect(
      series.body.series.map((s: { symbol: string; freshness: string; lagSeconds: number }) => s),
    ).toEqual([
      expect.objectContaining({ symbol: HOSTILE, lagSeconds: 11 * 60 + 30, freshness: 'stale', gaps: 1 }),
      expect.objectContaining({
        symbol: 'BTC/USDT',
        lagSeconds: 150,
        freshness: 'ok',
        gaps: 1,
        missingCandles: 3,
      }),
    ]);
  });

  it('/api/coverage gives the runs of one series over from..to', async () => {
    const res = await request(server())
      .get(
        `/api/coverage?exchange=binance&symbol=BTC/USDT&timeframe=1m&from=${at(T0)}&to=${encodeURIComponent('2026-11-24T00:10:00+00:00')}`,
      )
      .expect(200);
    expect(res.body).toEqual({
      from: at(T0),
      to: at(T0 + 10 * MIN),
      skipped: [],
      series: [
        {
          exchange: 'binance',
          symbol: 'BTC/USDT',
          timeframe: '1m',
          first: at(T0),
          segments: [
            { state: 'present', start: at(T0), end: at(T0 + 4 * MIN), candles: 4 },
            { state: 'missing', start: at(T0 + 4 * MIN), end: at(T0 + 7 * MIN), candles: 3 },
            { state: 'present', start: at(T0 + 7 * MIN), end: at(T0 + 10 * MIN), candles: 3 },
          ],
          counts: { present: 7, open: 0, missing: 3, late: 0, pending: 0 },
        },
      ],
    });
  });

  it('/api/report is the report of npm run report, with the dead letters and their reasons', async () => {
    const res = await request(server()).get('/api/report?exchange=okx').expect(200);
    expect(res.body).toMatchObject({
      generatedAt: at(NOW),
      series: [expect.objectContaining({ exchange: 'okx', symbol: 'ETH/USDT', candles: 6, lagSeconds: 510 })],
      gaps: [],
      findings: [],
      rejected: [
        expect.objectContaining({ key: 'exchange=okx/dataset=tickers/x.json', reason: 'invalid_batch' }),
      ],
      deadLetters: [
        expect.objectContaining({ key: DEAD_LETTER_KEYS[1], code: '503', reason: 'upstream timeout' }),
      ],
    });
  });

  it('/api/runs, /api/findings and /api/dead-letters', async () => {
    const runs = await request(server()).get(`/api/runs?exchange=binance&dataset=ohlcv&${range}`).expect(200);
    expect(runs.body.streams).toEqual([
      expect.objectContaining({ exchange: 'binance', dataset: 'ohlcv', objects: 2, rows: 14, rejected: 1 }),
    ]);
    const findings = await request(server()).get('/api/findings?dataset=ohlcv').expect(200);
    expect(findings.body.findings).toEqual([
      { exchange: 'binance', dataset: 'ohlcv', check: 'ohlc_invariant', count: 1, latest: at(T0 + 2 * MIN) },
    ]);
    expect(findings.body.recent).toHaveLength(1);
    const dead = await request(server()).get('/api/dead-letters?exchange=binance').expect(200);
    expect(dead.body).toEqual({
      listed: 3,
      scanned: 3,
      items: [expect.objectContaining({ key: DEAD_LETTER_KEYS[0], code: '400', exchange: 'binance' })],
    });
  });
});

describe('bad requests', () => {
  const cases: Array<[string, RegExp]> = [
    ['exchange=Binance!', /exchange: "Binance!" is not an exchange id/],
    ['dataset=candles', /dataset: "candles" is not a dataset; one of markets, ohlcv/],
    ['symbol=BTC USDT', /symbol: "BTC USDT" is not a ccxt symbol/],
    ['timeframe=1x', /timeframe: "1x" is not a timeframe/],
    ['dataset=tickers&timeframe=1m', /only OHLCV series have one/],
    ['from=yesterday', /from: "yesterday" is not a time/],
    ['to=2026-13-45T00:00Z', /to: "2026-13-45T00:00Z" is not a time/],
    [`from=${at(T0)}&to=${at(T0)}`, /must be before to/],
    [`from=${at(T0 + MIN)}&to=${at(T0)}`, /from \(2026-11-24T00:01:00.000Z\) must be before to/],
    [
      `from=${at(T0)}&to=${at(T0 + 8 * 86_400_000)}`,
      /the range is 8 days, longer than 7 days \(STATUS_MAX_RANGE\)/,
    ],
    ['range=30d', /the range is 30 days/],
    ['range=soon', /range: "soon" is not a duration/],
    ['exchange=binance&exchange=okx', /exchange is given 2 times/],
  ];

  it.each(cases)('/api/series?%s is a 400 with a message', async (query, message) => {
    const res = await request(server()).get(`/api/series?${query}`).expect(400);
    expect(res.body.error).toBe('bad_request');
    expect(res.body.message).toMatch(message);
  });

  it('a strip with too many candles for the timeframe is a 400 too', async () => {
    const res = await request(server({}, { STATUS_MAX_RANGE: '7d' }))
      .get(`/api/coverage?timeframe=1s&range=1d`)
      .expect(400);
    expect(res.body.message).toMatch(/the range holds 86400 candles of 1s, more than 10080/);
  });

  it('the page answers a bad parameter with an HTML 400 that shows the message, escaped', async () => {
    const res = await request(server())
      .get(`/?exchange=${encodeURIComponent('<b>x</b>')}`)
      .expect(400);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toContain('exchange: &quot;&lt;b&gt;x&lt;/b&gt;&quot; is not an exchange id');
    expect(res.text).not.toContain('<b>x</b>');
  });
});

describe('secrets', () => {
  it('no response carries a password, an S3 secret or a connection string', async () => {
    const srv = server();
    const paths = [
      '/',
      `/?${range}`,
      '/api',
      '/api/status',
      '/api/report',
      '/api/series',
      '/api/coverage',
      '/api/gaps',
      '/api/runs',
      '/api/findings',
      '/api/dead-letters',
      '/api/series?from=bad',
      '/nope',
    ];
    for (const p of paths) {
      const res = await request(srv).get(p);
      expect(res.status, p).toBeLessThan(500);
      expectNoSecret(res.text + JSON.stringify(res.headers));
    }
  });

  it('a database that cannot be reached is a 503 naming no host, user or password, and the log has no password', async () => {
    const lines: string[] = [];
    const prev = setLogSink((l) => lines.push(l));
    const down = createPool(
      { ...db.settings, connectionString: `postgres://crypto_status:${DB_PASSWORD}@127.0.0.1:9/crypto` },
      1,
    );
    const badS3 = s3Client({ ...s3.settings, endpoint: 'http://127.0.0.1:9', secretAccessKey: S3_SECRET });
    try {
      const srv = server({ pool: down, s3: badS3 });
      const api = await request(srv).get('/api/series').expect(503);
      expect(api.body).toEqual({
        error: 'database_unavailable',
        message: 'PostgreSQL cannot be reached or refused the connection (see the function log)',
      });
      const page = await request(srv).get('/').expect(503);
      expect(page.text).toContain('PostgreSQL cannot be reached');
      for (const text of [api.text, page.text, lines.join('\n')]) expectNoSecret(text);
      expect(lines.join('\n')).toContain('ECONNREFUSED');
      // S3 down alone: the page still answers, saying the bucket could not be read.
      const noS3 = await request(server({ s3: badS3 }))
        .get('/')
        .expect(200);
      expect(noS3.text).toContain(
        `the raw bucket ${s3.settings.bucket} could not be read (see the function log)`,
      );
      expectNoSecret(noS3.text);
    } finally {
      setLogSink(prev);
      await down.end();
    }
  });
});

describe('a slow part', () => {
  it('is named as not shown within the budget while the rest of the page and the JSON answer', async () => {
    // The gaps in range (not the gap counts of the catalogue) wait on the server first; the budget does not wait for them.
    const slow = new Proxy(db.pool, {
      get(target, prop, receiver) {
        if (prop !== 'query') return Reflect.get(target, prop, receiver);
        return (text: unknown, ...rest: unknown[]) =>
          typeof text === 'string' && text.includes('missing_candles::int AS missing FROM ohlcv_gaps')
            ? target.query(
                text.replace(
                  'FROM ohlcv_gaps',
                  'FROM (SELECT * FROM ohlcv_gaps WHERE (SELECT true FROM pg_sleep(6))) ohlcv_gaps',
                ),
                ...(rest as []),
              )
            : (target.query as (...a: unknown[]) => unknown)(text, ...rest);
      },
    });
    const srv = server({ pool: slow }, { STATUS_QUERY_TIMEOUT_MS: '1500' });
    const started = Date.now();
    const page = await request(srv).get(`/?${range}`).expect(200);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(page.text).toContain(
      'gaps: not shown, took longer than 1.5 s (narrow the range or filter by exchange)',
    );
    expect(page.text).toContain('BTC/USDT'); // the catalogue still answered
    const json = await request(srv).get(`/api/status?${range}`).expect(200);
    expect(json.body.unavailable).toEqual([
      { part: 'gaps', reason: 'timed_out', message: 'took longer than 1.5 s' },
    ]);
    expect(json.body.catalogue.length).toBeGreaterThan(0);
    expect(json.body.gaps).toEqual([]);
  });
});
