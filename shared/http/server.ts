// The HTTP server of a registered function: node:http, the body read within MAX_BODY_BYTES, then the handler.
import { createServer, type Server } from 'node:http';
import { http as registerWithFramework } from '@google-cloud/functions-framework';
import { HttpError, errorResponse } from '../errors.ts';
import { log } from '../log.ts';
import { messageClasses, type FunctionRequest, type FunctionResponse, type HttpFunction } from './message.ts';
import { bodyTooLargeMessage, contentTypeOf } from './respond.ts';

/** A registered function: its handler, the largest body it accepts, and whether its body is parsed only on demand. */
interface Registered {
  handler: HttpFunction;
  maxBodyBytes: number;
  deferParse: boolean;
}

/** Functions registered in this process, by name. */
const registry = new Map<string, Registered>();

/**
 * Registers `handler` as `name` with its body limit. The Functions Framework's own server parses bodies of up to 1 GiB
 * before a handler runs, and has no setting to lower that: a large body would fill a 256Mi pod long before the
 * handler's MAX_BODY_BYTES check. So functionServer() serves the handler itself; it is registered with the framework
 * as well (its `http` signature, checked by the compiler), so that the framework's invoker can still run it.
 * `deferParse`: the body is read but not parsed before the handler runs (req.parseBody parses it on demand), for a
 * handler that can take what it needs from the bytes themselves.
 */
export function registerFunction(
  name: string,
  handler: HttpFunction,
  opts: { maxBodyBytes: number; deferParse?: boolean },
): void {
  registerWithFramework(name, handler);
  registry.set(name, { handler, maxBodyBytes: opts.maxBodyBytes, deferParse: opts.deferParse ?? false });
}

/** Answers an error as JSON without calling the function; `close` ends the connection after it. */
function refuse(res: FunctionResponse, err: HttpError, close = false): void {
  const { status, body } = errorResponse(err);
  log.warn('request rejected', { status, error: body.error, reason: body.message });
  if (close) res.setHeader('connection', 'close');
  res.status(status).json(body);
}

const JSON_TYPES = new Set(['application/json', 'application/cloudevents+json']);

/** Why the request's body cannot be read as sent (an encoding or charset this server does not decode), if so. */
function unreadable(req: FunctionRequest): HttpError | undefined {
  const encoding = (req.header('content-encoding') ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity')
    return new HttpError(
      415,
      'unsupported_media_type',
      `content encoding '${encoding}' is not supported: send the body uncompressed`,
    );
  const { media, charset } = contentTypeOf(req.header('content-type'));
  if (
    (JSON_TYPES.has(media) || media.startsWith('text/')) &&
    charset !== undefined &&
    !['utf-8', 'utf8', 'us-ascii'].includes(charset)
  )
    return new HttpError(415, 'unsupported_media_type', `unsupported charset '${charset}': send UTF-8`);
  return undefined;
}

/**
 * Reads the whole body, refusing it with 413 as soon as it is known to exceed `maxBytes`: at once from
 * Content-Length, or while a chunked body arrives, counting its bytes. Either way at most one chunk past the limit
 * is held, and the connection is closed. Resolves undefined when the request was answered or went away.
 */
function readBody(
  req: FunctionRequest,
  res: FunctionResponse,
  maxBytes: number,
): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    refuse(res, new HttpError(413, 'body_too_large', bodyTooLargeMessage(maxBytes, declared)), true);
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (body: Buffer | undefined) => {
      if (done) return;
      done = true;
      resolve(body);
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      req.pause();
      refuse(res, new HttpError(413, 'body_too_large', bodyTooLargeMessage(maxBytes)), true);
      if (res.writableFinished) req.destroy();
      else res.once('finish', () => req.destroy());
      finish(undefined);
    });
    req.on('end', () => finish(Buffer.concat(chunks, size)));
    // The client went away before the whole body arrived: there is no one to answer.
    req.on('error', () => finish(undefined));
    req.on('close', () => finish(undefined));
  });
}

/**
 * Sets `req.rawBody` and `req.body` as the Functions Framework's body parsers would (forms aside: they stay bytes),
 * and `req.rawText` when the body was decoded as text:
 * JSON parsed (an empty body is `{}`), text as a string, other types as bytes, nothing without a content type. Throws
 * a 400 for invalid JSON.
 */
function parseBody(req: FunctionRequest, raw: Buffer): void {
  req.rawBody = raw;
  const { media } = contentTypeOf(req.header('content-type'));
  if (media === '') req.body = undefined;
  else if (JSON_TYPES.has(media)) {
    const text = raw.toString('utf8');
    req.rawText = text;
    try {
      req.body = /\S/.test(text) ? (JSON.parse(text) as unknown) : {};
    } catch (err) {
      throw new HttpError(400, 'bad_request', `request body is not valid JSON: ${(err as Error).message}`);
    }
  } else if (media.startsWith('text/')) {
    req.rawText = raw.toString('utf8');
    req.body = req.rawText;
  } else req.body = raw;
}

/** Serves one request: body within the limit, then the handler; an error the handler let through is a logged 500. */
async function serveRequest(fn: Registered, req: FunctionRequest, res: FunctionResponse): Promise<void> {
  req.originalUrl = req.url ?? '/';
  const refusal = unreadable(req);
  if (refusal) {
    refuse(res, refusal, true);
    return;
  }
  const raw = await readBody(req, res, fn.maxBodyBytes);
  if (raw === undefined) return;
  if (fn.deferParse) {
    // The handler may take what it needs from the bytes; else readRequest parses them here, as below.
    req.rawBody = raw;
    req.parseBody = () => {
      req.parseBody = undefined;
      parseBody(req, raw);
    };
  } else {
    try {
      parseBody(req, raw);
    } catch (err) {
      refuse(res, err as HttpError);
      return;
    }
  }
  try {
    await fn.handler(req, res);
  } catch (err) {
    const { status, body } = errorResponse(err);
    log.error('request failed', err, { status });
    if (res.headersSent) res.destroy();
    else res.status(status).json(body);
  }
}

/**
 * A node:http server for the function registered as `name`: it reads each body within the function's limit (413
 * otherwise), parses it like the Functions Framework does, and calls the handler with Express-like req and res.
 */
export function functionServer(name: string): Server {
  const fn = registry.get(name);
  if (!fn) throw new Error(`no function is registered as '${name}' (registerFunction)`);
  const { FunctionRequest, FunctionResponse } = messageClasses();
  return createServer<typeof FunctionRequest, typeof FunctionResponse>(
    { IncomingMessage: FunctionRequest, ServerResponse: FunctionResponse },
    (req, res) => void serveRequest(fn, req, res),
  );
}
