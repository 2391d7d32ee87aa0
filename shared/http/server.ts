// The HTTP server of a registered function, with body-parser failures answered as JSON 4xx like every other error.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { http, type HttpFunction } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Request, Response } from '@google-cloud/functions-framework';
import { bodyTooLargeMessage } from './respond.ts';

type NextFunction = (err?: unknown) => void;

interface BodyParserError extends Error {
  type?: string;
  status?: number;
  limit?: number;
  length?: number;
}

const MESSAGES: Record<string, (e: BodyParserError) => [number, string, string]> = {
  'entity.parse.failed': (e) => [400, 'bad_request', `request body is not valid JSON: ${e.message}`],
  'entity.too.large': (e) => [
    413,
    'body_too_large',
    `request body is larger than ${e.limit ?? 'the limit'} bytes`,
  ],
  'encoding.unsupported': (e) => [415, 'unsupported_media_type', e.message],
  'charset.unsupported': (e) => [415, 'unsupported_media_type', e.message],
  'request.aborted': () => [400, 'bad_request', 'request aborted while reading the body'],
};

/** Body limits of registered functions, by name. */
const bodyLimits = new Map<string, number>();

/**
 * Registers `handler` with the Functions Framework as `name` and records its body limit, so that the server
 * refuses a larger body while it arrives. The framework's own body parsers accept up to 1 GiB and parse it before
 * the handler runs: a large body would fill a 256Mi pod long before the handler's MAX_BODY_BYTES check.
 */
export function registerFunction(name: string, handler: HttpFunction, opts: { maxBodyBytes: number }): void {
  http(name, handler);
  bodyLimits.set(name, opts.maxBodyBytes);
}

/** Answers 413; `size` when the body's whole size is known (its Content-Length). */
function refuse(res: ServerResponse, maxBytes: number, size?: number): void {
  const message = bodyTooLargeMessage(maxBytes, size);
  res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
  res.end(JSON.stringify({ error: 'body_too_large', message }));
}

/**
 * Answers 413 as soon as a body is known to exceed `maxBytes`: at once from Content-Length, or while a chunked body
 * arrives, counting its bytes. Either way at most one chunk past the limit is held, and the connection is closed.
 */
function limitBodies(
  maxBytes: number,
  next: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      refuse(res, maxBytes, declared);
      return;
    }
    // Counted where chunks are emitted, not with a 'data' listener: a listener would switch the stream to flowing
    // and lose the body of a request that a handler reads later itself (one no body parser took).
    let size = 0;
    let refused = false;
    const emit = req.emit.bind(req) as (event: string | symbol, ...args: unknown[]) => boolean;
    req.emit = ((event: string | symbol, ...args: unknown[]) => {
      if (event === 'data') {
        if (refused) return false;
        size += (args[0] as Buffer).length;
        if (size > maxBytes) {
          refused = true;
          req.pause();
          if (!res.headersSent) refuse(res, maxBytes);
          if (res.writableFinished) req.destroy();
          else res.once('finish', () => req.destroy());
          return false;
        }
      }
      return emit(event, ...args);
    }) as typeof req.emit;
    next(req, res);
  };
}

/**
 * The Functions Framework's server for the function registered as `name` (its own server factory, exposed as
 * getTestServer), plus an error handler so that a body the framework cannot parse gets a JSON 4xx with a message
 * instead of an HTML page, and, for a function registered with registerFunction, its body limit.
 */
export function functionServer(name: string): Server {
  const server = getTestServer(name);
  const app = server.listeners('request')[0] as { use?: (fn: unknown) => void } | undefined;
  app?.use?.((err: BodyParserError, _req: Request, res: Response, next: NextFunction) => {
    const describe = err.type ? MESSAGES[err.type] : undefined;
    if (!describe || res.headersSent) return next(err);
    const [status, error, message] = describe(err);
    res
      .status(status)
      .set('content-type', 'application/json; charset=utf-8')
      .send(JSON.stringify({ error, message }));
  });
  const limit = bodyLimits.get(name);
  const [listener] = server.listeners('request') as Array<
    (req: IncomingMessage, res: ServerResponse) => void
  >;
  if (limit !== undefined && listener) {
    server.removeListener('request', listener);
    server.on('request', limitBodies(limit, listener));
  }
  return server;
}
