// The real load-raw, transform and dead-letter handlers on loopback HTTP servers, and the requests that drive them.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { S3Client } from '@aws-sdk/client-s3';
import type { CloudEvent } from 'cloudevents';
import type { Pool } from 'pg';
import { createDeadLetterHandler } from '../../functions/dead-letter/handler.ts';
import { createLoadRawHandler, loadRawServing } from '../../functions/load-raw/handler.ts';
import { createTransformHandler } from '../../functions/transform/handler.ts';
import { loadCommonConfig, loadTransformConfig, type S3Settings } from '../../shared/config.ts';
import { toBinary, toStructured } from '../../shared/events/cloudevent.ts';
import { functionServer, registerFunction } from '../../shared/http/server.ts';
import { s3Client } from '../../shared/lake/s3.ts';

let seq = 0;

/** The environment the functions read for these S3 settings. */
export function s3Env(s: S3Settings): Record<string, string> {
  return {
    S3_ENDPOINT: s.endpoint,
    AWS_ACCESS_KEY_ID: s.accessKeyId ?? '',
    AWS_SECRET_ACCESS_KEY: s.secretAccessKey ?? '',
    RAW_BUCKET: s.bucket,
  };
}

/** A function's server, listening on a free loopback port. */
export interface Listening {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Starts `server` on 127.0.0.1 (any free port). */
export async function listen(server: Server): Promise<Listening> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** load-raw, configured from the environment as its entry point does (extra variables in `env`). */
export function loadRawServer(s3: S3Settings, env: Record<string, string> = {}, client?: S3Client): Server {
  const cfg = loadCommonConfig({ ...s3Env(s3), ...env });
  const name = `load-raw-rel-${++seq}`;
  registerFunction(name, createLoadRawHandler(cfg, { s3: client ?? s3Client(cfg.s3) }), {
    maxBodyBytes: cfg.maxBodyBytes,
    ...loadRawServing,
  });
  return functionServer(name);
}

/** transform with its Bearer token, on `pool`. */
export function transformServer(
  s3: S3Settings,
  pool: Pool,
  token: string | undefined,
  env: Record<string, string> = {},
  client?: S3Client,
): Server {
  const cfg = loadTransformConfig({
    ...s3Env(s3),
    ...(token !== undefined ? { TRANSFORM_AUTH_TOKEN: token } : {}),
    ...env,
  });
  const name = `transform-rel-${++seq}`;
  registerFunction(name, createTransformHandler(cfg, { pool, s3: client ?? s3Client(cfg.s3) }), {
    maxBodyBytes: cfg.maxBodyBytes,
  });
  return functionServer(name);
}

/** The dead-letter receiver. */
export function deadLetterServer(s3: S3Settings, env: Record<string, string> = {}, now = () => Date.now()) {
  const cfg = loadCommonConfig({ ...s3Env(s3), ...env });
  const name = `dead-letter-rel-${++seq}`;
  registerFunction(name, createDeadLetterHandler(cfg, { s3: s3Client(cfg.s3), now }), {
    maxBodyBytes: cfg.maxBodyBytes,
  });
  return functionServer(name);
}

/** An answer: status, headers and body text. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** POSTs and reads the whole answer; a network failure is status 0 with the error as text. */
export async function post(
  url: string,
  body: string | Buffer,
  headers: Record<string, string>,
  timeoutMs = 30_000,
): Promise<Answer> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  } catch (err) {
    return { status: 0, headers: new Headers(), text: String(err) };
  }
}

/** Delivers a CloudEvent as the Broker does, in binary (default) or structured mode. */
export function postEvent(
  url: string,
  event: CloudEvent<unknown>,
  mode: 'binary' | 'structured' = 'binary',
): Promise<Answer> {
  const m = mode === 'binary' ? toBinary(event) : toStructured(event);
  return post(url, m.body, m.headers);
}

/** Delivers a MinIO webhook payload as MinIO does (JSON, Bearer token). */
export function postNotification(
  url: string,
  payload: Record<string, unknown>,
  token: string | undefined,
): Promise<Answer> {
  return post(url, JSON.stringify(payload), {
    'content-type': 'application/json',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  });
}

/**
 * Delivers a notification until transform answers 2xx, as MinIO's queue does; at most `attempts` times. Returns
 * every status seen, in order.
 */
export async function deliverUntilAccepted(
  url: string,
  payload: Record<string, unknown>,
  token: string | undefined,
  attempts = 6,
): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < attempts; i++) {
    const a = await postNotification(url, payload, token);
    statuses.push(a.status);
    if (a.status >= 200 && a.status < 300) break;
    await new Promise((r) => setTimeout(r, 20 * (i + 1)));
  }
  return statuses;
}

/** Runs `fn` over `items` with at most `concurrency` in flight; results in input order. */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}
