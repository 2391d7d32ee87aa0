// Raw-lake objects: deterministic, browsable keys for extract batches and their exact bytes (the whole CloudEvent).
import { createHash } from 'node:crypto';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { CloudEvent } from 'cloudevents';
import { TransientError } from '../errors.ts';
import { canonicalAround, canonicalJsonBytes } from '../events/canonical.ts';
import type { ExtractBatch } from '../events/schemas.ts';
import { DEAD_LETTER_PREFIX, REPLAYED_PREFIX } from './list.ts';
import { symbolSegment } from './cursors.ts';

/** 16 hex digits of the event's source and id: the same event always gets the same key, different events never collide. */
function eventHash(event: { id: string; source: string }): string {
  return createHash('sha256').update(`${event.source}\n${event.id}`).digest('hex').slice(0, 16);
}

/** The key of a dead letter: by the day it arrived, then the event's type, hashed source and id. */
export function deadLetterKey(event: { id: string; source: string; type: string }, at: number): string {
  // A key segment: nothing but safe characters, and never `.` or `..` (S3 clients and servers resolve those).
  const safe = event.type.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
  const type = /^\.+$/.test(safe) ? `_${safe}` : safe;
  return `${DEAD_LETTER_PREFIX}date=${new Date(at).toISOString().slice(0, 10)}/${type}/${eventHash(event)}.json`;
}

/** Where a replayed dead letter moves: the same key under REPLAYED_PREFIX. */
export function replayedKey(deadLetter: string): string {
  return REPLAYED_PREFIX + deadLetter.slice(DEAD_LETTER_PREFIX.length);
}

function compact(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The earliest and latest numeric `ts` of the records, or undefined without one: Math.min/Math.max over them in one
 * pass, with no array of times and no spread of 1,500 arguments (-0 and 0 name the same instant in a key).
 */
function recordSpan(batch: ExtractBatch): { from: number; to: number } | undefined {
  const records = batch.records as Array<{ ts?: unknown }>;
  let from = Infinity;
  let to = -Infinity;
  let any = false;
  for (let i = 0; i < records.length; i++) {
    const t = (records[i] as { ts?: unknown }).ts;
    if (typeof t !== 'number') continue;
    any = true;
    if (Number.isNaN(t)) {
      from = to = NaN; // as Math.min/Math.max, a NaN wins (the schemas let none through)
      break;
    }
    if (t < from) from = t;
    if (t > to) to = t;
  }
  return any ? { from, to } : undefined;
}

/**
 * The object key of a batch event, e.g.
 * `exchange=binance/dataset=ohlcv/symbol=BTC-USDT/timeframe=1m/date=2026-11-24/20261124T000000Z-20261124T005900Z_<hash>.json`.
 * The date and range come from the records (else the window, else the extraction time); the hash is of the event
 * id and source, so the same event always gets the same key and different chunks never collide. `span`: the records'
 * earliest and latest time when the caller knows them (batch.records is then not read).
 */
export function batchKey(
  event: Pick<CloudEvent<unknown>, 'id' | 'source'>,
  batch: ExtractBatch,
  span = recordSpan(batch),
): string {
  const from = span ? span.from : (batch.window?.since ?? batch.extractedAt);
  const to = span ? span.to : (batch.window?.until ?? batch.extractedAt);
  const hash = eventHash(event);
  const parts = [
    `exchange=${batch.exchange}`,
    `dataset=${batch.dataset}`,
    ...(batch.symbol !== null ? [`symbol=${symbolSegment(batch.symbol)}`] : []),
    ...(batch.timeframe !== null ? [`timeframe=${batch.timeframe}`] : []),
    `date=${new Date(from).toISOString().slice(0, 10)}`,
    `${compact(from)}-${compact(to)}_${hash}.json`,
  ];
  return parts.join('/');
}

/** The bytes stored for an event: its attributes and data as canonical JSON (same event, same bytes); `sizeHint` about their length. */
export function batchBody(event: CloudEvent<unknown>, sizeHint?: number): Buffer {
  return canonicalJsonBytes(event.toJSON(), sizeHint);
}

/** Stands in for an event's data in the canonical text of its attributes (a string no attribute is). */
const DATA = '\u0000data';

/**
 * batchBody of an event whose data is given as its canonical JSON bytes (`data`; the event's own data is not read):
 * the same bytes, made around `data` without parsing or serialising it again.
 */
export function batchBodyAround(event: CloudEvent<unknown>, data: Buffer): Buffer {
  const json = event.toJSON();
  const around = canonicalAround({ ...json, data: DATA }, DATA);
  // An attribute holding the marker itself (no header can carry a NUL; kept exact all the same): made as ever.
  if (around === undefined)
    return canonicalJsonBytes({ ...json, data: JSON.parse(data.toString('utf8')) as unknown });
  return Buffer.concat([Buffer.from(around[0]), data, Buffer.from(around[1])]);
}

/** The MD5 hex S3 reports as the ETag of a single-part upload. */
export function md5Hex(body: Buffer): string {
  return createHash('md5').update(body).digest('hex');
}

/** What writing an object did. */
export interface PutResult {
  key: string;
  bytes: number;
  etag: string;
  /** False when an identical object was already there (nothing written, no new notification). */
  written: boolean;
}

/** The HTTP status of an S3 client error, if it has one. */
function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/**
 * Writes `body` at `key` unless an object with the same content is already there. Metadata names the event.
 * `body` may be given as a function making it: it is then made while the HEAD is on its way. With `conditional`
 * (a store that honours `If-None-Match: *`, S3Settings.conditionalPut) a new key takes one round trip: the PUT is
 * conditional, and only a key already there (412, or 409 for a write racing it) is looked at with a HEAD as usual.
 * S3 failures are transient (503) so the delivery is retried.
 */
export async function putIfChanged(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Buffer | (() => Buffer),
  metadata: Record<string, string>,
  opts: { conditional?: boolean } = {},
): Promise<PutResult> {
  const put = async (bytes: Buffer, ifAbsent: boolean): Promise<PutResult> => {
    const out = await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: bytes,
        ContentType: 'application/json',
        Metadata: metadata,
        ...(ifAbsent ? { IfNoneMatch: '*' } : {}),
      }),
    );
    return { key, bytes: bytes.length, etag: out.ETag?.replace(/"/g, '') ?? md5Hex(bytes), written: true };
  };
  const failed = (err: unknown) =>
    new TransientError(
      's3_unavailable',
      `writing s3://${bucket}/${key} failed: ${(err as Error).message}`,
      undefined,
      { cause: err },
    );
  if (opts.conditional) {
    const bytes = typeof body === 'function' ? body() : body;
    try {
      return await put(bytes, true);
    } catch (err) {
      const status = statusOf(err);
      if (status !== 412 && status !== 409) throw failed(err);
    }
    return putIfChanged(s3, bucket, key, bytes, metadata);
  }
  const head = s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).catch((err: unknown) => {
    if (statusOf(err) === 404 || (err as { name?: string }).name === 'NotFound') return undefined;
    throw err;
  });
  let bytes: Buffer;
  try {
    bytes = typeof body === 'function' ? body() : body;
  } catch (err) {
    head.catch(() => undefined); // the body's own error is the one answered
    throw err;
  }
  try {
    const existing = await head;
    // The MD5 only when there is an object to compare with (a redelivery): a new key is written without hashing
    // its bytes here (the signature hashes them already).
    if (existing?.ETag !== undefined) {
      const etag = md5Hex(bytes);
      if (existing.ETag.replace(/"/g, '') === etag) return { key, bytes: bytes.length, etag, written: false };
    }
    return await put(bytes, false);
  } catch (err) {
    throw failed(err);
  }
}

/** Moves an object whose bytes the caller holds: writes `body` at `to`, then deletes `from`. */
export async function moveObject(
  s3: S3Client,
  bucket: string,
  from: string,
  to: string,
  body: Buffer | string,
): Promise<void> {
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: to, Body: body, ContentType: 'application/json' }),
  );
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: from }));
}
