// Delivers CloudEvents to K_SINK (the Broker) in binary mode; a refused event fails the request, it is never dropped.
import type { CloudEvent } from 'cloudevents';
import { TransientError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { toBinary } from './cloudevent.ts';
import { postMessage } from './post.ts';

/** Sink settings. */
export interface SinkSettings {
  url: string;
  timeoutMs: number;
  retries: number;
  retryDelayMs?: number;
}

const RETRYABLE = new Set([408, 409, 425, 429, 500, 502, 503, 504]);

/**
 * POSTs one event and resolves when the sink accepted it (2xx). Retryable answers and network errors are retried
 * `retries` times; then, as for any other refusal, a TransientError (502/503) makes the whole request fail.
 */
export async function sendEvent(
  event: CloudEvent<unknown>,
  sink: SinkSettings,
  log: Logger,
): Promise<number> {
  const message = toBinary(event);
  const delay = sink.retryDelayMs ?? 200;
  const r = await postMessage(sink.url, message, {
    timeoutMs: sink.timeoutMs,
    retries: sink.retries,
    retryable: (status) => RETRYABLE.has(status),
    backoffMs: (n) => delay * 2 ** n,
    onRetry: (failed) =>
      log.warn('sink did not accept an event, retrying', {
        eventId: event.id,
        status: failed.status,
        reason: failed.reason,
        attempt: failed.attempts,
      }),
  });
  if (r.ok) return Buffer.byteLength(message.body);
  const retryable = r.status === undefined || RETRYABLE.has(r.status);
  log.error('sink refused an event', undefined, {
    eventId: event.id,
    status: r.status,
    reason: r.reason,
    attempts: r.attempts,
  });
  throw new TransientError(
    'sink_refused',
    `K_SINK did not accept event ${event.id} (${r.reason}) after ${r.attempts} attempt(s); nothing is marked as delivered`,
    { eventId: event.id, sinkStatus: r.status ?? null },
    { status: retryable ? 503 : 502 },
  );
}
