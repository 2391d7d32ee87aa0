// What woke transform: a MinIO bucket notification, the same as a CloudEvent, or a plain {bucket, key} from curl.
import { z } from 'zod';
import { BadRequestError } from '../errors.ts';
import type { Incoming } from '../events/cloudevent.ts';
import { describeIssues } from '../events/schemas.ts';

/** One object to (re)load, or an event to acknowledge and ignore. */
export type ObjectEvent =
  | { action: 'load'; bucket: string; key: string; eTag: string | null; eventName: string }
  | { action: 'ignore'; bucket: string | null; key: string | null; eventName: string; reason: string };

/** Events that bring new content. `--event put` also fires s3:ObjectCreated:PutTagging, PutRetention, ... */
const CREATED = new Set([
  's3:ObjectCreated:Put',
  's3:ObjectCreated:Post',
  's3:ObjectCreated:Copy',
  's3:ObjectCreated:CompleteMultipartUpload',
]);

const minioRecord = z.looseObject({
  eventName: z.string(),
  s3: z.looseObject({
    bucket: z.looseObject({ name: z.string().min(1) }),
    object: z.looseObject({
      key: z.string().min(1),
      eTag: z.string().optional(),
      size: z.number().optional(),
    }),
  }),
});
const minioPayload = z.looseObject({
  EventName: z.string().optional(),
  Key: z.string().optional(),
  Records: z.array(minioRecord).min(1),
});
const manual = z.strictObject({ bucket: z.string().min(1).max(63), key: z.string().min(1).max(1024) });

/** MinIO escapes keys like a URL query (`/` as %2F, space as +). */
export function unescapeMinioKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    throw new BadRequestError(`object key is not valid URL-escaping: ${JSON.stringify(key.slice(0, 200))}`);
  }
}

function fromMinio(payload: z.output<typeof minioPayload>): ObjectEvent[] {
  return payload.Records.map((r) => {
    const bucket = r.s3.bucket.name;
    const key = unescapeMinioKey(r.s3.object.key);
    if (!CREATED.has(r.eventName)) {
      return {
        action: 'ignore',
        bucket,
        key,
        eventName: r.eventName,
        reason: 'not a new object (content unchanged or removed)',
      };
    }
    return {
      action: 'load',
      bucket,
      key,
      eTag: r.s3.object.eTag?.replace(/"/g, '') ?? null,
      eventName: r.eventName,
    };
  });
}

function fromData(data: unknown, where: string): ObjectEvent[] {
  const m = minioPayload.safeParse(data);
  if (m.success) return fromMinio(m.data);
  const p = manual.safeParse(data);
  if (p.success)
    return [{ action: 'load', bucket: p.data.bucket, key: p.data.key, eTag: null, eventName: 'manual' }];
  throw new BadRequestError(
    `${where} is neither a MinIO notification ({"EventName","Key","Records":[...]}) nor {"bucket","key"}: ${describeIssues(p.error).join('; ')}`,
  );
}

/** Reads the objects a request names. Every malformed request is a BadRequestError. */
export function parseObjectEvents(incoming: Incoming): ObjectEvent[] {
  if (incoming.kind === 'plain') return fromData(incoming.data, 'the request body');
  return fromData(incoming.event.data, `the data of CloudEvent ${incoming.event.type}`);
}
