// ccxt unified structures (with number = String) to the pipeline's exact records: decimal strings, UTC ms.
import { createHash } from 'node:crypto';
import type {
  FundingRecord,
  MarketRecord,
  OhlcvRecord,
  OrderBookLevelRecord,
  TickerRecord,
  TradeRecord,
} from '../events/schemas.ts';
import { isClosed, type Timeframe } from '../time.ts';
import type { FundingRate, Market, OHLCV, OrderBook, Ticker, Trade } from './ccxt.ts';

const DECIMAL = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const NUMBER_TOKENS =
  /"(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"|[:,[]\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?=\s*[,\]}])/g;

/** A decimal as sign, digits without leading or trailing zeros, and exponent: equal values have equal keys. */
function decimalKey(text: string): string | null {
  const m = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/.exec(text);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return null;
  const digits = `${m[2]}${m[3] ?? ''}`;
  let exp = Number(m[4] ?? 0) - (m[3] ?? '').length;
  const trimmed = digits.replace(/^0+/, '');
  if (trimmed === '') return '0';
  const mantissa = trimmed.replace(/0+$/, '');
  exp += trimmed.length - mantissa.length;
  return `${m[1]}${mantissa}e${exp}`;
}

/** The key of a value ccxt gave: a decimal string, or a float (compared through its shortest text). */
function keyOf(value: unknown): string | null {
  if (typeof value === 'string') return DECIMAL.test(value) ? decimalKey(value) : null;
  if (typeof value === 'number' && Number.isFinite(value)) return decimalKey(String(value));
  return null;
}

/**
 * Significant digits of a decimal text. Texts with fewer than 3 (`0`, `1`, `100`, `0.5`, `12`) occur in almost every
 * reply by coincidence, so finding one proves little about where a value came from.
 */
function significantDigits(text: string): number {
  const key = decimalKey(text);
  return key === null || key === '0' ? 0 : key.replace(/^-/, '').split('e')[0]!.length;
}
const COINCIDENCE_PRONE = 3;

/**
 * The decimal texts of raw exchange answers (the HTTP bodies ccxt parsed), quoted decimals and bare JSON numbers, by
 * value. Normalisation takes every decimal's text from here or from the item's `info` (the exchange's own object for
 * that trade or ticker), never from ccxt's rewriting of it: ccxt parses some structures to floats and passes others
 * through `Precise`, which drops trailing zeros (`"0.00020"` becomes `"0.0002"`).
 */
export class RawDecimals {
  /** Texts by value key, in order of appearance. */
  private readonly byKey = new Map<string, string[]>();
  private readonly texts = new Set<string>();

  /** No raw bodies: every value keeps ccxt's text (for structures that have none, such as cached markets). */
  static readonly none = new RawDecimals([]);

  constructor(bodies: readonly string[]) {
    for (const body of bodies) {
      for (const m of body.matchAll(NUMBER_TOKENS)) {
        const text = (m[1] ?? m[2]) as string;
        const key = decimalKey(text);
        if (key === null) continue;
        this.texts.add(text);
        const list = this.byKey.get(key);
        if (list === undefined) this.byKey.set(key, [text]);
        else if (!list.includes(text)) list.push(text);
      }
    }
  }

  /**
   * The exchange's text of a value anywhere in the bodies: the value's own text when the exchange wrote exactly that,
   * else the first text of the same value; undefined when no body holds the value.
   */
  find(value: unknown): string | undefined {
    if (typeof value === 'string' && this.texts.has(value)) return value;
    const key = keyOf(value);
    return key === null ? undefined : this.byKey.get(key)?.[0];
  }

  /** The exchange's text for a float ccxt produced, else the float's shortest text. */
  text(value: number): string {
    return this.find(value) ?? String(value);
  }
}

/**
 * A decimal string as given, or null when absent. A number (a float ccxt made) is mapped back to the exchange's text
 * through `raw` when it holds the value, else written as its shortest text.
 */
export function dec(value: unknown, raw: RawDecimals = RawDecimals.none): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value === 'string') return DECIMAL.test(value) ? value : null;
  if (typeof value === 'number') return Number.isFinite(value) ? raw.text(value) : null;
  return null;
}

/**
 * The text of `value` inside one item's `info` (the exchange's object ccxt parsed it from): a string leaf with the
 * same value (the identical text first), or a bare number leaf with the same value (its text from the bodies).
 */
function findInItem(value: unknown, item: unknown, raw: RawDecimals): string | undefined {
  const key = keyOf(value);
  if (key === null || item === undefined || item === null) return undefined;
  let same: string | undefined;
  let exact: string | undefined;
  const walk = (v: unknown): void => {
    if (exact !== undefined) return;
    if (typeof v === 'string') {
      if (v === value) exact = v;
      else if (same === undefined && DECIMAL.test(v) && decimalKey(v) === key) same = v;
    } else if (typeof v === 'number') {
      if (same === undefined && keyOf(v) === key) same = raw.find(v) ?? String(v);
    } else if (Array.isArray(v)) {
      v.forEach(walk);
    } else if (v !== null && typeof v === 'object') {
      Object.values(v).forEach(walk);
    }
  };
  walk(item);
  return exact ?? same;
}

/**
 * The exchange's exact text of a value it certainly sent (a trade's price, a candle, a book level): from the item's
 * `info`, else from the raw bodies, else ccxt's own text (which then is the exchange's, parsed and written back).
 */
function exact(value: unknown, field: string, item: unknown, raw: RawDecimals): string {
  const text = findInItem(value, item, raw) ?? raw.find(value) ?? dec(value);
  if (text === null || !DECIMAL.test(text))
    throw new TypeError(`missing or non-decimal ${field}: ${JSON.stringify(value)}`);
  return text;
}

/**
 * A value ccxt may have sent through or computed, as the exchange's exact text when the exchange sent it, else null.
 *
 * Sent means the value appears in the exchange's reply. To keep coincidences out:
 * - the item's own `info` is searched first; the rest of the reply only for texts of 3 or more significant digits
 *   (`"0"`, `"1"` or `"0.5"` somewhere in a body proves nothing);
 * - `derived` lists how ccxt computes the field from the others (e.g. change = last - open). A value that equals
 *   such a result is taken as sent only when the item holds it with 3 or more significant digits; a short one
 *   (a flat day's change `"0"`) is taken as derived, and the `*_derived` views give it from the sent columns.
 * What remains possible is a derived value found among the item's texts by coincidence; its number is then still the
 * one ccxt computed (only equal values match), so no stored number is ever wrong, only its origin.
 */
export function sent(
  value: unknown,
  item: unknown,
  raw: RawDecimals,
  derived: ReadonlyArray<() => boolean> = [],
): string | null {
  if (keyOf(value) === null) return null;
  const isDerived = () => derived.some((d) => d());
  const inItem = findInItem(value, item, raw);
  if (inItem !== undefined) {
    return significantDigits(inItem) < COINCIDENCE_PRONE && isDerived() ? null : inItem;
  }
  const inBody = raw.find(value);
  if (inBody !== undefined && significantDigits(inBody) >= COINCIDENCE_PRONE && !isDerived()) return inBody;
  return null;
}

/** Exact decimal arithmetic on decimal texts, for the derivation checks (value = mantissa x 10^exponent). */
interface Exact {
  m: bigint;
  e: number;
}
function exactOf(value: unknown): Exact | null {
  const key = keyOf(value);
  if (key === null) return null;
  if (key === '0') return { m: 0n, e: 0 };
  const [mant, exp] = key.split('e') as [string, string];
  return { m: BigInt(mant), e: Number(exp) };
}
function align(a: Exact, b: Exact): [bigint, bigint, number] {
  const e = Math.min(a.e, b.e);
  return [a.m * 10n ** BigInt(a.e - e), b.m * 10n ** BigInt(b.e - e), e];
}
const mul = (a: Exact, b: Exact): Exact => ({ m: a.m * b.m, e: a.e + b.e });
const add = (a: Exact, b: Exact): Exact => {
  const [x, y, e] = align(a, b);
  return { m: x + y, e };
};
const neg = (a: Exact): Exact => ({ m: -a.m, e: a.e });
const eq = (a: Exact, b: Exact): boolean => {
  const [x, y] = align(a, b);
  return x === y;
};
const HUNDRED: Exact = { m: 100n, e: 0 };

/** `lhs(values) = rhs(values)` exactly, false when a value is missing. */
function holds(values: unknown[], relation: (...v: Exact[]) => [Exact, Exact]): () => boolean {
  return () => {
    const v = values.map(exactOf);
    if (v.some((x) => x === null)) return false;
    const [l, r] = relation(...(v as Exact[]));
    return eq(l, r);
  };
}

const ms = (value: unknown): number | null => {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  return null;
};

/** A candle with each decimal replaced by the exchange's text (for paging, which keeps ccxt's rows). */
export function exactRow(row: OHLCV, raw: RawDecimals): OHLCV {
  return row.map((v, i) => (i === 0 || v === undefined || v === null ? v : (raw.find(v) ?? v))) as OHLCV;
}

/** One ccxt OHLCV row, decimals as the exchange wrote them; `closed` is decided from the interval end against `now`. */
export function toOhlcv(row: OHLCV, tf: Timeframe, now: number, raw: RawDecimals): OhlcvRecord {
  const ts = ms(row[0]);
  if (ts === null) throw new TypeError(`candle without a timestamp: ${JSON.stringify(row)}`);
  return {
    ts,
    open: exact(row[1], 'open', undefined, raw),
    high: exact(row[2], 'high', undefined, raw),
    low: exact(row[3], 'low', undefined, raw),
    close: exact(row[4], 'close', undefined, raw),
    volume: row[5] === undefined || row[5] === null ? null : exact(row[5], 'volume', undefined, raw),
    closed: isClosed(tf, ts, now),
  };
}

/** Prefix of a trade key made from the exchange's `sequence` (trades without an id, e.g. kucoin). */
export const SEQUENCE_KEY = 'seq:';
/** Prefix of a trade key hashed from what the exchange sent (trades with neither id nor sequence). */
export const HASH_KEY = 'h:';

/**
 * One page of ccxt trades (one answer of the exchange), in the order ccxt gave them. Price and amount are the
 * exchange's text; `cost` only when the exchange sent it (ccxt computes price x amount otherwise: the `trades_derived`
 * view has that). A trade without an id gets a key from what the exchange sent, the same on every redelivery of
 * the page: `seq:<sequence>` when its `info` has a `sequence`, else `h:<sha-256 of time, price, amount and side,
 * 16 hex>:<ordinal among identical trades of the page>`.
 */
export function toTrades(trades: readonly Trade[], raw: RawDecimals): TradeRecord[] {
  const seen = new Map<string, number>();
  return trades.map((t) => {
    const ts = ms(t.timestamp);
    if (ts === null) throw new TypeError(`trade without a timestamp: ${JSON.stringify(t.info)}`);
    const item: unknown = t.info;
    const price = exact(t.price, 'price', item, raw);
    const amount = exact(t.amount, 'amount', item, raw);
    const side = t.side === 'buy' || t.side === 'sell' ? t.side : null;
    let id: string;
    if (t.id !== undefined && t.id !== null && String(t.id) !== '') {
      id = String(t.id);
    } else {
      const sequence = (item as Record<string, unknown> | null | undefined)?.['sequence'];
      if ((typeof sequence === 'string' && sequence !== '') || typeof sequence === 'number') {
        id = `${SEQUENCE_KEY}${typeof sequence === 'number' ? raw.text(sequence) : sequence}`;
      } else {
        const hash = createHash('sha256')
          .update(`${ts}|${price}|${amount}|${side ?? ''}`)
          .digest('hex')
          .slice(0, 16);
        const ordinal = seen.get(hash) ?? 0;
        seen.set(hash, ordinal + 1);
        id = `${HASH_KEY}${hash}:${ordinal}`;
      }
    }
    return {
      id,
      ts,
      side,
      price,
      amount,
      cost: sent(t.cost, item, raw, [holds([t.cost, t.price, t.amount], (c, p, a) => [c, mul(p, a)])]),
      takerOrMaker: t.takerOrMaker === 'taker' || t.takerOrMaker === 'maker' ? t.takerOrMaker : null,
    };
  });
}

/**
 * One ccxt ticker; `ts` is when it was taken (exchange time when given, else `now`). Every decimal is the exchange's
 * text, or null when the exchange did not send it: ccxt fills open, close, change, percentage, vwap and volumes from
 * one another (in floats at times), and those live in the `ticker_snapshots_derived` view instead.
 */
export function toTicker(t: Ticker, now: number, symbol: string, raw: RawDecimals): TickerRecord {
  const exchangeTs = ms(t.timestamp);
  const x = t as Ticker & { markPrice?: unknown; indexPrice?: unknown };
  const item: unknown = t.info;
  const last = t.last ?? t.close;
  const s = (value: unknown, derived: ReadonlyArray<() => boolean> = []) => sent(value, item, raw, derived);
  return {
    symbol: t.symbol ?? symbol,
    ts: exchangeTs ?? now,
    exchangeTs,
    bid: s(t.bid),
    bidVolume: s(t.bidVolume),
    ask: s(t.ask),
    askVolume: s(t.askVolume),
    last: s(last, [holds([last, t.open, t.change], (l, o, c) => [l, add(o, c)])]),
    open: s(t.open, [
      holds([t.open, last, t.change], (o, l, c) => [add(o, c), l]),
      holds([t.open, last, t.percentage], (o, l, p) => [mul(o, add(HUNDRED, p)), mul(l, HUNDRED)]),
    ]),
    high: s(t.high),
    low: s(t.low),
    vwap: s(t.vwap, [holds([t.vwap, t.baseVolume, t.quoteVolume], (v, b, q) => [mul(v, b), q])]),
    baseVolume: s(t.baseVolume, [holds([t.baseVolume, t.vwap, t.quoteVolume], (b, v, q) => [mul(b, v), q])]),
    quoteVolume: s(t.quoteVolume, [
      holds([t.quoteVolume, t.baseVolume, t.vwap], (q, b, v) => [q, mul(b, v)]),
    ]),
    change: s(t.change, [
      holds([t.change, last, t.open], (c, l, o) => [add(c, o), l]),
      holds([t.change, t.open, t.percentage], (c, o, p) => [mul(c, HUNDRED), mul(o, p)]),
    ]),
    percentage: s(t.percentage, [
      holds([t.percentage, t.open, last], (p, o, l) => [mul(p, o), mul(add(l, neg(o)), HUNDRED)]),
      holds([t.percentage, t.open, t.change], (p, o, c) => [mul(p, o), mul(c, HUNDRED)]),
    ]),
    markPrice: s(x.markPrice),
    indexPrice: s(x.indexPrice),
  };
}

/** Order-book levels, best first, one record per level and side, at most `depth` per side, as the exchange's text. */
export function toOrderBookLevels(
  book: OrderBook,
  depth: number,
  now: number,
  raw: RawDecimals,
): OrderBookLevelRecord[] {
  const exchangeTs = ms(book.timestamp);
  const ts = exchangeTs ?? now;
  const nonce = book.nonce === undefined || book.nonce === null ? null : String(book.nonce);
  const out: OrderBookLevelRecord[] = [];
  const sides: Array<['bid' | 'ask', unknown[][]]> = [
    ['bid', (book.bids ?? []) as unknown[][]],
    ['ask', (book.asks ?? []) as unknown[][]],
  ];
  for (const [side, levels] of sides) {
    levels.slice(0, depth).forEach((level, i) => {
      out.push({
        ts,
        exchangeTs,
        nonce,
        side,
        level: i,
        price: exact(level[0], 'price', undefined, raw),
        amount: exact(level[1], 'amount', undefined, raw),
      });
    });
  }
  return out;
}

/** One ccxt funding-rate snapshot; decimals the exchange's text, or null when it did not send them. */
export function toFunding(f: FundingRate, now: number, symbol: string, raw: RawDecimals): FundingRecord {
  const exchangeTs = ms(f.timestamp);
  const item: unknown = f.info;
  return {
    symbol: f.symbol ?? symbol,
    ts: exchangeTs ?? now,
    exchangeTs,
    fundingRate: sent(f.fundingRate, item, raw),
    fundingTs: ms(f.fundingTimestamp),
    nextFundingTs: ms(f.nextFundingTimestamp),
    markPrice: sent(f.markPrice, item, raw),
    indexPrice: sent(f.indexPrice, item, raw),
    interval: typeof f.interval === 'string' ? f.interval : null,
  };
}

/**
 * One ccxt market (instrument). ccxt computes several of these (precision from tick sizes, limits); `raw` maps floats
 * back to the exchange's text where the bodies hold them (cached markets have none: `RawDecimals.none`).
 */
export function toMarket(m: NonNullable<Market>, raw: RawDecimals): MarketRecord {
  const bool = (v: unknown) => (typeof v === 'boolean' ? v : null);
  return {
    symbol: m.symbol,
    id: String(m.id),
    type: String(m.type),
    base: String(m.base),
    quote: String(m.quote),
    settle: m.settle ?? null,
    active: bool(m.active),
    linear: bool(m.linear),
    inverse: bool(m.inverse),
    contractSize: dec(m.contractSize, raw),
    expiry: ms(m.expiry),
    strike: dec(m.strike, raw),
    optionType: m.optionType ?? null,
    pricePrecision: dec(m.precision?.price, raw),
    amountPrecision: dec(m.precision?.amount, raw),
    minAmount: dec(m.limits?.amount?.min, raw),
    minCost: dec(m.limits?.cost?.min, raw),
    maker: dec(m.maker, raw),
    taker: dec(m.taker, raw),
    info: m.info ?? null,
  };
}
