// The project's CloudEvent types and their data schemas (zod), versioned by SCHEMA_VERSION.
import { z } from 'zod';
import { parseDuration, parseInstant, parseTimeframe } from '../time.ts';

/** Version of every data schema below; bumped on an incompatible change. Carried in data and as an extension. */
export const SCHEMA_VERSION = 1;

/** CloudEvent `type` attributes of this pipeline. */
export const EventType = {
  /** Ask an extract function for data (PingSource payload, operator commands, curl). */
  extractRequest: 'cryptopipe.extract.request',
  /** One chunk of extracted records (extract -> broker -> load-raw). */
  extractBatch: 'cryptopipe.extract.batch',
  /** What one extract request delivered (the reply of extract). */
  extractSummary: 'cryptopipe.extract.summary',
} as const;

/** Datasets extract can fetch. */
export const DATASETS = ['markets', 'ohlcv', 'trades', 'tickers', 'orderbook', 'funding'] as const;
export type Dataset = (typeof DATASETS)[number];

/** Market types ccxt knows: a request's `marketTypes` and the deployment's MARKET_TYPES pick among them. */
export const MARKET_TYPES = ['spot', 'swap', 'future', 'option'] as const;
export type MarketType = (typeof MARKET_TYPES)[number];

/** A decimal as the exchange wrote it (kept as text so PostgreSQL NUMERIC stores it exactly). */
export const decimal = z.string().regex(/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, 'must be a decimal string');
const nullableDecimal = decimal.nullable();
const epochMs = z.number().int().nonnegative();

const instant = z
  .union([z.number(), z.string()])
  .refine((v) => parseInstant(v) !== undefined, 'must be epoch milliseconds or an ISO-8601 UTC time')
  .transform((v) => parseInstant(v) as number);

const symbol = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9/:._-]*$/, 'must be a ccxt symbol such as BTC/USDT or BTC/USDT:USDT');

/** An extract request: what a PingSource, an operator command or curl sends. */
export const extractRequestSchema = z
  .strictObject({
    /** When present it must be the exchange of this deployment. */
    exchange: z.string().min(1).max(32).optional(),
    datasets: z.array(z.enum(DATASETS)).min(1).max(DATASETS.length),
    symbols: z.array(symbol).min(1).max(500).optional(),
    timeframe: z
      .string()
      .refine((v) => parseTimeframe(v) !== undefined, 'must be a timeframe such as 1m, 5m, 1h, 1d')
      .default('1m'),
    since: instant.optional(),
    until: instant.optional(),
    /** Window ending now (or at `until`), e.g. `PT2H`, `90m`, `7d`. */
    lookback: z
      .string()
      .refine((v) => parseDuration(v) !== undefined, 'must be a duration such as PT2H, 90m or 7d')
      .transform((v) => parseDuration(v) as number)
      .optional(),
    /** Order-book levels per side. */
    depth: z.number().int().min(1).max(5000).optional(),
    /** Market types for the `markets` dataset (default: the deployment's MARKET_TYPES). */
    marketTypes: z.array(z.enum(MARKET_TYPES)).min(1).optional(),
    /** Free-form id of the caller's run, echoed in logs and events. */
    runId: z.string().max(128).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.lookback !== undefined && r.since !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'give either since or lookback, not both',
        path: ['lookback'],
      });
    }
    if (r.since !== undefined && r.until !== undefined && r.until <= r.since) {
      ctx.addIssue({ code: 'custom', message: 'until must be after since', path: ['until'] });
    }
    const needSymbols = r.datasets.filter((d) => d === 'ohlcv' || d === 'trades' || d === 'orderbook');
    if (needSymbols.length > 0 && r.symbols === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `symbols are required for ${needSymbols.join(', ')}`,
        path: ['symbols'],
      });
    }
  });
export type ExtractRequest = z.output<typeof extractRequestSchema>;

/** One OHLCV candle; `closed` is true only when its interval has ended. */
export const ohlcvRecord = z.strictObject({
  ts: epochMs,
  open: decimal,
  high: decimal,
  low: decimal,
  close: decimal,
  volume: nullableDecimal,
  closed: z.boolean(),
});

/** One public trade; every decimal is the exchange's text. */
export const tradeRecord = z.strictObject({
  /** The exchange's trade id; without one `seq:<the exchange's sequence>`, else `h:<hash>:<ordinal in the page>`. */
  id: z.string().min(1),
  ts: epochMs,
  side: z.enum(['buy', 'sell']).nullable(),
  price: decimal,
  amount: decimal,
  /** Only when the exchange sent it; ccxt's price x amount is not stored (see the `trades_derived` view). */
  cost: nullableDecimal,
  takerOrMaker: z.enum(['taker', 'maker']).nullable(),
});

/**
 * One ticker snapshot. Every decimal is the exchange's text, or null when the exchange did not send it (ccxt's
 * derived open, change, percentage, vwap and volumes are not stored: see the `ticker_snapshots_derived` view).
 */
export const tickerRecord = z.strictObject({
  symbol,
  ts: epochMs,
  exchangeTs: epochMs.nullable(),
  bid: nullableDecimal,
  bidVolume: nullableDecimal,
  ask: nullableDecimal,
  askVolume: nullableDecimal,
  last: nullableDecimal,
  open: nullableDecimal,
  high: nullableDecimal,
  low: nullableDecimal,
  vwap: nullableDecimal,
  baseVolume: nullableDecimal,
  quoteVolume: nullableDecimal,
  change: nullableDecimal,
  percentage: nullableDecimal,
  markPrice: nullableDecimal,
  indexPrice: nullableDecimal,
});

/** One level of an order-book snapshot (one record per level keeps chunks small and rows relational). */
export const orderBookLevelRecord = z.strictObject({
  ts: epochMs,
  exchangeTs: epochMs.nullable(),
  nonce: z.string().nullable(),
  side: z.enum(['bid', 'ask']),
  level: z.number().int().nonnegative(),
  price: decimal,
  amount: decimal,
});

/** One funding-rate snapshot of a swap market. */
export const fundingRecord = z.strictObject({
  symbol,
  ts: epochMs,
  exchangeTs: epochMs.nullable(),
  fundingRate: nullableDecimal,
  fundingTs: epochMs.nullable(),
  nextFundingTs: epochMs.nullable(),
  markPrice: nullableDecimal,
  indexPrice: nullableDecimal,
  interval: z.string().nullable(),
});

/** One instrument (market) as ccxt unifies it, with the exchange's own description in `info`. */
export const marketRecord = z.strictObject({
  symbol,
  id: z.string(),
  type: z.string(),
  base: z.string(),
  quote: z.string(),
  settle: z.string().nullable(),
  active: z.boolean().nullable(),
  linear: z.boolean().nullable(),
  inverse: z.boolean().nullable(),
  contractSize: nullableDecimal,
  expiry: epochMs.nullable(),
  strike: nullableDecimal,
  optionType: z.string().nullable(),
  pricePrecision: nullableDecimal,
  amountPrecision: nullableDecimal,
  minAmount: nullableDecimal,
  minCost: nullableDecimal,
  maker: nullableDecimal,
  taker: nullableDecimal,
  info: z.unknown(),
});

export type OhlcvRecord = z.output<typeof ohlcvRecord>;
export type TradeRecord = z.output<typeof tradeRecord>;
export type TickerRecord = z.output<typeof tickerRecord>;
export type OrderBookLevelRecord = z.output<typeof orderBookLevelRecord>;
export type FundingRecord = z.output<typeof fundingRecord>;
export type MarketRecord = z.output<typeof marketRecord>;

/** Record schema per dataset. */
export const recordSchemas = {
  markets: marketRecord,
  ohlcv: ohlcvRecord,
  trades: tradeRecord,
  tickers: tickerRecord,
  orderbook: orderBookLevelRecord,
  funding: fundingRecord,
} as const satisfies Record<Dataset, z.ZodType>;

/** Record type per dataset. */
export interface RecordOf {
  markets: MarketRecord;
  ohlcv: OhlcvRecord;
  trades: TradeRecord;
  tickers: TickerRecord;
  orderbook: OrderBookLevelRecord;
  funding: FundingRecord;
}

const windowSchema = z.strictObject({ since: epochMs, until: epochMs });

const batchBase = {
  schemaVersion: z.literal(SCHEMA_VERSION),
  /** A ccxt id (or an id of the same alphabet): it becomes a key segment, so no `/`, `.` or anything else. */
  exchange: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'must be a ccxt exchange id such as binance'),
  /** Null for datasets that cover many symbols in one batch (markets, tickers, funding). */
  symbol: symbol.nullable(),
  /** A key segment too: only a timeframe such as 1m, 1h, 1d. */
  timeframe: z
    .string()
    .max(8)
    .refine((v) => parseTimeframe(v) !== undefined, 'must be a timeframe such as 1m')
    .nullable(),
  requestId: z.string().min(1),
  extractedAt: epochMs,
  /** The time range this series covers (ohlcv, trades); null for snapshots. */
  window: windowSchema.nullable(),
  /** Id shared by all chunks of one series; the event id is `${batchId}.${index}`. */
  batchId: z.string().min(1),
  chunk: z
    .strictObject({ index: z.number().int().nonnegative(), count: z.number().int().positive() })
    .refine((c) => c.index < c.count, 'chunk.index must be below chunk.count'),
};

/** The data of an extract batch event: one chunk of one series. */
export const extractBatchSchema = z.discriminatedUnion('dataset', [
  z.strictObject({ ...batchBase, dataset: z.literal('markets'), records: z.array(marketRecord) }),
  z.strictObject({ ...batchBase, dataset: z.literal('ohlcv'), records: z.array(ohlcvRecord) }),
  z.strictObject({ ...batchBase, dataset: z.literal('trades'), records: z.array(tradeRecord) }),
  z.strictObject({ ...batchBase, dataset: z.literal('tickers'), records: z.array(tickerRecord) }),
  z.strictObject({ ...batchBase, dataset: z.literal('orderbook'), records: z.array(orderBookLevelRecord) }),
  z.strictObject({ ...batchBase, dataset: z.literal('funding'), records: z.array(fundingRecord) }),
]);
export type ExtractBatch = z.output<typeof extractBatchSchema>;

const DECIMAL = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** True for text `decimal` accepts: the common `-?digits[.digits]` form by a scan, anything else by its regex. */
function isDecimal(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const n = v.length;
  let i = v.charCodeAt(0) === 45 ? 1 : 0; // '-'
  const digitsFrom = i;
  while (i < n && v.charCodeAt(i) >= 48 && v.charCodeAt(i) <= 57) i++;
  if (i > digitsFrom && i < n && v.charCodeAt(i) === 46) {
    i++;
    while (i < n && v.charCodeAt(i) >= 48 && v.charCodeAt(i) <= 57) i++;
  }
  return (i === n && i > digitsFrom) || DECIMAL.test(v);
}

/** True when `r` is exactly what ohlcvRecord accepts (same keys, same checks), without building a new object. */
function isOhlcvRecord(r: unknown): boolean {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) return false;
  const o = r as Record<string, unknown>;
  let keys = 0;
  for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k)) keys++;
  const ts = o['ts'];
  return (
    keys === 7 &&
    typeof ts === 'number' &&
    Number.isSafeInteger(ts) &&
    ts >= 0 &&
    isDecimal(o['open']) &&
    isDecimal(o['high']) &&
    isDecimal(o['low']) &&
    isDecimal(o['close']) &&
    (o['volume'] === null || isDecimal(o['volume'])) &&
    typeof o['closed'] === 'boolean'
  );
}

/** Every element (holes too, which zod refuses) an OHLCV record. */
export function allOhlcv(records: unknown[]): boolean {
  for (let i = 0; i < records.length; i++) if (!isOhlcvRecord(records[i])) return false;
  return true;
}

/**
 * extractBatchSchema.safeParse with the same verdict, faster for candles: OHLCV records are checked by hand and zod
 * reads only the envelope; a record the hand check refuses sends the whole batch through zod, whose answer (and
 * message) is the one returned. The hand check accepts nothing zod refuses, so both paths agree.
 */
export function parseExtractBatch(data: unknown): ReturnType<typeof extractBatchSchema.safeParse> {
  if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
    const d = data as Record<string, unknown>;
    const records = d['records'];
    if (d['dataset'] === 'ohlcv' && Array.isArray(records) && allOhlcv(records)) {
      const envelope = extractBatchSchema.safeParse({ ...d, records: [] });
      if (envelope.success) {
        (envelope.data as { records: unknown[] }).records = records;
        return envelope;
      }
    }
  }
  return extractBatchSchema.safeParse(data);
}

/** A time range the extraction could not deliver, and why. */
export const missingRangeSchema = z.strictObject({
  since: epochMs,
  until: epochMs,
  reason: z.string(),
  /** True when asking again can fill it (e.g. a page limit); false when the exchange cannot serve it. */
  retryable: z.boolean(),
});
export type MissingRange = z.output<typeof missingRangeSchema>;

/** What one series of an extract request delivered. */
export const seriesSummarySchema = z.strictObject({
  dataset: z.enum(DATASETS),
  symbol: z.string().nullable(),
  timeframe: z.string().nullable(),
  records: z.number().int().nonnegative(),
  closed: z.number().int().nonnegative().nullable(),
  first: epochMs.nullable(),
  last: epochMs.nullable(),
  window: windowSchema.nullable(),
  /** True when the window was cut at MAX_CATCHUP and the next run continues. */
  caughtUp: z.boolean(),
  pages: z.number().int().nonnegative(),
  events: z.number().int().nonnegative(),
  missing: z.array(missingRangeSchema),
});
export type SeriesSummary = z.output<typeof seriesSummarySchema>;

/** The data of an extract summary event (and the JSON answer to a curl request). */
export const extractSummarySchema = z.strictObject({
  schemaVersion: z.literal(SCHEMA_VERSION),
  exchange: z.string(),
  requestId: z.string(),
  runId: z.string().nullable(),
  startedAt: epochMs,
  finishedAt: epochMs,
  series: z.array(seriesSummarySchema),
  exchangeRequests: z.number().int().nonnegative(),
  retries: z.number().int().nonnegative(),
  weightUsed: z.number().nonnegative(),
  events: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
});
export type ExtractSummary = z.output<typeof extractSummarySchema>;

/** Turns zod issues into one readable line per problem, e.g. `symbols.0: must be a ccxt symbol`. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(body)'}: ${i.message}`);
}
