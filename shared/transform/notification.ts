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

/**
 * Why `key` cannot name a raw object, or undefined when it can: at most 1024 bytes of UTF-8, no control characters
 * (NUL, ...), no unpaired surrogate, no `.`/`..` segment (extract never makes one). Such a key is refused before S3
 * is asked, whose error would be a 503 that MinIO retries forever, or which would read another object.
 */
export function invalidObjectKey(key: string): string | undefined {
  if (key.length === 0) return 'empty object key';
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(key))
    return 'object key is not valid UTF-16 (unpaired surrogate)';
  if (Buffer.byteLength(key) > 1024) return 'object key is longer than 1024 bytes';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'object key contains a control character';
  // Clients and servers resolve dot segments: such a key would name another object (or another bucket).
  if (key.split('/').some((seg) => seg === '.' || seg === '..'))
    return "object key has a '.' or '..' segment";
  return undefined;
}

const manual = z.strictObject({
  bucket: z.string().min(1).max(63),
  key: z
    .string()
    .min(1)
    .max(1024)
    .superRefine((k, ctx) => {
      const reason = invalidObjectKey(k);
      if (reason) ctx.addIssue({ code: 'custom', message: reason });
    }),
});

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
    const invalid = invalidObjectKey(key);
    if (invalid)
      return { action: 'ignore', bucket, key: key.slice(0, 200), eventName: r.eventName, reason: invalid };
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
