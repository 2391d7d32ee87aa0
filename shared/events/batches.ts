// Deterministic ids and size-bounded chunking: turn one series of records into extract-batch CloudEvents.
import type { CloudEvent } from 'cloudevents';
import { PermanentUpstreamError } from '../errors.ts';
import { stableHash } from './canonical.ts';
import { buildEvent, toStructured } from './cloudevent.ts';
import { EventType, SCHEMA_VERSION, type Dataset, type ExtractBatch, type RecordOf } from './schemas.ts';

/** CloudEvent `source` of an extract deployment. */
export function extractSource(exchange: string): string {
  return `/cryptopipe/extract/${exchange}`;
}

/** Everything about a series except its records. */
export interface SeriesHeader<D extends Dataset> {
  exchange: string;
  dataset: D;
  symbol: string | null;
  timeframe: string | null;
  window: { since: number; until: number } | null;
  requestId: string;
  extractedAt: number;
}

/**
 * Splits `records` into chunks whose events, in structured mode (the larger encoding), stay within `maxBytes`.
 * Every record lands in exactly one chunk, in order; an empty series gives one empty chunk.
 */
export function chunkRecords<T>(records: readonly T[], maxBytes: number, overheadBytes: number): T[][] {
  const budget = maxBytes - overheadBytes;
  const chunks: T[][] = [];
  let current: T[] = [];
  let used = 0;
  for (const record of records) {
    const size = Buffer.byteLength(JSON.stringify(record)) + 1;
    if (size > budget) {
      throw new PermanentUpstreamError(
        'record_too_large',
        `one record is ${size} bytes, more than MAX_EVENT_BYTES (${maxBytes}) leaves for data; raise MAX_EVENT_BYTES`,
      );
    }
    if (used + size > budget && current.length > 0) {
      chunks.push(current);
      current = [];
      used = 0;
    }
    current.push(record);
    used += size;
  }
  if (current.length > 0 || chunks.length === 0) chunks.push(current);
  return chunks;
}

/**
 * Builds the batch events of one series: deterministic batch id (a hash of the series and its records),
 * event ids `${batchId}.${index}`, each event at most `maxBytes` in structured mode.
 */
export function buildBatchEvents<D extends Dataset>(
  header: SeriesHeader<D>,
  records: readonly RecordOf[D][],
  maxBytes: number,
  traceparent?: string,
): CloudEvent<ExtractBatch>[] {
  const batchId = stableHash({
    exchange: header.exchange,
    dataset: header.dataset,
    symbol: header.symbol,
    timeframe: header.timeframe,
    window: header.window,
    records,
  });
  const make = (index: number, count: number, recs: readonly RecordOf[D][]) => {
    const data = {
      schemaVersion: SCHEMA_VERSION,
      exchange: header.exchange,
      dataset: header.dataset,
      symbol: header.symbol,
      timeframe: header.timeframe,
      requestId: header.requestId,
      extractedAt: header.extractedAt,
      window: header.window,
      batchId,
      chunk: { index, count },
      records: recs,
    } as unknown as ExtractBatch;
    return buildEvent<ExtractBatch>({
      id: `${batchId}.${index}`,
      source: extractSource(header.exchange),
      type: EventType.extractBatch,
      subject: [header.dataset, header.symbol, header.timeframe].filter((s) => s !== null).join('/'),
      time: header.extractedAt,
      data,
      extensions: {
        exchange: header.exchange,
        dataset: header.dataset,
        ...(traceparent ? { traceparent } : {}),
      },
    });
  };
  // Envelope size with the widest chunk numbers this series can have, measured on a real encoding.
  const overhead = Buffer.byteLength(toStructured(make(records.length, records.length + 1, [])).body);
  const chunks = chunkRecords(records, maxBytes, overhead);
  return chunks.map((recs, i) => make(i, chunks.length, recs));
}
