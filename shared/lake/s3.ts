// The S3 client for MinIO (path-style, checksums only when required, bounded timeouts) built from the validated settings.
import { S3Client } from '@aws-sdk/client-s3';
import type { S3Settings } from '../config.ts';

/**
 * Time allowed to connect and, separately, for an answer to start or for a silent socket, per attempt (the SDK
 * makes up to 3). Without it a MinIO that accepts a connection and never answers holds a request until Knative's
 * own timeout, instead of the 503 that gets it retried.
 */
export const S3_TIMEOUT_MS = 10_000;

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
