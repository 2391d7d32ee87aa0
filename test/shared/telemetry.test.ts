// OTLP export: nothing without OTEL_EXPORTER_OTLP_ENDPOINT; with it, a local receiver decodes the counters,
// histograms and spans, and one extraction is followed extract -> Broker -> load-raw -> object metadata -> transform.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadTelemetryConfig } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import {
  count,
  currentTraceparent,
  flushTelemetry,
  flushTelemetrySoon,
  parseTraceparent,
  startTelemetry,
  stopTelemetry,
  withSpan,
} from '../../shared/telemetry/index.ts';
import { startFakeExchange, type FakeExchange } from '../../scripts/offline/fake-exchange.ts';
import { extractUnderTest } from '../support/extract.ts';
import {
  listen,
  loadRawServer,
  post,
  postNotification,
  transformServer,
  type Listening,
} from '../support/pipeline.ts';
import { startDatabase, type TestDatabase } from '../support/postgres.ts';
import { startS3, type TestS3 } from '../support/s3.ts';
import { startSink, type TestSink } from '../support/sink.ts';

interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/** A tiny OTLP/HTTP receiver: decodes every JSON export it gets. */
async function startReceiver(): Promise<{ url: string; got: Received[]; close: () => Promise<void> }> {
  const got: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({
        path: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    got,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

type AnyValue = { stringValue: string };
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: AnyValue }>;
  status: { code: number };
}
interface OtlpPoint {
  attributes: Array<{ key: string; value: AnyValue }>;
  asDouble?: number;
  count?: string;
  bucketCounts?: string[];
}
interface OtlpMetric {
  name: string;
  sum?: { dataPoints: OtlpPoint[]; isMonotonic: boolean; aggregationTemporality: number };
  gauge?: { dataPoints: OtlpPoint[] };
  histogram?: { dataPoints: OtlpPoint[] };
}

const attrs = (p: { attributes: Array<{ key: string; value: AnyValue }> }) =>
  Object.fromEntries(p.attributes.map((a) => [a.key, a.value.stringValue]));

function spansOf(got: Received[]): OtlpSpan[] {
  return got
    .filter((g) => g.path === '/v1/traces')
    .flatMap((g) =>
      (g.body['resourceSpans'] as Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }>).flatMap((r) =>
        r.scopeSpans.flatMap((s) => s.spans),
      ),
    );
}

/** The newest export's metrics (cumulative: the last export holds every total). */
function metricsOf(got: Received[]): Map<string, OtlpMetric> {
  const last = got.filter((g) => g.path === '/v1/metrics').at(-1);
  const out = new Map<string, OtlpMetric>();
  if (!last) return out;
  for (const r of last.body['resourceMetrics'] as Array<{ scopeMetrics: Array<{ metrics: OtlpMetric[] }> }>)
    for (const s of r.scopeMetrics) for (const m of s.metrics) out.set(m.name, m);
  return out;
}

/** The value of a counter's point whose attributes include `match`. */
function sumOf(m: Map<string, OtlpMetric>, name: string, match: Record<string, string>): number {
  const points = m.get(name)?.sum?.dataPoints ?? [];
  return points
    .filter((p) => Object.entries(match).every(([k, v]) => attrs(p)[k] === v))
    .reduce((n, p) => n + (p.asDouble ?? 0), 0);
}

const NOW = Date.UTC(2026, 10, 24, 12, 0, 30);
const TOKEN = 'telemetry-test-token-0123456789';
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await stopTelemetry();
  await receiver?.close();
});
afterEach(async () => {
  await stopTelemetry();
  receiver.got.length = 0;
});

const settings = (service = 'test') => ({
  serviceName: service,
  metricsUrl: `${receiver.url}/v1/metrics`,
  tracesUrl: `${receiver.url}/v1/traces`,
  headers: { 'x-api-key': 'collector-key' },
  resourceAttributes: { 'deployment.environment': 'test' },
  timeoutMs: 5_000,
  exportIntervalMs: 60_000,
});

describe('telemetry settings', () => {
  it('are off without OTEL_EXPORTER_OTLP_ENDPOINT, and read the standard variables with it', () => {
    expect(loadTelemetryConfig({}, 'extract')).toBeUndefined();
    expect(
      loadTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }, 'x'),
    ).toBeUndefined();
    expect(
      loadTelemetryConfig(
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
          OTEL_EXPORTER_OTLP_HEADERS: 'api-key=a%3Db,x=y',
          OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod',
        },
        'extract',
      ),
    ).toEqual({
      serviceName: 'extract',
      metricsUrl: 'http://collector:4318/v1/metrics',
      tracesUrl: 'http://collector:4318/v1/traces',
      headers: { 'api-key': 'a=b', x: 'y' },
      resourceAttributes: { 'deployment.environment': 'prod' },
      timeoutMs: 10_000,
      exportIntervalMs: 60_000,
    });
  });

  it('a bad value stops start-up naming the variable', () => {
    expect(() => loadTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'x')).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
    expect(() =>
      loadTelemetryConfig(
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
        'x',
      ),
    ).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL: only http\/json/);
    // Headers hold the collector's credentials: a bad value is named, never echoed.
    let message = '';
    try {
      loadTelemetryConfig(
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_HEADERS: 'api-key-s3cr3t' },
        'x',
      );
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/OTEL_EXPORTER_OTLP_HEADERS: must be key=value pairs/);
    expect(message).not.toContain('s3cr3t');
  });
});

describe('without an endpoint', () => {
  it('exports nothing and adds no traceparent anywhere', async () => {
    startTelemetry(undefined);
    count('cryptopipe_exchange_calls', 1, { exchange: 'binance' });
    let inside: string | undefined = 'unset';
    await withSpan('x', { parent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, async () => {
      inside = currentTraceparent();
    });
    expect(inside).toBeUndefined();
    await flushTelemetry();
    expect(receiver.got).toEqual([]);
  });
});

describe('OTLP export', () => {
  it('sends counters, gauges and histograms as OTLP JSON with the configured headers and resource', async () => {
    startTelemetry(settings('unit'));
    count('cryptopipe_exchange_responses', 1, { exchange: 'binance', status: '429' });
    count('cryptopipe_exchange_responses', 2, { exchange: 'binance', status: '429' });
    count('cryptopipe_exchange_responses', 1, { exchange: 'binance', status: '418' });
    await flushTelemetry();
    const [exp] = receiver.got;
    expect(exp?.path).toBe('/v1/metrics');
    expect(exp?.headers['x-api-key']).toBe('collector-key');
    expect(exp?.headers['content-type']).toBe('application/json');
    const resource = (
      exp?.body['resourceMetrics'] as Array<{ resource: { attributes: OtlpPoint['attributes'] } }>
    )[0]?.resource;
    expect(attrs(resource as never)).toEqual({ 'service.name': 'unit', 'deployment.environment': 'test' });
    const m = metricsOf(receiver.got);
    const responses = m.get('cryptopipe_exchange_responses');
    expect(responses?.sum?.isMonotonic).toBe(true);
    expect(responses?.sum?.aggregationTemporality).toBe(2);
    expect(sumOf(m, 'cryptopipe_exchange_responses', { status: '429' })).toBe(3);
    expect(sumOf(m, 'cryptopipe_exchange_responses', { status: '418' })).toBe(1);
  });

  it('exports shortly after requests, but a burst of requests shares one export and the next waits 5 s', async () => {
    startTelemetry(settings('burst'));
    for (let i = 0; i < 50; i++) {
      count('cryptopipe_transform_objects', 1, { exchange: 'binance', dataset: 'ohlcv', outcome: 'loaded' });
      flushTelemetrySoon();
    }
    await new Promise((r) => setTimeout(r, 600));
    expect(receiver.got.filter((g) => g.path === '/v1/metrics')).toHaveLength(1);
    expect(sumOf(metricsOf(receiver.got), 'cryptopipe_transform_objects', { outcome: 'loaded' })).toBe(50);
    flushTelemetrySoon();
    await new Promise((r) => setTimeout(r, 1000));
    expect(receiver.got.filter((g) => g.path === '/v1/metrics')).toHaveLength(1);
  });

  it('follows one extraction extract -> Broker -> load-raw -> object metadata -> transform in one trace', async () => {
    startTelemetry(settings('chain'));
    let fake: FakeExchange | undefined;
    let sink: TestSink | undefined;
    let db: TestDatabase | undefined;
    let s3: TestS3 | undefined;
    let loadRaw: Listening | undefined;
    let transform: Listening | undefined;
    try {
      [fake, sink, db, s3] = await Promise.all([
        startFakeExchange({ exchange: 'binance', now: NOW }),
        startSink(),
        startDatabase(),
        startS3(),
      ]);
      // One 429 (retried) on the candles: counted by status, and as a retry.
      fake.addFault({ pathPrefix: '/api/v3/klines', status: 429, times: 1 });
      loadRaw = await listen(loadRawServer(s3.settings));
      transform = await listen(transformServer(s3.settings, db.pool, TOKEN));
      const extract = extractUnderTest({
        exchange: 'binance',
        apiBaseUrl: fake.url,
        sinkUrl: sink.url,
        now: NOW,
        env: { CURSOR_STORE: 'none' },
      });
      // The Broker's traceparent of the tick.
      const tick = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const summary = await request(extract.server)
        .post('/')
        .set('traceparent', tick)
        .send({ datasets: ['ohlcv'], symbols: ['BTC/USDT'], timeframe: '1m', lookback: 'PT10M' })
        .expect(200);
      const records = (summary.body as { series: Array<{ records: number }> }).series[0]?.records ?? 0;
      expect(records).toBeGreaterThan(0);
      // extract -> Broker: the batch went with extract's span as traceparent, in the tick's trace.
      const sent = sink.messages[0];
      const extractSpan = parseTraceparent(sent?.headers['traceparent']);
      expect(extractSpan?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(extractSpan?.spanId).not.toBe('00f067aa0ba902b7');
      // Broker -> load-raw, as the Broker delivers: the same CloudEvent headers and body, the traceparent passed on.
      const forwarded = Object.fromEntries(
        Object.entries(sent?.headers ?? {}).filter(
          ([k]) => k.startsWith('ce-') || k === 'content-type' || k === 'traceparent',
        ),
      );
      const delivered = await post(`${loadRaw.url}/`, sent?.body ?? '', forwarded);
      expect(delivered.status).toBe(204);
      const key = decodeURI(delivered.headers.get('x-object-key') ?? '');
      // load-raw -> MinIO: the object's metadata holds load-raw's span.
      const head = await s3.client.send(new HeadObjectCommand({ Bucket: s3.settings.bucket, Key: key }));
      const loadRawSpan = parseTraceparent(head.Metadata?.['traceparent']);
      expect(loadRawSpan?.traceId).toBe(extractSpan?.traceId);
      // MinIO -> transform: the notification carries the object's user metadata, as MinIO's does.
      const answer = await postNotification(
        `${transform.url}/`,
        {
          EventName: 's3:ObjectCreated:Put',
          Key: `${s3.settings.bucket}/${key}`,
          Records: [
            {
              eventName: 's3:ObjectCreated:Put',
              s3: {
                bucket: { name: s3.settings.bucket },
                object: {
                  key,
                  eTag: head.ETag?.replace(/"/g, ''),
                  userMetadata: { 'X-Amz-Meta-Traceparent': head.Metadata?.['traceparent'] },
                },
              },
            },
          ],
        },
        TOKEN,
      );
      expect(answer.status).toBe(200);
      const loaded = (JSON.parse(answer.text) as { results: Array<{ status: string; rows: number }> })
        .results[0];
      expect(loaded?.status).toBe('loaded');

      await flushTelemetry();
      const spans = spansOf(receiver.got);
      const byId = new Map(spans.map((s) => [s.spanId, s]));
      const ex = byId.get(extractSpan?.spanId ?? '');
      expect(ex).toMatchObject({ name: 'extract POST', kind: 2 });
      expect(ex?.parentSpanId).toBe('00f067aa0ba902b7');
      const lr = byId.get(loadRawSpan?.spanId ?? '');
      expect(lr?.name).toBe('load-raw POST');
      expect(lr?.parentSpanId).toBe(extractSpan?.spanId);
      const tr = spans.find((s) => s.name === 'transform load');
      expect(tr?.traceId).toBe(extractSpan?.traceId);
      expect(tr?.parentSpanId).toBe(loadRawSpan?.spanId);
      expect(attrs(tr as never)).toMatchObject({ exchange: 'binance', dataset: 'ohlcv', outcome: 'loaded' });

      const m = metricsOf(receiver.got);
      const binance = { exchange: 'binance' };
      expect(sumOf(m, 'cryptopipe_exchange_responses', { ...binance, status: '429' })).toBe(1);
      expect(sumOf(m, 'cryptopipe_exchange_retries', binance)).toBe(1);
      expect(sumOf(m, 'cryptopipe_exchange_calls', binance)).toBe(
        sumOf(m, 'cryptopipe_exchange_responses', binance),
      );
      expect(sumOf(m, 'cryptopipe_exchange_weight_used', binance)).toBeGreaterThan(0);
      expect(m.get('cryptopipe_exchange_weight_budget_per_minute')?.gauge?.dataPoints[0]?.asDouble).toBe(
        extract.client.budget.limitPerMinute,
      );
      expect(sumOf(m, 'cryptopipe_extract_records', { ...binance, dataset: 'ohlcv' })).toBe(records);
      expect(sumOf(m, 'cryptopipe_extract_events', { ...binance, dataset: 'ohlcv' })).toBe(
        sink.events.length,
      );
      expect(sumOf(m, 'cryptopipe_load_raw_objects', { ...binance, written: 'true' })).toBe(1);
      expect(sumOf(m, 'cryptopipe_transform_objects', { ...binance, outcome: 'loaded' })).toBe(1);
      expect(sumOf(m, 'cryptopipe_transform_rows', { ...binance, dataset: 'ohlcv' })).toBe(loaded?.rows);
      const latency = m.get('cryptopipe_request_duration_seconds')?.histogram?.dataPoints ?? [];
      const fns = latency.map((p) => attrs(p)['function']);
      expect(fns).toEqual(expect.arrayContaining(['extract', 'load-raw', 'transform']));
      for (const p of latency)
        expect(p.bucketCounts?.reduce((n, c) => n + Number(c), 0)).toBe(Number(p.count));
    } finally {
      await loadRaw?.close();
      await transform?.close();
      await fake?.close();
      await sink?.close();
      await db?.close();
      await s3?.close();
    }
  }, 60_000);
});
