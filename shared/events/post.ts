// POSTs a CloudEvent (binary mode) to a receiver: the one HTTP client of K_SINK, the Broker commands and the local Broker.
import type { CloudEvent } from 'cloudevents';
import { ServiceUnreachable, unreachable } from '../unreachable.ts';
import { currentTraceparent } from '../telemetry/index.ts';
import { toBinary, type HttpMessage } from './cloudevent.ts';

/** How one POST, retries included, ended. */
export interface PostResult {
  /** True when the last answer was 2xx. */
  ok: boolean;
  /** Status of the last answer; undefined when the last attempt got none (network error, timeout). */
  status: number | undefined;
  /** Headers and text of the last answer (none and '' without one). */
  headers: Headers | undefined;
  body: string;
  /** Why the last attempt failed (`HTTP 503: <body>`, `TimeoutError: ...`); '' when it succeeded. */
  reason: string;
  /** The network error of the last attempt, when it got no answer. */
  error: unknown;
  /** Attempts made. */
  attempts: number;
}

/** How to POST: each caller keeps its own timeout and retry policy. */
export interface PostOptions {
  /** Time limit of each attempt; none when undefined. */
  timeoutMs?: number;
  /** Attempts after the first (default 0). */
  retries?: number;
  /** Statuses worth another attempt (default: none); an attempt without an answer is always retried. */
  retryable?: (status: number) => boolean;
  /** Wait before retry `n` (0 for the first retry); default none. */
  backoffMs?: (n: number) => number;
  sleep?: (ms: number) => Promise<void>;
  /** Told of each failed attempt that is retried, before the wait. */
  onRetry?: (failed: PostResult) => void;
  /** The traceparent to send (a Broker passing on the one its event came with); default: the running span's. */
  traceparent?: string;
}

const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** POSTs an encoded message, retrying as `opts` say; never throws for a refusal or a network error. */
export async function postMessage(
  url: string,
  message: HttpMessage,
  opts: PostOptions = {},
): Promise<PostResult> {
  const retries = opts.retries ?? 0;
  const sleep = opts.sleep ?? wait;
  for (let attempt = 1; ; attempt++) {
    const result = await postOnce(url, message, opts.timeoutMs, attempt, opts.traceparent);
    const again = !result.ok && (result.status === undefined || (opts.retryable?.(result.status) ?? false));
    if (!again || attempt > retries) return result;
    opts.onRetry?.(result);
    const ms = opts.backoffMs?.(attempt - 1) ?? 0;
    if (ms > 0) await sleep(ms);
  }
}

/** POSTs `event` in binary mode; see postMessage. */
export function postEvent(
  url: string,
  event: CloudEvent<unknown>,
  opts: PostOptions = {},
): Promise<PostResult> {
  return postMessage(url, toBinary(event), opts);
}

/**
 * POSTs once to the Broker of an operator command (backfill, replay): resolves on 2xx, throws ServiceUnreachable when
 * the Broker cannot be reached at all (so the command stops with one line), an Error naming the answer otherwise.
 */
export async function sendToBroker(url: string, message: HttpMessage, timeoutMs = 30_000): Promise<void> {
  const r = await postMessage(url, message, { timeoutMs });
  if (r.ok) return;
  if (r.status === undefined) {
    const down = unreachable(r.error);
    throw down ? new ServiceUnreachable(`the Broker at ${url}`, down.reason, { cause: r.error }) : r.error;
  }
  throw new Error(r.reason);
}

async function postOnce(
  url: string,
  message: HttpMessage,
  timeoutMs: number | undefined,
  attempts: number,
  passedOn: string | undefined,
): Promise<PostResult> {
  try {
    // The running span's traceparent (extract's, when telemetry is on) goes with the event, as an HTTP header only:
    // the event's attributes and bytes stay the same whoever sends it.
    const traceparent = passedOn ?? currentTraceparent();
    const res = await fetch(url, {
      method: 'POST',
      headers: traceparent ? { ...message.headers, traceparent } : message.headers,
      body: message.body,
      ...(timeoutMs !== undefined ? { signal: AbortSignal.timeout(timeoutMs) } : {}),
    });
    const body = await res.text();
    const reason = res.ok ? '' : `HTTP ${res.status}${body ? `: ${body.slice(0, 200)}` : ''}`;
    return { ok: res.ok, status: res.status, headers: res.headers, body, reason, error: undefined, attempts };
  } catch (err) {
    const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return { ok: false, status: undefined, headers: undefined, body: '', reason, error: err, attempts };
  }
}
