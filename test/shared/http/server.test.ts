// The function server's body limit: refused while the body arrives (Content-Length or chunked), intact below it.
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawBody } from '../../../shared/http/respond.ts';
import { functionServer, registerFunction } from '../../../shared/http/server.ts';

const LIMIT = 64 * 1024;
let server: Server;
let port: number;
let handled = 0;

beforeAll(async () => {
  registerFunction(
    'body-limit-test',
    async (req, res) => {
      handled += 1;
      // The framework's parser kept the body, or (no content type) the handler reads the stream itself.
      const raw = await rawBody(req, Number.MAX_SAFE_INTEGER);
      res.status(200).json({ bytes: raw.length, sha: createHash('sha256').update(raw).digest('hex') });
    },
    { maxBodyBytes: LIMIT },
  );
  server = functionServer('body-limit-test');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** Sends `chunks` as the body, chunked (no Content-Length) unless `length` is given; resolves with the answer. */
function send(
  chunks: Buffer[],
  length?: number,
  contentType: string | undefined = 'application/json',
): Promise<{ status: number; body: string; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        headers: {
          ...(contentType ? { 'content-type': contentType } : {}),
          ...(length !== undefined ? { 'content-length': String(length) } : {}),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }),
        );
      },
    );
    // The server may close the connection before the whole body was sent: that is the point.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    (async () => {
      for (const c of chunks) {
        if (req.destroyed) return;
        req.write(c);
        await new Promise((r) => setTimeout(r, 1));
      }
      req.end();
    })().catch(reject);
  });
}

const json = (bytes: number) => Buffer.from(`{"pad":"${'x'.repeat(bytes - 10)}"}`);
const split = (buf: Buffer, size: number) =>
  Array.from({ length: Math.ceil(buf.length / size) }, (_, i) => buf.subarray(i * size, (i + 1) * size));

describe('function server body limit', () => {
  it.each([['application/json'], ['text/plain'], [undefined]])(
    'passes a chunked body below the limit through intact (content type %s)',
    async (contentType) => {
      const body = json(LIMIT - 100);
      const a = await send(split(body, 4096), undefined, contentType);
      expect(a.status).toBe(200);
      expect(JSON.parse(a.body)).toEqual({
        bytes: body.length,
        sha: createHash('sha256').update(body).digest('hex'),
      });
    },
  );

  it('refuses a declared Content-Length over the limit before reading the body, without calling the function', async () => {
    const before = handled;
    const a = await send([Buffer.alloc(1024, 0x20)], 50 * 1024 * 1024);
    expect(a.status).toBe(413);
    expect(a.connection).toBe('close');
    expect(JSON.parse(a.body)).toEqual({
      error: 'body_too_large',
      message: `request body is ${50 * 1024 * 1024} bytes, more than the limit of ${LIMIT} (MAX_BODY_BYTES)`,
    });
    expect(handled).toBe(before);
  });

  it.each([['application/json'], [undefined]])(
    'refuses a chunked body once it passes the limit, without reading the rest (content type %s)',
    async (contentType) => {
      const before = handled;
      // 8 MiB offered in 16 KiB chunks: the answer comes after about LIMIT bytes.
      const a = await send(split(json(8 * 1024 * 1024), 16 * 1024), undefined, contentType);
      expect(a.status).toBe(413);
      expect(JSON.parse(a.body)).toMatchObject({ error: 'body_too_large' });
      // With no content type no parser reads the body: the function was called and its read was cut off.
      if (contentType) expect(handled).toBe(before);
    },
  );

  it('keeps answering after refusals', async () => {
    const a = await send([json(100)], 100);
    expect(a.status).toBe(200);
  });
});
