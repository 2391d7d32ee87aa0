// An S3 endpoint for tests: S3_ENDPOINT from the environment, else an in-process s3rver on a temporary directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import type { S3Settings } from '../../shared/config.ts';
import { s3Client } from '../../shared/lake/s3.ts';

/** A reachable S3 with a fresh bucket. */
export interface TestS3 {
  settings: S3Settings;
  client: S3Client;
  close(): Promise<void>;
}

/** Starts (or connects to) S3 and creates `bucket`. */
export async function startS3(
  bucket = `test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
): Promise<TestS3> {
  let close = async () => {};
  let endpoint = process.env['S3_ENDPOINT'];
  const accessKeyId = process.env['AWS_ACCESS_KEY_ID'] ?? 'S3RVER';
  const secretAccessKey = process.env['AWS_SECRET_ACCESS_KEY'] ?? 'S3RVER';
  if (!endpoint) {
    const dir = mkdtempSync(join(tmpdir(), 's3rver-'));
    const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir });
    const addr = (await server.run()) as { port: number };
    endpoint = `http://127.0.0.1:${addr.port}`;
    close = async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  const settings: S3Settings = { endpoint, region: 'us-east-1', accessKeyId, secretAccessKey, bucket };
  const client = s3Client(settings);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return { settings, client, close };
}
