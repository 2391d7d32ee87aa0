// Reading raw objects back from the lake with their ETag; a missing object is told apart from S3 being down.
import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
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
