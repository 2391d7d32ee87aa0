// The S3 client for MinIO (path-style, checksums only when required, bounded timeouts) built from the validated settings.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from '../config.ts';

/**
 * Time allowed to connect and, separately, for an answer to start or for a silent socket, per attempt (the SDK
 * makes up to 3). Without it a MinIO that accepts a connection and never answers holds a request until Knative's
 * own timeout, instead of the 503 that gets it retried.
 */
export const S3_TIMEOUT_MS = 10_000;

export type { S3Client } from '@aws-sdk/client-s3';

const clients = new Map<string, S3Client>();

/** A shared S3 client for these settings (one per warm instance); `timeoutMs` overrides S3_TIMEOUT_MS (tests). */
export function s3Client(s: S3Settings, opts: { timeoutMs?: number } = {}): S3Client {
  const timeoutMs = opts.timeoutMs ?? S3_TIMEOUT_MS;
  const key = `${s.endpoint}|${s.region}|${s.accessKeyId ?? ''}|${timeoutMs}`;
  let client = clients.get(key);
  if (!client) {
    client = new S3Client({
      endpoint: s.endpoint,
      region: s.region,
      forcePathStyle: true,
      // The middleware stack resolved once per command class, not on every send (nothing here changes it per
      // request): two sends per stored batch.
      cacheMiddleware: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: Math.min(timeoutMs, 3_000),
        requestTimeout: timeoutMs,
        socketTimeout: timeoutMs,
        throwOnRequestTimeout: true,
      },
      ...(s.accessKeyId && s.secretAccessKey
        ? { credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey } }
        : {}),
    });
    clients.set(key, client);
  }
  return client;
}

/** Creates the bucket unless it exists (an embedded S3 starts empty); any other failure is thrown. */
export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') return;
    throw err;
  }
}
