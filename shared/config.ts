// Settings parsed once from the environment into typed, validated objects; a bad value names its variable.
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { MARKET_TYPES, type MarketType } from './events/schemas.ts';
import { parseDuration } from './time.ts';

type Env = Record<string, string | undefined>;

const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const opt = <T extends z.ZodType>(schema: T) => z.preprocess(emptyToUndefined, schema.optional());
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
const duration = z
  .string()
  .refine((v) => parseDuration(v) !== undefined, 'must be a duration such as PT1H, 90m, 2h or 7d')
  .transform((v) => parseDuration(v) as number);
/** A retention age: whole days, at least one (partitions are days or months). */
const retention = duration.refine(
  (ms) => ms >= 86_400_000 && ms % 86_400_000 === 0,
  'must be a whole number of days, at least 1d (such as 30d)',
);
const durationOr = (fallback: string) =>
  z.preprocess(emptyToUndefined, duration.default(parseDuration(fallback) as number));
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

/** Market types ccxt knows (listed once, with the event schemas); `MARKET_TYPES` picks which ones are loaded. */
export { MARKET_TYPES, type MarketType };

const commonSchema = z.object({
  LOG_LEVEL: z.preprocess(emptyToUndefined, z.enum(['DEBUG', 'INFO', 'WARNING', 'ERROR']).default('INFO')),
  PORT: z.preprocess(emptyToUndefined, int(0, 65535).default(8080)),
  /** Largest request body accepted, bytes. */
  MAX_BODY_BYTES: z.preprocess(emptyToUndefined, int(1024, 64 * 1024 * 1024).default(1024 * 1024)),
  RAW_BUCKET: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name')
      .default('crypto-raw'),
  ),
  S3_ENDPOINT: opt(httpUrl),
  MINIO_ENDPOINT: opt(z.string()),
  S3_REGION: z.preprocess(emptyToUndefined, z.string().default('us-east-1')),
  /** Write new objects with `If-None-Match: *` (one round trip; the store must honour it, as MinIO and S3 do). */
  S3_CONDITIONAL_PUT: z.preprocess(emptyToUndefined, z.enum(['true', 'false']).default('false')),
  MINIO_USER: opt(z.string()),
  MINIO_ACCESS_KEY: opt(z.string()),
  MINIO_PASSWORD: opt(z.string()),
  AWS_ACCESS_KEY_ID: opt(z.string()),
  AWS_SECRET_ACCESS_KEY: opt(z.string()),
  DATABASE_URL: opt(z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' })),
  POSTGRESQL_HOST: z.preprocess(
    emptyToUndefined,
    z.string().default('postgresql.database.svc.cluster.local'),
  ),
  POSTGRESQL_PORT: z.preprocess(emptyToUndefined, int(1, 65535).default(5432)),
  POSTGRESQL_USER: z.preprocess(emptyToUndefined, z.string().default('crypto')),
  POSTGRESQL_PASSWORD: opt(z.string()),
  POSTGRESQL_DATABASE: z.preprocess(emptyToUndefined, z.string().default('crypto')),
});

const extractSchema = z.object({
  EXCHANGE: z
    .string({ error: 'is required: the ccxt id of the exchange this deployment serves, e.g. binance' })
    .regex(/^[a-z0-9]+$/, 'must be a ccxt exchange id such as binance, bybit or okx'),
  EXCHANGE_API_BASE_URL: opt(httpUrl),
  K_SINK: z.url({
    protocol: /^https?$/,
    error:
      'is required: the URL extract sends its CloudEvents to (the SinkBinding injects the Broker URL; locally, any HTTP receiver)',
  }),
  MAX_EVENT_BYTES: z.preprocess(emptyToUndefined, int(4096, 16 * 1024 * 1024).default(256 * 1024)),
  MARKET_TYPES: z.preprocess(
    emptyToUndefined,
    list.pipe(z.array(z.enum(MARKET_TYPES)).min(1)).default(['spot', 'swap']),
  ),
  MARKETS_TTL: durationOr('1h'),
  EXCHANGE_TIMEOUT_MS: z.preprocess(emptyToUndefined, int(100, 120_000).default(10_000)),
  /** Bounded time for retries of one exchange call. */
  RETRY_WINDOW_MS: z.preprocess(emptyToUndefined, int(0, 600_000).default(30_000)),
  RETRY_BASE_DELAY_MS: z.preprocess(emptyToUndefined, int(1, 60_000).default(250)),
  WEIGHT_BUDGET_PER_MINUTE: opt(int(1, 1_000_000)),
  ORDERBOOK_DEPTH: z.preprocess(emptyToUndefined, int(1, 5000).default(50)),
  OHLCV_PAGE_LIMIT: opt(int(1, 10_000)),
  MAX_PAGES_PER_SERIES: z.preprocess(emptyToUndefined, int(1, 100_000).default(1000)),
  /** Window of the first incremental run of a series (no cursor yet). */
  INITIAL_LOOKBACK: durationOr('1h'),
  /** Largest window one incremental run fetches; a longer outage is caught up over several ticks. */
  MAX_CATCHUP: durationOr('7d'),
  CURSOR_STORE: z.preprocess(emptyToUndefined, z.enum(['s3', 'none']).default('s3')),
  SINK_TIMEOUT_MS: z.preprocess(emptyToUndefined, int(100, 120_000).default(10_000)),
  SINK_RETRIES: z.preprocess(emptyToUndefined, int(0, 10).default(2)),
});

const transformSchema = z.object({
  /** MinIO's webhook auth_token: when set, requests must carry `Authorization: Bearer <token>`. */
  TRANSFORM_AUTH_TOKEN: opt(z.string().min(16, 'must be at least 16 characters')),
  /**
   * Largest raw object loaded; larger ones are recorded as rejected (object_too_large). The largest load-raw writes
   * is one event (MAX_BODY_BYTES, 1 MiB, plus its attributes); measured under the image's 96 MiB old space, four
   * 1 MiB objects load at once and one 8 MiB object does not, so a bigger limit needs a bigger heap (NODE_OPTIONS).
   */
  MAX_OBJECT_BYTES: z.preprocess(emptyToUndefined, int(1024, 1024 * 1024 * 1024).default(2 * 1024 * 1024)),
  MIGRATE_ON_START: z.preprocess(emptyToUndefined, z.enum(['true', 'false']).default('false')),
  DB_POOL_MAX: z.preprocess(emptyToUndefined, int(1, 100).default(4)),
  /** Retention per dataset (whole partitions older than this are dropped by `npm run retention`); unset: keep all. */
  RETENTION_TRADES: opt(retention),
  RETENTION_TICKERS: opt(retention),
  RETENTION_ORDERBOOK: opt(retention),
  RETENTION_FUNDING: opt(retention),
});

const statusSchema = z.object({
  DB_POOL_MAX: z.preprocess(emptyToUndefined, int(1, 20).default(2)),
  /** The range the page shows when the request names none. */
  STATUS_DEFAULT_RANGE: durationOr('24h'),
  /** The longest range a request may ask for (the coverage strips grow with it). */
  STATUS_MAX_RANGE: durationOr('7d'),
  /** Dead letters read and shown per request (each is one S3 GET). */
  STATUS_DEAD_LETTER_LIMIT: z.preprocess(emptyToUndefined, int(0, 1000).default(50)),
  /** Each query is cancelled after this long (statement_timeout). */
  STATUS_QUERY_TIMEOUT_MS: z.preprocess(emptyToUndefined, int(100, 300_000).default(15_000)),
  /** /metrics: at most this many series get labels (the rest are counted in cryptopipe_metrics_series_dropped). */
  METRICS_MAX_SERIES: z.preprocess(emptyToUndefined, int(1, 100_000).default(5000)),
  /** /metrics: raw objects whose data begins this far back are checked against the ledger (one listing per series). */
  METRICS_LAKE_WINDOW: durationOr('1h'),
  /** /metrics: the lake window is listed again at most this often (scrapes in between reuse it). */
  METRICS_LAKE_REFRESH: durationOr('1m'),
});

const otlpHeaders = z.string().transform((v, ctx) => {
  const out: Record<string, string> = {};
  for (const part of v
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const at = part.indexOf('=');
    if (at <= 0) {
      ctx.addIssue({ code: 'custom', message: 'must be key=value pairs separated by commas' });
      return z.NEVER;
    }
    out[decodeURIComponent(part.slice(0, at).trim())] = decodeURIComponent(part.slice(at + 1).trim());
  }
  return out;
});

/** The standard OpenTelemetry exporter variables this project reads (OTLP over HTTP with JSON bodies). */
const telemetrySchema = z.object({
  OTEL_SDK_DISABLED: z.preprocess(emptyToUndefined, z.enum(['true', 'false']).default('false')),
  OTEL_EXPORTER_OTLP_ENDPOINT: opt(httpUrl),
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: opt(httpUrl),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: opt(httpUrl),
  OTEL_EXPORTER_OTLP_HEADERS: opt(otlpHeaders),
  OTEL_EXPORTER_OTLP_PROTOCOL: opt(
    z.enum(['http/json'], {
      error:
        'only http/json is exported here (an OpenTelemetry collector takes it on its OTLP/HTTP port, 4318)',
    }),
  ),
  OTEL_EXPORTER_OTLP_TIMEOUT: z.preprocess(emptyToUndefined, int(100, 120_000).default(10_000)),
  OTEL_METRIC_EXPORT_INTERVAL: z.preprocess(emptyToUndefined, int(1000, 3_600_000).default(60_000)),
  OTEL_SERVICE_NAME: opt(z.string().min(1).max(200)),
  OTEL_RESOURCE_ATTRIBUTES: opt(otlpHeaders),
});

/** Where and how the functions export their telemetry; undefined when OTEL_EXPORTER_OTLP_ENDPOINT is not set. */
export interface TelemetryConfig {
  serviceName: string;
  metricsUrl: string;
  tracesUrl: string;
  headers: Record<string, string>;
  resourceAttributes: Record<string, string>;
  timeoutMs: number;
  exportIntervalMs: number;
}

/**
 * Reads the OpenTelemetry variables: with OTEL_EXPORTER_OTLP_ENDPOINT (or a per-signal endpoint) the function exports
 * to `<endpoint>/v1/metrics` and `<endpoint>/v1/traces`; without, nothing is exported. `service` is the default
 * service.name (OTEL_SERVICE_NAME wins).
 */
export function loadTelemetryConfig(env: Env, service: string): TelemetryConfig | undefined {
  const t = parse(telemetrySchema, env);
  const base = t.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (
    t.OTEL_SDK_DISABLED === 'true' ||
    (!base && !t.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT && !t.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
  )
    return undefined;
  const under = (path: string) => (base ? `${base.replace(/\/+$/, '')}${path}` : undefined);
  const metricsUrl = t.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ?? under('/v1/metrics');
  const tracesUrl = t.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? under('/v1/traces');
  if (!metricsUrl || !tracesUrl)
    throw new ConfigError(
      'Invalid configuration:\n  OTEL_EXPORTER_OTLP_ENDPOINT: is required unless both OTEL_EXPORTER_OTLP_METRICS_ENDPOINT and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT are set',
    );
  return {
    serviceName: t.OTEL_SERVICE_NAME ?? service,
    metricsUrl,
    tracesUrl,
    headers: t.OTEL_EXPORTER_OTLP_HEADERS ?? {},
    resourceAttributes: t.OTEL_RESOURCE_ATTRIBUTES ?? {},
    timeoutMs: t.OTEL_EXPORTER_OTLP_TIMEOUT,
    exportIntervalMs: t.OTEL_METRIC_EXPORT_INTERVAL,
  };
}

/** S3/MinIO connection settings. */
export interface S3Settings {
  endpoint: string;
  region: string;
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  bucket: string;
  /**
   * New raw objects are written with a conditional PUT (`If-None-Match: *`) instead of a HEAD first; only where the
   * store honours the header (MinIO, S3): one that ignores it overwrites an object already there with the same bytes.
   */
  conditionalPut?: boolean;
}

/** PostgreSQL connection settings (DATABASE_URL wins over the POSTGRESQL_* parts). */
export interface DatabaseSettings {
  connectionString: string | undefined;
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
}

/** Settings every function shares. */
export interface CommonConfig {
  logLevel: 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';
  port: number;
  maxBodyBytes: number;
  s3: S3Settings;
  db: DatabaseSettings;
}

/** Settings of the transform function. */
export interface TransformConfig extends CommonConfig {
  authToken: string | undefined;
  maxObjectBytes: number;
  migrateOnStart: boolean;
  dbPoolMax: number;
  /** How long each dataset is kept (ms); a dataset not named is kept forever. */
  retention: Partial<Record<'trades' | 'tickers' | 'orderbook' | 'funding', number>>;
}

/** Settings of the status page (read-only: its database user should be the crypto_status role). */
export interface StatusConfig extends CommonConfig {
  dbPoolMax: number;
  defaultRangeMs: number;
  maxRangeMs: number;
  deadLetterLimit: number;
  queryTimeoutMs: number;
  metrics: { maxSeries: number; lakeWindowMs: number; lakeRefreshMs: number };
}

/** Settings of the extract function. */
export interface ExtractConfig extends CommonConfig {
  exchange: string;
  apiBaseUrl: string | undefined;
  sinkUrl: string;
  maxEventBytes: number;
  marketTypes: MarketType[];
  marketsTtlMs: number;
  exchangeTimeoutMs: number;
  retryWindowMs: number;
  retryBaseDelayMs: number;
  weightBudgetPerMinute: number | undefined;
  orderBookDepth: number;
  ohlcvPageLimit: number | undefined;
  maxPagesPerSeries: number;
  initialLookbackMs: number;
  maxCatchupMs: number;
  cursorStore: 's3' | 'none';
  sinkTimeoutMs: number;
  sinkRetries: number;
}

function parse<T extends z.ZodType>(schema: T, env: Env): z.output<T> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = issue.path.length > 0 ? String(issue.path[0]) : 'environment';
    const value =
      name in env && !/PASSWORD|SECRET|TOKEN|KEY|DATABASE_URL|HEADERS/.test(name)
        ? ` (got ${JSON.stringify(env[name])})`
        : '';
    return `${name}: ${issue.message}${value}`;
  });
  throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
}

/** Normalises MINIO_ENDPOINT (`host`, `host:port` or a URL) to a URL; MinIO's default port is 9000. */
function minioUrl(value: string): string {
  if (/^https?:\/\//.test(value)) return value;
  return value.includes(':') ? `http://${value}` : `http://${value}:9000`;
}

/** Parses the settings all functions share. Throws ConfigError naming each bad variable. */
export function loadCommonConfig(env: Env = process.env): CommonConfig {
  const c = parse(commonSchema, env);
  if (c.MINIO_ENDPOINT !== undefined && !URL.canParse(minioUrl(c.MINIO_ENDPOINT))) {
    throw new ConfigError(`Invalid configuration:\n  MINIO_ENDPOINT: must be host, host:port or a URL`);
  }
  return {
    logLevel: c.LOG_LEVEL,
    port: c.PORT,
    maxBodyBytes: c.MAX_BODY_BYTES,
    s3: {
      endpoint: c.S3_ENDPOINT ?? minioUrl(c.MINIO_ENDPOINT ?? 'minio.lxc.svc.cluster.local'),
      region: c.S3_REGION,
      accessKeyId: c.MINIO_USER ?? c.MINIO_ACCESS_KEY ?? c.AWS_ACCESS_KEY_ID,
      secretAccessKey: c.MINIO_PASSWORD ?? c.AWS_SECRET_ACCESS_KEY,
      bucket: c.RAW_BUCKET,
      conditionalPut: c.S3_CONDITIONAL_PUT === 'true',
    },
    db: {
      connectionString: c.DATABASE_URL,
      host: c.POSTGRESQL_HOST,
      port: c.POSTGRESQL_PORT,
      user: c.POSTGRESQL_USER,
      password: c.POSTGRESQL_PASSWORD,
      database: c.POSTGRESQL_DATABASE,
    },
  };
}

/**
 * Parses the extract function's settings. `knownExchanges` is the list of ccxt ids this build contains
 * (one per per-exchange bundle, all of ccxt otherwise).
 */
export function loadExtractConfig(env: Env = process.env, knownExchanges?: readonly string[]): ExtractConfig {
  const common = loadCommonConfig(env);
  const e = parse(extractSchema, env);
  if (knownExchanges && !knownExchanges.includes(e.EXCHANGE)) {
    const shown =
      knownExchanges.length > 12
        ? `${knownExchanges.slice(0, 12).join(', ')}, ...`
        : knownExchanges.join(', ');
    throw new ConfigError(
      `Invalid configuration:\n  EXCHANGE: '${e.EXCHANGE}' is not an exchange this build contains (${shown})`,
    );
  }
  return {
    ...common,
    exchange: e.EXCHANGE,
    apiBaseUrl: e.EXCHANGE_API_BASE_URL,
    sinkUrl: e.K_SINK,
    maxEventBytes: e.MAX_EVENT_BYTES,
    marketTypes: e.MARKET_TYPES,
    marketsTtlMs: e.MARKETS_TTL,
    exchangeTimeoutMs: e.EXCHANGE_TIMEOUT_MS,
    retryWindowMs: e.RETRY_WINDOW_MS,
    retryBaseDelayMs: e.RETRY_BASE_DELAY_MS,
    weightBudgetPerMinute: e.WEIGHT_BUDGET_PER_MINUTE,
    orderBookDepth: e.ORDERBOOK_DEPTH,
    ohlcvPageLimit: e.OHLCV_PAGE_LIMIT,
    maxPagesPerSeries: e.MAX_PAGES_PER_SERIES,
    initialLookbackMs: e.INITIAL_LOOKBACK,
    maxCatchupMs: e.MAX_CATCHUP,
    cursorStore: e.CURSOR_STORE,
    sinkTimeoutMs: e.SINK_TIMEOUT_MS,
    sinkRetries: e.SINK_RETRIES,
  };
}

/** Parses the transform function's settings. */
export function loadTransformConfig(env: Env = process.env): TransformConfig {
  const common = loadCommonConfig(env);
  const t = parse(transformSchema, env);
  return {
    ...common,
    authToken: t.TRANSFORM_AUTH_TOKEN,
    maxObjectBytes: t.MAX_OBJECT_BYTES,
    migrateOnStart: t.MIGRATE_ON_START === 'true',
    dbPoolMax: t.DB_POOL_MAX,
    retention: Object.fromEntries(
      (
        [
          ['trades', t.RETENTION_TRADES],
          ['tickers', t.RETENTION_TICKERS],
          ['orderbook', t.RETENTION_ORDERBOOK],
          ['funding', t.RETENTION_FUNDING],
        ] as const
      ).filter(([, ms]) => ms !== undefined),
    ),
  };
}

/** Parses the status page's settings: the database and S3 settings transform reads, and the page's limits. */
export function loadStatusConfig(env: Env = process.env): StatusConfig {
  const common = loadCommonConfig(env);
  const s = parse(statusSchema, env);
  if (s.STATUS_DEFAULT_RANGE > s.STATUS_MAX_RANGE) {
    throw new ConfigError(
      `Invalid configuration:\n  STATUS_DEFAULT_RANGE: must not be longer than STATUS_MAX_RANGE (${env['STATUS_MAX_RANGE'] ?? '7d'})`,
    );
  }
  return {
    ...common,
    dbPoolMax: s.DB_POOL_MAX,
    defaultRangeMs: s.STATUS_DEFAULT_RANGE,
    maxRangeMs: s.STATUS_MAX_RANGE,
    deadLetterLimit: s.STATUS_DEAD_LETTER_LIMIT,
    queryTimeoutMs: s.STATUS_QUERY_TIMEOUT_MS,
    metrics: {
      maxSeries: s.METRICS_MAX_SERIES,
      lakeWindowMs: s.METRICS_LAKE_WINDOW,
      lakeRefreshMs: s.METRICS_LAKE_REFRESH,
    },
  };
}
