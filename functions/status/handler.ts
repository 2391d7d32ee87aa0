// The status HTTP handler: the page at `/`, the same data as JSON under `/api/...` and Prometheus metrics at `/metrics`,
// read-only, per request.
import { randomBytes } from 'node:crypto';
import type {
  FunctionRequest as Request,
  FunctionResponse as Response,
  HttpFunction,
} from '../../shared/http/message.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Pool } from 'pg';
import type { StatusConfig } from '../../shared/config.ts';
import {
  BadRequestError,
  HttpError,
  PermanentUpstreamError,
  PipelineError,
  TransientError,
} from '../../shared/errors.ts';
import { DATASETS, type Dataset } from '../../shared/events/schemas.ts';
import { functionHandler, sendJson } from '../../shared/http/respond.ts';
import type { Logger } from '../../shared/log.ts';
import {
  buildReport,
  catalogueReport,
  coverageReport,
  failuresReport,
  gapsReport,
  recentFindings,
  runsReport,
  timeframeSeconds,
  type ReportFilter,
} from '../../shared/report/queries.ts';
import { buildStatus, deadLetterState, repairCommand } from '../../shared/report/status.ts';
import { collectMetrics, LakeWindowCache } from '../../shared/report/metrics.ts';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from '../../shared/metrics/prometheus.ts';
import { parseDuration } from '../../shared/time.ts';
import { renderErrorPage, renderPage, type PageQuery } from './page.ts';

/** What the handler reads from. */
export interface StatusDeps {
  pool: Pool;
  s3: S3Client;
  /** The clock (tests fix it). */
  now?: () => number;
}

/** A validated request: filter, range and the query as given (for links). */
export interface StatusQuery {
  filter: ReportFilter;
  from: Date;
  to: Date;
  page: PageQuery;
}

const shown = (v: string) => JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);

/** Epoch ms or an ISO-8601 date/time; a time without a zone is UTC (what `<input>` sends). */
export function parseWhen(name: string, text: string): number {
  const t = text.trim();
  let ms = NaN;
  if (/^\d{1,15}$/.test(t)) ms = Number(t);
  else {
    const m =
      /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?))?(Z|[+-]\d{2}:?\d{2})?$/i.exec(t);
    if (m) ms = Date.parse(m[2] ? `${m[1]}T${m[2]}${m[3] ?? 'Z'}` : `${m[1]}T00:00:00${m[3] ?? 'Z'}`);
  }
  if (!Number.isFinite(ms))
    throw new BadRequestError(
      `${name}: ${shown(text)} is not a time; give ISO-8601 such as 2026-11-24T00:00Z (UTC when no zone) or epoch milliseconds`,
    );
  return ms;
}

/** Validates the query string: filters, range (default the last STATUS_DEFAULT_RANGE), limits. */
export function parseQuery(params: URLSearchParams, now: number, cfg: StatusConfig): StatusQuery {
  const one = (name: string): string | undefined => {
    const all = params.getAll(name);
    if (all.length > 1) throw new BadRequestError(`${name} is given ${all.length} times; give it once`);
    const v = all[0]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const exchange = one('exchange');
  if (exchange !== undefined && !/^[a-z0-9]{1,32}$/.test(exchange))
    throw new BadRequestError(
      `exchange: ${shown(exchange)} is not an exchange id; use a ccxt id in lower-case letters and digits, such as binance`,
    );
  const dataset = one('dataset');
  if (dataset !== undefined && !(DATASETS as readonly string[]).includes(dataset))
    throw new BadRequestError(`dataset: ${shown(dataset)} is not a dataset; one of ${DATASETS.join(', ')}`);
  const symbol = one('symbol');
  if (symbol !== undefined && !/^[A-Za-z0-9][A-Za-z0-9/:._-]{0,63}$/.test(symbol))
    throw new BadRequestError(
      `symbol: ${shown(symbol)} is not a ccxt symbol such as BTC/USDT or BTC/USDT:USDT`,
    );
  const timeframe = one('timeframe');
  if (timeframe !== undefined && (!/^\d{1,4}[smhdwM]$/.test(timeframe) || timeframeSeconds(timeframe) === 0))
    throw new BadRequestError(`timeframe: ${shown(timeframe)} is not a timeframe such as 1m, 5m, 1h or 1d`);
  if (timeframe !== undefined && dataset !== undefined && dataset !== 'ohlcv')
    throw new BadRequestError(`timeframe: only OHLCV series have one (dataset is ${dataset})`);

  const fromText = one('from');
  const toText = one('to');
  const rangeText = one('range');
  const to = toText === undefined ? now : parseWhen('to', toText);
  let length = cfg.defaultRangeMs;
  if (rangeText !== undefined) {
    const d = parseDuration(rangeText);
    if (d === undefined)
      throw new BadRequestError(`range: ${shown(rangeText)} is not a duration such as 6h, 24h, 7d or PT90M`);
    length = d;
  }
  const from = fromText === undefined ? to - length : parseWhen('from', fromText);
  if (from >= to)
    throw new BadRequestError(
      `from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`,
    );
  const days = (ms: number) => `${+(ms / 86_400_000).toFixed(2)} days`;
  if (to - from > cfg.maxRangeMs)
    throw new BadRequestError(
      `the range is ${days(to - from)}, longer than ${days(cfg.maxRangeMs)} (STATUS_MAX_RANGE): each coverage strip would hold more than ${Math.ceil(cfg.maxRangeMs / 60_000)} one-minute candles; narrow from/to`,
    );
  if (timeframe !== undefined) {
    const slots = Math.ceil((to - from) / 1000 / (timeframeSeconds(timeframe) as number));
    if (slots > maxSlots(cfg))
      throw new BadRequestError(
        `the range holds ${slots} candles of ${timeframe}, more than ${maxSlots(cfg)}; narrow from/to`,
      );
  }
  const filter: ReportFilter = {};
  if (exchange !== undefined) filter.exchange = exchange;
  if (dataset !== undefined) filter.dataset = dataset as Dataset;
  if (symbol !== undefined) filter.symbol = symbol;
  if (timeframe !== undefined) filter.timeframe = timeframe;
  return {
    filter,
    from: new Date(from),
    to: new Date(to),
    page: { exchange, dataset, from: fromText, to: toText, range: rangeText },
  };
}

/** Slots a coverage strip may hold: the longest range in one-minute candles. */
const maxSlots = (cfg: StatusConfig) => Math.ceil(cfg.maxRangeMs / 60_000);

/**
 * PostgreSQL failures as answers with meaning, never with connection details: those stay in the error's cause, which
 * only the log shows.
 */
export function describeFailure(err: unknown): unknown {
  if (err instanceof PipelineError) return err;
  const code = String((err as { code?: unknown }).code ?? '');
  const message = err instanceof Error ? err.message : '';
  if (
    /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|57P0[1-3]|08\w{3}|53300|3D000|28P01|28000)$/.test(
      code,
    ) ||
    /timeout exceeded when trying to connect|Connection terminated/i.test(message)
  )
    return new TransientError(
      'database_unavailable',
      'PostgreSQL cannot be reached or refused the connection (see the function log)',
      undefined,
      { cause: err },
    );
  if (code === '57014')
    return new TransientError(
      'query_timeout',
      'a query took longer than STATUS_QUERY_TIMEOUT_MS; narrow the range or filter by exchange',
      undefined,
      { cause: err },
    );
  if (code === '42501')
    return new PermanentUpstreamError(
      'permission_denied',
      "the status page's database user may not read a table: grant it the crypto_status role (migration 002_status_reader.sql)",
      undefined,
      500,
      { cause: err },
    );
  if (code === '42P01' || code === '42883')
    return new TransientError(
      'not_migrated',
      'the database is not migrated yet (transform migrates on start; or npm run migrate)',
      undefined,
      { cause: err },
    );
  return err;
}

type Route = (
  q: StatusQuery,
  ctx: { cfg: StatusConfig; deps: StatusDeps; now: Date; log: Logger },
) => Promise<unknown>;

const deadLetters = (q: StatusQuery, ctx: Parameters<Route>[1]) =>
  deadLetterState(
    ctx.deps.s3,
    ctx.cfg.s3.bucket,
    { filter: q.filter, limit: ctx.cfg.deadLetterLimit },
    ctx.log,
  );

const status = (q: StatusQuery, ctx: Parameters<Route>[1]) =>
  buildStatus(
    { pool: ctx.deps.pool, deadLetters: () => deadLetters(q, ctx) },
    {
      now: ctx.now,
      from: q.from,
      to: q.to,
      filter: q.filter,
      maxSlots: maxSlots(ctx.cfg),
      budgetMs: ctx.cfg.queryTimeoutMs,
      fatal: wholeAnswer,
    },
  );

/** Failures no part can answer around (no database, not migrated, no rights): the request fails as a whole. */
const wholeAnswer = (err: unknown) => {
  const d = describeFailure(err);
  return (
    d instanceof PipelineError &&
    ['database_unavailable', 'not_migrated', 'permission_denied'].includes(d.code)
  );
};

/** The JSON endpoints; each takes the same query parameters as the page. */
const API: Record<string, { about: string; run: Route }> = {
  '/api/status': { about: 'everything the page shows', run: status },
  '/api/report': {
    about:
      'what npm run report -- --json prints (series, all gaps, findings, rejected objects, dead letters)',
    run: async (q, ctx) => {
      const dead = await deadLetters(q, ctx);
      return buildReport(ctx.deps.pool, async () => dead.items, ctx.now, q.filter);
    },
  },
  '/api/series': {
    about: 'per exchange, dataset, symbol and timeframe: first and latest record, lag, freshness',
    run: async (q, ctx) => ({
      generatedAt: ctx.now.toISOString(),
      series: await catalogueReport(ctx.deps.pool, ctx.now, q.filter),
    }),
  },
  '/api/coverage': {
    about: 'per OHLCV series, runs of loaded / missing / late candles over from..to',
    run: (q, ctx) =>
      coverageReport(ctx.deps.pool, { from: q.from, to: q.to, now: ctx.now }, q.filter, maxSlots(ctx.cfg)),
  },
  '/api/gaps': {
    about: 'gaps overlapping from..to with the npm run repair command that fills each',
    run: async (q, ctx) => ({
      from: q.from.toISOString(),
      to: q.to.toISOString(),
      gaps: (await gapsReport(ctx.deps.pool, q.filter, q)).map((g) => ({ ...g, repair: repairCommand(g) })),
    }),
  },
  '/api/runs': {
    about: 'loads and rejections per exchange and dataset (ingestion_ledger) and the newest runs',
    run: (q, ctx) => runsReport(ctx.deps.pool, q, q.filter),
  },
  '/api/findings': {
    about: 'data-quality findings by check, and the newest with their details',
    run: async (q, ctx) => ({
      ...(await failuresReport(ctx.deps.pool, q.filter)),
      recent: await recentFindings(ctx.deps.pool, q.filter),
    }),
  },
  '/api/dead-letters': {
    about: 'events the Broker gave up on, with the reason Knative recorded',
    run: deadLetters,
  },
};

function secureHeaders(res: Response, nonce?: string): void {
  res.set({
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    ...(nonce
      ? {
          'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
        }
      : {}),
  });
}

/** Builds the status function: the shared function shell, reading with GET and HEAD; errors on the page as HTML. */
export function createStatusHandler(cfg: StatusConfig, deps: StatusDeps): HttpFunction {
  /** The page is `/`; everything else is JSON. */
  const pathOf = (req: Request) =>
    new URL(req.originalUrl || req.url || '/', 'http://status.invalid').pathname.replace(/\/+$/, '') || '/';
  /** The nonce of a page's inline style and script (a request gets one page: the status or the error). */
  const nonce = () => randomBytes(16).toString('base64');
  const lakeCache = new LakeWindowCache(cfg.metrics.lakeRefreshMs);
  return functionHandler({
    component: 'status',
    methodHint: 'the status page only reads (GET)',
    describeError: describeFailure,
    renderError: (req, res, status, body) => {
      if (pathOf(req) !== '/') {
        secureHeaders(res);
        return false;
      }
      const n = nonce();
      secureHeaders(res, n);
      res
        .status(status)
        .set('content-type', 'text/html; charset=utf-8')
        .send(renderErrorPage(status, body.message, n));
      return true;
    },
    get: async (req, res, { log }) => {
      const url = new URL(req.originalUrl || req.url || '/', 'http://status.invalid');
      const path = pathOf(req);
      const started = Date.now();
      if (path === '/metrics') {
        const families = await collectMetrics(
          { pool: deps.pool, s3: deps.s3, lakeCache, log },
          {
            now: new Date(deps.now?.() ?? Date.now()),
            bucket: cfg.s3.bucket,
            maxSeries: cfg.metrics.maxSeries,
            lakeWindowMs: cfg.metrics.lakeWindowMs,
            budgetMs: cfg.queryTimeoutMs,
            fatal: wholeAnswer,
          },
        );
        secureHeaders(res);
        res.status(200).set('content-type', PROMETHEUS_CONTENT_TYPE).send(renderPrometheus(families));
        log.debug('metrics served', { ms: Date.now() - started });
        return;
      }
      if (path === '/api') {
        secureHeaders(res);
        sendJson(res, 200, {
          function: 'status',
          endpoints: Object.fromEntries(Object.entries(API).map(([p, r]) => [p, r.about])),
          parameters: {
            exchange: 'ccxt id',
            dataset: DATASETS.join('|'),
            symbol: 'ccxt symbol',
            timeframe: 'OHLCV timeframe',
            from: 'ISO-8601 or epoch ms (UTC when no zone)',
            to: 'ISO-8601 or epoch ms, default now',
            range: `length ending at to when from is not given (default ${cfg.defaultRangeMs / 3_600_000} h, at most ${cfg.maxRangeMs / 3_600_000} h)`,
          },
        });
        return;
      }
      const api = API[path];
      if (path !== '/' && !api)
        throw new HttpError(
          404,
          'not_found',
          `no such page: ${path}; the page is /, the JSON is under /api (${Object.keys(API).join(', ')}), the Prometheus metrics at /metrics`,
        );
      const now = new Date(deps.now?.() ?? Date.now());
      const q = parseQuery(url.searchParams, now.getTime(), cfg);
      const ctx = { cfg, deps, now, log };
      if (api) {
        const body = await api.run(q, ctx);
        secureHeaders(res);
        sendJson(res, 200, body);
      } else {
        const report = await status(q, ctx);
        const n = nonce();
        secureHeaders(res, n);
        res
          .status(200)
          .set('content-type', 'text/html; charset=utf-8')
          .send(renderPage(report, q.page, n));
      }
      log.debug('status served', { path, ms: Date.now() - started, ...q.filter });
    },
  });
}
