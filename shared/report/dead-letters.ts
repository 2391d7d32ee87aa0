// Dead letters with their reasons: the events under `_dead-letters/` of the raw bucket, read back for report views.
import type { S3Client } from '@aws-sdk/client-s3';
import { DEAD_LETTER_PREFIX, listKeys } from '../lake/list.ts';
import { getObject } from '../lake/read.ts';
import type { DeadLetter, ReportFilter } from './queries.ts';

/** The dead letters read (newest first), how many keys were read, and how many there are in the bucket. */
export interface DeadLetters {
  listed: number;
  scanned: number;
  items: DeadLetter[];
}

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);

/** What a stored dead letter (the whole CloudEvent with Knative's error attributes) says about itself. */
export function describeDeadLetter(key: string, body: Buffer | 'missing' | 'too_large'): DeadLetter {
  const date = /(?:^|\/)date=(\d{4}-\d{2}-\d{2})\//.exec(key)?.[1] ?? null;
  const base: DeadLetter = { key, time: date };
  if (body === 'missing') return { ...base, reason: 'gone (replayed or removed while listing)' };
  if (body === 'too_large') return { ...base, reason: 'too large to read here' };
  let event: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    event = parsed as Record<string, unknown>;
  } catch {
    return { ...base, reason: 'unreadable: not a JSON CloudEvent' };
  }
  const data = str(event['knativeerrordata']);
  let reason: string | null = null;
  if (data !== null) {
    reason = Buffer.from(data, 'base64').toString('utf8').slice(0, 1000);
    // The refusal is usually the function's {error, message} answer: its message is the reason.
    try {
      const answer = JSON.parse(reason) as { error?: unknown; message?: unknown };
      if (typeof answer.message === 'string')
        reason = typeof answer.error === 'string' ? `${answer.error}: ${answer.message}` : answer.message;
    } catch {
      // not JSON: the text as it came
    }
  }
  return {
    key,
    type: str(event['type']),
    id: str(event['id']),
    exchange: str(event['exchange']),
    dataset: str(event['dataset']),
    time: date ?? str(event['time']),
    code: event['knativeerrorcode'] === undefined ? null : String(event['knativeerrorcode']),
    destination: str(event['knativeerrordest']),
    reason,
  };
}

/**
 * Lists every dead letter and reads the newest ones (keys sort by arrival day), `concurrency` at a time, until `limit`
 * of the filter's exchange and dataset are found or `maxScan` keys were read.
 */
export async function readDeadLetters(
  s3: S3Client,
  bucket: string,
  opts: {
    limit?: number;
    filter?: ReportFilter;
    concurrency?: number;
    maxScan?: number;
    maxBytes?: number;
  } = {},
): Promise<DeadLetters> {
  const limit = opts.limit ?? 50;
  const keys = (await listKeys(s3, bucket, DEAD_LETTER_PREFIX)).sort().reverse();
  const wanted = (d: DeadLetter) =>
    (opts.filter?.exchange === undefined || d.exchange === opts.filter.exchange) &&
    (opts.filter?.dataset === undefined || d.dataset === opts.filter.dataset);
  const out: DeadLetters = { listed: keys.length, scanned: 0, items: [] };
  const step = opts.concurrency ?? 8;
  const maxScan = Math.min(keys.length, opts.maxScan ?? 500);
  while (out.scanned < maxScan && out.items.length < limit) {
    const page = keys.slice(out.scanned, Math.min(out.scanned + step, maxScan));
    out.scanned += page.length;
    const read = await Promise.all(
      page.map(async (key) => {
        const got = await getObject(s3, bucket, key, opts.maxBytes ?? 1024 * 1024);
        return describeDeadLetter(key, typeof got === 'string' ? got : got.body);
      }),
    );
    for (const d of read) if (wanted(d) && out.items.length < limit) out.items.push(d);
  }
  return out;
}
