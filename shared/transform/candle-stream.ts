// Reads a raw OHLCV object a slice of records at a time, so that its rows go to PostgreSQL while the rest is read.
import { MAX_JSON_DEPTH, nestedDeeperThan } from '../events/cloudevent.ts';
import { canonicalAround } from '../events/canonical.ts';
import {
  EventType,
  SCHEMA_VERSION,
  allOhlcv,
  parseExtractBatch,
  type ExtractBatch,
  type OhlcvRecord,
} from '../events/schemas.ts';
import type { Finding } from '../db/writers.ts';
import { checkBatch } from './quality.ts';

/** Bytes of records per slice (about 300 candles): PostgreSQL takes one slice while the next is read. */
const SLICE_BYTES = 48 * 1024;
const RECORDS = Buffer.from('"records":[');
const RECORDS_END = Buffer.from('],"requestId":');
const BETWEEN = Buffer.from('},{');
/** Stands in for the records in the canonical text of the envelope (a string no record is). */
const MARKER = '\u0000records';

/** An OHLCV object opened for reading in slices; what the slices read so far is in records and findings. */
export interface CandleObject {
  /** The batch without its records (records: []). */
  header: ExtractBatch;
  eventId: string;
  /** Times of the first and the last record; every record lies between them, in increasing order. */
  first: number;
  last: number;
  /**
   * The records in slices, each checked as parseRawObject and checkBatch would; undefined (and nothing after it) when
   * a slice is not what this reader takes (invalid, out of order, outside first..last): read the object whole then.
   * One reading per object: a reader stopped part way goes on where it stopped.
   */
  slices(): IterableIterator<OhlcvRecord[] | undefined>;
  /** The records and the data-quality findings of the slices read so far. */
  records: OhlcvRecord[];
  findings: Finding[];
  /** True once every slice was read and taken: records and findings are then the whole object's. */
  complete: boolean;
}

/**
 * Opens `body` for reading in slices when it is a raw object exactly as load-raw writes it (canonical JSON) of an
 * OHLCV batch with records; undefined otherwise, and for anything parseRawObject might refuse: the caller reads the
 * object whole, which gives the same verdict as ever. What the slices give equals what parseRawObject gives.
 */
export function openCandleObject(body: Buffer, key: string): CandleObject | undefined {
  const start = body.indexOf(RECORDS);
  const end = body.lastIndexOf(RECORDS_END);
  if (start < 0 || end < start + RECORDS.length + 2) return undefined;
  const from = start + RECORDS.length;
  const prefix = body.toString('utf8', 0, from);
  const suffix = body.toString('utf8', end);
  const headText = prefix + suffix;
  if (nestedDeeperThan(headText, MAX_JSON_DEPTH)) return undefined;
  let envelope: Record<string, unknown>;
  try {
    envelope = JSON.parse(headText) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (envelope === null || typeof envelope !== 'object' || Array.isArray(envelope)) return undefined;
  if (envelope['type'] !== EventType.extractBatch) return undefined;
  if (envelope['schemaversion'] !== undefined && String(envelope['schemaversion']) !== String(SCHEMA_VERSION))
    return undefined;
  const parsed = parseExtractBatch(envelope['data']);
  if (!parsed.success || parsed.data.dataset !== 'ohlcv' || parsed.data.records.length !== 0)
    return undefined;
  const header = parsed.data;
  // Everything but the records is canonical JSON (each key once, sorted), and the records cut out are data's own:
  // with a marker put in data.records, the canonical text is the bytes around the cut with the marker in it.
  const data = envelope['data'] as Record<string, unknown>;
  const around = canonicalAround({ ...envelope, data: { ...data, records: [MARKER] } }, MARKER);
  if (around === undefined || around[0] !== prefix || around[1] !== suffix) return undefined;
  const one = (a: number, b: number): unknown => {
    try {
      return JSON.parse(body.toString('utf8', a, b));
    } catch {
      return undefined;
    }
  };
  const firstRecord = one(from, body.indexOf('}', from) + 1);
  const lastRecord = one(body.lastIndexOf('{', end), end);
  if (!allOhlcv([firstRecord, lastRecord])) return undefined;
  const first = (firstRecord as OhlcvRecord).ts;
  const last = (lastRecord as OhlcvRecord).ts;
  if (last < first) return undefined;
  const object: CandleObject = {
    header,
    eventId: typeof envelope['id'] === 'string' ? envelope['id'] : '',
    first,
    last,
    records: [],
    findings: [],
    complete: false,
    *slices() {
      let at = from;
      let previous = -Infinity;
      while (at < end) {
        let cut = body.indexOf(BETWEEN, at + SLICE_BYTES);
        if (cut < 0 || cut >= end) cut = end - 1;
        let slice: unknown;
        try {
          slice = JSON.parse(`[${body.toString('utf8', at, cut + 1)}]`);
        } catch {
          slice = undefined;
        }
        at = cut + 2;
        if (!Array.isArray(slice) || slice.length === 0 || !allOhlcv(slice)) return yield undefined;
        const records = slice as OhlcvRecord[];
        for (const r of records) {
          if (r.ts <= previous || r.ts > last) return yield undefined;
          previous = r.ts;
        }
        if (object.records.length === 0 && records[0]?.ts !== first) return yield undefined;
        if (at >= end && previous !== last) return yield undefined;
        for (const r of records) object.records.push(r);
        for (const f of checkBatch({ ...header, records }, key)) object.findings.push(f);
        yield records;
      }
      object.complete = true;
    },
  };
  return object;
}
