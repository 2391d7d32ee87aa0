// Listing a prefix of more than one page (1,000 keys) against a real S3 API: s3rver, MinIO, or S3_ENDPOINT.
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listKeyPages, listKeys } from '../../../shared/lake/list.ts';
import { startS3, type TestS3 } from '../../support/s3.ts';

let s3: TestS3;
const N = 1_050;
const key = (i: number) => `batches/k=${String(i).padStart(5, '0')}.json`;

beforeAll(async () => {
  s3 = await startS3();
  // One object outside the prefix, before and after it in key order, must not be listed.
  const keys = [...Array.from({ length: N }, (_, i) => key(i)), 'a-before.json', 'z-after.json'];
  for (let i = 0; i < keys.length; i += 50) {
    await Promise.all(
      keys
        .slice(i, i + 50)
        .map((k) => s3.client.send(new PutObjectCommand({ Bucket: s3.settings.bucket, Key: k, Body: '{}' }))),
    );
  }
}, 120_000);
afterAll(async () => s3?.close());

describe('listing keys', () => {
  it('pages past 1,000 keys, in key order, only under the prefix', async () => {
    const pages: number[] = [];
    for await (const page of listKeyPages(s3.client, s3.settings.bucket, 'batches/')) pages.push(page.length);
    expect(pages.length).toBeGreaterThan(1);
    const keys = await listKeys(s3.client, s3.settings.bucket, 'batches/', Infinity);
    expect(keys).toEqual(Array.from({ length: N }, (_, i) => key(i)));
  });

  it('stops after about max keys', async () => {
    const keys = await listKeys(s3.client, s3.settings.bucket, 'batches/', 10);
    expect(keys.length).toBeGreaterThanOrEqual(10);
    expect(keys.length).toBeLessThanOrEqual(1_000);
    expect(keys[0]).toBe(key(0));
  });

  it('lists nothing under a prefix that holds no key', async () => {
    expect(await listKeys(s3.client, s3.settings.bucket, 'nothing/')).toEqual([]);
  });
});
