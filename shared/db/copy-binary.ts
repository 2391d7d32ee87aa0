// COPY's binary format for candle rows: PostgreSQL stores numbers and times without parsing their text.
import type { CandleFields } from '../events/candle-body.ts';
import type { OhlcvRecord } from '../events/schemas.ts';

/** Start of every binary COPY stream: signature, flags, header extension length. */
const HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
/** PostgreSQL's epoch (2000-01-01 UTC) in Unix milliseconds. */
const PG_EPOCH_MS = 946_684_800_000;
/** Times up to here (the year 2255) are whole microseconds a double holds exactly; later ones take the text format. */
const MAX_MS = 9e12;
const NUMERIC_NEG = 0x4000;

/** A growing buffer of big-endian fields. */
class Out {
  pos = 0;

  constructor(public buf: Buffer) {}

  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  int16(v: number): void {
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
  }

  bytes(b: Buffer): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

/** A text field: length and UTF-8 bytes. */
function textField(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const f = Buffer.allocUnsafe(4 + b.length);
  f.writeInt32BE(b.length, 0);
  b.copy(f, 4);
  return f;
}

/** Writes a timestamptz field (microseconds since 2000-01-01 UTC) for epoch milliseconds `ms` at `at`. */
function writeTimestamp(buf: Buffer, at: number, ms: number): void {
  const us = (ms - PG_EPOCH_MS) * 1000;
  const hi = Math.floor(us / 4294967296);
  buf.writeInt32BE(8, at);
  buf.writeInt32BE(hi, at + 4);
  buf.writeUInt32BE(us - hi * 4294967296, at + 8);
}

const isDigit = (c: number) => c >= 48 && c <= 57;
/** Scratch space for the digits of one decimal (at most 900, see numericField). */
const DIGITS = new Uint8Array(900);

/**
 * Writes a numeric field for decimal text of the schema's form (-?digits[.digits][e±digits]): base-10,000 digits
 * aligned on the decimal point, leading and trailing zero groups dropped, and the display scale numeric_in gives the
 * same text (digits after the point less the exponent, at least 0), so the stored value and its text are the same as
 * a text COPY gives. False (nothing written) for text it leaves to the text format, such as huge exponents.
 */
function numericField(out: Out, s: string): boolean {
  const n = s.length;
  let i = s.charCodeAt(0) === 45 ? 1 : 0;
  const neg = i === 1;
  const intStart = i;
  while (i < n && isDigit(s.charCodeAt(i))) i++;
  const intEnd = i;
  let fracStart = i;
  let fracEnd = i;
  if (i < n && s.charCodeAt(i) === 46) {
    fracStart = ++i;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
    fracEnd = i;
  }
  let exp = 0;
  if (i < n && (s.charCodeAt(i) | 32) === 101) {
    i++;
    let sign = 1;
    if (s.charCodeAt(i) === 45 || s.charCodeAt(i) === 43) sign = s.charCodeAt(i++) === 45 ? -1 : 1;
    const from = i;
    while (i < n && isDigit(s.charCodeAt(i)) && i - from < 4) exp = exp * 10 + s.charCodeAt(i++) - 48;
    if (i === from) return false;
    exp *= sign;
  }
  const intLen = intEnd - intStart;
  const fracLen = fracEnd - fracStart;
  if (i !== n || intLen + fracLen === 0 || intLen + fracLen > 900 || Math.abs(exp) > 900) return false;
  const d = DIGITS;
  for (let k = 0; k < intLen; k++) d[k] = s.charCodeAt(intStart + k) - 48;
  for (let k = 0; k < fracLen; k++) d[intLen + k] = s.charCodeAt(fracStart + k) - 48;
  writeNumeric(out, neg, intLen, fracLen, exp);
  return true;
}

/**
 * numericField of the decimal text in bytes `start`..`end` of `b`, which is of the form -?digits[.digits] (as
 * readCandleBody's scan leaves it); false as there.
 */
function numericBytes(out: Out, b: Buffer, start: number, end: number): boolean {
  const neg = b[start] === 45;
  let i = neg ? start + 1 : start;
  const d = DIGITS;
  let intLen = 0;
  let fracLen = 0;
  // Past the 900th digit the typed array takes no more; such a decimal is refused below.
  while (i < end && b[i] !== 46) d[intLen++] = (b[i++] as number) - 48;
  for (i++; i < end; i++) d[intLen + fracLen++] = (b[i] as number) - 48;
  if (intLen + fracLen === 0 || intLen + fracLen > 900) return false;
  writeNumeric(out, neg, intLen, fracLen, 0);
  return true;
}

/**
 * Writes the numeric field of the decimal whose `intLen` + `fracLen` digits (values 0-9) are in DIGITS, times ten to
 * the power `exp`: digit k has the power of ten intLen + exp - 1 - k.
 */
function writeNumeric(out: Out, neg: boolean, intLen: number, fracLen: number, exp: number): void {
  const digits = intLen + fracLen;
  const dscale = Math.max(0, fracLen - exp);
  const d = DIGITS;
  let first = 0;
  while (first < digits && d[first] === 0) first++;
  let last = digits - 1;
  while (last >= first && d[last] === 0) last--;
  const pointAt = intLen + exp;
  const any = first <= last;
  // The base-10,000 groups of the first and last non-zero digits (floor division of their powers by 4).
  const top = any ? Math.floor((pointAt - 1 - first) / 4) : 0;
  const bottom = any ? Math.floor((pointAt - 1 - last) / 4) : 0;
  const ndigits = any ? top - bottom + 1 : 0;
  out.room(12 + 2 * ndigits);
  const b = out.buf;
  let p = out.pos;
  const len = 8 + 2 * ndigits;
  b[p] = 0;
  b[p + 1] = 0;
  b[p + 2] = len >> 8;
  b[p + 3] = len & 255;
  b[p + 4] = ndigits >> 8;
  b[p + 5] = ndigits & 255;
  b[p + 6] = (top >> 8) & 255;
  b[p + 7] = top & 255;
  b[p + 8] = any && neg ? NUMERIC_NEG >> 8 : 0;
  b[p + 9] = 0;
  b[p + 10] = dscale >> 8;
  b[p + 11] = dscale & 255;
  p += 12;
  for (let g = top; g >= bottom && any; g--) {
    // The four digits of group g have the powers 4g + 3 .. 4g, at k = pointAt - 1 - power.
    let v = 0;
    for (let k = pointAt - 4 - 4 * g; k < pointAt - 4 * g; k++)
      v = v * 10 + (k >= first && k <= last ? (d[k] as number) : 0);
    b[p] = v >> 8;
    b[p + 1] = v & 255;
    p += 2;
  }
  out.pos = p;
}

/** What every candle row of a batch shares. */
export interface CandleContext {
  exchange: string;
  symbol: string | null;
  timeframe: string | null;
  extractedAt: string;
  sourceKey: string;
}

/**
 * The fields every candle row of a batch shares, encoded once: what comes before its time, and what comes after its
 * volume when it is closed and when it is not; undefined when they are left to the text format.
 */
interface SharedFields {
  head: Buffer;
  closedEnd: Buffer;
  openEnd: Buffer;
}

const NULL_FIELD = Buffer.from([0xff, 0xff, 0xff, 0xff]);

function sharedFields(ctx: CandleContext): SharedFields | undefined {
  const extractedAt = Date.parse(ctx.extractedAt);
  const texts = [ctx.exchange, ctx.symbol ?? '', ctx.timeframe ?? '', ctx.sourceKey];
  if (!(extractedAt <= MAX_MS) || texts.some((t) => t.includes('\0'))) return undefined;
  const head = Buffer.concat([
    Buffer.from([0, 12]),
    textField(ctx.exchange),
    ctx.symbol === null ? NULL_FIELD : textField(ctx.symbol),
    ctx.timeframe === null ? NULL_FIELD : textField(ctx.timeframe),
  ]);
  const tail = Buffer.alloc(12);
  writeTimestamp(tail, 0, extractedAt);
  const end = (closed: boolean) =>
    Buffer.concat([Buffer.from([0, 0, 0, 1, closed ? 1 : 0]), tail, textField(ctx.sourceKey)]);
  return { head, closedEnd: end(true), openEnd: end(false) };
}

/** Starts a row: the shared fields before its time, and its time; false when the time is left to the text format. */
function rowStart(out: Out, f: SharedFields, ts: number): boolean {
  out.bytes(f.head);
  out.room(12);
  writeTimestamp(out.buf, out.pos, ts);
  out.pos += 12;
  return ts <= MAX_MS;
}

/** A first guess at the bytes of `rows` rows: the shared fields, a time and five decimals of 16 digits or fewer. */
function roomFor(f: SharedFields, rows: number): number {
  return HEADER.length + 2 + rows * (f.head.length + f.closedEnd.length + 100);
}

/** Rows `from`..`to` of `records` in the binary format, with the stream's header and trailer when asked. */
function candleRows(
  records: readonly OhlcvRecord[],
  f: SharedFields,
  from: number,
  to: number,
  ends: { header: boolean; trailer: boolean },
): Buffer | undefined {
  const out = new Out(Buffer.allocUnsafe(roomFor(f, to - from)));
  if (ends.header) out.bytes(HEADER);
  for (let i = from; i < to; i++) {
    const r = records[i] as OhlcvRecord;
    let ok = rowStart(out, f, r.ts);
    ok &&= numericField(out, r.open) && numericField(out, r.high);
    ok &&= numericField(out, r.low) && numericField(out, r.close);
    if (r.volume === null) out.bytes(NULL_FIELD);
    else ok &&= numericField(out, r.volume);
    if (!ok) return undefined;
    out.bytes(r.closed ? f.closedEnd : f.openEnd);
  }
  if (ends.trailer) {
    out.room(2);
    out.int16(-1);
  }
  return out.buf.subarray(0, out.pos);
}

/**
 * Candles whose decimals are still text in the bytes they were read from (a raw object's records, checked but not
 * parsed: readCandle's fields): `count` rows, their decimals in `body`.
 */
export interface CandleSpans extends CandleFields {
  body: Buffer;
  count: number;
}

/** The rows of `c` in the binary format (after the stream's header when asked); undefined as candleRows. */
function spanRows(c: CandleSpans, f: SharedFields, header: boolean): Buffer | undefined {
  const out = new Out(Buffer.allocUnsafe(roomFor(f, c.count)));
  if (header) out.bytes(HEADER);
  const { body, spans } = c;
  for (let i = 0; i < c.count; i++) {
    const at = i * 10;
    let ok = rowStart(out, f, c.ts[i] as number);
    for (let k = at; k < at + 8 && ok; k += 2) ok = numericBytes(out, body, spans[k]!, spans[k + 1]!);
    const volume = spans[at + 8] as number;
    if (volume < 0) out.bytes(NULL_FIELD);
    else ok &&= numericBytes(out, body, volume, spans[at + 9]!);
    if (!ok) return undefined;
    out.bytes(c.closed[i] === 1 ? f.closedEnd : f.openEnd);
  }
  return out.buf.subarray(0, out.pos);
}

/**
 * Candles as a binary COPY stream in the ohlcv spec's columns (exchange, symbol, timeframe, open_time, open, high, low,
 * close, volume, closed, extracted_at, source_key), `rows` candles a piece (the first piece starts with the header,
 * the last ends with the trailer), so that PostgreSQL reads one piece while the next is written. A piece is undefined,
 * and the last one, when a value is better left to the text format (a decimal it does not write, a time after MAX_MS,
 * a NUL in the text).
 */
export function* binaryCandleChunks(
  records: readonly OhlcvRecord[],
  ctx: CandleContext,
  rows: number,
): Generator<Buffer | undefined, void> {
  const f = sharedFields(ctx);
  if (!f) {
    yield undefined;
    return;
  }
  for (let from = 0; from < records.length || from === 0; from += rows) {
    const to = Math.min(records.length, from + rows);
    const piece = candleRows(records, f, from, to, { header: from === 0, trailer: to === records.length });
    yield piece;
    if (!piece || to === records.length) return;
  }
}

/**
 * An encoder of one batch's candles in pieces given one at a time, still in their bytes (CandleSpans: a stream whose
 * records arrive in parts): the first piece starts with the header; `end()` is the trailer. A piece is undefined as in
 * binaryCandleChunks.
 */
export function binaryCandleEncoder(ctx: CandleContext): {
  spans(candles: CandleSpans): Buffer | undefined;
  end(): Buffer;
} {
  const f = sharedFields(ctx);
  let first = true;
  return {
    spans(candles) {
      if (!f) return undefined;
      const out = spanRows(candles, f, first);
      first = false;
      return out;
    },
    // The trailer, after the header when no piece came.
    end: () => (first ? Buffer.concat([HEADER, Buffer.from([0xff, 0xff])]) : Buffer.from([0xff, 0xff])),
  };
}

/** The whole binary COPY stream of `records` (binaryCandleChunks in one piece), or undefined as there. */
export function binaryCandles(records: readonly OhlcvRecord[], ctx: CandleContext): Buffer | undefined {
  const pieces: Buffer[] = [];
  for (const piece of binaryCandleChunks(records, ctx, records.length || 1)) {
    if (!piece) return undefined;
    pieces.push(piece);
  }
  return Buffer.concat(pieces);
}
