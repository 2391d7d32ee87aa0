// The S3 client for MinIO (path-style, checksums only when required) built from the validated settings.
import { S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from '../config.ts';

const clients = new Map<string, S3Client>();

/** A shared S3 client for these settings (one per warm instance). */
export function s3Client(s: S3Settings): S3Client {
  const key = `${s.endpoint}|${s.region}|${s.accessKeyId ?? ''}`;
  let client = clients.get(key);
  if (!client) {
    client = new S3Client({
      endpoint: s.endpoint,
      region: s.region,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(s.accessKeyId && s.secretAccessKey
        ? { credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey } }
        : {}),
    });
    clients.set(key, client);
  }
  return client;
}
