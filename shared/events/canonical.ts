// Canonical JSON (object keys sorted): equal values always serialise to equal text and equal bytes.
import { createHash } from 'node:crypto';

/** JSON with object keys sorted, so equal values always serialise to equal text. */
export function canonicalJson(value: unknown): string {
  return encode(value) as string;
}

/** True for a key JS lists among an object's integer keys (an array index). */
function isArrayIndex(key: string): boolean {
  return /^(0|[1-9][0-9]{0,9})$/.test(key) && Number(key) < 4_294_967_295;
}

/** A key in canonical order: the key, its quoted form with the colon, and that form's UTF-8 bytes. */
type OrderedKey = [key: string, quoted: string, bytes: Buffer];

/**
 * The key order of the last object shape written: its keys as Object.keys listed them, and each key in canonical order
 * with its quoted form and colon. The records of a batch share one shape, so their keys are sorted once per batch.
 */
let shape: { keys: string[]; order: OrderedKey[] } = { keys: [], order: [] };

function sameKeys(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Integer keys first in numeric order (as any JS object, and so the replacer's sorted copy, lists them), then the
 * others in code-unit order. Object.keys already gives the integer keys first, ascending.
 */
function learnShape(all: string[]): OrderedKey[] {
  let n = 0;
  while (n < all.length && isArrayIndex(all[n] as string)) n++;
  const keys = n === 0 ? [...all].sort() : [...all.slice(0, n), ...all.slice(n).sort()];
  const order = keys.map((k): OrderedKey => {
    const quoted = JSON.stringify(k) + ':';
    return [k, quoted, Buffer.from(quoted, 'utf8')];
  });
  shape = { keys: all, order };
  return order;
}

/**
 * JSON.stringify with every object's keys in code-unit order, written directly: no sorted copy of each object (a
 * replacer returning one doubled the garbage of every 1,500-record batch load-raw stores). The same text as that
 * replacer gave, so keys and ETags of stored objects do not change: toJSON honoured, undefined/functions/symbols left
 * out of objects and null in arrays, non-finite numbers null, a bigint a TypeError (and, as before, a boxed primitive
 * written as the object it is, {}).
 */
function encode(value: unknown): string | undefined {
  let v = value;
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    v = (v as { toJSON: () => unknown }).toJSON();
  }
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return JSON.stringify(v); // throws TypeError, as JSON.stringify does
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) out += (i > 0 ? ',' : '') + (encode(v[i]) ?? 'null');
        return out + ']';
      }
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj);
      const order = sameKeys(keys, shape.keys) ? shape.order : learnShape(keys);
      let out = '{';
      let first = true;
      for (const [k, quoted] of order) {
        const item = encode(obj[k]);
        if (item === undefined) continue;
        out += (first ? quoted : ',' + quoted) + item;
        first = false;
      }
      return out + '}';
    }
    default:
      return undefined;
  }
}

/** Text JSON.stringify writes as it is between quotes: no quote, backslash, control character or surrogate. */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** UTF-8 bytes written into a buffer that grows. */
class Bytes {
  buf: Buffer;
  pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Room for `n` more bytes. */
  reserve(n: number): void {
    if (this.pos + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.pos + n));
      this.buf.copy(next, 0, 0, this.pos);
      this.buf = next;
    }
  }

  text(s: string): void {
    this.reserve(3 * s.length);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** One ASCII byte. */
  byte(c: number): void {
    this.reserve(1);
    this.buf[this.pos++] = c;
  }

  /** Bytes copied by hand (a key of a few bytes: cheaper than a call into Buffer's native copy). */
  bytes(b: Buffer): void {
    this.reserve(b.length);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < b.length; i++) buf[p++] = b[i] as number;
    this.pos = p;
  }

  /**
   * `s` between quotes when JSON.stringify writes it so (ASCII without quote, backslash or control character: a
   * decimal, an id, a symbol), copied character by character with no string made; false, and nothing written, else.
   */
  quotedAscii(s: string): boolean {
    const n = s.length;
    this.reserve(n + 2);
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7f) return false;
      buf[p++] = c;
    }
    buf[p++] = 0x22;
    this.pos = p;
    return true;
  }

  /** A safe integer's digits, as JSON.stringify writes them (-0 as 0), with no string made. */
  integer(value: number): void {
    this.reserve(17);
    let v = value;
    if (v < 0) {
      this.buf[this.pos++] = 0x2d; // -
      v = -v;
    }
    if (v < 1e8) {
      this.digits(v, 0);
      return;
    }
    // Above 2^31 the remainder of a double is slow: eight low digits and the high ones, each as small integers.
    let high = Math.floor(v / 1e8);
    let low = v - high * 1e8;
    if (low < 0) {
      high -= 1;
      low += 1e8;
    } else if (low >= 1e8) {
      high += 1;
      low -= 1e8;
    }
    this.digits(high, 0);
    this.digits(low, 8);
  }

  /** The digits of an integer below 1e8, left-padded with zeros to `width`. */
  private digits(value: number, width: number): void {
    let v = value | 0;
    let n = 1;
    for (let x = v; x >= 10; x = (x / 10) | 0) n++;
    if (n < width) n = width;
    const buf = this.buf;
    const p = this.pos;
    for (let i = p + n - 1; i >= p; i--) {
      const q = (v / 10) | 0;
      buf[i] = 0x30 + v - 10 * q;
      v = q;
    }
    this.pos = p + n;
  }
}

/** A value after toJSON, as encode sees it. */
const resolved = (v: unknown): unknown =>
  v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function'
    ? (v as { toJSON: () => unknown }).toJSON()
    : v;

/** True for what JSON leaves out of objects (and writes as null in arrays). */
const omitted = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol';

/** Writes a value already through toJSON (not an omitted one), as encode would. */
function writeValue(out: Bytes, v: unknown): void {
  switch (typeof v) {
    case 'string':
      if (PLAIN.test(v)) {
        out.text('"');
        out.text(v);
        out.text('"');
      } else out.text(JSON.stringify(v));
      return;
    case 'number':
      out.text(Number.isFinite(v) ? JSON.stringify(v) : 'null');
      return;
    case 'boolean':
      out.text(v ? 'true' : 'false');
      return;
    case 'bigint':
      out.text(JSON.stringify(v)); // throws TypeError, as JSON.stringify does
      return;
    default:
      break;
  }
  if (v === null) {
    out.text('null');
    return;
  }
  if (Array.isArray(v)) {
    out.text('[');
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.text(',');
      const item = resolved(v[i]);
      if (omitted(item)) out.text('null');
      else writeValue(out, item);
    }
    out.text(']');
    return;
  }
  const obj = v as Record<string, unknown>;
  // A flat object (a record) is written by writeFlat. The same pass tells whether its keys are the last shape's,
  // all its own (then they are what Object.keys would list): no array of keys per record.
  let flat = typeof obj['toJSON'] !== 'function'; // encode would call it again
  const known = shape.keys;
  let n = 0;
  let sameShape = true;
  for (const k in obj) {
    const x = obj[k];
    if (x !== null && typeof x === 'object') {
      flat = false;
      break;
    }
    if (sameShape && (known[n] !== k || !Object.prototype.hasOwnProperty.call(obj, k))) sameShape = false;
    n++;
  }
  if (flat) {
    writeFlat(out, obj, sameShape && n === known.length ? shape.order : undefined);
    return;
  }
  const keys = Object.keys(obj);
  const order = sameKeys(keys, shape.keys) ? shape.order : learnShape(keys);
  out.text('{');
  let first = true;
  for (const [k, quoted] of order) {
    const item = resolved(obj[k]);
    if (omitted(item)) continue;
    out.text(first ? quoted : ',' + quoted);
    writeValue(out, item);
    first = false;
  }
  out.text('}');
}

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

/**
 * A flat object (no value an object but null) as encode writes it, straight into the buffer: its keys' bytes kept with
 * the shape (`known`: the shape's order, when its keys are known to be the shape's), ASCII strings and safe integers
 * written with no intermediate string (a 1,500-candle batch made some 30,000 of them, for the garbage collector),
 * anything else through JSON.stringify as before.
 */
function writeFlat(out: Bytes, obj: Record<string, unknown>, known?: OrderedKey[]): void {
  let order = known;
  if (!order) {
    const keys = Object.keys(obj);
    order = sameKeys(keys, shape.keys) ? shape.order : learnShape(keys);
  }
  out.byte(0x7b); // {
  let first = true;
  for (let i = 0; i < order.length; i++) {
    const [k, , quoted] = order[i] as OrderedKey;
    const v = obj[k];
    if (omitted(v)) continue;
    if (!first) out.byte(0x2c); // ,
    first = false;
    out.bytes(quoted);
    switch (typeof v) {
      case 'string':
        if (!out.quotedAscii(v)) out.text(JSON.stringify(v));
        break;
      case 'number':
        if (Number.isSafeInteger(v)) out.integer(v);
        else out.text(Number.isFinite(v) ? JSON.stringify(v) : 'null');
        break;
      case 'boolean':
        out.bytes(v ? TRUE : FALSE);
        break;
      default:
        // null, or a bigint: JSON.stringify throws its TypeError, as encode does.
        if (v === null) out.bytes(NULL);
        else out.text(JSON.stringify(v) as string);
    }
  }
  out.byte(0x7d); // }
}

/**
 * canonicalJson(value) as UTF-8 bytes, written straight into a buffer: the same bytes as Buffer.from(canonicalJson(value)),
 * without the intermediate strings (a 1,500-record batch made about a megabyte of them, for the garbage collector).
 */
export function canonicalJsonBytes(value: unknown, sizeHint = 1 << 16): Buffer {
  const out = new Bytes(sizeHint);
  const v = resolved(value);
  if (omitted(v)) throw new TypeError('canonicalJsonBytes: nothing to write');
  writeValue(out, v);
  return out.buf.subarray(0, out.pos);
}

/** Hex SHA-256 of the canonical JSON of `value`, cut to `length` characters. */
export function stableHash(value: unknown, length = 32): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, length);
}

/**
 * canonicalJson(value) cut around the one place where `marker`, a string value, is written: the text before its
 * opening quote and after its closing quote. Undefined unless the quoted marker occurs exactly once in the text.
 * Canonical bytes of the value the marker stands for, put between the two, are canonicalJson of the whole.
 */
export function canonicalAround(value: unknown, marker: string): [before: string, after: string] | undefined {
  const text = canonicalJson(value);
  const quoted = JSON.stringify(marker);
  const at = text.indexOf(quoted);
  if (at < 0 || text.indexOf(quoted, at + 1) >= 0) return undefined;
  return [text.slice(0, at), text.slice(at + quoted.length)];
}
