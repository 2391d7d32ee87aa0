// putIfChanged with a conditional PUT, against a store that honours If-None-Match as MinIO and S3 do: a new key in
// one request, an object already there with the same bytes left alone, with other bytes written over.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransientError } from '../../../shared/errors.ts';
import { putIfChanged } from '../../../shared/lake/objects.ts';
import { s3Client, type S3Client } from '../../../shared/lake/s3.ts';

/** A one-bucket S3 speaking just PUT and HEAD, honouring `If-None-Match: *`; it logs every request it takes. */
function conditionalStore() {
  const objects = new Map<string, Buffer>();
  const requests: string[] = [];
  let failNext = 0;
  const etag = (b: Buffer) => `"${createHash('md5').update(b).digest('hex')}"`;
  const read = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c)).on('end', () => resolve(Buffer.concat(parts)));
    });
  const server: Server = createServer((req, res) => {
    void (async () => {
      const key = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      const body = await read(req);
      const condition = req.headers['if-none-match'];
      requests.push(`${req.method} ${key}${condition ? ` if-none-match ${String(condition)}` : ''}`);
      if (failNext > 0) {
        failNext -= 1;
        res.writeHead(500, { 'content-type': 'application/xml' });
        res.end('<Error><Code>InternalError</Code><Message>down</Message></Error>');
        return;
      }
      const stored = objects.get(key);
      if (req.method === 'HEAD') {
        res.writeHead(
          stored ? 200 : 404,
          stored ? { etag: etag(stored), 'content-length': stored.length } : {},
        );
        res.end();
      } else if (req.method === 'PUT' && condition === '*' && stored) {
        res.writeHead(412, { 'content-type': 'application/xml' });
        res.end(
          '<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>',
        );
      } else if (req.method === 'PUT') {
        objects.set(key, body);
        res.writeHead(200, { etag: etag(body) });
        res.end();
      } else {
        res.writeHead(405);
        res.end();
      }
    })();
  });
  return {
    server,
    objects,
    requests,
    failNext: (n: number) => (failNext = n),
  };
}

describe('putIfChanged with a conditional PUT', () => {
  const store = conditionalStore();
  let s3: S3Client;
  beforeAll(async () => {
    await new Promise<void>((r) => store.server.listen(0, '127.0.0.1', r));
    const { port } = store.server.address() as AddressInfo;
    s3 = s3Client(
      {
        endpoint: `http://127.0.0.1:${port}`,
        region: 'us-east-1',
        accessKeyId: 'k',
        secretAccessKey: 's',
        bucket: 'b',
      },
      { timeoutMs: 2_000 },
    );
  });
  afterAll(() => new Promise<void>((r) => store.server.close(() => r())));
  const put = (key: string, body: string | (() => Buffer)) =>
    putIfChanged(
      s3,
      'b',
      key,
      typeof body === 'string' ? Buffer.from(body) : body,
      { 'event-id': 'e' },
      { conditional: true },
    );

  it('writes a new key with one conditional PUT, and no HEAD', async () => {
    store.requests.length = 0;
    const made = () => Buffer.from('{"a":1}');
    expect(await put('new.json', made)).toMatchObject({ key: 'new.json', written: true, bytes: 7 });
    expect(store.requests).toEqual(['PUT /b/new.json if-none-match *']);
    expect(store.objects.get('/b/new.json')?.toString()).toBe('{"a":1}');
  });

  it('leaves an object with the same bytes alone: refused PUT, then a HEAD that finds its ETag', async () => {
    await put('same.json', '{"a":2}');
    store.requests.length = 0;
    const again = await put('same.json', '{"a":2}');
    expect(again).toMatchObject({ written: false, etag: createHash('md5').update('{"a":2}').digest('hex') });
    expect(store.requests).toEqual(['PUT /b/same.json if-none-match *', 'HEAD /b/same.json']);
  });

  it('writes other bytes over an object already there, unconditionally', async () => {
    await put('changed.json', '{"a":3}');
    store.requests.length = 0;
    expect(await put('changed.json', '{"a":4}')).toMatchObject({ written: true });
    expect(store.requests).toEqual([
      'PUT /b/changed.json if-none-match *',
      'HEAD /b/changed.json',
      'PUT /b/changed.json',
    ]);
    expect(store.objects.get('/b/changed.json')?.toString()).toBe('{"a":4}');
  });

  it('answers a store that keeps failing with a TransientError (retried), not as an object already there', async () => {
    // The SDK makes 3 attempts; the store fails them all.
    store.failNext(3);
    store.requests.length = 0;
    await expect(put('down.json', '{}')).rejects.toBeInstanceOf(TransientError);
    expect(store.requests).toEqual(Array(3).fill('PUT /b/down.json if-none-match *'));
    expect(store.objects.has('/b/down.json')).toBe(false);
  });
});
