// OTLP/HTTP JSON encoding of counters, gauges, histograms and spans (the shapes of opentelemetry-proto, JSON mapping:
// 64-bit integers as strings, trace and span ids as hex), and the POST that exports them.

/** An attribute set: string values only (bounded labels such as exchange, dataset, status). */
export type Attributes = Record<string, string>;

/** A cumulative counter point. */
export interface SumPoint {
  attributes: Attributes;
  value: number;
}

/** A last-value gauge point. */
export interface GaugePoint {
  attributes: Attributes;
  value: number;
}

/** A cumulative explicit-bucket histogram point. */
export interface HistogramPoint {
  attributes: Attributes;
  count: number;
  sum: number;
  bucketCounts: number[];
}

/** One metric with its points, as collected. */
export type MetricData =
  | { kind: 'sum'; name: string; description: string; unit: string; points: SumPoint[] }
  | { kind: 'gauge'; name: string; description: string; unit: string; points: GaugePoint[] }
  | {
      kind: 'histogram';
      name: string;
      description: string;
      unit: string;
      bounds: number[];
      points: HistogramPoint[];
    };

/** A finished span. */
export interface SpanData {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: 'server' | 'internal' | 'client';
  startNs: bigint;
  endNs: bigint;
  attributes: Attributes;
  error: string | undefined;
}

const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const;
/** AGGREGATION_TEMPORALITY_CUMULATIVE */
const CUMULATIVE = 2;

const kv = (attrs: Attributes) =>
  Object.entries(attrs).map(([key, value]) => ({ key, value: { stringValue: value } }));

/** The resource: service.name and the attributes OTEL_RESOURCE_ATTRIBUTES adds. */
function resource(service: string, extra: Attributes) {
  return { attributes: kv({ ...extra, 'service.name': service }) };
}

const SCOPE = { name: 'crypto-pipeline', version: '1' };

/** ExportMetricsServiceRequest as OTLP JSON. */
export function encodeMetrics(
  service: string,
  resourceAttributes: Attributes,
  startNs: bigint,
  nowNs: bigint,
  metrics: MetricData[],
): unknown {
  const times = { startTimeUnixNano: String(startNs), timeUnixNano: String(nowNs) };
  return {
    resourceMetrics: [
      {
        resource: resource(service, resourceAttributes),
        scopeMetrics: [
          {
            scope: SCOPE,
            metrics: metrics.map((m) => {
              const head = { name: m.name, description: m.description, unit: m.unit };
              if (m.kind === 'sum')
                return {
                  ...head,
                  sum: {
                    aggregationTemporality: CUMULATIVE,
                    isMonotonic: true,
                    dataPoints: m.points.map((p) => ({
                      attributes: kv(p.attributes),
                      ...times,
                      asDouble: p.value,
                    })),
                  },
                };
              if (m.kind === 'gauge')
                return {
                  ...head,
                  gauge: {
                    dataPoints: m.points.map((p) => ({
                      attributes: kv(p.attributes),
                      timeUnixNano: times.timeUnixNano,
                      asDouble: p.value,
                    })),
                  },
                };
              return {
                ...head,
                histogram: {
                  aggregationTemporality: CUMULATIVE,
                  dataPoints: m.points.map((p) => ({
                    attributes: kv(p.attributes),
                    ...times,
                    count: String(p.count),
                    sum: p.sum,
                    bucketCounts: p.bucketCounts.map(String),
                    explicitBounds: m.bounds,
                  })),
                },
              };
            }),
          },
        ],
      },
    ],
  };
}

/** ExportTraceServiceRequest as OTLP JSON. */
export function encodeSpans(service: string, resourceAttributes: Attributes, spans: SpanData[]): unknown {
  return {
    resourceSpans: [
      {
        resource: resource(service, resourceAttributes),
        scopeSpans: [
          {
            scope: SCOPE,
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: SPAN_KIND[s.kind],
              startTimeUnixNano: String(s.startNs),
              endTimeUnixNano: String(s.endNs),
              attributes: kv(s.attributes),
              status: s.error === undefined ? { code: 1 } : { code: 2, message: s.error },
            })),
          },
        ],
      },
    ],
  };
}

/** POSTs one OTLP JSON request; resolves with the status (an exporter never throws into the pipeline). */
export async function postOtlp(
  url: string,
  headers: Record<string, string>,
  body: unknown,
  timeoutMs: number,
): Promise<{ ok: boolean; status: number | undefined; reason: string }> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = res.ok ? '' : (await res.text()).slice(0, 200);
    return { ok: res.ok, status: res.status, reason: res.ok ? '' : `HTTP ${res.status}: ${text}` };
  } catch (err) {
    return { ok: false, status: undefined, reason: err instanceof Error ? err.message : String(err) };
  }
}
