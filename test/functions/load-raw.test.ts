// load-raw through its HTTP handler against a real S3 API: keys, bytes, idempotency, bad events, S3 down.
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoadRawHandler, loadRawServing } from '../../functions/load-raw/handler.ts';
import { loadCommonConfig } from '../../shared/config.ts';
import { buildBatchEvents } from '../../shared/events/batches.ts';
import { toBinary, toStructured } from '../../shared/events/cloudevent.ts';
import { EventType, type OhlcvRecord, type TickerRecord } from '../../shared/events/schemas.ts';
import { functionServer, registerFunction } from '../../shared/http/server.ts';
import { batchBody } from '../../shared/lake/objects.ts';
import { s3Client } from '../../shared/lake/s3.ts';
import { setLogSink } from '../../shared/log.ts';
import { startS3, type TestS3 } from '../support/s3.ts';

const T0 = Date.UTC(2026, 10, 24, 0, 0);
const candles: OhlcvRecord[] = Array.from({ length: 3 }, (_, i) => ({
  ts: T0 + i * 60_000,
  open: '43519.34000000',
  high: '43600.00000000',
  low: '43500.10000000',
  close: '43550.55000000',
  volume: '1.23400000',
  closed: i < 2,
}));
const header = {
  exchange: 'binance',
  dataset: 'ohlcv' as const,
  symbol: 'BTC/USDT:USDT',
  timeframe: '1m',
  window: { since: T0, until: T0 + 180_000 },
  requestId: 'r1',
  extractedAt: T0 + 200_000,
};
const [ohlcvEvent] = buildBatchEvents(header, candles, 256 * 1024);

let s3: TestS3;
let n = 0;
function server(endpoint?: string) {
  const cfg = loadCommonConfig({
    S3_ENDPOINT: endpoint ?? s3.settings.endpoint,
    AWS_ACCESS_KEY_ID: s3.settings.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.settings.secretAccessKey,
    RAW_BUCKET: s3.settings.bucket,
  });
  const name = `load-raw-test-${++n}`;
  registerFunction(name, createLoadRawHandler(cfg, { s3: s3Client(cfg.s3) }), {
    maxBodyBytes: cfg.maxBodyBytes,
    ...loadRawServing,
  });
  return functionServer(name);
}
async function keys(): Promise<string[]> {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.settings.bucket }));
  return (out.Contents ?? []).map((o) => o.Key as string).sort();
}
async function object(key: string) {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: s3.settings.bucket, Key: key }));
  return { body: await out.Body!.transformToString(), type: out.ContentType, meta: out.Metadata ?? {} };
}

beforeAll(async () => {
  s3 = await startS3();
});
afterAll(() => s3?.close());

describe('load-raw', () => {
  it('stores a binary-mode event under a browsable, deterministic key with the exact bytes', async () => {
    const { headers, body } = toBinary(ohlcvEvent!);
    const res = await request(server()).post('/').set(headers).send(body).expect(204);
    const key = decodeURI(res.headers['x-object-key'] as string);
    expect(key).toMatch(
      /^exchange=binance\/dataset=ohlcv\/symbol=BTC-USDT_USDT\/timeframe=1m\/date=2026-11-24\/20261124T000000Z-20261124T000200Z_[0-9a-f]{16}\.json$/,
    );
    expect(await keys()).toContain(key);
    const stored = await object(key);
    expect(stored.type).toBe('application/json');
    expect(stored.meta).toMatchObject({
      'event-id': ohlcvEvent!.id,
      'event-source': '/cryptopipe/extract/binance',
      'schema-version': '1',
      'extracted-at': new Date(header.extractedAt).toISOString(),
    });
    const parsed = JSON.parse(stored.body);
    expect(parsed.data.records).toEqual(candles);
    expect(parsed.id).toBe(ohlcvEvent!.id);
  });

  it('the same event in structured mode, and twice, gives the same single object with the same bytes', async () => {
    const before = await keys();
    const first = await request(server())
      .post('/')
      .set(toBinary(ohlcvEvent!).headers)
      .send(toBinary(ohlcvEvent!).body)
      .expect(204);
    const key = decodeURI(first.headers['x-object-key'] as string);
    const bytes = (await object(key)).body;
    const again = await request(server())
      .post('/')
      .set(toStructured(ohlcvEvent!).headers)
      .send(toStructured(ohlcvEvent!).body)
      .expect(204);
    expect(decodeURI(again.headers['x-object-key'] as string)).toBe(key);
    expect(again.headers['x-object-written']).toBe('false');
    expect((await object(key)).body).toBe(bytes);
    expect(await keys()).toEqual(before.includes(key) ? before : [...before, key].sort());
  });

  it('a batch in canonical JSON (as extract sends it) is stored from its bytes, any other spelling parsed: same object', async () => {
    const [event] = buildBatchEvents({ ...header, requestId: 'spellings' }, candles, 256 * 1024);
    const { headers, body } = toBinary(event!);
    const lines: Array<Record<string, unknown>> = [];
    const previous = setLogSink((l) => lines.push(JSON.parse(l) as Record<string, unknown>));
    const post = (b: string) => request(server()).post('/').set(headers).send(b).expect(204);
    try {
      // Spaces and the keys in the order they were made: parsed, checked and written canonically.
      const spelled = await post(JSON.stringify(event!.data, null, 1));
      expect(spelled.headers['x-object-written']).toBe('true');
      const key = decodeURI(spelled.headers['x-object-key'] as string);
      const stored = await object(key);
      expect(Buffer.from(stored.body).equals(batchBody(event!))).toBe(true);
      expect(stored.meta['records']).toBe('3');
      // The canonical body finds the very same bytes there (same MD5): nothing written.
      const canonical = await post(body as string);
      expect(decodeURI(canonical.headers['x-object-key'] as string)).toBe(key);
      expect(canonical.headers['x-object-written']).toBe('false');
    } finally {
      setLogSink(previous);
    }
    const reads = lines.filter(
      (l) => l['message'] === 'raw object stored' || l['message'] === 'raw object already stored',
    );
    expect(reads.map((l) => [l['read'], l['records']])).toEqual([
      ['parsed', 3],
      ['bytes', 3],
    ]);
  });

  it("an object with other bytes at the key is overwritten with the event's bytes", async () => {
    const { headers, body } = toBinary(ohlcvEvent!);
    const first = await request(server()).post('/').set(headers).send(body).expect(204);
    const key = decodeURI(first.headers['x-object-key'] as string);
    const bytes = (await object(key)).body;
    await s3.client.send(
      new PutObjectCommand({ Bucket: s3.settings.bucket, Key: key, Body: '{"changed":true}' }),
    );
    const again = await request(server()).post('/').set(headers).send(body).expect(204);
    expect(again.headers['x-object-written']).toBe('true');
    expect((await object(key)).body).toBe(bytes);
  });

  it('snapshot batches (no symbol) land under the dataset', async () => {
    const ticker: TickerRecord = {
      symbol: 'BTC/USDT',
      ts: T0,
      exchangeTs: T0,
      bid: '1.0',
      bidVolume: null,
      ask: '1.1',
      askVolume: null,
      last: '1.05',
      open: null,
      high: null,
      low: null,
      vwap: null,
      baseVolume: null,
      quoteVolume: null,
      change: null,
      percentage: null,
      markPrice: null,
      indexPrice: null,
    };
    const [ev] = buildBatchEvents(
      { ...header, dataset: 'tickers', symbol: null, timeframe: null, window: null },
      [ticker],
      65536,
    );
    const res = await request(server())
      .post('/')
      .set(toBinary(ev!).headers)
      .send(toBinary(ev!).body)
      .expect(204);
    expect(decodeURI(res.headers['x-object-key'] as string)).toMatch(
      /^exchange=binance\/dataset=tickers\/date=2026-11-24\/20261124T000000Z-20261124T000000Z_[0-9a-f]{16}\.json$/,
    );
  });

  const valid = toBinary(ohlcvEvent!);
  const data = JSON.parse(String(valid.body)) as Record<string, unknown>;
  const binary = (patch: Record<string, string>, body: unknown = data) => ({
    headers: { ...valid.headers, ...patch },
    body: JSON.stringify(body),
  });
  const bad: Array<{
    name: string;
    msg: { headers: Record<string, string>; body: string | Buffer };
    status: number;
    message: RegExp;
  }> = [
    {
      name: 'plain JSON',
      msg: { headers: { 'content-type': 'application/json' }, body: valid.body },
      status: 400,
      message: /accepts CloudEvents/,
    },
    {
      name: 'wrong type',
      msg: binary({ 'ce-type': 'cryptopipe.extract.request' }),
      status: 400,
      message: /unsupported event type/,
    },
    {
      name: 'schema version 2',
      msg: binary({ 'ce-schemaversion': '2' }),
      status: 400,
      message: /schema version '2'/,
    },
    { name: 'missing ce-id', msg: binary({ 'ce-id': '' }), status: 400, message: /ce-id/ },
    {
      name: 'invalid JSON data',
      msg: { headers: valid.headers, body: '{"records":' },
      status: 400,
      message: /not valid JSON/,
    },
    {
      name: 'records missing',
      msg: binary({}, { ...data, records: undefined }),
      status: 400,
      message: /records/,
    },
    {
      name: 'a float price',
      msg: binary({}, { ...data, records: [{ ...candles[0], open: 43519.34 }] }),
      status: 400,
      message: /records\.0\.open/,
    },
    { name: 'extra field', msg: binary({}, { ...data, evil: true }), status: 400, message: /evil/ },
    {
      name: 'bad symbol with a path',
      msg: binary({}, { ...data, symbol: '../../etc/passwd' }),
      status: 400,
      message: /symbol/,
    },
    {
      name: 'exchange attribute mismatch',
      msg: binary({ 'ce-exchange': 'bybit' }),
      status: 400,
      message: /does not match/,
    },
    {
      name: 'chunk index out of range',
      msg: binary({}, { ...data, chunk: { index: 3, count: 1 } }),
      status: 400,
      message: /chunk/,
    },
  ];
  it.each(bad)('$name -> $status with a message, nothing written', async ({ msg, status, message }) => {
    const before = await keys();
    const res = await request(server()).post('/').set(msg.headers).send(msg.body);
    expect(res.status).toBe(status);
    expect(res.body.message).toMatch(message);
    expect(await keys()).toEqual(before);
  });

  it('S3 down is a 503 (retried), not a success', async () => {
    const res = await request(server('http://127.0.0.1:9')).post('/').set(valid.headers).send(valid.body);
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('s3_unavailable');
  });

  it('answers GET with what it accepts', async () => {
    const res = await request(server()).get('/').expect(200);
    expect(res.body).toMatchObject({ function: 'load-raw', accepts: EventType.extractBatch });
  });
});
