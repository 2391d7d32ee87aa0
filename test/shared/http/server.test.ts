// The function server: body limit refused while the body arrives (Content-Length or chunked), intact below it;
// bodies parsed as the Functions Framework parses them; errors as JSON; handlers still framework http functions.
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawBody } from '../../../shared/http/respond.ts';
import { functionServer, registerFunction } from '../../../shared/http/server.ts';
import { setLogSink } from '../../../shared/log.ts';

const LIMIT = 64 * 1024;
let server: Server;
let port: number;
let handled = 0;

beforeAll(async () => {
  registerFunction(
    'body-limit-test',
    async (req, res) => {
      handled += 1;
      if (req.header('x-fail') === 'throw')
        throw new Error('handler broke', { cause: new Error('root cause') });
      // The server kept the body (under the Functions Framework, its parser did, or the handler reads the stream).
      const raw = await rawBody(req, Number.MAX_SAFE_INTEGER);
      res.status(200).json({
        bytes: raw.length,
        sha: createHash('sha256').update(raw).digest('hex'),
        body: Buffer.isBuffer(req.body) ? 'bytes' : req.body === undefined ? 'none' : typeof req.body,
      });
    },
    { maxBodyBytes: LIMIT },
  );
  server = functionServer('body-limit-test');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** Sends `chunks` as the body, chunked (no Content-Length) unless `length` is given (`contentType` null: none). */
function send(
  chunks: Buffer[],
  length?: number,
  contentType: string | null = 'application/json',
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
  it.each([['application/json'], ['text/plain'], [null]])(
    'passes a chunked body below the limit through intact (content type %s)',
    async (contentType) => {
      const body = json(LIMIT - 100);
      const a = await send(split(body, 4096), undefined, contentType);
      expect(a.status).toBe(200);
      expect(JSON.parse(a.body)).toEqual({
        bytes: body.length,
        sha: createHash('sha256').update(body).digest('hex'),
        body: contentType === 'application/json' ? 'object' : contentType ? 'string' : 'none',
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

  it.each([['application/json'], [null]])(
    'refuses a chunked body once it passes the limit, without reading the rest (content type %s)',
    async (contentType) => {
      const before = handled;
      // 8 MiB offered in 16 KiB chunks: the answer comes after about LIMIT bytes.
      const a = await send(split(json(8 * 1024 * 1024), 16 * 1024), undefined, contentType);
      expect(a.status).toBe(413);
      expect(JSON.parse(a.body)).toMatchObject({ error: 'body_too_large' });
      // The server reads every body itself, with or without a content type: the function is never called.
      expect(handled).toBe(before);
    },
  );

  it('keeps answering after refusals', async () => {
    const a = await send([json(100)], 100);
    expect(a.status).toBe(200);
  });
});

describe('function server requests and errors', () => {
  const cases = [
    {
      name: 'invalid JSON is a 400 naming it',
      headers: { 'content-type': 'application/json' },
      body: '{"a":',
      want: { status: 400, error: 'bad_request', message: /request body is not valid JSON/ },
    },
    {
      name: 'a compressed body is a 415',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: '{}',
      want: { status: 415, error: 'unsupported_media_type', message: /content encoding 'gzip'/ },
    },
    {
      name: 'JSON in a charset other than UTF-8 is a 415',
      headers: { 'content-type': 'application/json; charset=utf-16' },
      body: '{}',
      want: { status: 415, error: 'unsupported_media_type', message: /charset 'utf-16'/ },
    },
  ];
  it.each(cases)('$name', async ({ headers, body, want }) => {
    const before = handled;
    const res = await request(server).post('/').set(headers).send(body);
    expect(res.status).toBe(want.status);
    expect(res.body).toMatchObject({ error: want.error, message: expect.stringMatching(want.message) });
    expect(handled).toBe(before);
  });

  it('an error the handler lets through is a 500 without details, logged with its stack and cause', async () => {
    const lines: string[] = [];
    const previous = setLogSink((l) => lines.push(l));
    try {
      const res = await request(server).post('/').set('x-fail', 'throw').send({});
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: 'internal', message: 'internal error (see the function log)' });
    } finally {
      setLogSink(previous);
    }
    const logged = lines.map((l) => JSON.parse(l)).find((e) => e.severity === 'ERROR');
    expect(logged).toMatchObject({
      message: 'request failed',
      status: 500,
      error: { message: 'handler broke', cause: { message: 'root cause' } },
    });
    expect(logged.error.stack).toMatch(/handler broke\n\s+at /);
  });

  it("serves a handler that is also the Functions Framework's http function (the framework's server runs it)", async () => {
    const body = json(1000);
    const ours = await request(server).post('/').set('content-type', 'application/json').send(body);
    const framework = await request(getTestServer('body-limit-test'))
      .post('/')
      .set('content-type', 'application/json')
      .send(body);
    expect(framework.status).toBe(200);
    expect(framework.body).toEqual(ours.body);
  });
});
