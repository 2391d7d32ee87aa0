// Loads one raw object into PostgreSQL: validate, write rows, findings and the ledger row in ONE transaction.
import type { S3Client } from '@aws-sdk/client-s3';
import { TransientError } from '../errors.ts';
import { loadedEtag, loadedStatement, recordRejected } from '../db/ledger.ts';
import { forgetPartitions } from '../db/partitions.ts';
import type { Pool } from '../db/pool.ts';
import type { PoolClient } from 'pg';
import {
  FINDINGS,
  inTransaction,
  prepareCandlePartitions,
  preparePartitions,
  upsertRows,
  writeBatch,
  writeCandleSlices,
  type Finding,
} from '../db/writers.ts';
import { MAX_JSON_DEPTH, nestedDeeperThan } from '../events/cloudevent.ts';
import {
  EventType,
  SCHEMA_VERSION,
  describeIssues,
  parseExtractBatch,
  type ExtractBatch,
} from '../events/schemas.ts';
import { getObject } from '../lake/read.ts';
import type { Logger } from '../log.ts';
import { openCandleObject, type CandleObject } from './candle-stream.ts';
import { checkBatch } from './quality.ts';

/** What loading an object did. */
export type LoadResult =
  | { status: 'loaded'; key: string; etag: string; rows: number; records: number; findings: number }
  | { status: 'unchanged'; key: string; etag: string }
  | { status: 'rejected'; key: string; etag: string; reason: string };

/** What loading needs. */
export interface LoadDeps {
  pool: Pool;
  s3: S3Client;
  maxObjectBytes: number;
  log: Logger;
}

/** A reason an object can never load; it is recorded and acknowledged (2xx) so MinIO's ordered queue moves on. */
class Rejection extends Error {
  constructor(
    readonly reason: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(reason);
  }
}

/** PostgreSQL errors worth retrying: connection loss, shutdown, serialization, deadlock, resource limits. */
function transientPg(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return true; // network errors (ECONNREFUSED, ...) and unknown failures
  return /^(08|40|53|57|58)/.test(code) || /^E[A-Z]+$/.test(code);
}

/** True for the error of a row whose time has no partition (SQLSTATE 23514 raised by partition routing). */
function missingPartition(err: unknown): boolean {
  return (
    (err as { code?: unknown }).code === '23514' && /no partition of relation/.test((err as Error).message)
  );
}

/** Parses and validates a raw object; anything wrong is a Rejection. */
export function parseRawObject(body: Buffer): { batch: ExtractBatch; eventId: string } {
  let envelope: unknown;
  const text = body.toString('utf8');
  if (nestedDeeperThan(text, MAX_JSON_DEPTH))
    throw new Rejection('too_deeply_nested', { maxDepth: MAX_JSON_DEPTH });
  try {
    envelope = JSON.parse(text);
  } catch (err) {
    throw new Rejection('invalid_json', { message: (err as Error).message });
  }
  if (envelope === null || typeof envelope !== 'object' || Array.isArray(envelope))
    throw new Rejection('not_an_event');
  const e = envelope as Record<string, unknown>;
  if (e['type'] !== EventType.extractBatch)
    throw new Rejection('wrong_event_type', { type: e['type'] ?? null });
  if (e['schemaversion'] !== undefined && String(e['schemaversion']) !== String(SCHEMA_VERSION)) {
    throw new Rejection('unsupported_schema_version', { schemaversion: e['schemaversion'] });
  }
  const parsed = parseExtractBatch(e['data']);
  if (!parsed.success)
    throw new Rejection('invalid_batch', { issues: describeIssues(parsed.error).slice(0, 50) });
  return { batch: parsed.data, eventId: typeof e['id'] === 'string' ? e['id'] : '' };
}

/**
 * Loads s3://bucket/key. An object already loaded with the same ETag is a no-op (unless `force`); a permanently bad object is
 * recorded in rejected_objects; S3 or PostgreSQL failures are TransientErrors (5xx) and leave nothing half-written.
 */
export async function loadObject(
  deps: LoadDeps,
  bucket: string,
  key: string,
  opts: { force?: boolean } = {},
): Promise<LoadResult> {
  const got = await getObject(deps.s3, bucket, key, deps.maxObjectBytes);
  try {
    if (got === 'missing') throw new Rejection('object_not_found');
    if (got === 'too_large') throw new Rejection('object_too_large', { maxBytes: deps.maxObjectBytes });
    // `force` (reprocessing) loads again even when the ledger has this ETag: the upserts make that a no-op or a repair.
    const loaded = opts.force ? undefined : await loadedEtag(deps.pool, bucket, key);
    if (loaded === got.etag) return { status: 'unchanged', key, etag: got.etag };
    return await writeObject(deps, bucket, key, got.etag, got.body);
  } catch (err) {
    return settle(deps, bucket, key, typeof got === 'object' ? got.etag : '', err);
  }
}

/**
 * Loads the bytes of a raw object already read (what loadObject does after its S3 GET and ledger check): the scale
 * benchmark drives transform's write path through it without an S3 round trip per object.
 */
export async function loadBody(
  deps: Pick<LoadDeps, 'pool' | 'log'>,
  bucket: string,
  key: string,
  etag: string,
  body: Buffer,
): Promise<LoadResult> {
  try {
    return await writeObject(deps, bucket, key, etag, body);
  } catch (err) {
    return settle(deps, bucket, key, etag, err);
  }
}

/** What writing one object did: its batch, record count, event id, findings and rows written. */
export interface Written {
  /** The batch; its records only when it was read whole (read: 'whole'), else []: see `records`. */
  batch: ExtractBatch;
  /** How many records the object holds. */
  records: number;
  eventId: string;
  findings: Finding[];
  rows: number;
  /** How the rows went: written as the object's slices were read, or written once the whole object was read. */
  read: 'slices' | 'whole';
  /** A statement (no parameters) that must run before the COMMIT, in its round trip; empty when none. */
  beforeCommit: string;
}

/**
 * Writes one object's rows in the caller's transaction. `object` (openCandleObject of the body: an OHLCV object as
 * load-raw writes it) is read from its bytes a slice at a time while its candles go to PostgreSQL; when that path
 * gives up (not a fresh range, a slice it does not take), and without it, the body is parsed whole (`parsed`, when
 * done already), checked and written by writeBatch. Both give the same rows and findings, and the same Rejection for
 * a bad object.
 */
export async function writeBody(
  c: PoolClient,
  body: Buffer,
  key: string,
  object: CandleObject | undefined,
  parsed?: { batch: ExtractBatch; eventId: string },
): Promise<Written> {
  if (object) {
    const { header } = object;
    const ctx = {
      exchange: header.exchange,
      symbol: header.symbol,
      timeframe: header.timeframe,
      extractedAt: new Date(header.extractedAt).toISOString(),
      sourceKey: key,
    };
    const sliced = await writeCandleSlices(c, ctx, object, object.slices());
    if (sliced) {
      const { eventId, findings, count } = object;
      return { batch: header, records: count, eventId, findings, read: 'slices', ...sliced };
    }
  }
  const { batch, eventId } = parsed ?? parseRawObject(body);
  const findings = checkBatch(batch, key);
  const rows = await writeBatch(c, batch, key);
  return { batch, records: batch.records.length, eventId, findings, rows, read: 'whole', beforeCommit: '' };
}

/** Parses, checks and writes one object: rows, coverage, findings and its ledger row in one transaction. */
async function writeObject(
  deps: Pick<LoadDeps, 'pool' | 'log'>,
  bucket: string,
  key: string,
  etag: string,
  body: Buffer,
): Promise<LoadResult> {
  const opened = openCandleObject(body, key);
  // Anything else is parsed now: a bad object is refused before a transaction begins.
  const parsed = opened ? undefined : parseRawObject(body);
  let unread = opened;
  const write = () =>
    inTransaction(
      deps.pool,
      async (c) => {
        // A second attempt reads the object afresh.
        const object = unread ?? (opened && openCandleObject(body, key));
        unread = undefined;
        const written = await writeBody(c, body, key, object, parsed);
        const { batch, findings } = written;
        await upsertRows(c, FINDINGS, findings, {
          exchange: batch.exchange,
          symbol: batch.symbol,
          timeframe: batch.timeframe,
          extractedAt: '',
          sourceKey: key,
        });
        return written;
      },
      // The ledger row (and what the write left for the end) goes with the COMMIT, in one round trip.
      (c, { batch, records, eventId, findings, rows, beforeCommit }) =>
        loadedStatement(c, {
          bucket,
          key,
          etag,
          exchange: batch.exchange,
          dataset: batch.dataset,
          eventId,
          records,
          written: rows,
          findings: findings.length,
        }) + (beforeCommit ? `;\n${beforeCommit}` : ''),
    );
  const prepare = () =>
    opened ? prepareCandlePartitions(deps.pool, opened) : preparePartitions(deps.pool, parsed!.batch);
  let written: Written;
  await prepare();
  try {
    written = await write();
  } catch (err) {
    // Retention dropped a partition this process had seen: learn the partitions again and write once more.
    if (!missingPartition(err)) throw err;
    forgetPartitions();
    await prepare();
    written = await write();
  }
  const { batch, records, findings, rows } = written;
  deps.log.info('object loaded', {
    key,
    records,
    written: rows,
    read: written.read,
    findings: findings.length,
    exchange: batch.exchange,
    dataset: batch.dataset,
  });
  return { status: 'loaded', key, etag, rows, records, findings: findings.length };
}

/** What a failed load becomes: a recorded rejection (permanent) or a TransientError (retried). */
async function settle(
  deps: Pick<LoadDeps, 'pool' | 'log'>,
  bucket: string,
  key: string,
  etag: string,
  err: unknown,
): Promise<LoadResult> {
  if (err instanceof Rejection) return loadRejected(deps, bucket, key, etag, err);
  if (err instanceof TransientError) throw err;
  if (transientPg(err)) {
    throw new TransientError(
      'database_unavailable',
      `loading ${key} failed: ${(err as Error).message}`,
      undefined,
      { cause: err },
    );
  }
  // A row PostgreSQL refuses for good (e.g. a value out of range) makes the object permanently bad.
  const rejection = new Rejection('database_rejected_rows', {
    code: (err as { code?: string }).code,
    message: (err as Error).message,
  });
  return loadRejected(deps, bucket, key, etag, rejection);
}

async function loadRejected(
  deps: Pick<LoadDeps, 'pool' | 'log'>,
  bucket: string,
  key: string,
  etag: string,
  r: Rejection,
): Promise<LoadResult> {
  await recordRejected(deps.pool, { bucket, key, etag, reason: r.reason, details: r.details ?? {} }).catch(
    (e: unknown) => {
      throw new TransientError(
        'database_unavailable',
        `recording rejected object failed: ${(e as Error).message}`,
      );
    },
  );
  deps.log.warn('object rejected', { key, reason: r.reason, details: r.details });
  return { status: 'rejected', key, etag, reason: r.reason };
}
