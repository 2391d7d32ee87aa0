// An S3 endpoint for tests, in this order: S3_ENDPOINT from the environment, a MinIO container through
// testcontainers when a container runtime answers, else an in-process s3rver on a temporary directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { GenericContainer, Wait, getContainerRuntimeClient } from 'testcontainers';
import type { S3Settings } from '../../shared/config.ts';
import { s3Client } from '../../shared/lake/s3.ts';

/** A reachable S3 with a fresh bucket. */
export interface TestS3 {
  settings: S3Settings;
  client: S3Client;
  /** Which of the three ways provided it. */
  source: 'environment' | 'testcontainers' | 's3rver';
  close(): Promise<void>;
}

/** True when testcontainers finds a Docker/Podman runtime (fails in a few ms when there is none). */
export async function containerRuntimeAvailable(): Promise<boolean> {
  try {
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function endpoint(): Promise<{
  url: string;
  key: string;
  secret: string;
  source: TestS3['source'];
  close: () => Promise<void>;
}> {
  const fromEnv = process.env['S3_ENDPOINT'];
  if (fromEnv) {
    return {
      url: fromEnv,
      key: process.env['AWS_ACCESS_KEY_ID'] ?? 'minioadmin',
      secret: process.env['AWS_SECRET_ACCESS_KEY'] ?? 'minioadmin',
      source: 'environment',
      close: async () => {},
    };
  }
  if (await containerRuntimeAvailable()) {
    const container = await new GenericContainer('minio/minio:latest')
      .withCommand(['server', '/data'])
      .withExposedPorts(9000)
      .withEnvironment({ MINIO_ROOT_USER: 'minioadmin', MINIO_ROOT_PASSWORD: 'minioadmin' })
      .withWaitStrategy(Wait.forHttp('/minio/health/ready', 9000))
      .start();
    return {
      url: `http://${container.getHost()}:${container.getMappedPort(9000)}`,
      key: 'minioadmin',
      secret: 'minioadmin',
      source: 'testcontainers',
      close: async () => {
        await container.stop();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 's3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir });
  const addr = (await server.run()) as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    key: 'S3RVER',
    secret: 'S3RVER',
    source: 's3rver',
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts (or connects to) S3 and creates `bucket`. */
export async function startS3(
  bucket = `test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
): Promise<TestS3> {
  const e = await endpoint();
  const settings: S3Settings = {
    endpoint: e.url,
    region: 'us-east-1',
    accessKeyId: e.key,
    secretAccessKey: e.secret,
    bucket,
  };
  const client = s3Client(settings);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return { settings, client, source: e.source, close: e.close };
}
