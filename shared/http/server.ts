// The HTTP server of a registered function, with body-parser failures answered as JSON 4xx like every other error.
import type { Server } from 'node:http';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Request, Response } from '@google-cloud/functions-framework';

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

/**
 * The Functions Framework's server for the function registered as `name` (its own server factory, exposed as
 * getTestServer), plus an error handler so that a body the framework cannot parse gets a JSON 4xx with a message
 * instead of an HTML page.
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
  return server;
}
