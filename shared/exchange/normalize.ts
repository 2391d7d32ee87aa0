// ccxt unified structures (with number = String) to the pipeline's exact records: decimal strings, UTC ms.
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

/**
 * The decimal texts of a raw exchange answer by numeric value. ccxt parses some structures (order books) to floats
 * whatever `number` is; this gives back the exchange's own text for such a float.
 */
export class RawDecimals {
  private readonly byValue = new Map<number, string>();

  constructor(bodies: readonly string[]) {
    for (const body of bodies) {
      // Quoted decimals and bare JSON numbers, in order; the first text of a value wins.
      for (const m of body.matchAll(
        /"(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"|[:,[]\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?=\s*[,\]}])/g,
      )) {
        const text = (m[1] ?? m[2]) as string;
        const n = Number(text);
        if (Number.isFinite(n) && !this.byValue.has(n)) this.byValue.set(n, text);
      }
    }
  }

  /** The exchange's text for a float ccxt produced, else the float's shortest text. */
  text(value: number): string {
    return this.byValue.get(value) ?? String(value);
  }
}

const NO_RAW = new RawDecimals([]);

/**
 * A decimal string as the exchange sent it, or null when absent. A number (a float ccxt made) is mapped back to the
 * exchange's text through `raw` when given, else written as its shortest text.
 */
export function dec(value: unknown, raw: RawDecimals = NO_RAW): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value === 'string') return DECIMAL.test(value) ? value : null;
  if (typeof value === 'number') return Number.isFinite(value) ? raw.text(value) : null;
  return null;
}

function reqDec(value: unknown, field: string, raw?: RawDecimals): string {
  const d = dec(value, raw);
  if (d === null) throw new TypeError(`missing or non-decimal ${field}: ${JSON.stringify(value)}`);
  return d;
}

function ms(value: unknown): number | null {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  return null;
}

/** One ccxt OHLCV row; `closed` is decided from the interval end against `now`. */
export function toOhlcv(row: OHLCV, tf: Timeframe, now: number): OhlcvRecord {
  const ts = ms(row[0]);
  if (ts === null) throw new TypeError(`candle without a timestamp: ${JSON.stringify(row)}`);
  return {
    ts,
    open: reqDec(row[1], 'open'),
    high: reqDec(row[2], 'high'),
    low: reqDec(row[3], 'low'),
    close: reqDec(row[4], 'close'),
    volume: dec(row[5]),
    closed: isClosed(tf, ts, now),
  };
}

/** One ccxt trade. */
export function toTrade(t: Trade): TradeRecord {
  const ts = ms(t.timestamp);
  if (ts === null || t.id === undefined || t.id === null)
    throw new TypeError(`trade without id or timestamp: ${JSON.stringify(t.info)}`);
  return {
    id: String(t.id),
    ts,
    side: t.side === 'buy' || t.side === 'sell' ? t.side : null,
    price: reqDec(t.price, 'price'),
    amount: reqDec(t.amount, 'amount'),
    cost: dec(t.cost),
    takerOrMaker: t.takerOrMaker === 'taker' || t.takerOrMaker === 'maker' ? t.takerOrMaker : null,
  };
}

/** One ccxt ticker; `ts` is when it was taken (exchange time when given, else `now`). */
export function toTicker(t: Ticker, now: number, symbol: string): TickerRecord {
  const exchangeTs = ms(t.timestamp);
  const raw = t as Ticker & { markPrice?: unknown; indexPrice?: unknown };
  return {
    symbol: t.symbol ?? symbol,
    ts: exchangeTs ?? now,
    exchangeTs,
    bid: dec(t.bid),
    bidVolume: dec(t.bidVolume),
    ask: dec(t.ask),
    askVolume: dec(t.askVolume),
    last: dec(t.last ?? t.close),
    open: dec(t.open),
    high: dec(t.high),
    low: dec(t.low),
    vwap: dec(t.vwap),
    baseVolume: dec(t.baseVolume),
    quoteVolume: dec(t.quoteVolume),
    change: dec(t.change),
    percentage: dec(t.percentage),
    markPrice: dec(raw.markPrice),
    indexPrice: dec(raw.indexPrice),
  };
}

/** Order-book levels, best first, one record per level and side, at most `depth` per side. */
export function toOrderBookLevels(
  book: OrderBook,
  depth: number,
  now: number,
  raw: RawDecimals = NO_RAW,
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
        price: reqDec(level[0], 'price', raw),
        amount: reqDec(level[1], 'amount', raw),
      });
    });
  }
  return out;
}

/** One ccxt funding-rate snapshot. */
export function toFunding(f: FundingRate, now: number, symbol: string): FundingRecord {
  const exchangeTs = ms(f.timestamp);
  return {
    symbol: f.symbol ?? symbol,
    ts: exchangeTs ?? now,
    exchangeTs,
    fundingRate: dec(f.fundingRate),
    fundingTs: ms(f.fundingTimestamp),
    nextFundingTs: ms(f.nextFundingTimestamp),
    markPrice: dec(f.markPrice),
    indexPrice: dec(f.indexPrice),
    interval: typeof f.interval === 'string' ? f.interval : null,
  };
}

/** One ccxt market (instrument). */
export function toMarket(m: NonNullable<Market>): MarketRecord {
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
    contractSize: dec(m.contractSize),
    expiry: ms(m.expiry),
    strike: dec(m.strike),
    optionType: m.optionType ?? null,
    pricePrecision: dec(m.precision?.price),
    amountPrecision: dec(m.precision?.amount),
    minAmount: dec(m.limits?.amount?.min),
    minCost: dec(m.limits?.cost?.min),
    maker: dec(m.maker),
    taker: dec(m.taker),
    info: m.info ?? null,
  };
}
