// The local run's progress lines: a batch once its rows reached PostgreSQL (counted as transform reports them), refusals.
import { EventType, extractBatchSchema, type OhlcvRecord } from '../../shared/events/schemas.ts';
import { nextOpen, parseTimeframe } from '../../shared/time.ts';
import type { DeliveryReport } from './router.ts';

/** What load-raw stored for one object, kept until transform has answered for it. */
interface Stored {
  series: string;
  records: number;
  /** Open time of the batch's newest closed candle, and when that candle closed. */
  lastClosed?: number;
  closesAt?: number;
}

/** Objects remembered at most; beyond, the oldest is forgotten (its line then names the series from the key). */
const MAX_PENDING = 10_000;

/** The series of a batch object from its key: `exchange=x/dataset=y/symbol=BTC-USDT/timeframe=1m/...`. */
export function seriesOfKey(key: string): string {
  const parts = Object.fromEntries(
    key
      .split('/')
      .map((p) => p.split('='))
      .filter((kv): kv is [string, string] => kv.length === 2),
  );
  return [parts['exchange'], parts['dataset'], parts['symbol'], parts['timeframe']]
    .filter((p) => p !== undefined && p !== '')
    .join(' ');
}

/**
 * Turns what the local run sees into lines: each batch load-raw stored is remembered by its object key, and reported
 * when transform answers for that object, with the rows it wrote to PostgreSQL. Totals add up only transform's
 * `loaded` rows, so an object sent again (load-raw finds it already stored, transform answers `unchanged`) and rows
 * PostgreSQL already held count nothing.
 */
export class ProgressConsole {
  private readonly pending = new Map<string, Stored>();
  private readonly totals = new Map<string, number>();
  private readonly latest = new Map<string, { lastClosed: number; closesAt: number }>();

  constructor(
    private readonly print: (text: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Rows transform has written to PostgreSQL for `series` (`binance ohlcv BTC/USDT 1m`) in this run. */
  total(series: string): number {
    return this.totals.get(series) ?? 0;
  }

  /** A delivery of the local Broker: dead letters are said at once, load-raw's stored batches remembered. */
  delivery(r: DeliveryReport): void {
    if (r.deadLettered) {
      this.print(
        `${r.subscriber} refused ${r.event.type} ${r.event.id} (${r.status} after ${r.attempts} attempt(s)); sent to the dead-letter sink`,
      );
      return;
    }
    if (r.event.type !== EventType.extractBatch || r.subscriber !== 'load-raw') return;
    const parsed = extractBatchSchema.safeParse(r.event.data);
    const key = r.headers['x-object-key'];
    if (!parsed.success || key === undefined) return;
    const batch = parsed.data;
    const series = [batch.exchange, batch.dataset, batch.symbol ?? '*', batch.timeframe ?? '']
      .join(' ')
      .trim();
    if (r.headers['x-object-written'] === 'false') {
      this.print(`${series}: ${batch.records.length} rows sent again, already stored raw; not counted`);
      return;
    }
    const stored: Stored = { series, records: batch.records.length };
    const tf = batch.timeframe ? parseTimeframe(batch.timeframe) : undefined;
    const closed =
      batch.dataset === 'ohlcv' ? (batch.records as OhlcvRecord[]).filter((c) => c.closed).at(-1) : undefined;
    if (closed && tf) {
      stored.lastClosed = closed.ts;
      stored.closesAt = nextOpen(tf, closed.ts);
    }
    if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value as string);
    this.pending.set(decodeURI(key), stored);
  }

  /** Transform's answer to one bucket notification (`{"results":[...]}`): a line per object it loaded or rejected. */
  transformed(answer: string): void {
    let results: unknown;
    try {
      results = (JSON.parse(answer) as { results?: unknown }).results;
    } catch {
      return;
    }
    if (!Array.isArray(results)) return;
    for (const r of results as Array<Record<string, unknown>>) {
      if (typeof r['key'] !== 'string') continue;
      const key = r['key'];
      const stored = this.pending.get(key);
      this.pending.delete(key);
      const series = stored?.series ?? seriesOfKey(key);
      if (r['status'] === 'rejected') {
        this.print(
          `${series}: transform rejected the object (${String(r['reason'])}); npm run report lists it`,
        );
        continue;
      }
      if (r['status'] !== 'loaded' || typeof r['rows'] !== 'number') continue;
      const rows = r['rows'];
      const total = this.total(series) + rows;
      this.totals.set(series, total);
      this.print(
        `${series}: ${stored ? `${stored.records} rows stored raw, ` : ''}${rows} written to PostgreSQL (total ${total})${this.lag(series, stored)}`,
      );
    }
  }

  /** The newest closed candle of the series in PostgreSQL; when this batch brought it, how long after its close. */
  private lag(series: string, stored: Stored | undefined): string {
    const before = this.latest.get(series);
    const { lastClosed, closesAt } = stored ?? {};
    const newer =
      lastClosed !== undefined && closesAt !== undefined && (!before || lastClosed > before.lastClosed);
    if (newer) this.latest.set(series, { lastClosed, closesAt });
    const l = this.latest.get(series);
    if (!l) return '';
    const candle = `latest closed candle ${new Date(l.lastClosed).toISOString().slice(0, 16)}Z`;
    if (!newer) return `, ${candle}`;
    return `, ${candle} there ${Math.round((this.now() - l.closesAt) / 1000)} s after its close`;
  }
}
