// HTTP plumbing shared by the functions: body limits, request context, JSON/CloudEvent replies, error mapping.
import type { FunctionRequest as Request, FunctionResponse as Response } from './message.ts';
import type { CloudEvent } from 'cloudevents';
import { HttpError, errorResponse } from '../errors.ts';
import { decodeRequest, toBinary, type Incoming } from '../events/cloudevent.ts';
import { log as rootLog, type Logger } from '../log.ts';
import { flushTelemetrySoon, observe, withSpan } from '../telemetry/index.ts';

/** The message of a 413: the body's size when known, and the limit. */
export function bodyTooLargeMessage(maxBytes: number, size?: number): string {
  return size === undefined
    ? `request body is more than the limit of ${maxBytes} bytes (MAX_BODY_BYTES)`
    : `request body is ${size} bytes, more than the limit of ${maxBytes} (MAX_BODY_BYTES)`;
}

/** The media type (lower-case, without parameters) and charset of a Content-Type header. */
export function contentTypeOf(header: string | undefined): { media: string; charset: string | undefined } {
  const [media = '', ...params] = (header ?? '').split(';');
  const charset = params
    .map((p) => /^\s*charset\s*=\s*"?([^";\s]*)"?\s*$/i.exec(p)?.[1])
    .find((c) => c !== undefined);
  return { media: media.trim().toLowerCase(), charset: charset?.toLowerCase() };
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
  req.parseBody?.(); // a body the server left unparsed (deferParse): parsed now, as the server would have
  const contentType = (req.header('content-type') ?? '').toLowerCase();
  const alreadyParsed =
    /^application\/(json|cloudevents\+json)\b/.test(contentType) &&
    req.rawBody === raw &&
    typeof req.body === 'object' &&
    req.body !== null &&
    !Buffer.isBuffer(req.body);
  // The text the server decoded the body to, when it did: a 230 KB batch is not decoded a second time.
  const text = req.rawBody === raw && typeof req.rawText === 'string' ? req.rawText : raw;
  return decodeRequest(req.headers, text, alreadyParsed ? (req.body as object) : undefined);
}

/**
 * Drops the parsed body and its text from the request once the handler has taken what it needs from them (the bytes
 * stay in `rawBody`, outside V8's heap), so that a request waiting on I/O does not keep a batch's objects alive.
 */
export function releaseBody(req: Request): void {
  req.body = undefined;
  req.rawText = undefined;
}

/** A W3C traceparent header value when well-formed, else undefined. */
export function wellFormedTraceparent(v: string | undefined): string | undefined {
  return v && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(v) ? v : undefined;
}

/** The W3C traceparent header, when present and well-formed. */
export function traceparentOf(req: Request): string | undefined {
  return wellFormedTraceparent(req.header('traceparent'));
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

/** The JSON body of an error answer. */
export type ErrorBody = ReturnType<typeof errorResponse>['body'];

/**
 * Maps an error to its status and JSON body, logs it with the right severity (a 5xx with its stack and cause), and
 * answers: with `render` when it takes the answer (returns true), else with the JSON body.
 */
export function sendError(
  res: Response,
  err: unknown,
  log: Logger,
  render?: (status: number, body: ErrorBody) => boolean,
): void {
  const { status, body, retryAfterSeconds } = errorResponse(err);
  if (status >= 500) log.error('request failed', err, { status });
  else log.warn('request rejected', { status, error: body.error, reason: body.message });
  if (retryAfterSeconds !== undefined) res.set('retry-after', String(retryAfterSeconds));
  if (render?.(status, body)) return;
  sendJson(res, status, body);
}

/** What a function's handlers get: the request's logger, which they may narrow (event id, exchange, ...). */
export interface RequestScope {
  log: Logger;
}

/** A function's own handling of one method. */
export type MethodHandler = (req: Request, res: Response, scope: RequestScope) => Promise<void>;

/** What functionHandler() builds a function from. */
export interface FunctionHandlerOptions {
  component: string;
  /** Refuses a request (throws) before its method is looked at. */
  authorize?: (req: Request, res: Response) => void;
  /** GET without `get`: answered with `{function, ...info()}`. */
  info?: () => Record<string, unknown>;
  /** GET and HEAD. */
  get?: MethodHandler;
  /** POST. */
  post?: MethodHandler;
  /** What a 405 tells the caller; by default "POST a request". */
  methodHint?: string;
  /** The error answered for a thrown one (e.g. a database error as a 503 whose cause is the original). */
  describeError?: (err: unknown) => unknown;
  /** Answers an error other than as JSON (e.g. an HTML page); returns false to leave it to JSON. */
  renderError?: (req: Request, res: Response, status: number, body: ErrorBody) => boolean;
}

/**
 * The shell every function shares: a logger carrying the request's traceparent, an optional authorization check,
 * GET (and HEAD when the function reads with `get`) and POST dispatched, other methods refused with 405 naming the
 * allowed ones, and any error mapped to its status and body (logged once, with what the handler learned about the
 * request; a 5xx with its stack and cause).
 */
export function functionHandler(
  opts: FunctionHandlerOptions,
): (req: Request, res: Response) => Promise<void> {
  const baseLog = rootLog.child({ component: opts.component });
  const get: MethodHandler =
    opts.get ??
    (async (_req, res) => {
      sendJson(res, 200, { function: opts.component, ...opts.info?.() });
    });
  const methods = new Map<string, MethodHandler>([['GET', get]]);
  if (opts.get) methods.set('HEAD', opts.get);
  if (opts.post) methods.set('POST', opts.post);
  const allow = [...methods.keys()].join(', ');
  return (req, res) =>
    // One server span per request, continuing the caller's traceparent (the Broker's, or a CloudEvent's
    // ce-traceparent); its latency by status. Without OTEL_EXPORTER_OTLP_ENDPOINT both are nothing.
    withSpan(
      `${opts.component} ${req.method ?? ''}`.trim(),
      {
        parent: traceparentOf(req) ?? req.header('ce-traceparent'),
        kind: 'server',
        attributes: { 'faas.name': opts.component, 'http.request.method': req.method ?? '' },
      },
      async (span) => {
        const started = performance.now();
        await handleRequest(req, res);
        span.setAttribute('http.response.status_code', String(res.statusCode));
        if (res.statusCode >= 500) span.fail(`HTTP ${res.statusCode}`);
        observe('cryptopipe_request_duration_seconds', (performance.now() - started) / 1000, {
          function: opts.component,
          method: req.method ?? '',
          status: String(res.statusCode),
        });
        flushTelemetrySoon();
      },
    );

  async function handleRequest(req: Request, res: Response): Promise<void> {
    const traceparent = traceparentOf(req);
    const scope: RequestScope = { log: traceparent ? baseLog.child({ traceparent }) : baseLog };
    try {
      opts.authorize?.(req, res);
      const handle = methods.get(req.method ?? '');
      if (!handle) {
        res.set('allow', allow);
        throw new HttpError(
          405,
          'method_not_allowed',
          `method ${req.method} is not allowed: ${opts.methodHint ?? 'POST a request'}`,
        );
      }
      await handle(req, res, scope);
    } catch (err) {
      const answered = opts.describeError ? opts.describeError(err) : err;
      const render = opts.renderError;
      sendError(res, answered, scope.log, render && ((status, body) => render(req, res, status, body)));
    }
  }
}
