// An in-process s3rver whose object-created events are kept as MinIO webhook payloads, for suites that drive transform.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import type { S3Settings } from '../../shared/config.ts';
import { s3Client } from '../../shared/lake/s3.ts';
import { minioPayload, type S3rverEvent } from '../../scripts/local/notifier.ts';

/** One notification MinIO would send for an object event, with the bucket and (unescaped) key it names. */
export interface LakeNotification {
  bucket: string;
  key: string;
  payload: Record<string, unknown>;
}

/** A running s3rver with its notifications. */
export interface Lake {
  endpoint: string;
  /** Settings for `bucket` (the credentials s3rver accepts). */
  settings(bucket: string): S3Settings;
  client: S3Client;
  /** Every object-created notification so far, in the order s3rver emitted them. */
  notifications: LakeNotification[];
  createBucket(bucket: string): Promise<void>;
  /** Every key and ETag of a bucket, in key order. */
  objects(bucket: string): Promise<Array<{ key: string; etag: string }>>;
  buckets(): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Starts s3rver on a free loopback port in a temporary folder (removed on close). It checks the access key id
 * (S3RVER) but not SigV4 signatures, so any secret key works.
 */
export async function startLake(): Promise<Lake> {
  const dir = mkdtempSync(join(tmpdir(), 'lake-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir });
  const notifications: LakeNotification[] = [];
  (server as unknown as { on(n: 'event', f: (e: S3rverEvent) => void): void }).on('event', (e) => {
    const r = e.Records[0];
    if (!r) return;
    notifications.push({ bucket: r.s3.bucket.name, key: r.s3.object.key, payload: minioPayload(e) });
  });
  const { port } = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  const settings = (bucket: string): S3Settings => ({
    endpoint,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    bucket,
  });
  const client = s3Client(settings('any'));
  return {
    endpoint,
    settings,
    client,
    notifications,
    createBucket: async (bucket) => void (await client.send(new CreateBucketCommand({ Bucket: bucket }))),
    objects: async (bucket) => {
      // ListObjects (v1) with Marker: s3rver's v2 continuation tokens use a cipher OpenSSL 3 no longer offers, so
      // any truncated v2 listing fails with a 500 there.
      const out: Array<{ key: string; etag: string }> = [];
      let marker: string | undefined;
      for (;;) {
        const page = await client.send(
          new ListObjectsCommand({ Bucket: bucket, MaxKeys: 1000, ...(marker ? { Marker: marker } : {}) }),
        );
        for (const o of page.Contents ?? [])
          out.push({ key: o.Key ?? '', etag: (o.ETag ?? '').replace(/"/g, '') });
        const last = page.Contents?.at(-1)?.Key;
        if (!page.IsTruncated || !last) break;
        marker = last;
      }
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    buckets: async () =>
      ((await client.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name ?? '').sort(),
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
