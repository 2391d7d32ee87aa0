// Whether a dead-lettered event can go back to the Broker: replay sends its attributes as ce-* HTTP headers.
import { CloudEvent } from 'cloudevents';
import { toBinary, type HttpMessage } from './cloudevent.ts';

/** Knative's reason attributes on a dead letter: dropped when the event goes back to the Broker. */
export const ERROR_ATTRIBUTES = ['knativeerrordest', 'knativeerrorcode', 'knativeerrordata'] as const;

/**
 * Most bytes of ce-* headers a replay may send. Node's HTTP server refuses more than 16 KiB of headers in all (431) and
 * common proxies 8 KiB; attributes that large are not metadata.
 */
export const MAX_ATTRIBUTE_HEADER_BYTES = 8 * 1024;

/** Attributes that must say something: an empty header is no attribute, and the receiver refuses the event. */
const REQUIRED = ['id', 'source', 'type', 'specversion'] as const;

/** A header value HTTP can carry unchanged: Latin-1 without control characters (Node and fetch refuse the rest). */
const HEADER_TEXT = /^[\x20-\x7e\x80-\xff]*$/;

/** Why an event with these attributes (Knative's error attributes aside) cannot be sent again, or undefined. */
export function replayProblem(attributes: Record<string, unknown>): string | undefined {
  for (const name of REQUIRED) {
    const v = attributes[name];
    if (typeof v !== 'string' || v.trim() === '') return `attribute '${name}' is missing or blank`;
  }
  let message: HttpMessage;
  try {
    message = toBinary(new CloudEvent(withoutErrorAttributes(attributes)));
  } catch (err) {
    return `not a valid CloudEvent: ${(err as Error).message.split('\n')[0]}`;
  }
  let bytes = 0;
  for (const [header, value] of Object.entries(message.headers)) {
    if (!HEADER_TEXT.test(value))
      return `attribute '${header.replace(/^ce-/, '')}' holds a control character or a character an HTTP header cannot carry`;
    bytes += header.length + value.length + 4;
  }
  if (bytes > MAX_ATTRIBUTE_HEADER_BYTES)
    return `its attributes take ${bytes} bytes as headers, more than ${MAX_ATTRIBUTE_HEADER_BYTES}`;
  return undefined;
}

/** The binary-mode message that sends a stored dead letter back to the Broker; throws when it cannot be sent. */
export function replayMessage(stored: Record<string, unknown>): HttpMessage {
  const problem = replayProblem(stored);
  if (problem) throw new Error(`cannot be sent again: ${problem}`);
  return toBinary(new CloudEvent(withoutErrorAttributes(stored)));
}

function withoutErrorAttributes(attributes: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...attributes };
  for (const a of ERROR_ATTRIBUTES) delete copy[a];
  return copy;
}
