// Reading raw objects back from the lake with their ETag; a missing object is told apart from S3 being down.
import { GetObjectCommand, HeadObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import { TransientError } from '../errors.ts';

/** An object's bytes and ETag; `'missing'` when it does not exist, `'too_large'` past `maxBytes`. */
export async function getObject(
  s3: S3Client,
  bucket: string,
  key: string,
  maxBytes: number,
): Promise<{ body: Buffer; etag: string } | 'missing' | 'too_large'> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if ((res.ContentLength ?? 0) > maxBytes) return 'too_large';
    const bytes = await res.Body?.transformToByteArray();
    return { body: Buffer.from(bytes ?? []), etag: (res.ETag ?? '').replace(/"/g, '') };
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (err instanceof NoSuchKey || name === 'NoSuchKey' || name === 'NotFound') return 'missing';
    throw new TransientError(
      's3_unavailable',
      `reading s3://${bucket}/${key} failed: ${(err as Error).message}`,
      undefined,
      { cause: err },
    );
  }
}

/**
 * An object's user metadata as MinIO's notifications list it (`X-Amz-Meta-<Name>`: value); empty when the object
 * cannot be read.
 */
export async function userMetadata(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<Record<string, string>> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(head.Metadata ?? {}))
      out[
        `X-Amz-Meta-${k.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase())}`
      ] = v;
    return out;
  } catch {
    return {};
  }
}
