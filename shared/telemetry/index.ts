// Per-function counters, histograms and spans exported with OTLP/HTTP JSON when OTEL_EXPORTER_OTLP_ENDPOINT is set;
// without it every call here does nothing. Spans continue the W3C traceparent a request brings.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { TelemetryConfig } from '../config.ts';
import { log, registerSecret } from '../log.ts';
import {
  encodeMetrics,
  encodeSpans,
  postOtlp,
  type Attributes,
  type MetricData,
  type SpanData,
} from './otlp.ts';

/** Request latency and load times in seconds: 5 ms to 1 min. */
const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Every instrument the functions record, with its kind, unit and meaning. Names are Prometheus-ready: the
 * collector's Prometheus exporter adds `_total` to counters (cryptopipe_exchange_responses_total).
 */
export const INSTRUMENTS = {
  cryptopipe_request_duration_seconds: {
    kind: 'histogram',
    unit: 's',
    description: 'Time to answer one request, by function, method and status.',
  },
  cryptopipe_exchange_calls: {
    kind: 'sum',
    unit: '{call}',
    description: 'HTTP calls extract made to the exchange.',
  },
  cryptopipe_exchange_responses: {
    kind: 'sum',
    unit: '{response}',
    description: 'Exchange answers by HTTP status (429 rate limited, 418 IP ban, 451 geo block).',
  },
  cryptopipe_exchange_retries: {
    kind: 'sum',
    unit: '{retry}',
    description: 'Exchange calls retried (network errors, 5xx, 429).',
  },
  cryptopipe_exchange_weight_used: {
    kind: 'sum',
    unit: '{weight}',
    description:
      "Request weight spent at the exchange (its rate-limit units); compare with the budget's rate.",
  },
  cryptopipe_exchange_weight_budget_per_minute: {
    kind: 'gauge',
    unit: '{weight}',
    description: 'Request weight extract allows itself per minute (WEIGHT_BUDGET_PER_MINUTE or from ccxt).',
  },
  cryptopipe_extract_records: {
    kind: 'sum',
    unit: '{record}',
    description: 'Records extract delivered, by exchange and dataset.',
  },
  cryptopipe_extract_events: {
    kind: 'sum',
    unit: '{event}',
    description: 'Batch CloudEvents extract sent to K_SINK and had accepted.',
  },
  cryptopipe_extract_bytes: {
    kind: 'sum',
    unit: 'By',
    description: 'Bytes of the batch events extract sent.',
  },
  cryptopipe_load_raw_objects: {
    kind: 'sum',
    unit: '{object}',
    description: 'Raw objects load-raw handled, written="true" when new bytes were stored.',
  },
  cryptopipe_load_raw_bytes: {
    kind: 'sum',
    unit: 'By',
    description: 'Bytes load-raw wrote to the raw bucket.',
  },
  cryptopipe_transform_objects: {
    kind: 'sum',
    unit: '{object}',
    description: 'Raw objects transform handled, by outcome: loaded, unchanged, rejected, failed.',
  },
  cryptopipe_transform_rows: {
    kind: 'sum',
    unit: '{row}',
    description: 'Rows transform wrote to PostgreSQL (its rate is rows per second).',
  },
  cryptopipe_transform_load_seconds: {
    kind: 'histogram',
    unit: 's',
    description: 'Time to load one raw object (read, check, write in one transaction).',
  },
} as const;

export type InstrumentName = keyof typeof INSTRUMENTS;

const MAX_SPANS = 4096;
/** Least time between two exports a request asks for (the interval and SIGTERM export regardless). */
const FLUSH_GAP_MS = 5_000;
const MAX_POINTS = 2000;

interface SpanContext {
  traceId: string;
  spanId: string;
}

/** The parts of a well-formed W3C traceparent (version 00, ids not all zero), else undefined. */
export function parseTraceparent(tp: string | undefined | null): SpanContext | undefined {
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(tp?.trim() ?? '');
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2] as string) || /^0+$/.test(m[3] as string)) return undefined;
  return { traceId: m[2] as string, spanId: m[3] as string };
}

const toTraceparent = (c: SpanContext) => `00-${c.traceId}-${c.spanId}-01`;
const WALL_NS = BigInt(Date.now()) * 1_000_000n;
const HR0 = process.hrtime.bigint();
/** Unix time in nanoseconds, monotonic within the process (wall clock at start plus the high-resolution clock). */
const nowNs = () => WALL_NS + (process.hrtime.bigint() - HR0);
const key = (a: Attributes) =>
  JSON.stringify(Object.entries(a).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));

/** The live instruments and finished spans of one process, and their export. */
class Telemetry {
  private readonly startNs = nowNs();
  private readonly sums = new Map<string, Map<string, { attributes: Attributes; value: number }>>();
  private readonly gauges = new Map<string, Map<string, { attributes: Attributes; value: number }>>();
  private readonly histograms = new Map<
    string,
    Map<string, { attributes: Attributes; count: number; sum: number; bucketCounts: number[] }>
  >();
  private spans: SpanData[] = [];
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private exporting: Promise<void> = Promise.resolve();
  private warned = false;
  private lastFlush = 0;

  constructor(readonly cfg: TelemetryConfig) {
    this.timer = setInterval(() => void this.flush(), cfg.exportIntervalMs);
    this.timer.unref();
  }

  private points<T>(store: Map<string, Map<string, T>>, name: string): Map<string, T> {
    let m = store.get(name);
    if (!m) store.set(name, (m = new Map()));
    return m;
  }

  add(name: InstrumentName, value: number, attributes: Attributes): void {
    const m = this.points(this.sums, name);
    const k = key(attributes);
    const p = m.get(k);
    if (p) p.value += value;
    else if (m.size < MAX_POINTS) m.set(k, { attributes, value });
  }

  set(name: InstrumentName, value: number, attributes: Attributes): void {
    const m = this.points(this.gauges, name);
    if (m.size < MAX_POINTS || m.has(key(attributes))) m.set(key(attributes), { attributes, value });
  }

  record(name: InstrumentName, value: number, attributes: Attributes): void {
    const m = this.points(this.histograms, name);
    const k = key(attributes);
    let p = m.get(k);
    if (!p) {
      if (m.size >= MAX_POINTS) return;
      p = { attributes, count: 0, sum: 0, bucketCounts: new Array<number>(SECONDS.length + 1).fill(0) };
      m.set(k, p);
    }
    p.count += 1;
    p.sum += value;
    const i = SECONDS.findIndex((b) => value <= b);
    const at = i < 0 ? SECONDS.length : i;
    p.bucketCounts[at] = (p.bucketCounts[at] as number) + 1;
  }

  span(s: SpanData): void {
    if (this.spans.length < MAX_SPANS) this.spans.push(s);
  }

  private metrics(): MetricData[] {
    const out: MetricData[] = [];
    const head = (name: string) => {
      const i = INSTRUMENTS[name as InstrumentName];
      return { name, description: i.description, unit: i.unit };
    };
    for (const [name, m] of this.sums) out.push({ kind: 'sum', ...head(name), points: [...m.values()] });
    for (const [name, m] of this.gauges) out.push({ kind: 'gauge', ...head(name), points: [...m.values()] });
    for (const [name, m] of this.histograms)
      out.push({
        kind: 'histogram',
        ...head(name),
        bounds: SECONDS,
        points: [...m.values()].map((p) => ({ ...p, bucketCounts: [...p.bucketCounts] })),
      });
    return out;
  }

  /**
   * Exports within a moment, at most once per FLUSH_GAP_MS: a busy function (transform under load) exports every few
   * seconds, not per request; one scaled to zero still exports its last requests (and serve flushes on SIGTERM).
   */
  flushSoon(): void {
    if (this.soon) return;
    const wait = Math.max(250, this.lastFlush + FLUSH_GAP_MS - Date.now());
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.flush();
    }, wait);
    this.soon.unref();
  }

  /** Exports the metrics (cumulative) and the spans finished since the last export; one export at a time. */
  flush(): Promise<void> {
    this.exporting = this.exporting.then(async () => {
      this.lastFlush = Date.now();
      const spans = this.spans;
      this.spans = [];
      const metrics = this.metrics();
      const { cfg } = this;
      const sent = await Promise.all([
        metrics.length === 0
          ? undefined
          : postOtlp(
              cfg.metricsUrl,
              cfg.headers,
              encodeMetrics(cfg.serviceName, cfg.resourceAttributes, this.startNs, nowNs(), metrics),
              cfg.timeoutMs,
            ),
        spans.length === 0
          ? undefined
          : postOtlp(
              cfg.tracesUrl,
              cfg.headers,
              encodeSpans(cfg.serviceName, cfg.resourceAttributes, spans),
              cfg.timeoutMs,
            ),
      ]);
      const failed = sent.find((r) => r && !r.ok);
      if (failed && !this.warned) {
        this.warned = true; // once: a collector that is down must not fill the log
        log.warn('telemetry export failed', { reason: failed.reason, endpoint: cfg.metricsUrl });
      } else if (!failed) this.warned = false;
    });
    return this.exporting;
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.soon);
  }
}

let active: Telemetry | undefined;
const current = new AsyncLocalStorage<SpanContext>();

/** Starts exporting with these settings (undefined: telemetry stays off). Replaces a previous start. */
export function startTelemetry(cfg: TelemetryConfig | undefined): void {
  active?.stop();
  // Header values are credentials of the collector (an API key): never in a log line.
  for (const v of Object.values(cfg?.headers ?? {})) registerSecret(v);
  active = cfg ? new Telemetry(cfg) : undefined;
  if (cfg)
    log.info('telemetry on', { service: cfg.serviceName, metrics: cfg.metricsUrl, traces: cfg.tracesUrl });
}

/** Exports what is pending and stops (tests; a process that ends). */
export async function stopTelemetry(): Promise<void> {
  const t = active;
  active = undefined;
  if (!t) return;
  t.stop();
  await t.flush();
}

/** Exports what is pending now (on SIGTERM, before the process ends). */
export async function flushTelemetry(): Promise<void> {
  await active?.flush();
}

/** Exports soon (after a request: a function scaled to zero may not see the next interval). */
export function flushTelemetrySoon(): void {
  active?.flushSoon();
}

/** True when telemetry is exported. */
export const telemetryOn = (): boolean => active !== undefined;

/** Adds to a counter. */
export function count(name: InstrumentName, value: number, attributes: Attributes = {}): void {
  if (value > 0 && Number.isFinite(value)) active?.add(name, value, attributes);
}

/** Sets a gauge. */
export function gauge(name: InstrumentName, value: number, attributes: Attributes = {}): void {
  if (Number.isFinite(value)) active?.set(name, value, attributes);
}

/** Records a value (seconds) in a histogram. */
export function observe(name: InstrumentName, value: number, attributes: Attributes = {}): void {
  if (Number.isFinite(value) && value >= 0) active?.record(name, value, attributes);
}

/** The traceparent of the span running now (for outgoing requests and object metadata), when telemetry is on. */
export function currentTraceparent(): string | undefined {
  const c = current.getStore();
  return c ? toTraceparent(c) : undefined;
}

/** A running span: attributes can be added until it ends. */
export interface ActiveSpan {
  setAttribute(key: string, value: string): void;
  fail(message: string): void;
}

const NOOP_SPAN: ActiveSpan = { setAttribute: () => undefined, fail: () => undefined };

/**
 * Runs `fn` in a span that continues `parent` (a traceparent; else the current span; else a new trace). Without
 * telemetry it only runs `fn`. A thrown error marks the span failed and is rethrown.
 */
export async function withSpan<T>(
  name: string,
  opts: { parent?: string | undefined; kind?: SpanData['kind']; attributes?: Attributes },
  fn: (span: ActiveSpan) => Promise<T>,
): Promise<T> {
  const t = active;
  if (!t) return fn(NOOP_SPAN);
  const parent = parseTraceparent(opts.parent) ?? current.getStore();
  const ctx: SpanContext = {
    traceId: parent?.traceId ?? randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
  };
  const data: SpanData = {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    parentSpanId: parent?.spanId,
    name,
    kind: opts.kind ?? 'internal',
    startNs: nowNs(),
    endNs: 0n,
    attributes: { ...opts.attributes },
    error: undefined,
  };
  const span: ActiveSpan = {
    setAttribute: (k, v) => {
      data.attributes[k] = v;
    },
    fail: (message) => {
      data.error = message;
    },
  };
  try {
    return await current.run(ctx, () => fn(span));
  } catch (err) {
    data.error ??= err instanceof Error ? err.message.slice(0, 300) : String(err);
    throw err;
  } finally {
    data.endNs = nowNs();
    t.span(data);
  }
}
