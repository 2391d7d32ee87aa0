// Reads an OHLCV extract batch sent as canonical JSON straight from its bytes: the records are checked, not parsed.
import { isUtf8 } from 'node:buffer';
import { canonicalAround } from './canonical.ts';
import { MAX_JSON_DEPTH, nestedDeeperThan } from './cloudevent.ts';
import { parseExtractBatch, type ExtractBatch } from './schemas.ts';

const RECORDS = Buffer.from('"records":[');
/** Stands in for the records in the canonical text of the batch (a string no record is). */
const MARKER = '\u0000records';

/** What a candle body holds, found without parsing its records. */
export interface CandleBody {
  /** The batch without its records, as JSON.parse gives it (records: []). */
  head: Record<string, unknown>;
  /** The JSON text of `head`. */
  headText: string;
  /** The batch without its records, as the schema gives it. */
  header: ExtractBatch;
  /** How many records. */
  records: number;
  /** Their earliest and latest time. */
  span: { from: number; to: number };
}

/**
 * Reads `body` when it is an OHLCV extract batch with records exactly as canonicalJson writes it (keys sorted, no
 * space) and valid for the schema; undefined for anything else (then read it as ever: parse, check, serialise).
 * When it answers, JSON.parse(body) passes parseExtractBatch and canonicalJson of it is `body`, byte for byte: the
 * records are checked against the one form canonical JSON gives a valid candle (a subset of what the schema takes),
 * and the rest is parsed and must serialise back to the bytes around them.
 */
export function readCandleBody(body: Buffer): CandleBody | undefined {
  const start = body.indexOf(RECORDS);
  if (start < 0) return undefined;
  const from = start + RECORDS.length;
  const scanned = scanCandles(body, from);
  if (scanned === undefined) return undefined;
  const end = scanned.end;
  // Text that is not UTF-8 would be decoded with replacement characters, which canonical JSON then writes.
  if (!isUtf8(body.subarray(0, from)) || !isUtf8(body.subarray(end))) return undefined;
  const prefix = body.toString('utf8', 0, from);
  const suffix = body.toString('utf8', end);
  const headText = prefix + suffix;
  if (nestedDeeperThan(headText, MAX_JSON_DEPTH)) return undefined;
  let head: unknown;
  try {
    head = JSON.parse(headText);
  } catch {
    return undefined;
  }
  if (head === null || typeof head !== 'object' || Array.isArray(head)) return undefined;
  const parsed = parseExtractBatch(head);
  if (!parsed.success || parsed.data.dataset !== 'ohlcv' || parsed.data.records.length !== 0)
    return undefined;
  // Everything but the records is canonical, and the records cut out are the batch's own.
  const around = canonicalAround({ ...head, records: [MARKER] }, MARKER);
  if (around === undefined || around[0] !== prefix || around[1] !== suffix) return undefined;
  return {
    head: head as Record<string, unknown>,
    headText,
    header: parsed.data,
    records: scanned.count,
    span: { from: scanned.min, to: scanned.max },
  };
}

/** The keys of a candle in canonical order, each with what comes before it. */
const CLOSE = Buffer.from('{"close":');
const CLOSED = Buffer.from(',"closed":');
const HIGH = Buffer.from(',"high":');
const LOW = Buffer.from(',"low":');
const OPEN = Buffer.from(',"open":');
const TS = Buffer.from(',"ts":');
const VOLUME = Buffer.from(',"volume":');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

const QUOTE = 0x22;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const CLOSE_BRACKET = 0x5d;

/** Where `lit` ends when the bytes at `i` are `lit`, else -1. */
function literal(b: Buffer, i: number, lit: Buffer): number {
  if (i < 0 || i + lit.length > b.length) return -1;
  for (let k = 0; k < lit.length; k++) if (b[i + k] !== lit[k]) return -1;
  return i + lit.length;
}

/** Where a quoted decimal starting at `i` ends (`"-?digits(.digits*)?"`, which the schema's decimal takes), else -1. */
function decimal(b: Buffer, i: number): number {
  if (i < 0 || b[i] !== QUOTE) return -1;
  i++;
  if (b[i] === MINUS) i++;
  const digits = i;
  let c = b[i];
  while (c !== undefined && c >= ZERO && c <= NINE) c = b[++i];
  if (i === digits) return -1;
  if (c === DOT) {
    c = b[++i];
    while (c !== undefined && c >= ZERO && c <= NINE) c = b[++i];
  }
  return c === QUOTE ? i + 1 : -1;
}

/** The value of the integer last read by `integer`. */
let integerValue = 0;

/**
 * Where a non-negative safe integer starting at `i` ends, written as JSON.stringify writes it (no leading zero, no
 * sign, fraction or exponent), with its value in integerValue; else -1.
 */
function integer(b: Buffer, i: number): number {
  if (i < 0) return -1;
  let c = b[i];
  if (c === undefined || c < ZERO || c > NINE) return -1;
  if (c === ZERO) {
    integerValue = 0;
    return i + 1;
  }
  let v = 0;
  const first = i;
  while (c !== undefined && c >= ZERO && c <= NINE && i - first < 17) {
    v = v * 10 + (c - ZERO);
    c = b[++i];
  }
  // 17 digits or more, or past 2^53 - 1 (rounding keeps any such value at or above 2^53): not a safe integer.
  if (i - first >= 17 || v > Number.MAX_SAFE_INTEGER) return -1;
  integerValue = v;
  return i;
}

/** Where candles read by readCandle go, row by row (the db layer's CandleSpans adds the body and the count). */
export interface CandleFields {
  ts: Float64Array;
  closed: Uint8Array;
  /** Ten per row: the start and end of the open, high, low, close and volume text (inside the quotes); a volume whose
   * start is -1 is null. */
  spans: Int32Array;
}

/**
 * Reads the candle at `i` in the one form canonical JSON writes a candle the schema takes:
 * {"close":D,"closed":B,"high":D,"low":D,"open":D,"ts":N,"volume":D|null}. Its fields go to row `row` of `into`;
 * where it ends (after its `}`), or -1 at the first difference.
 */
export function readCandle(b: Buffer, i: number, into: CandleFields, row: number): number {
  const s = into.spans;
  const at = row * 10;
  const closeAt = literal(b, i, CLOSE);
  i = decimal(b, closeAt);
  i = literal(b, i, CLOSED);
  if (i < 0) return -1;
  s[at + 6] = closeAt + 1;
  s[at + 7] = i - CLOSED.length - 1;
  const closed = b[i] === 0x74; // t
  i = literal(b, i, closed ? TRUE : FALSE);
  const highAt = literal(b, i, HIGH);
  i = decimal(b, highAt);
  const lowAt = literal(b, i, LOW);
  i = decimal(b, lowAt);
  const openAt = literal(b, i, OPEN);
  i = decimal(b, openAt);
  if (i < 0) return -1;
  s[at + 2] = highAt + 1;
  s[at + 3] = lowAt - LOW.length - 1;
  s[at + 4] = lowAt + 1;
  s[at + 5] = openAt - OPEN.length - 1;
  s[at] = openAt + 1;
  s[at + 1] = i - 1;
  i = integer(b, literal(b, i, TS));
  if (i < 0) return -1;
  into.ts[row] = integerValue;
  into.closed[row] = closed ? 1 : 0;
  i = literal(b, i, VOLUME);
  if (i < 0) return -1;
  if (b[i] === 0x6e) {
    // n
    s[at + 8] = -1;
    s[at + 9] = -1;
    i = literal(b, i, NULL);
  } else {
    s[at + 8] = i + 1;
    i = decimal(b, i);
    s[at + 9] = i - 1;
  }
  return i < 0 || b[i] !== 0x7d ? -1 : i + 1; // }
}

/** readCandle's scratch row for a scan that keeps no fields. */
const scratch: CandleFields = {
  ts: new Float64Array(1),
  closed: new Uint8Array(1),
  spans: new Int32Array(10),
};

/**
 * Checks the records from `at` (just after the array's `[`) with readCandle, comma-separated, up to the `]`.
 * At least one record; their count, earliest and latest ts, and where the `]` is; undefined at the first difference.
 */
function scanCandles(
  b: Buffer,
  at: number,
): { end: number; count: number; min: number; max: number } | undefined {
  let i = at;
  let count = 0;
  let min = Infinity;
  let max = -Infinity;
  for (;;) {
    i = readCandle(b, i, scratch, 0);
    if (i < 0) return undefined;
    const ts = scratch.ts[0] as number;
    count++;
    if (ts < min) min = ts;
    if (ts > max) max = ts;
    if (b[i] === COMMA) i++;
    else if (b[i] === CLOSE_BRACKET) return { end: i, count, min, max };
    else return undefined;
  }
}
