// Delivers CloudEvents to K_SINK (the Broker) in binary mode; a refused event fails the request, it is never dropped.
import type { CloudEvent } from 'cloudevents';
import { TransientError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { toBinary } from './cloudevent.ts';

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
  const { headers, body } = toBinary(event);
  const delay = sink.retryDelayMs ?? 200;
  for (let attempt = 0; ; attempt++) {
    let status: number | undefined;
    let reason: string;
    try {
      const res = await fetch(sink.url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(sink.timeoutMs),
      });
      status = res.status;
      const text = await res.text();
      if (res.ok) return Buffer.byteLength(body);
      reason = `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
    } catch (err) {
      reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
    const retryable = status === undefined || RETRYABLE.has(status);
    if (!retryable || attempt >= sink.retries) {
      log.error('sink refused an event', undefined, {
        eventId: event.id,
        status,
        reason,
        attempts: attempt + 1,
      });
      throw new TransientError(
        'sink_refused',
        `K_SINK did not accept event ${event.id} (${reason}) after ${attempt + 1} attempt(s); nothing is marked as delivered`,
        { eventId: event.id, sinkStatus: status ?? null },
        { status: retryable ? 503 : 502 },
      );
    }
    log.warn('sink did not accept an event, retrying', {
      eventId: event.id,
      status,
      reason,
      attempt: attempt + 1,
    });
    await new Promise((r) => setTimeout(r, delay * 2 ** attempt));
  }
}
