// Objects under a prefix with their write times (for the backlog metrics): one listing, bounded, no object read.
import { ListObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { symbolSegment } from './cursors.ts';

/** A listed object: its key and when it was written. */
export interface ListedObject {
  key: string;
  modified: number;
}

/** Objects under `prefix` in key order after `startAfter`, at most about `max` (pages by marker, as listKeyPages does). */
export async function listObjects(
  s3: S3Client,
  bucket: string,
  prefix: string,
  max = 5_000,
  startAfter?: string,
): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  let marker = startAfter;
  for (;;) {
    const page = await s3.send(new ListObjectsCommand({ Bucket: bucket, Prefix: prefix, Marker: marker }));
    for (const o of page.Contents ?? [])
      if (o.Key) out.push({ key: o.Key, modified: o.LastModified?.getTime() ?? 0 });
    marker = page.NextMarker ?? out.at(-1)?.key;
    if (!page.IsTruncated || marker === undefined || out.length >= max) return out;
  }
}

/**
 * The key prefix of one series' raw objects of one UTC day (the layout of batchKey):
 * `exchange=<x>/dataset=<d>/[symbol=<s>/][timeframe=<tf>/]date=<day>/`.
 */
export function seriesDayPrefix(
  exchange: string,
  dataset: string,
  symbol: string | null,
  timeframe: string | null,
  day: number,
): string {
  return [
    `exchange=${exchange}`,
    `dataset=${dataset}`,
    ...(symbol !== null ? [`symbol=${symbolSegment(symbol)}`] : []),
    ...(timeframe !== null ? [`timeframe=${timeframe}`] : []),
    `date=${new Date(day).toISOString().slice(0, 10)}`,
    '',
  ].join('/');
}
