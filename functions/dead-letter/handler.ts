// The dead-letter receiver: stores each event the Broker gave up on, with Knative's reason attributes, in the raw bucket.
import type { HttpFunction } from '../../shared/http/message.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import type { CommonConfig } from '../../shared/config.ts';
import { BadRequestError } from '../../shared/errors.ts';
import { replayProblem } from '../../shared/events/replayable.ts';
import { functionHandler, readRequest } from '../../shared/http/respond.ts';
import { batchBody, deadLetterKey, putIfChanged } from '../../shared/lake/objects.ts';
import { DEAD_LETTER_PREFIX } from '../../shared/lake/list.ts';

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
      // Stored, such an event would fail every replay forever: the Broker's dead-letter delivery is refused instead.
      const problem = replayProblem(event.toJSON());
      if (problem)
        throw new BadRequestError(
          `this event can never be sent again: ${problem}`,
          undefined,
          'not_replayable',
        );
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
