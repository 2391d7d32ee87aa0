// Hostile input, property-based (fast-check), against every endpoint: malformed CloudEvents, wrong content types,
// invalid JSON, oversized and deeply nested bodies, wrong schemas, path tricks in object keys, SQL in symbols.
// Only 4xx with a message (or transform's designed 2xx acknowledgement), never a 5xx, no write outside the bucket's
// prefixes, no row from bad input.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvent, toBinary, toStructured } from '../../shared/events/cloudevent.ts';
import { EventType } from '../../shared/events/schemas.ts';
import { minioEscape } from '../../scripts/local/notifier.ts';
import { startFakeExchange, type FakeExchange } from '../../scripts/offline/fake-exchange.ts';
import { seriesEvents } from '../support/batches.ts';
import { extractUnderTest } from '../support/extract.ts';
import { startLake, type Lake } from '../support/lake.ts';
import {
  deadLetterServer,
  listen,
  loadRawServer,
  post,
  transformServer,
  type Answer,
  type Listening,
} from '../support/pipeline.ts';
import { startDatabase, type TestDatabase } from '../support/postgres.ts';
import { DATA_TABLES, rowCounts } from '../support/reliability.ts';
import { startSink, type TestSink } from '../support/sink.ts';

const TOKEN = 'hostile-token-0123456789abcdef';
const BUCKET = 'hostile-raw';
const MAX_BODY = 16 * 1024;
const NOW = Date.UTC(2026, 10, 24, 12, 0, 30);
const RUNS = Number(process.env['HOSTILE_RUNS'] ?? 80);
/** fast-check parameters; HOSTILE_SEED replays the seed a failure printed (with the same HOSTILE_RUNS). */
function runs(numRuns: number): { numRuns: number; seed?: number } {
  const seed = process.env['HOSTILE_SEED'];
  return { numRuns, ...(seed ? { seed: Number(seed) } : {}) };
}
/** Where the functions may write in the bucket: batches and dead letters (extract's cursors are off here). */
const ALLOWED_PREFIXES = ['exchange=', '_dead-letters/'];

interface Endpoint {
  name: 'extract' | 'load-raw' | 'transform' | 'dead-letter';
  url: string;
  /** A CloudEvent type the endpoint accepts. */
  type: string;
  headers: Record<string, string>;
}

let lake: Lake;
let db: TestDatabase;
let fake: FakeExchange;
let sink: TestSink;
const servers: Listening[] = [];
const endpoints: Endpoint[] = [];
const env = { MAX_BODY_BYTES: String(MAX_BODY) };

beforeAll(async () => {
  [lake, db, fake, sink] = await Promise.all([
    startLake(),
    startDatabase(),
    startFakeExchange({ exchange: 'binance', now: NOW }),
    startSink(),
  ]);
  await lake.createBucket(BUCKET);
  const s3 = lake.settings(BUCKET);
  const extract = extractUnderTest({
    exchange: 'binance',
    apiBaseUrl: fake.url,
    sinkUrl: sink.url,
    now: NOW,
    env: { ...env, CURSOR_STORE: 'none' },
  });
  const up = async (name: Endpoint['name'], server: Listening['server'], type: string, headers = {}) => {
    const l = await listen(server);
    servers.push(l);
    endpoints.push({ name, url: l.url, type, headers });
  };
  await up('extract', extract.server, EventType.extractRequest);
  await up('load-raw', loadRawServer(s3, env), EventType.extractBatch);
  await up('transform', transformServer(s3, db.pool, TOKEN, env), 'dev.minio.notification', {
    authorization: `Bearer ${TOKEN}`,
  });
  await up('dead-letter', deadLetterServer(s3, env), EventType.extractBatch);
}, 60_000);

afterAll(async () => {
  for (const s of servers) await s.close();
  await sink?.close();
  await fake?.close();
  await db?.close();
  await lake?.close();
});

/** A refusal as designed: a 4xx whose JSON body names the error and explains it. */
function expectRefused(a: Answer, what: string): void {
  expect(a.status, `${what}: ${a.status} ${a.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(a.status, `${what}: ${a.status} ${a.text.slice(0, 300)}`).toBeLessThan(500);
  const body = JSON.parse(a.text) as { error?: unknown; message?: unknown };
  expect(typeof body.error, what).toBe('string');
  expect(typeof body.message, what).toBe('string');
  expect((body.message as string).length, what).toBeGreaterThan(0);
}

/** Never a 5xx or a dropped connection; a 4xx carries a message. */
function expectNoServerError(a: Answer, what: string): void {
  expect(a.status, `${what}: ${a.status} ${a.text.slice(0, 300)}`).toBeGreaterThanOrEqual(200);
  expect(a.status, `${what}: ${a.status} ${a.text.slice(0, 300)}`).toBeLessThan(500);
  if (a.status >= 400) expectRefused(a, what);
}

const endpointArb = () => fc.constantFrom(...endpoints);
const printable = (maxLength = 40) => fc.string({ maxLength });
const T0 = Date.UTC(2026, 10, 24);
const validBatch = () =>
  seriesEvents(
    { exchange: 'binance', dataset: 'ohlcv', symbol: 'BTC/USDT', timeframe: '1m', extractedAt: T0 },
    [{ ts: T0, open: '1.5', high: '2', low: '1', close: '1.5', volume: '3', closed: true }],
  )[0]!;

describe('hostile input', () => {
  it('malformed CloudEvent headers (specversion wrong or missing, unknown type, missing id/source): 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        endpointArb(),
        fc.record({
          specversion: fc.option(fc.oneof(fc.constantFrom('0.3', '2.0', '1', '1.0.0', ''), printable(8)), {
            nil: undefined,
          }),
          id: fc.option(printable(), { nil: undefined }),
          source: fc.option(fc.constantFrom('/x', 'not a uri %%', ''), { nil: undefined }),
          type: fc.option(fc.oneof(fc.constantFrom('com.evil.unknown', ''), printable()), { nil: undefined }),
        }),
        fc.jsonValue({ maxDepth: 3 }),
        async (ep, attrs, data) => {
          const headers: Record<string, string> = { 'content-type': 'application/json', ...ep.headers };
          for (const [k, v] of Object.entries(attrs)) if (v !== undefined) headers[`ce-${k}`] = v;
          // At least one ce-* header (binary mode), and the event is wrong: not all of 1.0 + id + source + known type.
          headers['ce-specversion'] ??= '0.3';
          const valid =
            headers['ce-specversion'] === '1.0' &&
            !!headers['ce-id'] &&
            headers['ce-source'] === '/x' &&
            headers['ce-type'] === ep.type;
          fc.pre(!valid && !(ep.name === 'dead-letter' && headers['ce-specversion'] === '1.0'));
          const a = await post(ep.url, JSON.stringify(data ?? null), headers);
          expectRefused(a, `${ep.name} ${JSON.stringify(attrs)}`);
        },
      ),
      runs(RUNS),
    );
  });

  it('a structured CloudEvent with a wrong specversion or an unknown type: 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        endpointArb(),
        fc.constantFrom('0.3', '2.0', 'x'),
        printable(),
        async (ep, specversion, type) => {
          const body = JSON.stringify({ specversion, id: 'i', source: '/s', type: `zz.${type}`, data: {} });
          const a = await post(ep.url, body, {
            'content-type': 'application/cloudevents+json',
            ...ep.headers,
          });
          expectRefused(a, `${ep.name} ${specversion} ${type}`);
        },
      ),
      runs(RUNS),
    );
  });

  it('wrong content types: 4xx, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        endpointArb(),
        fc.oneof(
          fc.constantFrom(
            'text/html',
            'application/xml',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
            'application/octet-stream',
            'image/png',
            'application/json; charset=utf-16',
            'application/json; charset=latin1',
            'application/cloudevents-batch+json',
            'application/cloudevents+json; charset=koi8-r',
          ),
          printable(30).map((s) => `application/${s.replace(/[^a-z0-9.+-]/gi, '') || 'x'}`),
        ),
        fc.oneof(fc.json({ maxDepth: 2 }), printable(200)),
        fc.boolean(),
        async (ep, contentType, body, binary) => {
          const ce: Record<string, string> = binary
            ? { 'ce-specversion': '1.0', 'ce-id': 'ct-1', 'ce-source': '/x', 'ce-type': ep.type }
            : {};
          const a = await post(ep.url, body, { 'content-type': contentType, ...ce, ...ep.headers });
          // The dead-letter receiver stores any well-formed CloudEvent, whatever its data.
          if (ep.name === 'dead-letter' && binary && a.status === 204) return;
          expectRefused(a, `${ep.name} ${contentType} ${body.slice(0, 60)}`);
        },
      ),
      runs(RUNS),
    );
  });

  it('invalid JSON, as a plain body, as binary-mode data and as a structured event: 400', async () => {
    await fc.assert(
      fc.asyncProperty(
        endpointArb(),
        fc.oneof(
          printable(200),
          fc.json().map((j) => j.slice(0, Math.max(1, j.length - 1))),
          fc.constantFrom('{', '{"a":', '[1,2', '{"datasets":["ohlcv"]', '\u0000', 'NaN', "{'a':1}"),
        ),
        fc.constantFrom('plain', 'binary', 'structured'),
        async (ep, text, mode) => {
          fc.pre(text.length > 0);
          fc.pre(
            (() => {
              try {
                JSON.parse(text);
                return false;
              } catch {
                return true;
              }
            })(),
          );
          const headers: Record<string, string> = {
            ...ep.headers,
            'content-type': mode === 'structured' ? 'application/cloudevents+json' : 'application/json',
            ...(mode === 'binary'
              ? { 'ce-specversion': '1.0', 'ce-id': 'j-1', 'ce-source': '/x', 'ce-type': ep.type }
              : {}),
          };
          const a = await post(ep.url, text, headers);
          expectRefused(a, `${ep.name} ${mode} ${JSON.stringify(text.slice(0, 60))}`);
          expect(a.status).toBe(400);
        },
      ),
      runs(RUNS),
    );
  });

  it('bodies beyond MAX_BODY_BYTES: 413', async () => {
    await fc.assert(
      fc.asyncProperty(
        endpointArb(),
        fc.integer({ min: MAX_BODY + 1, max: MAX_BODY * 4 }),
        fc.constantFrom(
          'application/json',
          'text/plain',
          'application/octet-stream',
          'application/cloudevents+json',
          '',
        ),
        fc.boolean(),
        async (ep, size, contentType, binary) => {
          const body = `{"pad":"${'x'.repeat(size)}"}`;
          const headers: Record<string, string> = {
            ...ep.headers,
            ...(contentType ? { 'content-type': contentType } : {}),
            ...(binary && contentType !== 'application/cloudevents+json'
              ? { 'ce-specversion': '1.0', 'ce-id': 'big-1', 'ce-source': '/x', 'ce-type': ep.type }
              : {}),
          };
          const a = await post(ep.url, body, headers);
          expectRefused(a, `${ep.name} ${size} bytes ${contentType}`);
          expect(a.status).toBe(413);
        },
      ),
      runs(Math.ceil(RUNS / 2)),
    );
  });

  it('deep nesting inside otherwise valid events and bodies: 4xx, never a stack overflow', async () => {
    await fc.assert(
      fc.asyncProperty(
        endpointArb(),
        fc.integer({ min: 65, max: 2500 }),
        fc.constantFrom('[', '{"a":'),
        fc.constantFrom('binary', 'structured', 'plain'),
        async (ep, depth, open, mode) => {
          const close = open === '[' ? ']' : '}';
          const deep = open.repeat(depth) + '1' + close.repeat(depth);
          // A batch event whose data is valid except that a record is deeply nested.
          const event = validBatch();
          const m = mode === 'structured' ? toStructured(event) : toBinary(event);
          const body =
            mode === 'plain'
              ? `{"datasets":["markets"],"runId":${deep}}`
              : String(m.body).replace('"volume":"3"', `"volume":${deep}`);
          const headers =
            mode === 'plain'
              ? { 'content-type': 'application/json', ...ep.headers }
              : { ...m.headers, ...(mode === 'binary' ? { 'ce-type': ep.type } : {}), ...ep.headers };
          const sent = mode === 'structured' ? body.replace(EventType.extractBatch, ep.type) : body;
          fc.pre(Buffer.byteLength(sent) <= MAX_BODY);
          const a = await post(ep.url, sent, headers);
          expectRefused(a, `${ep.name} ${mode} depth ${depth}`);
        },
      ),
      runs(RUNS),
    );
  });

  it('load-raw: wrong schemas and key-segment tricks in exchange, symbol, timeframe: 4xx, or a key inside exchange=', async () => {
    const nasty = fc.oneof(
      fc.constantFrom(
        '../..',
        '../../_state/cursors',
        '..%2F..%2F',
        'binance/../../x',
        "binance'; DROP TABLE ohlcv;--",
        "BTC/USDT'; DELETE FROM trades WHERE '1'='1",
        'bin\u0000ance',
        '1m/../../../../_dead-letters',
        '%00',
        'ümlaut/ß',
        '\u202e\u0000\ud800',
        '',
        ' ',
        'x'.repeat(200),
      ),
      fc.string({ unit: 'binary', maxLength: 30 }),
    );
    const ep = () => endpoints.find((e) => e.name === 'load-raw')!;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          'exchange',
          'symbol',
          'timeframe',
          'dataset',
          'schemaVersion',
          'records',
          'chunk',
          'window',
        ),
        fc.oneof(nasty, fc.jsonValue({ maxDepth: 2 })),
        fc.boolean(),
        async (field, value, structured) => {
          const good = validBatch();
          const data = { ...(good.data as object), [field]: value };
          const event = buildEvent({ id: good.id, source: good.source, type: good.type, time: T0, data });
          const m = structured ? toStructured(event) : toBinary(event);
          const a = await post(ep().url, m.body, m.headers);
          expectNoServerError(a, `load-raw ${field}=${JSON.stringify(value).slice(0, 80)}`);
          if (a.status < 300) {
            const key = decodeURI(a.headers.get('x-object-key') ?? '');
            expect(key.startsWith('exchange=')).toBe(true);
            expect(
              key.split('/').some((seg) => seg === '..' || seg === '.' || seg === ''),
              key,
            ).toBe(false);
          }
        },
      ),
      runs(RUNS * 2),
    );
  });

  it('extract: SQL meta-characters and path tricks in symbols, wrong fields: 400, nothing fetched or sent', async () => {
    const ep = () => endpoints.find((e) => e.name === 'extract')!;
    const before = fake.requests.length;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.constantFrom(
              "BTC/USDT'; DROP TABLE ohlcv;--",
              'BTC/USDT" OR "1"="1',
              '../../etc/passwd',
              'BTC/USDT\u0000',
              'BTC%2FUSDT',
              ';',
              '$(reboot)',
            ),
            printable(20).map((s) => `${s}'`),
          ),
          { minLength: 1, maxLength: 3 },
        ),
        fc.constantFrom('ohlcv', 'trades', 'orderbook', 'tickers', 'funding'),
        async (symbols, dataset) => {
          const a = await post(ep().url, JSON.stringify({ datasets: [dataset], symbols }), {
            'content-type': 'application/json',
          });
          expectRefused(a, `extract ${JSON.stringify(symbols)}`);
          expect(a.status).toBe(400);
        },
      ),
      runs(RUNS),
    );
    // Markets may have been loaded once (to tell a wrong symbol from a known one); no data was asked for.
    expect(fake.requests.slice(before).filter((r) => !/exchangeInfo|time|ping/.test(r.path))).toEqual([]);
    expect(sink.events).toEqual([]);
  });

  it('transform: hostile object keys in MinIO payloads (.., %2F, NUL, unicode, SQL): 2xx acknowledgement or 4xx', async () => {
    const ep = () => endpoints.find((e) => e.name === 'transform')!;
    const keyArb = fc.oneof(
      fc.constantFrom(
        'exchange=../../etc/passwd',
        'exchange=binance/../../_state/cursors/x.json',
        'exchange=binance/%2F..%2F..%2Fx',
        'exchange=binance/\u0000.json',
        "exchange=binance'; DROP TABLE ohlcv;--",
        '../exchange=binance',
        '/exchange=binance/x.json',
        'exchange=ü/ß/😀.json',
        'exchange=\ud800',
        `exchange=${'x'.repeat(1100)}`,
        '_state/cursors/exchange=binance/x.json',
        '',
      ),
      fc.string({ unit: 'binary', maxLength: 60 }).map((s) => `exchange=${s}`),
      fc.string({ unit: 'grapheme', maxLength: 60 }),
    );
    await fc.assert(
      fc.asyncProperty(
        keyArb,
        fc.constantFrom('escaped', 'raw', 'double-escaped', 'bad-escape'),
        fc.constantFrom('s3:ObjectCreated:Put', 's3:ObjectCreated:Copy', 's3:ObjectRemoved:Delete', 'x'),
        fc.constantFrom(BUCKET, 'other-bucket', '../hostile-raw'),
        fc.constantFrom('minio', 'manual', 'cloudevent'),
        async (key, escaping, eventName, bucket, shape) => {
          let escaped: string;
          try {
            escaped =
              escaping === 'escaped'
                ? minioEscape(key)
                : escaping === 'double-escaped'
                  ? minioEscape(minioEscape(key))
                  : escaping === 'bad-escape'
                    ? `${key}%E0%A4%A`
                    : key;
          } catch {
            escaped = key; // an unpaired surrogate cannot be escaped: send it raw
          }
          const minio = {
            EventName: eventName,
            Key: `${bucket}/${key}`,
            Records: [
              {
                eventVersion: '2.0',
                eventSource: 'minio:s3',
                eventName,
                s3: { bucket: { name: bucket }, object: { key: escaped, size: 1, eTag: 'x' } },
              },
            ],
          };
          const payload = shape === 'manual' ? { bucket, key } : minio;
          const a =
            shape === 'cloudevent'
              ? await (async () => {
                  const m = toBinary(
                    buildEvent({
                      id: 'n-1',
                      source: '/minio',
                      type: 'dev.minio.notification',
                      time: NOW,
                      data: minio,
                    }),
                  );
                  return post(ep().url, m.body, { ...m.headers, ...ep().headers });
                })()
              : await post(ep().url, JSON.stringify(payload), {
                  'content-type': 'application/json',
                  ...ep().headers,
                });
          expectNoServerError(
            a,
            `transform ${shape} ${escaping} ${JSON.stringify(key).slice(0, 80)} in ${bucket}`,
          );
        },
      ),
      runs(RUNS * 2),
    );
  });

  it('dead-letter and load-raw: hostile ids, sources and types never leave their prefixes', async () => {
    const ids = fc.oneof(
      fc.constantFrom('../../x', '..', '.', '%2F..%2F', 'a/b/../../c', "'; DROP TABLE x;--"),
      printable(60),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...endpoints.filter((e) => e.name === 'dead-letter' || e.name === 'load-raw')),
        ids,
        ids,
        fc.oneof(
          fc.constantFrom('..', '.', '../../_state', 'cryptopipe.extract.batch', 'a/../../b'),
          printable(30),
        ),
        async (ep, id, source, type) => {
          fc.pre(id.length > 0 && source.length > 0 && type.length > 0);
          const good = validBatch();
          const headers: Record<string, string> = {
            ...toBinary(good).headers,
            'ce-id': id,
            'ce-source': source,
            'ce-type': type,
          };
          const a = await post(ep.url, toBinary(good).body, headers);
          expectNoServerError(a, `${ep.name} id=${id} source=${source} type=${type}`);
          if (a.status < 300) {
            const key = decodeURI(a.headers.get('x-object-key') ?? '');
            expect(key.startsWith(ep.name === 'dead-letter' ? '_dead-letters/' : 'exchange='), key).toBe(
              true,
            );
            expect(
              key.split('/').some((seg) => seg === '..' || seg === '.' || seg === ''),
              key,
            ).toBe(false);
          }
        },
      ),
      runs(RUNS),
    );
  });

  it('after every property: nothing outside the prefixes, no other bucket, no row, every function still answers', async () => {
    const objects = await lake.objects(BUCKET);
    const outside = objects.filter((o) => !ALLOWED_PREFIXES.some((p) => o.key.startsWith(p)));
    expect(outside).toEqual([]);
    for (const o of objects) expect(o.key.split('/').includes('..'), o.key).toBe(false);
    expect(await lake.buckets()).toEqual([BUCKET]);
    const counts = await rowCounts(db.pool);
    for (const t of DATA_TABLES) expect(counts[t], t).toBe(0);
    expect(counts['ingestion_ledger']).toBe(0);
    for (const ep of endpoints) {
      const res = await fetch(ep.url, { headers: ep.headers });
      expect(res.status, ep.name).toBe(200);
    }
  });
});
