// The load-raw HTTP handler: accept one extract-batch CloudEvent, store it as a raw JSON object, answer 204.
import type { FunctionRequest, HttpFunction } from '../../shared/http/message.ts';
import type { CloudEvent } from 'cloudevents';
import type { S3Client } from '@aws-sdk/client-s3';
import type { CommonConfig } from '../../shared/config.ts';
import { BadRequestError } from '../../shared/errors.ts';
import { readCandleBody, type CandleBody } from '../../shared/events/candle-body.ts';
import { decodeRequest, requireEventType } from '../../shared/events/cloudevent.ts';
import { EventType, SCHEMA_VERSION, describeIssues, parseExtractBatch } from '../../shared/events/schemas.ts';
import {
  contentTypeOf,
  functionHandler,
  rawBody,
  readRequest,
  releaseBody,
} from '../../shared/http/respond.ts';
import { batchBody, batchBodyAround, batchKey, putIfChanged } from '../../shared/lake/objects.ts';
import { count, currentTraceparent } from '../../shared/telemetry/index.ts';

/** S3 metadata must be ASCII: keep ASCII printable text, percent-encode the rest. */
function meta(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

/**
 * The stored bytes of `event`, made when putIfChanged asks (while its HEAD is on its way). Then nothing reads the
 * parsed batch: the request lets go of it, so that a request waiting on S3 does not keep a batch's objects alive.
 * Built here rather than in the handler, whose variables a closure would keep until its end. With `candles` (the
 * body read as canonical candles: the event's data holds no records) the bytes are made around the body itself.
 */
function storedBytes(req: FunctionRequest, event: CloudEvent<unknown>, candles: boolean): () => Buffer {
  let held: CloudEvent<unknown> | undefined = event;
  return () => {
    if (!held) throw new Error('storedBytes: the bytes were already made');
    const raw = req.rawBody ?? Buffer.alloc(0);
    const body = candles ? batchBodyAround(held, raw) : batchBody(held, raw.length + 4096);
    held = undefined;
    releaseBody(req);
    return body;
  };
}

/**
 * The body read as canonical OHLCV JSON (readCandleBody) when it is sent as application/json, as extract sends
 * batches: the records are checked in their bytes, never parsed. Anything else is read as ever.
 */
async function candleBody(req: FunctionRequest, maxBytes: number): Promise<CandleBody | undefined> {
  if (contentTypeOf(req.header('content-type')).media !== 'application/json') return undefined;
  return readCandleBody(await rawBody(req, maxBytes));
}

/** How load-raw is served: its body read but parsed only when it is not read as candles (readCandleBody). */
export const loadRawServing = { deferParse: true } as const;

/** Builds the load-raw function. */
export function createLoadRawHandler(cfg: CommonConfig, deps: { s3: S3Client }): HttpFunction {
  return functionHandler({
    component: 'load-raw',
    info: () => ({ bucket: cfg.s3.bucket, accepts: EventType.extractBatch, schemaVersion: SCHEMA_VERSION }),
    post: async (req, res, scope) => {
      const candles = await candleBody(req, cfg.maxBodyBytes);
      // Canonical candles: the event decoded around their batch without records (decodeRequest's checks, the
      // headers' attributes), the records counted and timed from the bytes.
      const incoming = candles
        ? decodeRequest(req.headers, candles.headText, candles.head)
        : await readRequest(req, cfg.maxBodyBytes);
      if (incoming.kind !== 'cloudevent') {
        throw new BadRequestError(
          `load-raw accepts CloudEvents of type ${EventType.extractBatch} (binary or structured mode), not plain JSON`,
        );
      }
      const { event } = incoming;
      scope.log = scope.log.child({ eventId: event.id, eventSource: event.source });
      requireEventType(event, [EventType.extractBatch], 'load-raw');
      // Canonical candles were checked by the schema already (their batch without records is the event's data).
      const parsed = candles
        ? { success: true as const, data: candles.header }
        : parseExtractBatch(event.data);
      if (!parsed.success) {
        throw new BadRequestError(
          `invalid extract batch: ${describeIssues(parsed.error).slice(0, 10).join('; ')}`,
          {
            issues: describeIssues(parsed.error).slice(0, 50),
          },
        );
      }
      const batch = parsed.data;
      if (event['exchange'] !== undefined && event['exchange'] !== batch.exchange) {
        throw new BadRequestError(
          `the exchange attribute '${String(event['exchange'])}' does not match the data's exchange '${batch.exchange}'`,
        );
      }
      scope.log = scope.log.child({
        exchange: batch.exchange,
        dataset: batch.dataset,
        ...(batch.symbol ? { symbol: batch.symbol } : {}),
      });
      const key = batchKey(event, batch, candles?.span);
      const records = candles?.records ?? batch.records.length;
      const stream = { exchange: batch.exchange, dataset: batch.dataset };
      const result = await putIfChanged(
        deps.s3,
        cfg.s3.bucket,
        key,
        storedBytes(req, event, candles !== undefined),
        {
          'event-id': meta(event.id),
          'event-source': meta(event.source),
          'event-type': event.type,
          'schema-version': String(batch.schemaVersion),
          'extracted-at': new Date(batch.extractedAt).toISOString(),
          records: String(records),
          // The span of this request (telemetry on): transform continues the trace from the object's metadata.
          ...(currentTraceparent() ? { traceparent: currentTraceparent() as string } : {}),
        },
        { conditional: cfg.s3.conditionalPut === true },
      );
      count('cryptopipe_load_raw_objects', 1, { ...stream, written: String(result.written) });
      if (result.written) count('cryptopipe_load_raw_bytes', result.bytes, stream);
      scope.log.info(result.written ? 'raw object stored' : 'raw object already stored', {
        key,
        bytes: result.bytes,
        records,
        read: candles ? 'bytes' : 'parsed',
      });
      // A Trigger's subscriber must answer with an empty body or a CloudEvent: 204, the key in a header.
      res
        .status(204)
        .set({ 'x-object-key': encodeURI(key), 'x-object-written': String(result.written) })
        .end();
    },
  });
}
