// Listing the raw bucket: the prefixes of its kinds of objects, and their keys page by page in key order.
import { ListObjectsCommand, type S3Client } from '@aws-sdk/client-s3';

/** Prefix under which extract batches land (everything else in the bucket is state or dead letters). */
export const BATCH_PREFIX = 'exchange=';

/** Prefix of the events the Broker gave up on (stored by the dead-letter receiver, replayed by scripts/replay). */
export const DEAD_LETTER_PREFIX = '_dead-letters/';

/** Prefix where a dead letter moves once the Broker accepted it again. */
export const REPLAYED_PREFIX = '_dead-letters-replayed/';

/**
 * Pages of keys under a prefix, in key order. Pages by marker (ListObjects, the last key of the previous page) rather
 * than ListObjectsV2 continuation tokens: S3 and MinIO answer both, but s3rver (the embedded S3) encrypts its
 * continuation tokens with DES, which the OpenSSL 3 of Node 18+ refuses, so every V2 listing of more than 1,000 keys
 * failed there with a 500. A marker is a key, so deleting listed objects while paging skips nothing.
 */
export async function* listKeyPages(s3: S3Client, bucket: string, prefix: string): AsyncGenerator<string[]> {
  let marker: string | undefined;
  for (;;) {
    const page = await s3.send(new ListObjectsCommand({ Bucket: bucket, Prefix: prefix, Marker: marker }));
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : []));
    if (keys.length > 0) yield keys;
    marker = page.NextMarker ?? keys.at(-1);
    if (!page.IsTruncated || marker === undefined) return;
  }
}

/** Keys under a prefix, in key order (all pages, up to about `max`). */
export async function listKeys(
  s3: S3Client,
  bucket: string,
  prefix: string,
  max = 10_000,
): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of listKeyPages(s3, bucket, prefix)) {
    keys.push(...page);
    if (keys.length >= max) break;
  }
  return keys;
}
