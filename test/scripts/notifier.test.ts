// The local MinIO-style notifier: MinIO's payload from s3rver events with the object's user metadata, ordered delivery
// retried until 2xx.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { NotificationQueue, minioEscape, minioPayload } from '../../scripts/local/notifier.ts';
import { objectTraceparents } from '../../functions/transform/handler.ts';
import { parseObjectEvents } from '../../shared/transform/notification.ts';

describe('minioPayload', () => {
  it('escapes the record key like MinIO and keeps Key plain; transform reads it back', () => {
    const key = 'exchange=binance/dataset=ohlcv/a b+é.json';
    const p = minioPayload({
      Records: [
        {
          eventName: 'ObjectCreated:Put',
          s3: { bucket: { name: 'crypto-raw' }, object: { key, size: 3, eTag: 'e' } },
        },
      ],
    });
    expect(p['EventName']).toBe('s3:ObjectCreated:Put');
    expect(p['Key']).toBe(`crypto-raw/${key}`);
    expect(minioEscape(key)).toBe('exchange%3Dbinance%2Fdataset%3Dohlcv%2Fa+b%2B%C3%A9.json');
    expect(parseObjectEvents({ kind: 'plain', data: p })).toEqual([
      { action: 'load', bucket: 'crypto-raw', key, eTag: 'e', eventName: 's3:ObjectCreated:Put' },
    ]);
  });
});

describe('minioPayload with user metadata', () => {
  it("lists the object's metadata as MinIO does, where transform finds load-raw's traceparent", () => {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const key = 'exchange=binance/dataset=ohlcv/a.json';
    const p = minioPayload(
      {
        Records: [
          { eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'crypto-raw' }, object: { key } } },
        ],
      },
      { 'X-Amz-Meta-Traceparent': tp },
    );
    expect(objectTraceparents(p).get(key)).toBe(tp);
  });
});

describe('NotificationQueue', () => {
  it('delivers in order (a payload still being made included), holding later events until the first is acknowledged, and hands on each answer', async () => {
    const seen: string[] = [];
    const answers: string[] = [];
    let failures = 2;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const n = JSON.parse(body).n as string;
        if (n === 'a' && failures-- > 0) return res.writeHead(503).end();
        seen.push(`${n}:${req.headers.authorization}`);
        res.writeHead(200).end(`{"results":["${n}"]}`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const q = new NotificationQueue(
      `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
      'tok',
      undefined,
      10,
      (answer) => answers.push(answer),
    );
    // The first notification's payload is still being made (its object's metadata read) when the others come.
    q.push(new Promise((r) => setTimeout(() => r({ n: 'a' }), 30)));
    for (const n of ['b', 'c']) q.push({ n });
    await q.idle();
    server.close();
    expect(seen).toEqual(['a:Bearer tok', 'b:Bearer tok', 'c:Bearer tok']);
    expect(q.delivered).toBe(3);
    // Only acknowledged deliveries are told, each once, with the target's answer.
    expect(answers).toEqual(['{"results":["a"]}', '{"results":["b"]}', '{"results":["c"]}']);
  });
});
