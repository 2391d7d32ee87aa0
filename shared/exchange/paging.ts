// Paging over time windows that never skips a record silently: every part of the window is delivered or reported.
import type { MissingRange } from '../events/schemas.ts';
import { candleOpen, nextOpen, type Timeframe } from '../time.ts';

/** A trade as paging needs it. */
export interface TimedItem {
  id: string;
  ts: number;
}

/**
 * How an exchange answers a windowed request for one dataset. `since` true: it answers from `since` onward; false:
 * only its newest records whatever `since` asks; undefined: not known, found out from the answers. `until`: the
 * window end reaches the exchange (ccxt maps it, or the venue's own parameters carry it).
 */
export interface PagingBehaviour {
  since: boolean | undefined;
  until: boolean;
  /** The exchange serves only its newest N candles of a series (older windows are not answered). */
  retainsNewest?: number;
  /** The exchange serves only records younger than this many milliseconds. */
  retainsMs?: number;
  /** Longest span one request may cover (Binance aggTrades: one hour). */
  maxSpanMs?: number;
  /**
   * Given both bounds, the exchange answers its oldest records from `since` (Binance): the part of a window before an
   * answer's first record is then known to be empty. Otherwise that part is asked again, as the answer may have been
   * the newest records of the window.
   */
  oldestFirst?: boolean;
  /** Words for the reasons in `missing`, e.g. "kraken". */
  venue: string;
}

/** What paging did: pages used, records delivered, and the ranges it could not cover (merged, in time order). */
export interface PagingResult {
  pages: number;
  delivered: number;
  missing: MissingRange[];
}

interface Window {
  since: number;
  until: number;
  /** Ask with `until` one millisecond earlier: the exchange answered records at its `until` too. */
  tight?: boolean;
}

/** Fetches one page: records from `since`, before `until` when given, at most `limit`. */
export type FetchPage<T> = (since: number, until: number | undefined, limit: number) => Promise<T[]>;

/** Merges ranges that touch or overlap and share reason and retryability; sorted by start. */
export function mergeMissing(ranges: readonly MissingRange[]): MissingRange[] {
  const sorted = [...ranges].filter((r) => r.until > r.since).sort((a, b) => a.since - b.since);
  const out: MissingRange[] = [];
  for (const r of sorted) {
    const last = out.at(-1);
    if (last && r.since <= last.until && last.reason === r.reason && last.retryable === r.retryable) {
      last.until = Math.max(last.until, r.until);
    } else {
      out.push({ ...r });
    }
  }
  return out;
}

/** What the engine needs to know about the records of a dataset. */
interface Kind<T> {
  ts(item: T): number;
  key(item: T): string;
  /**
   * Candles have one record per open time: a window resumes after the last one. Trades share milliseconds: a window
   * resumes at the last one's millisecond, and records already delivered there are recognised by key.
   */
  resumeAfter(ts: number): number;
  noun: string;
}

/**
 * The window engine. Windows are asked oldest first; each answer is cut to its window and its records are handed to
 * `deliver` as they arrive, each exactly once. Then what the answer proves is read:
 * - the part after its newest record is asked again, unless the exchange answers with its newest records (nothing
 *   newer exists);
 * - the part before its oldest record is covered when the answer reaches back past the window's start, or when the
 *   exchange answers from `since`; it is asked again (with its own `until`) when the exchange takes `until`, since
 *   the answer may have been the newest records of the window; otherwise it is reported as not served;
 * - whether an exchange answers from `since`, when the venue table does not say, is found out once per series.
 * Past `maxPages` the rest is reported as retryable.
 */
async function pageWindows<T>(
  kind: Kind<T>,
  opts: {
    since: number;
    until: number;
    span: number;
    pageLimit: number;
    maxPages: number;
    behaviour: PagingBehaviour;
    fetchPage: FetchPage<T>;
    deliver: (items: T[]) => Promise<void> | void;
  },
): Promise<PagingResult> {
  const b = { ...opts.behaviour };
  const missing: MissingRange[] = [];
  const notServed = (w: Window) =>
    missing.push({
      since: w.since,
      until: w.until,
      reason: `${b.venue} serves only its newest ${kind.noun} whatever since asks; older ones in the window were not available`,
      retryable: false,
    });
  const oneMillisecond = (w: Window) =>
    missing.push({
      since: w.since,
      until: w.until,
      reason: `more ${kind.noun} in one millisecond than one page holds`,
      retryable: false,
    });
  // Windows to ask, oldest first, and records waiting until what lies before them has been asked (time order).
  const todo: Array<Window | { flush: T[] }> = [];
  for (let a = opts.since; a < opts.until; a += opts.span) {
    todo.push({ since: a, until: Math.min(a + opts.span, opts.until) });
  }
  /** Keys delivered at the first and last millisecond of each answer: where windows meet, nothing comes twice. */
  const atEdge = new Map<number, Set<string>>();
  let pages = 0;
  let delivered = 0;
  let largestPage = 0;
  const ask = async (since: number, until: number | undefined, limit = opts.pageLimit): Promise<T[]> => {
    pages += 1;
    const page = await opts.fetchPage(since, b.until ? until : undefined, limit);
    largestPage = Math.max(largestPage, page.length);
    return page;
  };
  /** Whether the exchange answered `since` from there on: known, found out now, or undefined when it cannot tell. */
  const fromSince = async (since: number, answer: readonly T[]): Promise<boolean | undefined> => {
    if (b.since !== undefined) return b.since;
    const found = await honoursSince(since, answer, kind, ask);
    if (found !== undefined) b.since = found;
    return found;
  };

  const flush = async (records: T[]) => {
    delivered += records.length;
    await opts.deliver(records);
  };
  while (todo.length > 0) {
    const next = todo[0] as Window | { flush: T[] };
    if ('flush' in next) {
      todo.shift();
      await flush(next.flush);
      continue;
    }
    if (pages >= opts.maxPages) break;
    const w = todo.shift() as Window;
    const page = await ask(w.since, w.tight ? w.until - 1 : w.until);
    const byKey = new Map<string, T>();
    for (const r of page) {
      const t = kind.ts(r);
      if (t >= w.since && t < w.until) byKey.set(kind.key(r), r);
    }
    const inside = [...byKey.values()].sort((x, y) => kind.ts(x) - kind.ts(y));
    const fresh = inside.filter((r) => !atEdge.get(kind.ts(r))?.has(kind.key(r)));
    const reachesBack = page.some((r) => kind.ts(r) < w.since);
    const rest: Array<Window | { flush: T[] }> = [];
    const first = inside.length > 0 ? kind.ts(inside[0] as T) : 0;
    const last = inside.length > 0 ? kind.ts(inside[inside.length - 1] as T) : 0;
    // Before the oldest record, with its millisecond for trades (others may share it and be cut off).
    const before: Window = { since: w.since, until: kind.resumeAfter(first) === first ? first + 1 : first };

    if (fresh.length > 0) {
      for (const t of [first, last]) {
        const keys = atEdge.get(t) ?? new Set<string>();
        for (const r of inside) if (kind.ts(r) === t) keys.add(kind.key(r));
        atEdge.set(t, keys);
      }
      if (before.until > before.since && !reachesBack) {
        if (before.until >= w.until) {
          // A window of one millisecond: an exchange answering its newest records did not reach past it; else a page
          // as large as any may have left out others sharing it.
          if (b.since === false) notServed(before);
          else if (page.length >= largestPage && page.length > 1) oneMillisecond(w);
        } else if (b.until) {
          if (!b.oldestFirst) rest.push(before);
        } else if ((await fromSince(w.since, inside)) !== true) notServed(before);
      }
      // The records go out once what lies before them was asked: the sink gets the series in time order.
      rest.push({ flush: fresh });
      // After the newest record: an exchange answering its newest records (up to `until`) has nothing newer there.
      const resume = kind.resumeAfter(last);
      if (resume < w.until && b.since !== false) rest.push({ since: resume, until: w.until });
    } else if (inside.length > 0) {
      // Only records delivered before. All at one millisecond in a page as large as any so far: the page may have
      // been cut there, so that millisecond is reported and what follows it asked for.
      const full = page.length >= largestPage;
      if (full && page.length > 1 && first === last) oneMillisecond({ since: last, until: last + 1 });
      if (full && last + 1 < w.until && b.since !== false) rest.push({ since: last + 1, until: w.until });
      // Nothing older came back: covered if the exchange answers from `since` or reached past the window's start.
      if (before.until > before.since && !reachesBack && (await fromSince(w.since, inside)) !== true) {
        notServed(before);
      }
    } else if (!reachesBack) {
      // Nothing in the window: an empty answer, or newer records only. An exchange that took `until` and filled a
      // page with records at that bound may have left the window's own out: asked again with `until` tightened.
      const newer = page.filter((r) => kind.ts(r) >= w.until);
      if (b.until && !w.tight && newer.length > 0 && page.length >= largestPage)
        rest.push({ ...w, tight: true });
      else if (b.since === false || (newer.length > 0 && (await fromSince(w.since, newer)) !== true))
        notServed(w);
    }
    todo.unshift(...rest);
  }
  for (const w of todo) {
    if ('flush' in w) {
      await flush(w.flush);
      continue;
    }
    missing.push({
      since: w.since,
      until: w.until,
      reason: `not fetched: MAX_PAGES_PER_SERIES (${opts.maxPages}) reached`,
      retryable: true,
    });
  }
  return { pages, delivered, missing: mergeMissing(missing) };
}

/**
 * For an exchange whose handling of `since` is not known: whether it answered `since` from there on. Asked again for
 * one record from `since`: an exchange that answers from `since` gives the oldest of its first answer; one that ignores
 * `since` or answers its newest records gives a newer one. An answer at a single time cannot tell them apart:
 * undefined, and the caller reports what lies before it rather than assuming it empty.
 */
async function honoursSince<T>(
  since: number,
  answer: readonly T[],
  kind: Kind<T>,
  ask: (since: number, until: number | undefined, limit?: number) => Promise<T[]>,
): Promise<boolean | undefined> {
  const times = answer.map((r) => kind.ts(r)).filter((t) => t >= since);
  if (times.length === 0) return undefined;
  const oldest = Math.min(...times);
  if (!times.some((t) => t > oldest)) return undefined;
  const again = await ask(since, undefined, 1);
  return again.length > 0 && again.every((r) => kind.ts(r) === oldest);
}

/** Cuts off the part of [since, until) an exchange with a retention limit cannot serve, reporting it. */
function retained(
  since: number,
  until: number,
  now: number,
  b: PagingBehaviour,
  tf: Timeframe | undefined,
  noun: string,
): { since: number; missing: MissingRange[] } {
  let oldest = -Infinity;
  let why = '';
  if (b.retainsNewest !== undefined && tf) {
    // One candle of margin: the exchange's clock and ours differ, and its newest candle is the open one.
    oldest = candleOpen(tf, now) - (b.retainsNewest - 2) * tf.ms;
    why = `${b.venue} serves only its newest ${b.retainsNewest} ${noun} of a series`;
  }
  if (b.retainsMs !== undefined && now - b.retainsMs + 60_000 > oldest) {
    oldest = now - b.retainsMs + 60_000;
    why = `${b.venue} serves only the last ${Math.round(b.retainsMs / 86_400_000)} days of ${noun}`;
  }
  if (since >= oldest) return { since, missing: [] };
  const cut = Math.min(oldest, until);
  return { since: cut, missing: [{ since, until: cut, reason: why, retryable: false }] };
}

/**
 * Every candle whose open time is in [since, until), in windows of at most `pageLimit` candles, handed to `deliver`
 * as pages arrive (each once, not necessarily in time order). What the exchange does not serve is in `missing`.
 */
export async function pageCandles<T extends { ts: number }>(opts: {
  since: number;
  until: number;
  now: number;
  tf: Timeframe;
  pageLimit: number;
  maxPages: number;
  behaviour: PagingBehaviour;
  fetchPage: FetchPage<T>;
  deliver: (candles: T[]) => Promise<void> | void;
}): Promise<PagingResult> {
  const { tf } = opts;
  const cut = retained(opts.since, opts.until, opts.now, opts.behaviour, tf, 'candles');
  const kind: Kind<T> = {
    ts: (c) => c.ts,
    key: (c) => String(c.ts),
    resumeAfter: (t) => nextOpen(tf, t),
    noun: 'candles',
  };
  // The first candle of the window opens at or after its start: nothing opens between the two to ask for.
  const open = candleOpen(tf, cut.since);
  const since = open === cut.since ? open : nextOpen(tf, open);
  const result = await pageWindows(kind, { ...opts, since, span: tf.ms * opts.pageLimit });
  return { ...result, missing: mergeMissing([...cut.missing, ...result.missing]) };
}

/** Longest window one trades request asks for when the exchange says nothing (Binance refuses more than an hour). */
export const TRADES_WINDOW_MS = 3_600_000;

/**
 * Every trade with a time in [since, until), handed to `deliver` as pages arrive (each once by id). Windows resume at
 * the newest trade's millisecond, so trades sharing it across pages are neither lost nor doubled.
 */
export async function pageTrades<T extends TimedItem>(opts: {
  since: number;
  until: number;
  now: number;
  pageLimit: number;
  maxPages: number;
  behaviour: PagingBehaviour;
  fetchPage: FetchPage<T>;
  deliver: (trades: T[]) => Promise<void> | void;
}): Promise<PagingResult> {
  const cut = retained(opts.since, opts.until, opts.now, opts.behaviour, undefined, 'trades');
  const kind: Kind<T> = { ts: (t) => t.ts, key: (t) => t.id, resumeAfter: (t) => t, noun: 'trades' };
  const span = opts.behaviour.maxSpanMs ?? (opts.behaviour.until ? TRADES_WINDOW_MS : opts.until - cut.since);
  const result = await pageWindows(kind, { ...opts, since: cut.since, span: Math.max(1, span) });
  return { ...result, missing: mergeMissing([...cut.missing, ...result.missing]) };
}

/** Orders trade ids numerically when both are digit strings (exchange ids grow), else as text. */
export function compareIds(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b) && a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
