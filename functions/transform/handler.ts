// The transform HTTP handler: check the MinIO token, read which objects were created, load each into PostgreSQL.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FunctionRequest as Request, HttpFunction } from '../../shared/http/message.ts';
import type { TransformConfig } from '../../shared/config.ts';
import { BadRequestError, HttpError } from '../../shared/errors.ts';
import { functionHandler, readRequest, sendJson } from '../../shared/http/respond.ts';
import { BATCH_PREFIX } from '../../shared/lake/objects.ts';
import { loadObject, type LoadDeps, type LoadResult } from '../../shared/transform/load.ts';
import { parseObjectEvents } from '../../shared/transform/notification.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** True when the request carries `Authorization: Bearer <token>`; compared in constant time. */
export function authorized(req: Request, token: string | undefined): boolean {
  if (token === undefined) return true;
  const header = req.header('authorization') ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(header);
  return m !== null && timingSafeEqual(digest((m[1] as string).trim()), digest(token));
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
        const result = await loadObject(
          { ...deps, maxObjectBytes: cfg.maxObjectBytes, log: log.child({ key: ev.key }) },
          ev.bucket,
          ev.key,
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
