// The ce-* encoding in one place: build pipeline CloudEvents, write them in binary/structured mode, decode requests.
import { CloudEvent, HTTP, ValidationError } from 'cloudevents';
import { BadRequestError, HttpError } from '../errors.ts';
import { canonicalJson } from './canonical.ts';
import { SCHEMA_VERSION } from './schemas.ts';

/** Extension attributes the pipeline sets; Triggers filter on `exchange` and `dataset`. */
export interface PipelineExtensions {
  exchange?: string;
  dataset?: string;
  schemaversion?: string;
  traceparent?: string;
}

/** What a pipeline event is made of before encoding. */
export interface PipelineEventInit<T> {
  id: string;
  source: string;
  type: string;
  subject?: string;
  /** Event time in epoch ms; set explicitly so the same data gives the same bytes. */
  time: number;
  data: T;
  extensions?: PipelineExtensions;
}

/** Builds a validated CloudEvent with JSON data and the schema-version extension. */
export function buildEvent<T>(init: PipelineEventInit<T>): CloudEvent<T> {
  const ext: Record<string, string> = { schemaversion: String(SCHEMA_VERSION) };
  for (const [k, v] of Object.entries(init.extensions ?? {})) if (v !== undefined) ext[k] = v;
  return new CloudEvent<T>({
    specversion: '1.0',
    id: init.id,
    source: init.source,
    type: init.type,
    ...(init.subject !== undefined ? { subject: init.subject } : {}),
    time: new Date(init.time).toISOString(),
    datacontenttype: 'application/json',
    data: init.data,
    ...ext,
  });
}

/** An HTTP message: headers and a body (text, or the bytes of an event whose data is binary). */
export interface HttpMessage {
  headers: Record<string, string>;
  body: string | Buffer;
}

/**
 * Encodes in binary mode: attributes as ce-* headers, data as the body: JSON text, or for binary data (`data_base64`,
 * e.g. a stored dead letter read back) the original bytes, never a JSON rendering of a byte array. JSON data (an
 * object or array) is written as canonical JSON: the same event always has the same body, and load-raw reads a
 * batch of candles from its bytes without parsing them (readCandleBody).
 */
export function toBinary(event: CloudEvent<unknown>): HttpMessage {
  const bytes = event.data_base64;
  const data: unknown = event.data;
  if (
    typeof bytes !== 'string' &&
    data !== null &&
    typeof data === 'object' &&
    !ArrayBuffer.isView(data) &&
    isJsonType(event)
  ) {
    // The headers of the event without its data (the same headers): the SDK does not serialise the data as well.
    const m = HTTP.binary({ ...event, data: undefined } as CloudEvent<unknown>);
    return { headers: stringHeaders(m.headers), body: canonicalJson(data) };
  }
  const m = HTTP.binary(event);
  return {
    headers: stringHeaders(m.headers),
    body:
      typeof bytes === 'string'
        ? Buffer.from(bytes, 'base64')
        : typeof m.body === 'string'
          ? m.body
          : JSON.stringify(m.body),
  };
}

/** True when the event's data content type is JSON (application/json, any +json), or not given. */
function isJsonType(event: CloudEvent<unknown>): boolean {
  const type = (event.datacontenttype ?? 'application/json').toLowerCase();
  return /^application\/(.+\+)?json\s*(;|$)/.test(type);
}

/** Encodes in structured mode: the whole event as application/cloudevents+json. */
export function toStructured(event: CloudEvent<unknown>): HttpMessage & { body: string } {
  const m = HTTP.structured(event);
  return {
    headers: stringHeaders(m.headers),
    body: typeof m.body === 'string' ? m.body : JSON.stringify(m.body),
  };
}

function stringHeaders(h: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && v !== null) out[k] = String(v);
  return out;
}

/** A decoded request: a CloudEvent (either mode) or a plain JSON body from curl. */
export type Incoming =
  | { kind: 'cloudevent'; mode: 'binary' | 'structured'; event: CloudEvent<unknown> }
  | { kind: 'plain'; data: unknown };

type HeaderValue = string | string[] | undefined;

function header(headers: Record<string, HeaderValue>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Decodes an HTTP request into a CloudEvent (binary mode when ce-* headers are present, structured mode for
 * application/cloudevents+json) or a plain JSON value. Every malformed input is a BadRequestError with a message.
 */
export function decodeRequest(
  headers: Record<string, HeaderValue>,
  rawBody: Buffer | string | undefined,
  parsed?: object,
): Incoming {
  const contentType = (header(headers, 'content-type') ?? '').toLowerCase();
  const body = rawBody === undefined ? '' : typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
  if (nestedDeeperThan(body, MAX_JSON_DEPTH)) {
    throw new BadRequestError(`request body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  // `parsed`: the same body already parsed as JSON (by the function server); not parsed a second time. An empty
  // body (which a body parser turns into {}) is still refused. /\S/ finds the first character without copying.
  const given = parsed !== undefined && /\S/.test(body) ? parsed : undefined;
  const json = (): unknown => given ?? parseJsonBody(body);
  const hasCeHeaders = Object.keys(headers).some((k) => k.toLowerCase().startsWith('ce-'));

  if (contentType.startsWith('application/cloudevents-batch+json')) {
    throw new HttpError(
      415,
      'unsupported_media_type',
      'batched CloudEvents are not supported: send one event per request',
    );
  }
  const structured = contentType.startsWith('application/cloudevents+json');
  if (!structured && !hasCeHeaders) return { kind: 'plain', data: json() };

  if (structured && hasCeHeaders && header(headers, 'ce-specversion') !== undefined) {
    throw new BadRequestError(
      'ambiguous CloudEvent: structured content type together with ce-* attribute headers',
    );
  }
  if (!structured) {
    for (const name of ['ce-specversion', 'ce-id', 'ce-source', 'ce-type']) {
      if (!header(headers, name))
        throw new BadRequestError(`binary-mode CloudEvent without the ${name} header`);
    }
    // JSON, or text that holds JSON (a PingSource without contentType, which kn cannot set, sends its data as text).
    if (
      body.length > 0 &&
      contentType !== '' &&
      !/^(application\/(.+\+)?json|text\/plain)\b/.test(contentType)
    ) {
      throw new HttpError(
        415,
        'unsupported_media_type',
        `unsupported content type '${contentType}': CloudEvent data must be application/json`,
      );
    }
    // Whitespace alone is no JSON value (the SDK would take it for an event without data).
    if (body.length > 0 && !/\S/.test(body) && /json\b/.test(contentType)) {
      throw new BadRequestError('binary-mode CloudEvent data is not JSON: the body is only whitespace');
    }
  } else {
    // The SDK would invent a missing id; a structured event must carry every required attribute itself.
    const envelope = json();
    if (envelope === null || typeof envelope !== 'object' || Array.isArray(envelope)) {
      throw new BadRequestError('a structured CloudEvent must be a JSON object');
    }
    for (const name of ['specversion', 'id', 'source', 'type']) {
      const v = (envelope as Record<string, unknown>)[name];
      if (typeof v !== 'string' || v === '')
        throw new BadRequestError(`structured CloudEvent without the '${name}' attribute`);
    }
  }
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    const value = Array.isArray(v) ? v[0] : v;
    if (value !== undefined) lower[k.toLowerCase()] = value;
  }
  let event: CloudEvent<unknown>;
  try {
    const decoded = HTTP.toEvent({ headers: lower, body: given ?? body });
    if (Array.isArray(decoded)) throw new BadRequestError('batched CloudEvents are not supported');
    event = decoded as CloudEvent<unknown>;
    event.validate();
  } catch (err) {
    if (err instanceof BadRequestError) throw err;
    throw new BadRequestError(`invalid CloudEvent: ${cloudEventErrorText(err)}`);
  }
  if (event.specversion !== '1.0') {
    throw new BadRequestError(
      `unsupported CloudEvents specversion '${event.specversion}': only 1.0 is accepted`,
    );
  }
  return { kind: 'cloudevent', mode: structured ? 'structured' : 'binary', event };
}

function cloudEventErrorText(err: unknown): string {
  if (err instanceof ValidationError) {
    const details = (err.errors ?? []).map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('; ');
    return details ? `${err.message}: ${details}` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * Deepest JSON nesting accepted. Serialising (canonical JSON, jsonb) recurses once per level, so a body of a few
 * hundred kilobytes of `[[[[...` would otherwise overflow the stack: a 500 instead of a 400, or in transform a
 * failure retried forever. Real exchange data nests well under 20 levels.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * True when the JSON text nests objects/arrays deeper than `max` (one pass; a string is skipped in one indexOf to its
 * closing quote, the first `"` after it not escaped by an odd run of backslashes).
 */
export function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (;;) {
        const q = text.indexOf('"', i + 1);
        if (q < 0) return false; // an unterminated string: nothing after it counts
        let b = q - 1;
        while (b > i && text.charCodeAt(b) === 0x5c) b--;
        i = q;
        if ((q - 1 - b) % 2 === 0) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Parses a JSON request body; an empty or invalid body is a 400 naming the problem. */
export function parseJsonBody(body: string): unknown {
  if (body.trim() === '') throw new BadRequestError('empty request body: send a JSON object');
  try {
    return JSON.parse(body) as unknown;
  } catch (err) {
    throw new BadRequestError(`request body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Checks that `event` is one of the `accepted` types and, when it carries `schemaversion`, the version this code
 * reads; otherwise a 400 naming what `reader` accepts.
 */
export function requireEventType(
  event: CloudEvent<unknown>,
  accepted: readonly string[],
  reader: string,
): void {
  if (!accepted.includes(event.type)) {
    throw new BadRequestError(
      `unsupported event type '${event.type}': ${reader} accepts ${accepted.join(', ')}`,
      undefined,
      'unsupported_event_type',
    );
  }
  const version = event['schemaversion'];
  if (version !== undefined && String(version) !== String(SCHEMA_VERSION)) {
    throw new BadRequestError(
      `unsupported schema version '${String(version)}': ${reader} reads version ${SCHEMA_VERSION}`,
      undefined,
      'unsupported_schema_version',
    );
  }
}
