// The dead-letter receiver: stores each event the Broker gave up on, with Knative's reason attributes, in the raw bucket.
import { createHash } from 'node:crypto';
import type { HttpFunction } from '@google-cloud/functions-framework';
import type { S3Client } from '@aws-sdk/client-s3';
import type { CommonConfig } from '../../shared/config.ts';
import { BadRequestError } from '../../shared/errors.ts';
import { functionHandler, readRequest } from '../../shared/http/respond.ts';
import { DEAD_LETTER_PREFIX, batchBody, putIfChanged } from '../../shared/lake/objects.ts';

/** The key of a dead letter: by the day it arrived, then the event's type, hashed source and id. */
export function deadLetterKey(event: { id: string; source: string; type: string }, at: number): string {
  const hash = createHash('sha256').update(`${event.source}\n${event.id}`).digest('hex').slice(0, 16);
  // A key segment: nothing but safe characters, and never `.` or `..` (S3 clients and servers resolve those).
  const safe = event.type.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
  const type = /^\.+$/.test(safe) ? `_${safe}` : safe;
  return `${DEAD_LETTER_PREFIX}date=${new Date(at).toISOString().slice(0, 10)}/${type}/${hash}.json`;
}

/** Builds the dead-letter function. */
export function createDeadLetterHandler(
  cfg: CommonConfig,
  deps: { s3: S3Client; now: () => number },
): HttpFunction {
  return functionHandler({
    component: 'dead-letter',
    info: () => ({ bucket: cfg.s3.bucket, prefix: DEAD_LETTER_PREFIX }),
    post: async (req, res, scope) => {
      const incoming = await readRequest(req, cfg.maxBodyBytes);
      if (incoming.kind !== 'cloudevent')
        throw new BadRequestError('the dead-letter receiver accepts CloudEvents');
      const { event } = incoming;
      scope.log = scope.log.child({ eventId: event.id, eventSource: event.source });
      const errorData = event['knativeerrordata'];
      const reason = {
        destination: event['knativeerrordest'] ?? null,
        code: event['knativeerrorcode'] ?? null,
        // knativeerrordata is the base64 of the refusing answer's body.
        data:
          typeof errorData === 'string'
            ? Buffer.from(errorData, 'base64').toString('utf8').slice(0, 4000)
            : null,
      };
      const key = deadLetterKey(event, deps.now());
      await putIfChanged(deps.s3, cfg.s3.bucket, key, batchBody(event), {
        'event-id': encodeURIComponent(event.id),
        'event-type': encodeURIComponent(event.type),
        'error-code': String(reason.code ?? ''),
      });
      scope.log.warn('dead letter stored', {
        key,
        type: event.type,
        errorCode: reason.code,
        errorDestination: reason.destination,
        errorData: reason.data,
      });
      res
        .status(204)
        .set({ 'x-object-key': encodeURI(key) })
        .end();
    },
  });
}
