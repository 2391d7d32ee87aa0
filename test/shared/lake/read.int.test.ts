// Reading objects back from a real S3 API (s3rver, MinIO, or S3_ENDPOINT): bytes with their ETag, and user metadata
// named as MinIO's notifications name it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putIfChanged } from '../../../shared/lake/objects.ts';
import { getObject, userMetadata } from '../../../shared/lake/read.ts';
import { startS3, type TestS3 } from '../../support/s3.ts';

let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => s3?.close());

describe('reading objects', () => {
  const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

  it('gives the bytes and ETag, the metadata as X-Amz-Meta-<Name>, and tells a missing object apart', async () => {
    const key = 'exchange=binance/dataset=ohlcv/a.json';
    const put = await putIfChanged(s3.client, s3.settings.bucket, key, Buffer.from('{"a":1}'), {
      traceparent: tp,
      'event-id': 'e-1',
    });
    const got = await getObject(s3.client, s3.settings.bucket, key, 1024);
    expect(got).toEqual({ body: Buffer.from('{"a":1}'), etag: put.etag });
    expect(await userMetadata(s3.client, s3.settings.bucket, key)).toEqual({
      'X-Amz-Meta-Traceparent': tp,
      'X-Amz-Meta-Event-Id': 'e-1',
    });
    expect(await getObject(s3.client, s3.settings.bucket, 'missing.json', 1024)).toBe('missing');
    expect(await getObject(s3.client, s3.settings.bucket, key, 3)).toBe('too_large');
    expect(await userMetadata(s3.client, s3.settings.bucket, 'missing.json')).toEqual({});
  });
});
