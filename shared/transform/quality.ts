// Data-quality checks of a batch: OHLC invariants, negative volume, future timestamps, crossed books. Recorded, not dropped.
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
      const symbol = batch.symbol ?? '';
      const series = batch.timeframe ?? '';
      for (const r of batch.records as OhlcvRecord[]) {
        // Doubles decide unless they tie; then the exact digits do (see compareDecimal).
        const o = Number(r.open);
        const h = Number(r.high);
        const l = Number(r.low);
        const c = Number(r.close);
        const broken: string[] = [];
        if (above(l, r.low, h, r.high)) broken.push('low > high');
        if (above(l, r.low, o, r.open)) broken.push('low > open');
        if (above(l, r.low, c, r.close)) broken.push('low > close');
        if (above(o, r.open, h, r.high)) broken.push('open > high');
        if (above(c, r.close, h, r.high)) broken.push('close > high');
        if (broken.length > 0)
          out.push({
            ...base,
            symbol,
            series,
            ts: r.ts,
            check: 'ohlc_invariant',
            details: { broken, open: r.open, high: r.high, low: r.low, close: r.close },
          });
        if (
          r.volume !== null &&
          (Number(r.volume) < 0 || (Number(r.volume) === 0 && compareDecimal(r.volume, '0') < 0))
        )
          out.push({
            ...base,
            symbol,
            series,
            ts: r.ts,
            check: 'negative_volume',
            details: { volume: r.volume },
          });
        future(r.ts, symbol, series);
      }
      break;
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
