// Reads a raw OHLCV object's candles from its bytes a slice at a time: its rows go to PostgreSQL while the rest is read.
import { MAX_JSON_DEPTH, nestedDeeperThan } from '../events/cloudevent.ts';
import { canonicalAround } from '../events/canonical.ts';
import { readCandle, type CandleFields } from '../events/candle-body.ts';
import { EventType, SCHEMA_VERSION, parseExtractBatch, type ExtractBatch } from '../events/schemas.ts';
import type { CandleSpans } from '../db/copy-binary.ts';
import type { Finding } from '../db/writers.ts';
import { checkCandleBytes } from './quality.ts';

/** Candles per slice: PostgreSQL takes one slice while the next is read. */
const SLICE_CANDLES = 300;
const RECORDS = Buffer.from('"records":[');
const RECORDS_END = Buffer.from('],"requestId":');
const COMMA = 0x2c;
/** Stands in for the records in the canonical text of the envelope (a string no record is). */
const MARKER = '\u0000records';

/** An OHLCV object opened for reading in slices; what the slices read so far is counted in `count` and `findings`. */
export interface CandleObject {
  /** The batch without its records (records: []). */
  header: ExtractBatch;
  eventId: string;
  /** Times of the first and the last record; every record lies between them, in increasing order. */
  first: number;
  last: number;
  /**
   * The candles in slices, read from the bytes (readCandle: the one form canonical JSON gives a valid candle) and
   * checked as parseRawObject and checkBatch would; undefined (and nothing after it) when a slice is not what this
   * reader takes (another form, out of order, outside first..last): read the object whole then. One reading per
   * object: a reader stopped part way goes on where it stopped.
   */
  slices(): IterableIterator<CandleSpans | undefined>;
  /** How many candles the slices read so far hold, and their data-quality findings (the whole object's once every
   * slice was read and taken). */
  count: number;
  findings: Finding[];
}

/** A slice's rows: room for `n` candles. */
function fields(n: number): CandleFields {
  return { ts: new Float64Array(n), closed: new Uint8Array(n), spans: new Int32Array(10 * n) };
}

/**
 * Opens `body` for reading in slices when it is a raw object exactly as load-raw writes it (canonical JSON) of an
 * OHLCV batch with records; undefined otherwise, and for anything parseRawObject might refuse: the caller reads the
 * object whole, which gives the same verdict as ever. The slices hold the candles parseRawObject gives, in order.
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
  // The first and the last candle (no candle in this form holds a brace, so the last one starts at the last '{').
  const ends = fields(2);
  const lastAt = body.lastIndexOf('{', end);
  if (readCandle(body, from, ends, 0) < 0 || readCandle(body, lastAt, ends, 1) !== end) return undefined;
  const first = ends.ts[0] as number;
  const last = ends.ts[1] as number;
  if (last < first) return undefined;
  const object: CandleObject = {
    header,
    eventId: typeof envelope['id'] === 'string' ? envelope['id'] : '',
    first,
    last,
    count: 0,
    findings: [],
    *slices() {
      let at = from;
      let previous = -Infinity;
      while (at < end) {
        const slice = fields(SLICE_CANDLES);
        let n = 0;
        while (n < SLICE_CANDLES && at < end) {
          const next = readCandle(body, at, slice, n);
          // Each candle ends the records or is followed by a comma (and another candle: the last one ends at `end`).
          if (next < 0 || (next !== end && body[next] !== COMMA)) return yield undefined;
          const ts = slice.ts[n] as number;
          if (ts <= previous || ts > last || (previous === -Infinity && ts !== first)) return yield undefined;
          previous = ts;
          n++;
          at = next === end ? end : next + 1;
        }
        if (at >= end && previous !== last) return yield undefined;
        object.count += n;
        for (const f of checkCandleBytes(header, key, body, slice, n)) object.findings.push(f);
        yield { body, count: n, ...slice };
      }
    },
  };
  return object;
}
