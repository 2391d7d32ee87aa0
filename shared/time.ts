// Time helpers: UTC millisecond timestamps, durations (ISO-8601 or 90m/2h/7d) and candle intervals per timeframe.

const UNIT_MS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/** Parses `PT1H30M`, `P2D`, `P1DT12H`, `90m`, `2h`, `7d`, `30s` into milliseconds; undefined when invalid. */
export function parseDuration(text: string): number | undefined {
  const short = /^(\d+)(s|m|h|d|w)$/.exec(text.trim());
  if (short) return Number(short[1]) * (UNIT_MS[short[2] as string] as number);
  const iso = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text.trim());
  if (!iso || text.trim() === 'P' || text.trim().endsWith('T')) return undefined;
  const [, w, d, h, m, s] = iso;
  const ms =
    Number(w ?? 0) * UNIT_MS.w! +
    Number(d ?? 0) * UNIT_MS.d! +
    Number(h ?? 0) * UNIT_MS.h! +
    Number(m ?? 0) * UNIT_MS.m! +
    Math.round(Number(s ?? 0) * 1000);
  return ms > 0 ? ms : undefined;
}

/** Parses a time given as epoch milliseconds (number or digit string) or an ISO-8601 date; undefined when invalid. */
export function parseInstant(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (/^\d+$/.test(value)) return parseInstant(Number(value));
  if (!/^\d{4}-\d{2}-\d{2}/.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** A candle interval: fixed-length for s/m/h/d/w, calendar months for `M`. */
export interface Timeframe {
  readonly text: string;
  readonly amount: number;
  readonly unit: 's' | 'm' | 'h' | 'd' | 'w' | 'M';
  /** Nominal length in ms (a month counts as 30 days, as ccxt does); use `next` for exact boundaries. */
  readonly ms: number;
}

/** Parses a ccxt timeframe such as `1m`, `4h`, `1d`, `1w`, `1M`; undefined when invalid. */
export function parseTimeframe(text: string): Timeframe | undefined {
  const m = /^(\d+)(s|m|h|d|w|M)$/.exec(text);
  if (!m) return undefined;
  const amount = Number(m[1]);
  const unit = m[2] as Timeframe['unit'];
  if (amount <= 0) return undefined;
  const ms = unit === 'M' ? amount * 30 * UNIT_MS.d! : amount * (UNIT_MS[unit] as number);
  return { text, amount, unit, ms };
}

/** Open time of the candle after the one opening at `openTime`. */
export function nextOpen(tf: Timeframe, openTime: number): number {
  if (tf.unit !== 'M') return openTime + tf.ms;
  const d = new Date(openTime);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + tf.amount, d.getUTCDate(), d.getUTCHours());
}

const DAY_MS = UNIT_MS.d!;
/** 1970-01-01 was a Thursday: the first Monday, where weekly candles of the epoch open, is four days later. */
const FIRST_MONDAY = 4 * DAY_MS;

/**
 * Open time of the candle that contains `t` (UTC), as Binance, Bybit and OKX cut them: weeks open on Monday 00:00,
 * months on the 1st 00:00, and a frame of several units (`3d`, `2w`, `3M`) on a multiple of its length counted from
 * the epoch (weeks from its first Monday, months from January 1970).
 */
export function candleOpen(tf: Timeframe, t: number): number {
  if (tf.unit === 'M') {
    const d = new Date(t);
    const months = (d.getUTCFullYear() - 1970) * 12 + d.getUTCMonth();
    const aligned = months - (((months % tf.amount) + tf.amount) % tf.amount);
    return Date.UTC(1970, aligned, 1);
  }
  const offset = tf.unit === 'w' ? FIRST_MONDAY : 0;
  return Math.floor((t - offset) / tf.ms) * tf.ms + offset;
}

/** Open times of the candles in [since, until), `since` aligned down to the candle that contains it. */
export function candleOpens(tf: Timeframe, since: number, until: number): number[] {
  const out: number[] = [];
  for (let t = candleOpen(tf, since); t < until; t = nextOpen(tf, t)) out.push(t);
  return out;
}

/** True when the candle opening at `openTime` has ended at `now` (its interval is over), so it is final. */
export function isClosed(tf: Timeframe, openTime: number, now: number): boolean {
  return nextOpen(tf, openTime) <= now;
}

/** Formats epoch ms as an ISO-8601 UTC string. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
