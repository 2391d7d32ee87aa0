// The transform HTTP handler: check the MinIO token, read which objects were created, load each into PostgreSQL.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FunctionRequest as Request, HttpFunction } from '../../shared/http/message.ts';
import type { TransformConfig } from '../../shared/config.ts';
import { BadRequestError, HttpError } from '../../shared/errors.ts';
import { functionHandler, readRequest, sendJson } from '../../shared/http/respond.ts';
import { BATCH_PREFIX } from '../../shared/lake/list.ts';
import { loadObject, type LoadDeps, type LoadResult } from '../../shared/transform/load.ts';
import { parseObjectEvents } from '../../shared/transform/notification.ts';
import { count, observe, withSpan } from '../../shared/telemetry/index.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** True when the request carries `Authorization: Bearer <token>`; compared in constant time. */
export function authorized(req: Request, token: string | undefined): boolean {
  if (token === undefined) return true;
  const header = req.header('authorization') ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(header);
  return m !== null && timingSafeEqual(digest((m[1] as string).trim()), digest(token));
}

/**
 * The traceparent load-raw stored in each object's metadata, by key, as MinIO's notification carries it
 * (`s3.object.userMetadata`, `X-Amz-Meta-Traceparent`).
 */
export function objectTraceparents(data: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const records = (data as { Records?: unknown } | null)?.Records;
  if (!Array.isArray(records)) return out;
  for (const r of records as Array<{ s3?: { object?: { key?: unknown; userMetadata?: unknown } } }>) {
    const o = r?.s3?.object;
    if (typeof o?.key !== 'string' || !o.userMetadata || typeof o.userMetadata !== 'object') continue;
    for (const [k, v] of Object.entries(o.userMetadata as Record<string, unknown>))
      if (/^(x-amz-meta-)?traceparent$/i.test(k) && typeof v === 'string') {
        out.set(o.key, v);
        try {
          out.set(decodeURIComponent(o.key.replace(/\+/g, ' ')), v); // MinIO escapes the key in notifications
        } catch {
          // not an escaped key: the key as it came
        }
      }
  }
  return out;
}

/** Exchange and dataset of a raw key (`exchange=<x>/dataset=<d>/...`), for the counters. */
const streamOf = (key: string) => ({
  exchange: /^exchange=([^/]+)\//.exec(key)?.[1] ?? '',
  dataset: /^exchange=[^/]+\/dataset=([^/]+)\//.exec(key)?.[1] ?? '',
});

/**
 * Loads one object in a span that continues the trace of its writer (the object's traceparent), counting the outcome,
 * the rows and the time (telemetry; without it only the load runs).
 */
async function tracedLoad(
  key: string,
  parent: string | undefined,
  load: () => Promise<LoadResult>,
): Promise<LoadResult> {
  const stream = streamOf(key);
  const started = performance.now();
  try {
    const result = await withSpan(
      'transform load',
      { parent, attributes: { ...stream, 'object.key': key } },
      async (span) => {
        const r = await load();
        span.setAttribute('outcome', r.status);
        if (r.status === 'loaded') span.setAttribute('rows', String(r.rows));
        return r;
      },
    );
    count('cryptopipe_transform_objects', 1, { ...stream, outcome: result.status });
    if (result.status === 'loaded') count('cryptopipe_transform_rows', result.rows, stream);
    observe('cryptopipe_transform_load_seconds', (performance.now() - started) / 1000, stream);
    return result;
  } catch (err) {
    count('cryptopipe_transform_objects', 1, { ...stream, outcome: 'failed' });
    throw err;
  }
}

/** Builds the transform function. */
export function createTransformHandler(
  cfg: TransformConfig,
  deps: Omit<LoadDeps, 'log' | 'maxObjectBytes'>,
): HttpFunction {
  return functionHandler({
    component: 'transform',
    info: () => ({
      bucket: cfg.s3.bucket,
      accepts: ['MinIO bucket notification', 'CloudEvent', '{"bucket","key"}'],
    }),
    authorize: (req, res) => {
      if (authorized(req, cfg.authToken)) return;
      res.set('www-authenticate', 'Bearer realm="transform"');
      throw new HttpError(
        401,
        'unauthorized',
        'missing or wrong bearer token (Authorization: Bearer <TRANSFORM_AUTH_TOKEN>)',
      );
    },
    post: async (req, res, { log }) => {
      const incoming = await readRequest(req, cfg.maxBodyBytes);
      const manual =
        incoming.kind === 'plain' &&
        !(incoming.data && typeof incoming.data === 'object' && 'Records' in incoming.data);
      const results: Array<LoadResult | { status: 'ignored'; key: string | null; reason: string }> = [];
      const traceparents = objectTraceparents(
        incoming.kind === 'plain' ? incoming.data : incoming.event.data,
      );
      for (const ev of parseObjectEvents(incoming)) {
        if (ev.action === 'ignore') {
          log.info('event ignored', { eventName: ev.eventName, key: ev.key, reason: ev.reason });
          results.push({ status: 'ignored', key: ev.key, reason: ev.reason });
          continue;
        }
        if (ev.bucket !== cfg.s3.bucket || !ev.key.startsWith(BATCH_PREFIX)) {
          const reason =
            ev.bucket !== cfg.s3.bucket
              ? `bucket ${ev.bucket} is not ${cfg.s3.bucket}`
              : `key is outside ${BATCH_PREFIX}...`;
          if (manual) throw new BadRequestError(`cannot load s3://${ev.bucket}/${ev.key}: ${reason}`);
          log.warn('event ignored', { key: ev.key, bucket: ev.bucket, reason });
          results.push({ status: 'ignored', key: ev.key, reason });
          continue;
        }
        const result = await tracedLoad(ev.key, traceparents.get(ev.key), () =>
          loadObject(
            { ...deps, maxObjectBytes: cfg.maxObjectBytes, log: log.child({ key: ev.key }) },
            ev.bucket,
            ev.key,
          ),
        );
        if (manual && result.status === 'rejected' && result.reason === 'object_not_found') {
          throw new HttpError(404, 'not_found', `no object s3://${ev.bucket}/${ev.key}`);
        }
        results.push(result);
      }
      // MinIO reads only the status; a CloudEvent sender needs an empty body.
      if (incoming.kind === 'cloudevent') res.status(204).end();
      else sendJson(res, 200, { results });
    },
  });
}
