// HTTP plumbing shared by the functions: body limits, request context, JSON/CloudEvent replies, error mapping.
import type { Request, Response } from '@google-cloud/functions-framework';
import type { CloudEvent } from 'cloudevents';
import { BadRequestError, errorResponse } from '../errors.ts';
import { toBinary } from '../events/cloudevent.ts';
import type { Logger } from '../log.ts';

/** The raw body as the Functions Framework kept it; 413 when larger than `maxBytes`. */
export function rawBody(req: Request, maxBytes: number): Buffer {
  const raw = (req as Request & { rawBody?: Buffer }).rawBody;
  const body = raw ?? (typeof req.body === 'string' ? Buffer.from(req.body) : Buffer.alloc(0));
  if (body.length > maxBytes) {
    throw new BadRequestError(
      `request body is ${body.length} bytes, more than the limit of ${maxBytes} (MAX_BODY_BYTES)`,
      undefined,
      413,
      'body_too_large',
    );
  }
  return body;
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
