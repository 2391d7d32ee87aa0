// HTTP plumbing shared by the functions: body limits, request context, JSON/CloudEvent replies, error mapping.
import type { FunctionRequest as Request, FunctionResponse as Response } from './message.ts';
import type { CloudEvent } from 'cloudevents';
import { HttpError, errorResponse } from '../errors.ts';
import { decodeRequest, toBinary, type Incoming } from '../events/cloudevent.ts';
import { log as rootLog, type Logger } from '../log.ts';

/** The message of a 413: the body's size when known, and the limit. */
export function bodyTooLargeMessage(maxBytes: number, size?: number): string {
  return size === undefined
    ? `request body is more than the limit of ${maxBytes} bytes (MAX_BODY_BYTES)`
    : `request body is ${size} bytes, more than the limit of ${maxBytes} (MAX_BODY_BYTES)`;
}

/**
 * The raw body: as the function server kept it, or read here when nothing read it before (a handler run by another
 * host, such as the Functions Framework's invoker). 413 when larger than `maxBytes`.
 */
export async function rawBody(req: Request, maxBytes: number): Promise<Buffer> {
  const tooLarge = (n: number) => new HttpError(413, 'body_too_large', bodyTooLargeMessage(maxBytes, n));
  const kept = req.rawBody;
  if (kept !== undefined || !req.readable) {
    const body = kept ?? (typeof req.body === 'string' ? Buffer.from(req.body) : Buffer.alloc(0));
    if (body.length > maxBytes) throw tooLarge(body.length);
    return body;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(size);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Reads and decodes a request (CloudEvent in either mode, or plain JSON) within `maxBytes`. A JSON body the server
 * already parsed is used as it is rather than parsed again: a 1,500-candle batch is about a megabyte of objects per
 * copy, times the requests a pod holds at once.
 */
export async function readRequest(req: Request, maxBytes: number): Promise<Incoming> {
  const raw = await rawBody(req, maxBytes);
  const contentType = (req.header('content-type') ?? '').toLowerCase();
  const alreadyParsed =
    /^application\/(json|cloudevents\+json)\b/.test(contentType) &&
    req.rawBody === raw &&
    typeof req.body === 'object' &&
    req.body !== null &&
    !Buffer.isBuffer(req.body);
  return decodeRequest(req.headers, raw, alreadyParsed ? (req.body as object) : undefined);
}

/** The W3C traceparent header, when present and well-formed. */
export function traceparentOf(req: Request): string | undefined {
  const v = req.header('traceparent');
  return v && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(v) ? v : undefined;
}

/** Answers with JSON. */
export function sendJson(res: Response, status: number, body: unknown): void {
  res.status(status).set('content-type', 'application/json; charset=utf-8').send(JSON.stringify(body));
}

/** Answers with a CloudEvent in binary mode (Knative forwards a reply event to the broker). */
export function sendEvent(res: Response, status: number, event: CloudEvent<unknown>): void {
  const { headers, body } = toBinary(event);
  res.status(status).set(headers).send(body);
}

/** Maps an error to its status and JSON body, logs it with the right severity, and answers. */
export function sendError(res: Response, err: unknown, log: Logger): void {
  const { status, body, retryAfterSeconds } = errorResponse(err);
  if (status >= 500) log.error('request failed', err, { status });
  else log.warn('request rejected', { status, error: body.error, reason: body.message });
  if (retryAfterSeconds !== undefined) res.set('retry-after', String(retryAfterSeconds));
  sendJson(res, status, body);
}

/** What a function's POST handler gets: the request's logger, which it may narrow (event id, exchange, ...). */
export interface RequestScope {
  log: Logger;
}

/**
 * The shell every function shares: a logger carrying the request's traceparent, an optional authorization check,
 * GET answered with `info()`, methods other than GET and POST refused with 405, and any error mapped to its status
 * and JSON body (logged once, with what the handler learned about the request).
 */
export function functionHandler(opts: {
  component: string;
  info: () => Record<string, unknown>;
  authorize?: (req: Request, res: Response) => void;
  post: (req: Request, res: Response, scope: RequestScope) => Promise<void>;
}): (req: Request, res: Response) => Promise<void> {
  const baseLog = rootLog.child({ component: opts.component });
  return async (req, res) => {
    const traceparent = traceparentOf(req);
    const scope: RequestScope = { log: traceparent ? baseLog.child({ traceparent }) : baseLog };
    try {
      opts.authorize?.(req, res);
      if (req.method === 'GET') {
        sendJson(res, 200, { function: opts.component, ...opts.info() });
        return;
      }
      if (req.method !== 'POST') {
        res.set('allow', 'GET, POST');
        throw new HttpError(405, 'method_not_allowed', `method ${req.method} is not allowed: POST a request`);
      }
      await opts.post(req, res, scope);
    } catch (err) {
      sendError(res, err, scope.log);
    }
  };
}
