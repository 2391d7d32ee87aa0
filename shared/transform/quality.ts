// Data-quality checks of a batch: OHLC invariants, negative volume, future timestamps, crossed books. Recorded, not dropped.
import type { CandleFields } from '../events/candle-body.ts';
import type { ExtractBatch, OhlcvRecord, OrderBookLevelRecord, TradeRecord } from '../events/schemas.ts';
import type { Finding } from '../db/writers.ts';

/** How far past the extraction time a record may be before it counts as "in the future". */
export const FUTURE_TOLERANCE_MS = 60_000;

/** Compares two decimal strings exactly (-1, 0, 1); exponent forms fall back to Number. */
export function compareDecimal(a: string, b: string): number {
  // Rounding to a double is monotonic: different doubles order the decimals; only equal doubles need the digits.
  const x = Number(a);
  const y = Number(b);
  if (x !== y || /[eE]/.test(a) || /[eE]/.test(b)) return Math.sign(x - y);
  return compareDigits(a, b);
}

function compareDigits(a: string, b: string): number {
  const neg = (s: string) => s.startsWith('-');
  const abs = (s: string) => {
    const [i = '', f = ''] = s.replace(/^-/, '').split('.');
    return { i: i.replace(/^0+(?=\d)/, '') || '0', f: f.replace(/0+$/, '') };
  };
  const x = abs(a);
  const y = abs(b);
  const zero = (v: { i: string; f: string }) => v.i === '0' && v.f === '';
  const sa = zero(x) ? 0 : neg(a) ? -1 : 1;
  const sb = zero(y) ? 0 : neg(b) ? -1 : 1;
  if (sa !== sb) return Math.sign(sa - sb);
  if (sa === 0) return 0;
  let c = x.i.length !== y.i.length ? Math.sign(x.i.length - y.i.length) : x.i < y.i ? -1 : x.i > y.i ? 1 : 0;
  if (c === 0) {
    const len = Math.max(x.f.length, y.f.length);
    const fx = x.f.padEnd(len, '0');
    const fy = y.f.padEnd(len, '0');
    c = fx < fy ? -1 : fx > fy ? 1 : 0;
  }
  return sa * c;
}

/** x > y for decimals whose doubles are x and y: the doubles decide unless they tie. */
function above(x: number, xs: string, y: number, ys: string): boolean {
  return x > y || (x === y && compareDecimal(xs, ys) > 0);
}

/**
 * Compares decimals of the form -?digits[.digits] (as readCandle leaves them) held in bytes a0..a1 and b0..b1 of
 * `buf`, exactly (-1, 0, 1), as compareDecimal does their text.
 */
export function compareDecimalBytes(buf: Buffer, a0: number, a1: number, b0: number, b1: number): number {
  const sa = signOf(buf, a0, a1);
  const sb = signOf(buf, b0, b1);
  if (sa !== sb || sa === 0) return Math.sign(sa - sb);
  // Past the sign and leading zeros; then the longer integer part is the larger magnitude.
  if (buf[a0] === 45) a0++;
  if (buf[b0] === 45) b0++;
  while (buf[a0] === 48) a0++;
  while (buf[b0] === 48) b0++;
  const ia = intEnd(buf, a0, a1) - a0;
  const ib = intEnd(buf, b0, b1) - b0;
  if (ia !== ib) return sa * Math.sign(ia - ib);
  // The same number of integer digits: those digit by digit, then the fractions, missing digits zero.
  for (let k = 0; k < ia; k++) {
    const x = buf[a0 + k] as number;
    const y = buf[b0 + k] as number;
    if (x !== y) return sa * Math.sign(x - y);
  }
  for (let fa = a0 + ia + 1, fb = b0 + ib + 1; fa < a1 || fb < b1; fa++, fb++) {
    const x = fa < a1 ? (buf[fa] as number) : 48;
    const y = fb < b1 ? (buf[fb] as number) : 48;
    if (x !== y) return sa * Math.sign(x - y);
  }
  return 0;
}

/** The sign of a decimal in bytes: 0 when every digit is zero. */
function signOf(buf: Buffer, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const c = buf[i] as number;
    if (c > 48 && c <= 57) return buf[from] === 45 ? -1 : 1;
  }
  return 0;
}

/** Where the integer part of the digits from `from` ends (the point, or `to`). */
function intEnd(buf: Buffer, from: number, to: number): number {
  while (from < to && buf[from] !== 46) from++;
  return from;
}

/** The OHLC invariants in the order a finding lists them: a candle breaks [a, b] when its a is above its b. */
const INVARIANTS = [
  ['low', 'high'],
  ['low', 'open'],
  ['low', 'close'],
  ['open', 'high'],
  ['close', 'high'],
] as const;
/** The index of each price in CandleFields.spans (two per price). */
const SPAN_OF = { open: 0, high: 2, low: 4, close: 6 } as const;

/** The findings of OHLCV candles of one batch, made the same way whether the candles were parsed or read as bytes. */
class CandleFindings {
  readonly out: Finding[] = [];
  private readonly base: Omit<Finding, 'ts' | 'check' | 'details'>;

  constructor(
    batch: Pick<ExtractBatch, 'exchange' | 'dataset' | 'symbol' | 'timeframe'>,
    sourceKey: string,
    private readonly extractedAt: number,
  ) {
    this.base = {
      exchange: batch.exchange,
      dataset: batch.dataset,
      sourceKey,
      symbol: batch.symbol ?? '',
      series: batch.timeframe ?? '',
    };
  }

  ohlc(ts: number, broken: string[], prices: Pick<OhlcvRecord, 'open' | 'high' | 'low' | 'close'>): void {
    const { open, high, low, close } = prices;
    this.out.push({ ...this.base, ts, check: 'ohlc_invariant', details: { broken, open, high, low, close } });
  }

  negativeVolume(ts: number, volume: string): void {
    this.out.push({ ...this.base, ts, check: 'negative_volume', details: { volume } });
  }

  future(ts: number): void {
    if (ts > this.extractedAt + FUTURE_TOLERANCE_MS)
      this.out.push({
        ...this.base,
        ts,
        check: 'future_timestamp',
        details: { ts, extractedAt: this.extractedAt },
      });
  }
}

/**
 * The findings of `count` candles of an OHLCV batch read from the bytes of `body` (readCandle), the same as
 * checkBatch gives for them parsed: the decimals are compared in their bytes, and made text only for a finding.
 */
export function checkCandleBytes(
  batch: Pick<ExtractBatch, 'exchange' | 'dataset' | 'symbol' | 'timeframe' | 'extractedAt'>,
  sourceKey: string,
  body: Buffer,
  candles: CandleFields,
  count: number,
): Finding[] {
  const f = new CandleFindings(batch, sourceKey, batch.extractedAt);
  const { spans } = candles;
  const text = (k: number) => body.toString('latin1', spans[k], spans[k + 1]);
  for (let row = 0; row < count; row++) {
    const at = row * 10;
    const ts = candles.ts[row] as number;
    let broken: string[] | undefined;
    for (const [a, b] of INVARIANTS) {
      const x = at + SPAN_OF[a];
      const y = at + SPAN_OF[b];
      if (compareDecimalBytes(body, spans[x]!, spans[x + 1]!, spans[y]!, spans[y + 1]!) > 0)
        (broken ??= []).push(`${a} > ${b}`);
    }
    if (broken) {
      const price = (p: keyof typeof SPAN_OF) => text(at + SPAN_OF[p]);
      f.ohlc(ts, broken, {
        open: price('open'),
        high: price('high'),
        low: price('low'),
        close: price('close'),
      });
    }
    const v = spans[at + 8] as number;
    if (v >= 0 && signOf(body, v, spans[at + 9]!) < 0) f.negativeVolume(ts, text(at + 8));
    f.future(ts);
  }
  return f.out;
}

/** The findings of one batch (its rows are written all the same). */
export function checkBatch(batch: ExtractBatch, sourceKey: string): Finding[] {
  const out: Finding[] = [];
  const base = { exchange: batch.exchange, dataset: batch.dataset, sourceKey };
  const future = (ts: number, symbol: string, series: string) => {
    if (ts > batch.extractedAt + FUTURE_TOLERANCE_MS) {
      out.push({
        ...base,
        symbol,
        series,
        ts,
        check: 'future_timestamp',
        details: { ts, extractedAt: batch.extractedAt },
      });
    }
  };
  switch (batch.dataset) {
    case 'ohlcv': {
      const f = new CandleFindings(batch, sourceKey, batch.extractedAt);
      for (const r of batch.records as OhlcvRecord[]) {
        // Doubles decide unless they tie; then the exact digits do (see compareDecimal).
        const v = { open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close) };
        let broken: string[] | undefined;
        for (const [a, b] of INVARIANTS)
          if (above(v[a], r[a], v[b], r[b])) (broken ??= []).push(`${a} > ${b}`);
        if (broken) f.ohlc(r.ts, broken, r);
        if (
          r.volume !== null &&
          (Number(r.volume) < 0 || (Number(r.volume) === 0 && compareDecimal(r.volume, '0') < 0))
        )
          f.negativeVolume(r.ts, r.volume);
        f.future(r.ts);
      }
      return f.out;
    }
    case 'trades': {
      const symbol = batch.symbol ?? '';
      for (const t of batch.records as TradeRecord[]) {
        if (compareDecimal(t.price, '0') <= 0)
          out.push({
            ...base,
            symbol,
            series: '',
            ts: t.ts,
            check: 'non_positive_price',
            details: { id: t.id, price: t.price },
          });
        if (compareDecimal(t.amount, '0') <= 0)
          out.push({
            ...base,
            symbol,
            series: '',
            ts: t.ts,
            check: 'non_positive_amount',
            details: { id: t.id, amount: t.amount },
          });
        future(t.ts, symbol, '');
      }
      break;
    }
    case 'orderbook': {
      const symbol = batch.symbol ?? '';
      const levels = batch.records as OrderBookLevelRecord[];
      const best = (side: 'bid' | 'ask') => levels.find((l) => l.side === side && l.level === 0);
      const bid = best('bid');
      const ask = best('ask');
      if (bid && ask && compareDecimal(bid.price, ask.price) >= 0) {
        out.push({
          ...base,
          symbol,
          series: '',
          ts: bid.ts,
          check: 'crossed_book',
          details: { bid: bid.price, ask: ask.price },
        });
      }
      if (levels[0]) future(levels[0].ts, symbol, '');
      break;
    }
    case 'tickers':
    case 'funding':
      for (const r of batch.records as Array<{ symbol: string; ts: number }>) future(r.ts, r.symbol, '');
      break;
    case 'markets':
      break;
  }
  return out;
}
